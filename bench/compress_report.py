"""How much a shipped family gained: MACs, CPU latency and quality of every variant against the teacher.

    .venv/bin/python bench/compress_report.py --family sr4x --work-dir var/jobs/sr4x [--photos DIR]
    .venv/bin/python bench/compress_report.py --family vintage --work-dir var/jobs/vintage --photos DIR

Latency: onnxruntime on the CPU, batch 1, every variant interleaved round by round, medians, at
128 and 256 px. Quality on the family's `test` split and on a folder of photos none of its data came from:
- restoration families (quality against the target, as their cards say): PSNR/SSIM against the target and
  the teacher, and of the degraded input; the photos are degraded the same way. Goals: a variant with >= 20x
  fewer MACs than the teacher within 0.5 dB of its PSNR, >= 15x faster at 256 px.
- style families (quality against the teacher): PSNR/SSIM of each variant against the teacher's output on the
  photos resized to a short side of 256 px, beside the floor (the unchanged photo: how far the teacher moves it)
  and the ceiling (the teacher against itself with its input shifted by one pixel and its output shifted back:
  its texture follows the pixel grid of its strided layers, so no student of another architecture is expected
  above it). Goals: every student at least 4 dB above the floor; a variant with >= 20x fewer MACs within 1 dB
  of the ceiling, >= 25x faster than the teacher at 256 px.
Prints JSON and writes it, with a chart, under bench/out/; draws the README's grid.
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from PIL import Image

from compression.data import (
    TranslationDataset,
    build_sample_dataset,
    judging_preprocess,
    to_image,
    to_tensor,
)
from compression.data.folders import list_images
from compression.metrics import psnr, ssim
from compression.search import LatencyTarget
from ganc.card import INPUT_NAME, OUTPUT_NAME
from ganc.repository import read_index

TEACHER = "teacher"
STYLE_SIZE = 256  # style families are judged on photos with this short side
BASELINE = {"target": "degraded input", "teacher": "unchanged photo"}
CEILING = "teacher, input shifted 1 px"


def session(path: Path, threads: int) -> ort.InferenceSession:
    return LatencyTarget(threads=threads).session(path)


def run(sess: ort.InferenceSession, x: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(sess.run([OUTPUT_NAME], {INPUT_NAME: x.unsqueeze(0).numpy()})[0][0])


def latencies(sessions: dict, size: int, repeats: int) -> dict[str, float]:
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, size, size)).astype(np.float32)
    names = list(sessions)
    for name in names:
        sessions[name].run([OUTPUT_NAME], {INPUT_NAME: x})
        sessions[name].run([OUTPUT_NAME], {INPUT_NAME: x})
    samples: dict[str, list[float]] = {n: [] for n in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            sessions[name].run([OUTPUT_NAME], {INPUT_NAME: x})
            samples[name].append(time.perf_counter() - start)
    return {n: statistics.median(s) * 1e3 for n, s in samples.items()}


def quality(sessions: dict, pairs: list, against: str) -> dict[str, dict[str, float]]:
    """Mean scores of every variant, and of the input itself (the baseline), on (name, A, B) pairs."""
    baseline = BASELINE[against]
    sums: dict[str, dict[str, float]] = {
        n: {} for n in [*sessions, baseline, *([CEILING] if against == "teacher" else [])]
    }
    for _name, a, b in pairs:
        outputs = {n: run(s, a) for n, s in sessions.items()}
        reference = outputs[TEACHER]
        scores = {
            n: {"psnr_teacher": psnr(out, reference), "ssim_teacher": ssim(out, reference)}
            for n, out in outputs.items()
        }
        scores[baseline] = {"psnr_teacher": psnr(a, reference), "ssim_teacher": ssim(a, reference)}
        if against == "teacher":
            scores[CEILING] = {"psnr_teacher": shifted_self_psnr(sessions[TEACHER], a, reference)}
        if against == "target":
            for n, out in [*outputs.items(), (baseline, a)]:
                scores[n].update(psnr=psnr(out, b), ssim=ssim(out, b))
            del scores[TEACHER]["psnr_teacher"], scores[TEACHER]["ssim_teacher"]
        for n, named in scores.items():
            for k, v in named.items():
                sums[n][k] = sums[n].get(k, 0.0) + v
    return {n: {k: round(v / len(pairs), 4) for k, v in s.items()} for n, s in sums.items()}


def shifted_self_psnr(teacher: ort.InferenceSession, a: torch.Tensor, reference: torch.Tensor) -> float:
    """The teacher's output with its input shifted by one pixel (across, then down), shifted back, against its
    output on the unshifted input: PSNR over the pixels both cover, the mean of the two shifts."""
    across = run(teacher, torch.cat([a[:, :, 1:], a[:, :, -1:]], dim=2))
    down = run(teacher, torch.cat([a[:, 1:], a[:, -1:]], dim=1))
    return (psnr(across[:, :, :-2], reference[:, :, 1:-1]) + psnr(down[:, :-2], reference[:, 1:-1])) / 2


def held_out(args: argparse.Namespace, against: str) -> dict[str, list]:
    """The family's own test split and, with --photos, photos none of its data came from."""
    dataset = args.work_dir / "data" / "dataset"
    splits = {"test": list(TranslationDataset(dataset, "test", judging_preprocess(dataset, 4)).eval_pairs())}
    if args.photos and against == "teacher":
        photos = {path.stem: load_photo(path) for path in list_images(args.photos)}
        splits["photos"] = [(name, photo, photo) for name, photo in photos.items()]
    elif args.photos:
        scratch = Path(tempfile.mkdtemp())
        build_sample_dataset("sr4x", args.photos_size, scratch / "photos", photos_dir=args.photos)
        photos = [
            TranslationDataset(scratch / "photos", s, judging_preprocess(scratch / "photos", 4))
            for s in ("train", "train2", "val", "test")
        ]
        splits["photos"] = [pair for split in photos for pair in split.eval_pairs()]
    return splits


def load_photo(path: Path) -> torch.Tensor:
    """The photo with its short side at STYLE_SIZE and both sides trimmed to a multiple of 4."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    scale = STYLE_SIZE / min(rgb.size)
    resized = rgb.resize((round(rgb.width * scale) // 4 * 4, round(rgb.height * scale) // 4 * 4), Image.BICUBIC)
    return to_tensor(resized)


def goals(report: dict, against: str) -> dict:
    students = {n: v for n, v in report["variants"].items() if n != TEACHER}
    fast = [n for n, v in students.items() if v["speedup_256px"] >= 15]
    if against == "teacher":
        split = "photos" if "photos_psnr_teacher" in report["variants"][TEACHER] else "test"
        key = f"{split}_psnr_teacher"
        floor, ceiling = report["baseline"][key], report["ceiling"][key]
        return {
            "judged_on": split,
            "gain_over_floor_db": {n: round(v[key] - floor, 2) for n, v in students.items()},
            "every_student_4db_above_floor": all(v[key] >= floor + 4 for v in students.values()),
            "moonshot_20x_macs_within_1db_of_ceiling_25x_faster": [
                n
                for n, v in students.items()
                if v["macs_ratio"] >= 20 and v[key] >= ceiling - 1 and v["speedup_256px"] >= 25
            ],
            "below_ceiling_db": {n: round(ceiling - v[key], 2) for n, v in students.items()},
        }
    teacher_psnr = report["variants"][TEACHER]["test_psnr"]
    input_psnr = report["baseline"]["test_psnr"]
    return {
        "macs_20x_within_0.5db": [
            n for n, v in students.items() if v["macs_ratio"] >= 20 and v["test_psnr"] >= teacher_psnr - 0.5
        ],
        "cpu_speedup_15x_at_256": fast,
        "every_variant_beats_degraded_input": all(v["test_psnr"] > input_psnr for v in report["variants"].values()),
        "teacher_gain_db": round(teacher_psnr - input_psnr, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="sr4x")
    parser.add_argument("--repo", type=Path, default=Path("model_repository"))
    parser.add_argument("--work-dir", type=Path, default=Path("var/jobs/sr4x"), help="the job that made the family")
    parser.add_argument("--photos", type=Path, help="also score on this folder of photos (outside the family's data)")
    parser.add_argument("--photos-size", type=int, default=64, help="restoration: crop size the photos are cut for")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--grid", type=Path, help="sample grid for the README (default: docs/<family>_grid.png)")
    parser.add_argument("--grid-rows", type=int, default=3)
    args = parser.parse_args()

    family = read_index(args.repo).families().get(args.family)
    if not family:
        raise SystemExit(f"no family {args.family!r} in {args.repo}")
    latest = {variant: versions[-1] for variant, versions in family.items()}
    cards = {n: v.card for n, v in latest.items()}
    against = cards[TEACHER].quality_against
    sessions = {n: session(v.onnx_path, args.threads) for n, v in latest.items()}

    report = {"family": args.family, "threads": args.threads, "quality_against": against, "variants": {}}
    timings = {size: latencies(sessions, size, args.repeats) for size in (128, 256)}
    splits = held_out(args, against)
    scores = {split: quality(sessions, pairs, against) for split, pairs in splits.items()}
    for name, card in cards.items():
        report["variants"][name] = {
            "config": card.config,
            "macs": card.macs,
            "macs_ratio": round(cards[TEACHER].macs / card.macs, 2),
            "params": card.params,
            **{f"latency_{s}px_ms": round(timings[s][name], 2) for s in timings},
            **{f"speedup_{s}px": round(timings[s][TEACHER] / timings[s][name], 2) for s in timings},
            **{f"{split}_{k}": v for split, q in scores.items() for k, v in q[name].items()},
        }
    report["baseline"] = {
        "name": BASELINE[against],
        **{f"{split}_{k}": v for split, q in scores.items() for k, v in q[BASELINE[against]].items()},
    }
    if against == "teacher":
        report["ceiling"] = {
            "name": CEILING,
            **{f"{split}_{k}": v for split, q in scores.items() for k, v in q[CEILING].items()},
        }
    search_marker = args.work_dir / "search" / "done.json"
    if search_marker.is_file():
        report["search_seconds"] = json.loads(search_marker.read_text()).get("seconds")
    report["goals"] = goals(report, against)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"compress_report_{args.family}.json").write_text(json.dumps(report, indent=2) + "\n")
    draw(report, args.out / f"compress_report_{args.family}.png")
    shown = splits.get("photos", splits["test"])[: args.grid_rows]
    draw_grid(report, sessions, shown, args.grid or Path("docs") / f"{args.family}_grid.png")
    print(json.dumps(report, indent=2))


def score_key(report: dict) -> str:
    """What the charts and the grid show: PSNR against the target, or against the teacher for style families."""
    split = "photos" if any(k.startswith("photos_") for k in report["variants"][TEACHER]) else "test"
    return f"{split}_psnr" if report["quality_against"] == "target" else f"{split}_psnr_teacher"


def draw(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = score_key(report)
    # The teacher is plotted against the target, never against itself.
    variants = {n: v for n, v in report["variants"].items() if key in v and not (n == TEACHER and "teacher" in key)}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, x_key, label in (
        (axes[0], "macs", "MACs at 256x256 (G, paper convention)"),
        (axes[1], "latency_256px_ms", "CPU latency at 256x256 (ms)"),
    ):
        for name, v in variants.items():
            x = v[x_key] / 1e9 if x_key == "macs" else v[x_key]
            ax.scatter([x], [v[key]], s=70, marker="D" if name == TEACHER else "o")
            ax.annotate(
                name.replace("student-", ""), (x, v[key]), fontsize=7, xytext=(4, 4), textcoords="offset points"
            )
        ax.axhline(report["baseline"][key], color="gray", linestyle="--", label=report["baseline"]["name"])
        if "ceiling" in report:
            ax.axhline(report["ceiling"][key], color="green", linestyle=":", label=report["ceiling"]["name"])
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel(f"{key} (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{report['family']}: quality against cost, {report['threads']} CPU threads", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def caption_of(report: dict, name: str, key: str) -> str:
    """A grid column's caption: its name, cost and quality (the teacher is not scored against itself)."""
    metric = "PSNR vs teacher" if key.endswith("_teacher") else "PSNR"
    if name == report["baseline"]["name"]:
        return f"{name}\n{metric} {report['baseline'][key]:.2f} dB"
    if name not in report["variants"]:
        return name
    v = report["variants"][name]
    label, int8, _ = name.replace("student-", "").partition("-int8")  # INT8 on the second line: columns are narrow
    lines = [label, f"{'INT8 ' if int8 else ''}{v['macs'] / 1e9:.2f}G MACs  {v['latency_256px_ms']:.0f} ms"]
    if key in v and not (name == TEACHER and key.endswith("_teacher")):
        lines.append(f"{metric} {v[key]:.2f} dB")
    return "\n".join(lines)


def draw_grid(report: dict, sessions: dict, pairs: list, path: Path) -> None:
    """input | teacher | each student (cheapest last) [| target], captioned with cost and quality."""
    from PIL import ImageDraw

    key = score_key(report)
    students = sorted((n for n in report["variants"] if n != TEACHER), key=lambda n: -report["variants"][n]["macs"])
    variants = [TEACHER, *students]
    baseline = report["baseline"]["name"]
    columns = [baseline, *variants] + (["target"] if report["quality_against"] == "target" else [])
    width = max(a.shape[-1] for _n, a, _b in pairs)
    height = max(a.shape[-2] for _n, a, _b in pairs)
    caption = 44
    grid = Image.new("RGB", (width * len(columns), (height + 4) * len(pairs) + caption), "white")
    pen = ImageDraw.Draw(grid)
    for column, name in enumerate(columns):
        pen.multiline_text((column * width + 3, 2), caption_of(report, name, key), fill="black")
    for row, (_name, a, b) in enumerate(pairs):
        images = [a, *(run(sessions[n], a) for n in variants)] + ([b] if "target" in columns else [])
        for column, image in enumerate(images):
            grid.paste(to_image(image), (column * width, caption + row * (height + 4)))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)


if __name__ == "__main__":
    main()

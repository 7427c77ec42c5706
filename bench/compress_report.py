"""How much the demo family gained: MACs, CPU latency and quality of every variant against the teacher.

    .venv/bin/python bench/compress_report.py --family sr4x --work-dir var/jobs/sr4x [--photos DIR]

Latency: onnxruntime on the CPU, batch 1, every variant interleaved round by round, medians, at
128 and 256 px. Quality: PSNR/SSIM on the family's `test` split (and on a folder of photos degraded
the same way, with --photos) against the target, against the teacher and for the degraded input.
Goals: a variant with >= 20x fewer MACs than the teacher within 0.5 dB of its PSNR, and >= 15x
faster at 256 px. Prints JSON and writes it, with a chart, under bench/out/.
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

from compression.data import Preprocess, TranslationDataset, build_sample_dataset
from compression.metrics import psnr, ssim
from ganc.card import INPUT_NAME, OUTPUT_NAME
from ganc.repository import read_index


def session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # Idle intra-op threads spin by default and steal the cores from the next session in an interleaved run.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run(sess: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    return sess.run([OUTPUT_NAME], {INPUT_NAME: x})[0]


def latencies(sessions: dict, size: int, repeats: int) -> dict[str, float]:
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, size, size)).astype(np.float32)
    names = list(sessions)
    for name in names:
        run(sessions[name], x)
        run(sessions[name], x)
    samples: dict[str, list[float]] = {n: [] for n in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            run(sessions[name], x)
            samples[name].append(time.perf_counter() - start)
    return {n: statistics.median(s) * 1e3 for n, s in samples.items()}


def quality(sessions: dict, pairs: list, teacher: str) -> dict[str, dict[str, float]]:
    sums: dict[str, dict[str, float]] = {n: {} for n in sessions}
    for _name, a, b in pairs:
        outputs = {n: torch.from_numpy(run(s, a.unsqueeze(0).numpy())[0]) for n, s in sessions.items()}
        for n, out in outputs.items():
            scores = {"psnr": psnr(out, b), "ssim": ssim(out, b)}
            if n != teacher:
                scores.update(psnr_teacher=psnr(out, outputs[teacher]), ssim_teacher=ssim(out, outputs[teacher]))
            for k, v in scores.items():
                sums[n][k] = sums[n].get(k, 0.0) + v
        baseline = {"psnr": psnr(a, b), "ssim": ssim(a, b)}
        for k, v in baseline.items():
            sums.setdefault("degraded input", {})[k] = sums.get("degraded input", {}).get(k, 0.0) + v
    return {n: {k: round(v / len(pairs), 4) for k, v in s.items()} for n, s in sums.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="sr4x")
    parser.add_argument("--repo", type=Path, default=Path("model_repository"))
    parser.add_argument("--work-dir", type=Path, default=Path("var/jobs/sr4x"), help="the job that made the family")
    parser.add_argument("--photos", type=Path, help="also score on this folder of photos, degraded like the task")
    parser.add_argument("--photos-size", type=int, default=64, help="crop size the photos are cut for")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--grid", type=Path, default=Path("docs/sr4x_grid.png"), help="sample grid for the README")
    parser.add_argument("--grid-rows", type=int, default=3)
    args = parser.parse_args()

    family = read_index(args.repo).families().get(args.family)
    if not family:
        raise SystemExit(f"no family {args.family!r} in {args.repo}")
    latest = {variant: versions[-1] for variant, versions in family.items()}
    teacher = "teacher"
    cards = {n: v.card for n, v in latest.items()}
    sessions = {n: session(v.onnx_path, args.threads) for n, v in latest.items()}

    report = {"family": args.family, "threads": args.threads, "variants": {}}
    timings = {size: latencies(sessions, size, args.repeats) for size in (128, 256)}
    dataset = args.work_dir / "data" / "dataset"
    splits = {"test": list(TranslationDataset(dataset, "test", Preprocess(multiple=4)).eval_pairs())}
    if args.photos:
        scratch = Path(tempfile.mkdtemp())
        build_sample_dataset("sr4x", args.photos_size, scratch / "photos", photos_dir=args.photos)
        photos = [
            TranslationDataset(scratch / "photos", s, Preprocess(multiple=4))
            for s in ("train", "train2", "val", "test")
        ]
        splits["photos"] = [pair for split in photos for pair in split.eval_pairs()]
    scores = {split: quality(sessions, pairs, teacher) for split, pairs in splits.items()}
    for name, card in cards.items():
        report["variants"][name] = {
            "config": card.config,
            "macs": card.macs,
            "macs_ratio": round(cards[teacher].macs / card.macs, 2),
            "params": card.params,
            **{f"latency_{s}px_ms": round(timings[s][name], 2) for s in timings},
            **{f"speedup_{s}px": round(timings[s][teacher] / timings[s][name], 2) for s in timings},
            **{f"{split}_{k}": v for split, q in scores.items() for k, v in q[name].items()},
        }
    report["degraded_input"] = {
        f"{split}_{k}": v for split, q in scores.items() for k, v in q["degraded input"].items()
    }
    search_marker = args.work_dir / "search" / "done.json"
    if search_marker.is_file():
        report["search_seconds"] = json.loads(search_marker.read_text()).get("seconds")
    teacher_psnr = report["variants"][teacher]["test_psnr"]
    students = {n: v for n, v in report["variants"].items() if n != teacher}
    report["goals"] = {
        "macs_20x_within_0.5db": [
            n for n, v in students.items() if v["macs_ratio"] >= 20 and v["test_psnr"] >= teacher_psnr - 0.5
        ],
        "cpu_speedup_15x_at_256": [n for n, v in students.items() if v["speedup_256px"] >= 15],
        "every_variant_beats_degraded_input": all(
            v["test_psnr"] > report["degraded_input"]["test_psnr"] for v in report["variants"].values()
        ),
        "teacher_gain_db": round(teacher_psnr - report["degraded_input"]["test_psnr"], 3),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compress_report.json").write_text(json.dumps(report, indent=2) + "\n")
    draw(report, args.out / "compress_report.png")
    draw_grid(report, sessions, splits["test"][: args.grid_rows], args.grid)
    print(json.dumps(report, indent=2))


def draw(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = report["variants"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, x_key, label in (
        (axes[0], "macs", "MACs at 256x256 (G, paper convention)"),
        (axes[1], "latency_256px_ms", "CPU latency at 256x256 (ms)"),
    ):
        for name, v in variants.items():
            x = v[x_key] / 1e9 if x_key == "macs" else v[x_key]
            ax.scatter([x], [v["test_psnr"]], s=70, marker="D" if name == "teacher" else "o")
            ax.annotate(
                name.replace("student-", ""), (x, v["test_psnr"]), fontsize=7, xytext=(4, 4), textcoords="offset points"
            )
        ax.axhline(report["degraded_input"]["test_psnr"], color="gray", linestyle="--", label="degraded input")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("PSNR on test (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{report['family']}: quality against cost, {report['threads']} CPU threads", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def draw_grid(report: dict, sessions: dict, pairs: list, path: Path) -> None:
    """input | teacher | each student (cheapest last) | target, on test images, captioned with cost and quality."""
    from PIL import Image, ImageDraw

    from compression.data import to_image

    variants = sorted(report["variants"], key=lambda n: -report["variants"][n]["macs"])
    columns = ["degraded input", *variants, "target"]
    tile = pairs[0][1].shape[-1]
    caption = 44
    grid = Image.new("RGB", (tile * len(columns), (tile + 4) * len(pairs) + caption), "white")
    pen = ImageDraw.Draw(grid)
    for column, name in enumerate(columns):
        v = report["variants"].get(name)
        lines = [name.replace("student-", "")]
        if v:
            lines.append(f"{v['macs'] / 1e9:.2f}G MACs  {v['latency_256px_ms']:.0f} ms")
            lines.append(f"PSNR {v['test_psnr']:.2f} dB")
        elif name == "degraded input":
            lines.append(f"PSNR {report['degraded_input']['test_psnr']:.2f} dB")
        pen.multiline_text((column * tile + 3, 2), "\n".join(lines), fill="black")
    for row, (_name, a, b) in enumerate(pairs):
        images = [a, *(torch.from_numpy(run(sessions[n], a.unsqueeze(0).numpy())[0]) for n in variants), b]
        for column, image in enumerate(images):
            grid.paste(to_image(image), (column * tile, caption + row * (tile + 4)))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)


if __name__ == "__main__":
    main()

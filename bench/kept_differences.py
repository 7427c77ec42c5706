"""The two places where a restoration family may differ from the reference, each measured both ways on a job.

    .venv/bin/python bench/kept_differences.py --work-dir var/jobs/sr4x --photos DIR gan_mode
    .venv/bin/python bench/kept_differences.py --work-dir var/jobs/sr4x --photos DIR student_init

- gan_mode: the job's teacher against a teacher trained again with the other adversarial loss (least squares
  <-> hinge, the reference's for pix2pix), with the job's data, seed and steps.
- student_init: the original path's mobile student distilled from the job's teacher, started fresh (ganc's
  default) and from the teacher's channels of largest L1 norm (`student_init: teacher`), with the job's
  data, seed and distillation steps.
The job's own arm is read from its finished stage; the other is trained under --out. Both are judged
against the target on the job's `test` split and on photos none of its data came from (DIR, degraded as the
family's inputs are), with the degraded input's own scores for scale; the `val` curves of both runs are drawn
(bench/out/kept_differences_<what>.png). JSON on stdout and beside the chart.
"""

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from compress_report import held_out
from search_time import stage_output

from compression.checkpoint import load_generator, resolve_checkpoint
from compression.metrics import evaluate_generator
from compression.pipeline import RUN_FOLDER, Pipeline
from ganc.spec import CompressionSpec

OTHER = {"gan_mode": {"lsgan": "hinge", "hinge": "lsgan"}, "student_init": {"fresh": "teacher", "teacher": "fresh"}}
RUN_STAGE = {"gan_mode": "teacher", "student_init": "distill"}  # the stage whose run each question trains


def changed(spec: CompressionSpec, stage: str, name: str, value: str) -> CompressionSpec:
    part = getattr(spec, stage).model_copy(update={name: value})
    return spec.model_copy(update={stage: part})


def other_arm(what: str, spec: CompressionSpec, work: Path, out: Path) -> tuple[str, str, Path, float]:
    """Train the arm the job did not run (resuming an interrupted one); returns the job's setting, the other
    setting, the other run's folder and the seconds it trained."""
    dataset = stage_output(work, "data", "dataset")
    stage, name = ("teacher", "gan_mode") if what == "gan_mode" else ("supernet", "student_init")
    mine = getattr(getattr(spec, stage), name)
    other = OTHER[what][mine]
    pipeline = Pipeline(changed(spec, stage, name, other), out / other, out / "repo", "bench")
    start = time.monotonic()
    if what == "gan_mode":
        pipeline.teacher(dataset)
    else:
        pipeline.distill(dataset, stage_output(work, "teacher", "checkpoint"))
    return mine, other, out / other / RUN_STAGE[what] / RUN_FOLDER, time.monotonic() - start


def val_curve(run: Path) -> dict[str, list[float]]:
    lines = (run / "val_log.csv").read_text().split()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    return {key: [float(row[key]) for row in rows] for key in ("step", "psnr", "psnr_input")}


def judged(run: Path, splits: dict[str, list]) -> dict[str, float]:
    _spec, model = load_generator(resolve_checkpoint(run))
    scores = {}
    for split, pairs in splits.items():
        s = evaluate_generator(model, pairs, paired=True)
        scores |= {
            f"{split}_psnr": round(s["psnr"], 3),
            f"{split}_ssim": round(s["ssim"], 4),
            f"{split}_gain_db": round(s["psnr"] - s["psnr_input"], 3),
        }
    return scores


def draw(report: dict, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(7, 4))
    for setting, arm in report["arms"].items():
        curve = arm["val"]
        gains = [p - i for p, i in zip(curve["psnr"], curve["psnr_input"])]
        axis.plot(curve["step"], gains, marker="o", label=f"{report['what']}: {setting}")
    axis.set_xlabel("step")
    axis.set_ylabel("PSNR gain over the input on val (dB)")
    axis.set_title(f"{report['work_dir']}: {report['what']}")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("gan_mode", "student_init"))
    parser.add_argument("--work-dir", type=Path, required=True, help="a compression job with finished stages")
    parser.add_argument("--photos", type=Path, required=True, help="photos outside the job's data")
    parser.add_argument("--photos-size", type=int, default=64, help="crop size the photos are cut for")
    parser.add_argument("--out", type=Path, default=Path("bench/out/kept_differences"))
    args = parser.parse_args()
    spec = CompressionSpec.model_validate_json((args.work_dir / "spec.json").read_text())
    if spec.teacher.model != "pix2pix" or spec.teacher.checkpoint is not None:
        raise SystemExit("bench/kept_differences.py: needs a job whose pix2pix teacher ganc trained")
    stage_output(args.work_dir, RUN_STAGE[args.what], "run" if args.what == "student_init" else "checkpoint")
    mine, other, other_run, seconds = other_arm(args.what, spec, args.work_dir, args.out / args.what)
    splits = held_out(args, "target")
    runs = {mine: args.work_dir / RUN_STAGE[args.what] / RUN_FOLDER, other: other_run}
    report = {
        "what": args.what,
        "work_dir": str(args.work_dir),
        "job_setting": mine,
        "other_trained_s": round(seconds, 1),
        "photos": len(splits.get("photos", [])),
        "arms": {setting: {**judged(run, splits), "val": val_curve(run)} for setting, run in runs.items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    draw(report, args.out.parent / f"kept_differences_{args.what}.png")
    (args.out.parent / f"kept_differences_{args.what}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

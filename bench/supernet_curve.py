"""Which supernet training reaches the teacher first: the fast path (uniform or sandwich sampling) or the original.

    .venv/bin/python bench/supernet_curve.py --teacher data/teachers/vintagify.pt \
        --dataset var/jobs/vintage/data/dataset --minutes 60

Each arm trains for the same wall time on the teacher's pseudo pairs (unlabelled photos), in chunks of
`--every` steps, and after each chunk records the agreement with the teacher (PSNR and SSIM of the output
against the teacher's, on `val`) of the supernet's largest and smallest sub-networks:
- `fast-uniform`: the supernet learns from the teacher directly, one random sub-network per step (the reference);
- `fast-sandwich`: the same, with the largest, the smallest and two random sub-networks per step;
- `original`: a mobile student as wide as the largest choice is distilled for `--distill-share` of the time
  (its agreement stands for the largest sub-network's), then the supernet starts from it (uniform sampling).
The teacher labels the photos once before any arm is timed. JSON on stdout and in bench/out/, a chart beside it.
"""

import argparse
import csv
import json
import time
from pathlib import Path

from compression.models import get_choice_set
from compression.training import DataConfig, DistillRun, train_distill
from ganc.spec import TrainingSpec

ARMS = ("fast-uniform", "fast-sandwich", "original")


def last_row(run: Path) -> dict[str, float]:
    with open(run / "val_log.csv") as handle:
        return {k: float(v) for k, v in list(csv.DictReader(handle))[-1].items()}


def train_for(run: DistillRun, seconds: float, every: int, points: list[dict], offset_s: float) -> float:
    """Train `run` in chunks of `every` steps until `seconds` have passed; append a point per chunk."""
    start, steps = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        steps += every
        train_distill(run.with_steps(steps), resume=steps > every)
        row = last_row(run.out)
        largest = "largest_" if run.student == "supernet" else ""
        point = {
            "stage": run.student,
            "step": steps,
            "seconds": round(offset_s + time.monotonic() - start, 1),
            "largest_psnr_teacher": row[f"{largest}psnr_teacher"],
            "largest_ssim_teacher": row[f"{largest}ssim_teacher"],
        }
        if run.student == "supernet":
            point.update(
                smallest_psnr_teacher=row["smallest_psnr_teacher"], smallest_ssim_teacher=row["smallest_ssim_teacher"]
            )
        points.append(point)
        print(json.dumps(point), flush=True)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, required=True, help="a teacher checkpoint (e.g. an imported one)")
    parser.add_argument("--dataset", type=Path, required=True, help="a dataset of unlabelled photos")
    parser.add_argument("--minutes", type=float, default=60.0, help="wall time of each arm")
    parser.add_argument("--distill-share", type=float, default=0.5, help="original path: the mobile student's share")
    parser.add_argument("--choices", default="channels-32-8")
    parser.add_argument("--crop-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--every", type=int, default=250, help="steps between measurements")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--out", type=Path, default=Path("bench/out/supernet_curve"))
    args = parser.parse_args()
    arms = args.arms.split(",")
    if unknown := set(arms) - set(ARMS):
        raise SystemExit(f"unknown arms {sorted(unknown)}; expected some of {', '.join(ARMS)}")

    data = DataConfig(dataset=args.dataset, crop_size=args.crop_size)
    largest = max(get_choice_set(args.choices).largest.channels)

    def run(name: str, student: str, **options) -> DistillRun:
        training = TrainingSpec(steps=args.every, batch_size=args.batch_size, every=args.every)
        return DistillRun(
            out=args.out / name, data=data, teacher=args.teacher, student=student, training=training, **options
        )

    # The teacher labels the photos once (cached beside the dataset), outside every arm's time.
    train_distill(run("labels", "mobile", ngf=8).with_steps(1))
    seconds = args.minutes * 60
    curves: dict[str, list[dict]] = {}
    for arm in arms:
        points: list[dict] = []
        if arm == "original":
            student = run("original-student", "mobile", ngf=largest)
            spent = train_for(student, seconds * args.distill_share, args.every, points, 0.0)
            supernet = run("original-supernet", "supernet", choices=args.choices, init_from=student.out)
            train_for(supernet, seconds - spent, args.every, points, spent)
        else:
            sampling = arm.removeprefix("fast-")
            train_for(run(arm, "supernet", choices=args.choices, sampling=sampling), seconds, args.every, points, 0.0)
        curves[arm] = points
    report = {"teacher": str(args.teacher), "dataset": str(args.dataset), "minutes": args.minutes, "curves": curves}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "supernet_curve.json").write_text(json.dumps(report, indent=2) + "\n")
    draw(curves, args.out / "supernet_curve.png")
    print(json.dumps(report, indent=2))


def draw(curves: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5))
    for (arm, points), colour in zip(curves.items(), ("tab:blue", "tab:orange", "tab:green")):
        minutes = [p["seconds"] / 60 for p in points]
        axis.plot(minutes, [p["largest_psnr_teacher"] for p in points], "-o", color=colour, label=f"{arm}: largest")
        smallest = [(m, p["smallest_psnr_teacher"]) for m, p in zip(minutes, points) if "smallest_psnr_teacher" in p]
        if smallest:
            axis.plot(*zip(*smallest), "--s", color=colour, label=f"{arm}: smallest")
    axis.set_xlabel("wall time (min)")
    axis.set_ylabel("PSNR against the teacher on val (dB)")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()

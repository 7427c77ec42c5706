"""Does distillation help? The paper's ablation on a real teacher's pseudo pairs, over several seeds.

    .venv/bin/python bench/ablation_distill.py --teacher data/teachers/vintagify.pt \
        --dataset var/jobs/vintage-int8/data/dataset --steps 600 --seeds 0,1,2

The same student (a mobile ResNet of width `--width`, the uniform sub-network of `--choices`) learns from the
teacher's outputs on unlabelled photos (the teacher labels them once, before any arm is timed):
- `alone`: reconstruction to the teacher's output and the GAN loss, no intermediate features;
- `distilled`: the same plus the distillation of the teacher's trunk features through 1x1 mappings;
- `supernet`: a supernet of `--choices` trained for half the steps (one random sub-network a step), then its
  uniform sub-network extracted and fine-tuned (distilled) for the other half.
Equal steps first; then every arm that finished sooner goes on training (the supernet arm, its fine-tuning)
until it has run as long as the slowest did: equal wall time. Agreement with the teacher (PSNR and SSIM of the
output against the teacher's) on the dataset's `test` photos, which no arm trained on: mean and spread over
the seeds. JSON on stdout and in bench/out/ablation_distill.json, a chart beside it.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

from compression.checkpoint import load_generator
from compression.data import TranslationDataset, judging_preprocess
from compression.metrics import evaluate_generator
from compression.metrics.quality import teacher_outputs
from compression.training import DataConfig, DistillRun, load_teacher, train_distill
from ganc.spec import TrainingSpec

ARMS = ("alone", "distilled", "supernet")
CHUNK = 100  # steps between the clock checks of the equal-time phase


class Arm:
    """One arm of one seed: its runs, the steps it has trained and the seconds it took."""

    def __init__(self, name: str, seed: int, args: argparse.Namespace, data: DataConfig) -> None:
        self.name, self.seconds, self.steps, self.final_steps = name, 0.0, 0, 0
        out = args.out / f"seed{seed}" / name
        uniform = "_".join([str(args.width)] * 8)
        training = TrainingSpec(steps=1, batch_size=args.batch_size, every=args.steps)
        common = dict(data=data, teacher=args.teacher, training=training, seed=seed)
        if name == "supernet":
            self.first = DistillRun(out=out / "supernet", student="supernet", choices=args.choices, **common)
            self.final = DistillRun(
                out=out / "finetune", student="subnet", config=uniform, init_from=self.first.out, **common
            )
        else:
            self.first = None
            distill = {} if name == "distilled" else {"lambda_distill": 0.0}
            # The paper's ablation trains its students from scratch, as the supernet arm's starts.
            self.final = DistillRun(
                out=out, student="mobile", ngf=args.width, student_init="fresh", **common, **distill
            )

    def train(self, steps: int) -> None:
        """Train until `steps` in all: the supernet arm's first half as the supernet, every later step fine-tuning."""
        start = time.monotonic()
        if self.first is not None and self.steps == 0:
            train_distill(self.first.with_steps(steps // 2))
            self.final_steps = steps - steps // 2
            train_distill(self.final.with_steps(self.final_steps))
        else:
            self.final_steps += steps - self.steps
            train_distill(self.final.with_steps(self.final_steps), resume=self.steps > 0)
        self.steps = steps
        self.seconds += time.monotonic() - start

    def score(self, test: list, references: list) -> dict[str, float]:
        """Its steps, seconds and agreement with the teacher on `test` now."""
        _spec, model = load_generator(self.final.out)
        scores = evaluate_generator(model, test, references, paired=False)
        return {
            "steps": self.steps,
            "seconds": round(self.seconds, 1),
            "psnr_teacher": round(scores["psnr_teacher"], 3),
            "ssim_teacher": round(scores["ssim_teacher"], 4),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, required=True, help="a teacher checkpoint (e.g. an imported one)")
    parser.add_argument("--dataset", type=Path, required=True, help="a dataset of unlabelled photos")
    parser.add_argument("--steps", type=int, default=600, help="training steps of each arm (equal steps)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--width", type=int, default=16, help="the student's width at every position")
    parser.add_argument("--choices", default="channels-32-8")
    parser.add_argument("--crop-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("bench/out/ablation"))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    data = DataConfig(dataset=args.dataset, crop_size=args.crop_size)

    # The teacher labels the photos once (cached beside the dataset), outside every arm's time.
    labels = DistillRun(
        out=args.out / "labels", data=data, teacher=args.teacher, student="mobile", ngf=8,
        training=TrainingSpec(steps=1, batch_size=args.batch_size, every=1),
    )  # fmt: skip
    train_distill(labels)
    teacher = load_teacher(args.teacher)
    test = list(TranslationDataset(args.dataset, "test", judging_preprocess(args.dataset, 4)).eval_pairs())
    references = teacher_outputs(teacher.generator, test)

    results: dict[str, dict[str, list]] = {arm: {"equal_steps": [], "equal_time": []} for arm in ARMS}
    for seed in seeds:
        arms = [Arm(name, seed, args, data) for name in ARMS]
        for arm in arms:
            arm.train(args.steps)
            results[arm.name]["equal_steps"].append({"seed": seed, **arm.score(test, references)})
            print(json.dumps({"seed": seed, "arm": arm.name, **results[arm.name]["equal_steps"][-1]}), flush=True)
        budget = max(arm.seconds for arm in arms)
        for arm in arms:
            while arm.seconds + arm.seconds / arm.steps * CHUNK <= budget:
                arm.train(arm.steps + CHUNK)
            results[arm.name]["equal_time"].append({"seed": seed, **arm.score(test, references)})
            print(json.dumps({"seed": seed, "arm": arm.name, "equal_time": results[arm.name]["equal_time"][-1]}))
    report = {
        "teacher": str(args.teacher),
        "dataset": str(args.dataset),
        "student": f"mobile ResNet, every width {args.width} (the uniform sub-network of {args.choices})",
        "steps": args.steps,
        "test_photos": len(test),
        "seeds": seeds,
        "runs": results,
        "summary": {arm: {phase: spread(runs) for phase, runs in phases.items()} for arm, phases in results.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    (args.out.parent / "ablation_distill.json").write_text(json.dumps(report, indent=2) + "\n")
    draw(report, args.out.parent / "ablation_distill.png")
    print(json.dumps(report["summary"], indent=2))


def spread(runs: list[dict]) -> dict[str, float]:
    """Mean and standard deviation over the seeds of agreement, steps and seconds."""
    out = {}
    for key in ("psnr_teacher", "ssim_teacher", "steps", "seconds"):
        values = [r[key] for r in runs]
        out[f"{key}_mean"] = round(statistics.fmean(values), 4)
        out[f"{key}_std"] = round(statistics.stdev(values), 4) if len(values) > 1 else 0.0
    return out


def draw(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, phase in zip(axes, ("equal_steps", "equal_time")):
        for index, arm in enumerate(ARMS):
            values = [r["psnr_teacher"] for r in report["runs"][arm][phase]]
            summary = report["summary"][arm][phase]
            ax.bar(index, summary["psnr_teacher_mean"], yerr=summary["psnr_teacher_std"], capsize=6, alpha=0.6)
            ax.scatter([index] * len(values), values, color="black", s=12, zorder=3)
            ax.annotate(
                f"{summary['psnr_teacher_mean']:.2f}\n{summary['steps_mean']:.0f} steps",
                (index, summary["psnr_teacher_mean"]),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        ax.set_xticks(range(len(ARMS)), ARMS)
        lows = [r["psnr_teacher"] for arm in ARMS for r in report["runs"][arm][phase]]
        ax.set_ylim(min(lows) - 1.0, max(lows) + 1.0)
        ax.set_ylabel("PSNR against the teacher, test photos (dB)")
        ax.set_title(phase.replace("_", " "))
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{report['student']}, {report['steps']} steps, seeds {report['seeds']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()

"""Whether a searched student would gain from longer fine-tuning: its agreement with the teacher against steps.

    .venv/bin/python bench/finetune_curve.py --work-dir var/jobs/vintage --photos DIR [--config C] [--steps 3000]

Fine-tunes one rung of a finished pseudo-pair job's ladder again (default: its smallest), as the job did (the
same run, started from the same supernet) but for `--steps` steps: the learning rate constant for the first
half, then down to zero, as in every stage, so a longer run is a longer schedule, not the job's run continued.
Then scores every checkpoint of that run and of the job's own against the teacher, on the photos outside the
family's data (whole, short side = the dataset's size) and on its own training photos, beside the floor (the
unchanged photo). Prints JSON and writes it, with a chart, under bench/out/.
"""

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from pseudo_pair_recipe import agreement, whole_photos
from torch import nn

from compression.checkpoint import load_generator
from compression.data import TranslationDataset, judging_preprocess
from compression.data.folders import list_images, read_summary
from compression.metrics.quality import generate
from compression.training import DistillRun, load_teacher, train_distill
from compression.training.run import KEEP_CHECKPOINTS
from ganc.cli.progress import ProgressBars


def longer_run(job_config: dict, steps: int, out: Path) -> DistillRun:
    """The job's fine-tuning run of one rung, for `steps` steps, keeping a checkpoint every third of them."""
    training = {**job_config["training"], "steps": steps, "every": steps // KEEP_CHECKPOINTS}
    return DistillRun.model_validate({**job_config, "out": str(out), "training": training})


def curve(run: Path, judged: dict) -> list[dict]:
    """Agreement of each checkpoint kept in `run` with the teacher on every set of photos in `judged`."""
    points = []
    for checkpoint in sorted((run / "checkpoints").glob("step_*.pt")):
        _spec, student = load_generator(checkpoint)
        step = int(checkpoint.stem.removeprefix("step_"))
        points.append({"step": step, **{name: agreement(student, *pair) for name, pair in judged.items()}})
    return points


def chart(report: dict, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(8, 5))
    for (label, points), colour in zip(report["runs"].items(), ("tab:blue", "tab:orange")):
        steps = [p["step"] for p in points]
        axis.plot(steps, [p["outside"] for p in points], color=colour, marker="o", label=f"{label}: outside photos")
        axis.plot(steps, [p["own"] for p in points], color=colour, marker="s", linestyle="--", label=f"{label}: own")
    axis.axhline(report["floor"]["outside"], color="black", linestyle=":", label="unchanged photo: outside")
    axis.axhline(report["floor"]["own"], color="grey", linestyle=":", label="unchanged photo: own")
    axis.set_xlabel("fine-tuning steps")
    axis.set_ylabel("PSNR against the teacher (dB)")
    axis.set_title(f"{report['config']}: longer fine-tuning")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, required=True, help="a finished pseudo-pair job")
    parser.add_argument("--photos", type=Path, required=True, help="photos none of the family's data came from")
    parser.add_argument("--config", help="the rung to fine-tune again (default: the ladder's smallest)")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    ladder = json.loads((args.work_dir / "search" / "ladder.json").read_text())
    config = args.config or min(ladder, key=lambda rung: rung["macs"])["config"]
    job_run = args.work_dir / "finetune" / config
    if not (job_run / "config.json").is_file():
        parser.error(f"{job_run} holds no fine-tuning run; known: {[rung['config'] for rung in ladder]}")

    job_config = json.loads((job_run / "config.json").read_text())
    run = longer_run(job_config, args.steps, args.out / "finetune-curve" / f"{config}-{args.steps}")
    bars = ProgressBars()
    train_distill(run, resume=run.out.exists(), progress=bars)
    bars.close()

    teacher = load_teacher(run.teacher).generator
    dataset = Path(run.data.dataset)
    outside = whole_photos(list_images(args.photos), read_summary(dataset)["size"])
    train = TranslationDataset(dataset, "train", judging_preprocess(dataset, teacher.size_multiple))
    own = [a for _name, a, _b in train.eval_pairs()]
    judged = {name: (photos, generate(teacher, photos)) for name, photos in (("outside", outside), ("own", own))}
    report = {
        "config": config,
        "floor": {name: agreement(nn.Identity(), *pair) for name, pair in judged.items()},
        "runs": {
            f"the job's {job_config['training']['steps']} steps": curve(job_run, judged),
            f"{args.steps} steps": curve(Path(run.out), judged),
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "finetune_curve.json").write_text(json.dumps(report, indent=2) + "\n")
    chart(report, args.out / "finetune_curve.png")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

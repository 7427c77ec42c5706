"""Does distillation help? The same small student trained alone, distilled, and as a supernet sub-network.

    .venv/bin/python bench/ablation_distill.py --teacher var/jobs/sr4x/teacher/run \
        --dataset var/jobs/sr4x/data/dataset --steps 1500

On sr4x, training on 64 px crops, with equal steps: (a) a mobile ResNet of width 16 trained alone (pix2pix losses),
(b) the same student distilled from the teacher, (c) the uniform-16 sub-network of a channels-32
supernet distilled from the same teacher. PSNR/SSIM on the test split against the target and against
the teacher; JSON on stdout and in bench/out/ablation_distill.json, a chart beside it.
"""

import argparse
import json
import time
from pathlib import Path

from compression.checkpoint import load_generator
from compression.data import Preprocess, TranslationDataset, build_sample_dataset
from compression.metrics import evaluate_generator
from compression.models import ChannelConfig
from compression.training import DataConfig, DistillRun, TeacherRun, train_distill, train_teacher
from ganc.spec import TeacherSpec, TrainingSpec

STUDENT_WIDTH = 16


def training(steps: int, batch_size: int) -> TrainingSpec:
    return TrainingSpec(steps=steps, batch_size=batch_size, every=max(1, steps // 4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500, help="training steps of each student")
    parser.add_argument("--teacher", type=Path, help="an existing sr4x teacher run (default: train one)")
    parser.add_argument("--teacher-steps", type=int, default=3000)
    parser.add_argument("--dataset", type=Path, help="an sr4x dataset (default: build one at 64 px)")
    parser.add_argument("--crop-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("bench/out/ablation"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data = args.dataset or args.out / "sr4x-64"
    if not data.exists():
        build_sample_dataset("sr4x", 64, data)
    data_config = DataConfig(dataset=data, crop_size=args.crop_size)
    student_training = training(args.steps, args.batch_size)
    timings = {}

    teacher = args.teacher
    if teacher is None:
        teacher = args.out / "teacher"
        if not (teacher / "checkpoints").exists():
            start = time.perf_counter()
            spec = TeacherSpec(residual=True, **training(args.teacher_steps, args.batch_size).model_dump())
            train_teacher(TeacherRun(out=teacher, data=data_config, teacher=spec))
            timings["teacher_s"] = round(time.perf_counter() - start, 1)

    alone = TeacherSpec(arch="mobile_resnet", ngf=STUDENT_WIDTH, residual=True, **student_training.model_dump())
    runs = {
        "alone": lambda out: train_teacher(TeacherRun(out=out, data=data_config, teacher=alone)),
        "distilled": lambda out: train_distill(
            DistillRun(
                out=out,
                data=data_config,
                teacher=teacher,
                student="mobile",
                ngf=STUDENT_WIDTH,
                training=student_training,
            )
        ),
        "supernet": lambda out: train_distill(
            DistillRun(
                out=out,
                data=data_config,
                teacher=teacher,
                student="supernet",
                choices="channels-32",
                training=student_training,
            )
        ),
    }
    for name, train in runs.items():
        if not (args.out / name / "checkpoints").exists():
            start = time.perf_counter()
            train(args.out / name)
            timings[f"{name}_s"] = round(time.perf_counter() - start, 1)

    _, teacher_model = load_generator(teacher)
    test = list(TranslationDataset(data, "test", Preprocess(multiple=4)).eval_pairs())
    results = {"teacher": evaluate_generator(teacher_model, test)}
    for name in runs:
        _spec, model = load_generator(args.out / name)
        if name == "supernet":
            model = model.extract(ChannelConfig.uniform(STUDENT_WIDTH))
        results[name] = evaluate_generator(model, test, teacher_model)
    report = {
        "task": "sr4x",
        "crop_size": args.crop_size,
        "student": f"mobile ResNet, every width {STUDENT_WIDTH}",
        "steps": args.steps,
        "test_images": len(test),
        "input_psnr": results["teacher"]["psnr_input"],
        "input_ssim": results["teacher"]["ssim_input"],
        "results": {k: {m: round(v, 4) for m, v in r.items() if not m.endswith("_input")} for k, r in results.items()},
        "timings": timings,
    }
    (args.out.parent / "ablation_distill.json").write_text(json.dumps(report, indent=2) + "\n")
    draw(report, args.out.parent / "ablation_distill.png")
    print(json.dumps(report, indent=2))


def draw(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["teacher", "alone", "distilled", "supernet"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, baseline in ((axes[0], "psnr", "input_psnr"), (axes[1], "ssim", "input_ssim")):
        values = [report["results"][n][metric] for n in names]
        ax.bar(names, values, color=["gray", "tab:red", "tab:blue", "tab:green"])
        ax.axhline(report[baseline], color="black", linestyle="--", label="degraded input")
        low = min([*values, report[baseline]])
        ax.set_ylim(low - (0.5 if metric == "psnr" else 0.02), max(values) + (0.3 if metric == "psnr" else 0.01))
        for i, v in enumerate(values):
            ax.annotate(f"{v:.3f}" if metric == "ssim" else f"{v:.2f}", (i, v), ha="center", va="bottom")
        ax.set_title(f"{metric.upper()} vs target (test split)")
        ax.legend(loc="lower right")
    title = f"sr4x, {report['crop_size']}px crops, width-{STUDENT_WIDTH} student, {report['steps']} steps each"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()

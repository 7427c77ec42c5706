"""How fast a distillation step runs on this CPU: precision, memory layout, torch.compile and threads, side by side.

    .venv/bin/python bench/train_speed.py --teacher data/teachers/vintagify.pt \
        --dataset var/jobs/vintage/data/dataset [--steps 6]

One step is what the vintage recipe does per batch of 4 made 256-px inputs: the teacher labels them (output
and features after every block), the mobile student (ngf 32) runs forward and backward and Adam steps. Each
setting is timed over --steps steps after two warm-up steps, the settings interleaved round by round, and the
median reported with the teacher's share. Agreement: the teacher's bf16 labels against its fp32 ones (PSNR on
the made inputs). Prints JSON and writes it under bench/out/.
"""

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from compression.metrics import psnr
from compression.precision import autocast, native_bf16, resolve
from compression.training import DistillRun, load_teacher
from compression.training.data import DataConfig, open_splits
from compression.training.distill import DistillTrainer
from ganc.spec import TrainingSpec

SETTINGS = {
    "fp32": {"precision": "fp32"},
    "fp32, channels_last": {"precision": "fp32", "channels_last": True},
    "fp32, 1 thread": {"precision": "fp32", "threads": 1},
    "bf16": {"precision": "bf16"},
    "bf16, channels_last": {"precision": "bf16", "channels_last": True},
    "bf16, torch.compile": {"precision": "bf16", "compile": True},
    "bf16, 1 thread": {"precision": "bf16", "threads": 1},
}


def trainer_for(args: argparse.Namespace, setting: dict) -> DistillTrainer:
    training = TrainingSpec(steps=1000, batch_size=4, lr=1e-3, beta1=0.9, precision=setting["precision"])
    run = DistillRun(
        out=args.out / "speed-run",
        data=DataConfig(dataset=args.dataset),
        teacher=args.teacher,
        student="mobile",
        ngf=32,
        training=training,
        lambda_gan=0.0,
    )
    teacher = load_teacher(args.teacher)
    train, val = open_splits(run.data, teacher.generator.size_multiple)
    trainer = DistillTrainer(run, teacher, train, val)
    if setting.get("channels_last"):
        for module in (trainer.teacher.generator, trainer.modules["G"], trainer.modules["mappings"]):
            module.to(memory_format=torch.channels_last)
        made = trainer.made
        batch = made.batch
        made.batch = lambda *a: batch(*a).contiguous(memory_format=torch.channels_last)
    if setting.get("compile"):
        student = trainer.modules["G"]
        student.forward_with_taps = torch.compile(student.forward_with_taps)
        trainer.teacher.generator.forward_with_taps = torch.compile(trainer.teacher.generator.forward_with_taps)
    return trainer


def timed_step(trainer: DistillTrainer, step: int, setting: dict) -> tuple[float, float]:
    """Seconds of one training step, and of the teacher's labelling within it."""
    torch.set_num_threads(setting.get("threads", 2))
    labelled = trainer.labelled
    spent = {"teacher": 0.0}

    def timed_labels(inputs):
        start = time.perf_counter()
        out = labelled(inputs)
        spent["teacher"] += time.perf_counter() - start
        return out

    trainer.labelled = timed_labels
    start = time.perf_counter()
    with autocast(setting["precision"]):
        trainer.train_step(step, trainer.inputs(step))
    trainer.labelled = labelled
    return time.perf_counter() - start, spent["teacher"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    # bfloat16 is timed only where the CPU has it: emulated, one step takes many minutes (compression/precision.py).
    settings = {name: s for name, s in SETTINGS.items() if s["precision"] == "fp32" or native_bf16()}
    trainers = {name: trainer_for(args, setting) for name, setting in settings.items()}
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in settings}
    for step in range(args.steps + 2):
        for name, trainer in trainers.items():
            seconds = timed_step(trainer, step, settings[name])
            if step >= 2:
                samples[name].append(seconds)
    fp32 = statistics.median(s for s, _ in samples["fp32"])
    report = {
        "cpu": platform.processor() or platform.machine(),
        "native_bf16": native_bf16(),
        "auto_resolves_to": resolve("auto"),  # what `precision: auto` trains in here, by its own timing
        "steps": args.steps,
        "settings": {
            name: {
                "step_s": round(statistics.median(s for s, _ in runs), 3),
                "teacher_s": round(statistics.median(t for _, t in runs), 3),
                "speedup_over_fp32": round(fp32 / statistics.median(s for s, _ in runs), 2),
            }
            for name, runs in samples.items()
        },
    }
    if native_bf16():
        inputs = trainers["fp32"].made.batch(10_000, 8, 1)
        teacher = trainers["fp32"].teacher.generator
        with torch.no_grad():
            exact = teacher(inputs)
            with autocast("bf16"):
                rounded = teacher(inputs).float()
        report["bf16_labels_psnr_against_fp32_db"] = round(sum(map(psnr, rounded, exact)) / len(inputs), 2)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_speed.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

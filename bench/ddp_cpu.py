"""Training steps per second on this CPU: one process on every core against torchrun's processes, one a core,
sharing the same global batch.

    .venv/bin/python bench/ddp_cpu.py --teacher data/teachers/vintagify.pt \
        --dataset var/jobs/vintage/data/dataset [--steps 12] [--rounds 2]

A step is the vintage recipe's: the teacher labels 4 made 256-px inputs (output and features after every block),
a mobile student (ngf 32) runs forward and backward, its gradients are averaged over the processes and Adam
steps, under the recipe's precision (`auto`). One process with all the cores (intra-op threads), N processes of
one thread each (gloo, each taking 4/N of the batch), and one process of one thread (how far threads already
parallelise the step) run one after the other, --rounds times interleaved; each times --steps steps after 2
warm-up steps. Prints JSON (steps per second, the speed-ups) and writes it under bench/out/.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from compression.precision import autocast
from compression.training import DistillRun, load_teacher
from compression.training.data import DataConfig, open_splits
from compression.training.distill import DistillTrainer
from compression.training.placement import training_placement
from ganc.spec import TrainingSpec

BATCH, WARMUP = 4, 2


def time_steps(args: argparse.Namespace) -> None:
    """In each process (alone or under torchrun): the steps' seconds, printed by rank 0 as one JSON line."""
    run = DistillRun(
        out=args.out / "ddp-run",
        data=DataConfig(dataset=args.dataset),
        teacher=args.teacher,
        student="mobile",
        ngf=32,
        training=TrainingSpec(steps=1000, batch_size=BATCH, lr=1e-3, beta1=0.9, precision="auto"),
        lambda_gan=0.0,
    )
    with training_placement("cpu") as placement:
        teacher = load_teacher(args.teacher)
        train, val = open_splits(run.data, teacher.generator.size_multiple)
        trainer = DistillTrainer(run, teacher, train, val, placement=placement)
        trainer.place()
        seconds = []
        for step in range(WARMUP + args.steps):
            placement.barrier()
            start = time.perf_counter()
            with autocast("auto"):
                trainer.train_step(step, trainer.inputs(step))
            placement.barrier()
            seconds.append(time.perf_counter() - start)
        if placement.writes:
            print(json.dumps({"processes": placement.world_size, "step_s": statistics.median(seconds[WARMUP:])}))


def measure(args: argparse.Namespace, processes: int, threads: int) -> float:
    """Median seconds a step with `processes` processes of `threads` threads each."""
    worker = [__file__, "--worker", "--teacher", str(args.teacher), "--dataset", str(args.dataset)]
    worker += ["--steps", str(args.steps), "--out", str(args.out)]
    command = [sys.executable, *worker]
    if processes > 1:
        command = [
            str(Path(sys.executable).parent / "torchrun"),
            "--standalone",
            f"--nproc-per-node={processes}",
            *worker,
        ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["step_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        time_steps(args)
        return
    cores = os.cpu_count() or 1
    # One process on every core; the processes, one thread each; and one process on one core, for how far the
    # cores' threads already parallelise a step.
    settings = {
        "1 process": (1, cores),
        f"{args.processes} processes": (args.processes, 1),
        "1 process, 1 thread": (1, 1),
    }
    times: dict[str, list[float]] = {name: [] for name in settings}
    for _ in range(args.rounds):
        for name, (processes, threads) in settings.items():
            times[name].append(measure(args, processes, threads))
            print(name, round(times[name][-1], 3), "s a step", file=sys.stderr, flush=True)
    median = {name: statistics.median(ts) for name, ts in times.items()}
    one, several = median["1 process"], median[f"{args.processes} processes"]
    report = {
        "machine": platform.processor() or platform.machine(),
        "cores": cores,
        "torch": torch.__version__,
        "batch": BATCH,
        "step_s": {name: [round(t, 3) for t in ts] for name, ts in times.items()},
        "steps_per_s": {name: round(1 / t, 3) for name, t in median.items()},
        "speedup": round(one / several, 3),
        "threads_speedup": round(median["1 process, 1 thread"] / one, 3),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ddp_cpu.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

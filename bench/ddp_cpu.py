"""Training steps per second on this CPU: one process on every core against torchrun's processes, one a core,
sharing the same global batch.

    .venv/bin/python bench/ddp_cpu.py --teacher data/teachers/vintagify.pt \
        --dataset var/jobs/vintage/data/dataset [--steps 12] [--rounds 2]

A step is the vintage recipe's: the teacher labels 4 made 256-px inputs (output and features after every block),
a mobile student (ngf 32) runs forward and backward, its gradients are averaged over the processes and Adam
steps, under the recipe's precision (`auto`). One process with all the cores (intra-op threads) and N processes
of one thread each (gloo, each taking 4/N of the batch) run one after the other, --rounds times interleaved;
each times --steps steps after 2 warm-up steps. Prints JSON (steps per second, the speed-up) and writes it under
bench/out/.
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


def measure(args: argparse.Namespace, processes: int) -> float:
    """Median seconds a step with `processes` processes (one: all the cores; several: one thread each)."""
    cores = os.cpu_count() or 1
    worker = [__file__, "--worker", "--teacher", str(args.teacher), "--dataset", str(args.dataset)]
    worker += ["--steps", str(args.steps), "--out", str(args.out)]
    if processes == 1:
        command, threads = [sys.executable, *worker], cores
    else:
        torchrun = str(Path(sys.executable).parent / "torchrun")
        command, threads = [torchrun, "--standalone", f"--nproc-per-node={processes}", *worker], cores // processes
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
    times: dict[int, list[float]] = {1: [], args.processes: []}
    for _ in range(args.rounds):
        for processes in times:
            times[processes].append(measure(args, processes))
            print(processes, "processes:", round(times[processes][-1], 3), "s a step", file=sys.stderr, flush=True)
    one, several = (statistics.median(times[p]) for p in times)
    report = {
        "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "batch": BATCH,
        "step_s": {str(p): [round(t, 3) for t in ts] for p, ts in times.items()},
        "steps_per_s": {"1": round(1 / one, 3), str(args.processes): round(1 / several, 3)},
        "speedup": round(one / several, 3),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ddp_cpu.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""The training loop every stage shares: run folder, checkpoints, resume, logs, samples, progress.

A run folder holds
    config.json                 the stage's configuration
    checkpoints/step_NNNNNNN.pt the last few checkpoints (generator spec and weights + training state)
    train_log.csv, val_log.csv  losses per step; validation metrics per evaluation
    samples/step_NNNNNNN.png    input | output | target rows on validation images

Everything random in a step derives from (seed, step), so resuming from the checkpoint of step s
reproduces an uninterrupted run bit for bit. A step's inputs are made on the CPU, ahead of the step by the
placement's data workers where it has any (torch.utils.data, pinned for a GPU), and moved to its device; the
step runs there. Under torchrun the processes share each step's batch (placement.py), and rank 0 alone writes.
"""

import csv
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from PIL import Image
from pydantic import BaseModel, ValidationError
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ganc.atomic import write_text_atomically
from ganc.spec import TrainingSpec
from ganc.validation import describe

from ..checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint, save_checkpoint
from ..data import to_image
from ..models import ModelSpec
from ..precision import autocast, grad_scaler
from ..progress import Progress, no_progress
from .placement import Placement
from .time_limit import TimeLimit, announce, record, recorded_steps

_CHECKPOINT = re.compile(r"step_(\d+)\.pt")
KEEP_CHECKPOINTS = 3

RunConfig = TypeVar("RunConfig", bound=BaseModel)


def linear_decay(total_steps: int):
    """pix2pix's schedule: constant for the first half, then linearly down to zero."""
    half = total_steps / 2

    def factor(step: int) -> float:
        return 1.0 if step < half else max(0.0, (total_steps - step) / half)

    return factor


class Trainer(ABC):
    """One training stage: what a step does, how it is evaluated, and what its checkpoint holds."""

    stage: str
    kind: str

    def __init__(self, training: TrainingSpec, seed: int, placement: Placement) -> None:
        self.training, self.seed, self.placement = training, seed, placement
        placement.check_batch(training.batch_size, "training")
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self.scaler = grad_scaler(training.precision, placement.device)

    def adam(self, name: str, parameters) -> None:
        optimizer = torch.optim.Adam(parameters, lr=self.training.lr, betas=(self.training.beta1, 0.999))
        self.optimizers[name] = optimizer
        self.schedulers[name] = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_decay(self.training.steps))

    def place(self) -> None:
        """The modules on the placement's device, equal in every process (rank 0's)."""
        for module in self.modules.values():
            module.to(self.placement.device)
        self.placement.broadcast(self.modules.values())

    def train_to(self, steps: int) -> None:
        """Train to `steps` in all instead, decided before half of them are taken (the schedule's constant half):
        the steps taken so far are then what they would have been."""
        self.training = self.training.model_copy(update={"steps": steps})
        for scheduler in self.schedulers.values():
            scheduler.lr_lambdas = [linear_decay(steps) for _ in scheduler.lr_lambdas]

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def optimizer_step(self, name: str) -> None:
        """Optimiser `name`'s step on the gradients averaged over the processes (unscaled, and skipped where fp16
        overflowed)."""
        optimizer = self.optimizers[name]
        self.placement.average_gradients(p for group in optimizer.param_groups for p in group["params"])
        self.scaler.step(optimizer)

    @abstractmethod
    def inputs(self, step: int) -> tuple[torch.Tensor, ...]:
        """Step `step`'s inputs on the CPU, this process's rows of them: a pure function of (seed, step)."""

    @abstractmethod
    def train_step(self, step: int, inputs: tuple[torch.Tensor, ...]) -> dict[str, float]:
        """One step on `inputs` (on the device), under the stage's autocast."""

    @abstractmethod
    def evaluate(self) -> dict[str, float]: ...

    @abstractmethod
    def sample_rows(self) -> list[list[torch.Tensor]]:
        """Rows of [3, H, W] images in [-1, 1] for the sample grid."""

    @abstractmethod
    def generator(self) -> tuple[ModelSpec, nn.Module]:
        """The generator this stage produces, with the spec that rebuilds it."""

    def checkpoint_extras(self) -> dict[str, Any]:
        """Top-level checkpoint entries later stages read (e.g. the discriminator)."""
        return {}

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:  # noqa: B027 (optional hook)
        """Restore what `extra_state` saved."""


class RunFolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.checkpoints = path / "checkpoints"
        self.samples = path / "samples"

    def checkpoint_steps(self) -> list[int]:
        if not self.checkpoints.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.checkpoints.iterdir() if (m := _CHECKPOINT.fullmatch(p.name)))

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints / f"step_{step:07d}.pt"

    def latest_checkpoint(self) -> Path:
        return resolve_checkpoint(self.path)

    def read_config(self, kind: type[RunConfig]) -> RunConfig:
        """The run's configuration as `kind` (what a resumed run continues)."""
        path = self.path / "config.json"
        if not path.is_file():
            raise CheckpointError(f"{self.path} is not a run folder (no config.json)")
        try:
            return kind.model_validate_json(path.read_text())
        except ValidationError as error:
            raise CheckpointError(f"{path} does not describe a {kind.__name__}: {describe(error)}") from None

    def write_config(self, config: BaseModel) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_text_atomically(self.path / "config.json", config.model_dump_json(indent=2) + "\n")

    def append_log(self, name: str, step: int, values: dict[str, float]) -> None:
        path = self.path / name
        row = {"step": step, **{k: f"{v:.6g}" for k, v in values.items()}}
        new = not path.exists()
        with open(path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row), extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)

    def truncate_logs(self, step: int) -> None:
        """Drop log rows past `step` (a resumed run writes them again), and a row a crash left half written."""
        for name in ("train_log.csv", "val_log.csv"):
            path = self.path / name
            if not path.exists():
                continue
            lines = path.read_text().splitlines(keepends=True)
            # A row is appended, not replaced: a crash mid-write leaves a last line without its end, dropped here.
            rows = [line for line in lines[1:] if line.endswith("\n") and line.split(",", 1)[0].isdigit()]
            kept = lines[:1] + [line for line in rows if int(line.split(",", 1)[0]) <= step]
            write_text_atomically(path, "".join(kept))

    def save_samples(self, step: int, rows: list[list[torch.Tensor]]) -> Path:
        tiles = [[to_image(t) for t in row] for row in rows]
        width = max(sum(t.width for t in row) for row in tiles)
        height = sum(max(t.height for t in row) for row in tiles)
        grid = Image.new("RGB", (width, height), "white")
        y = 0
        for row in tiles:
            x = 0
            for tile in row:
                grid.paste(tile, (x, y))
                x += tile.width
            y += max(t.height for t in row)
        self.samples.mkdir(parents=True, exist_ok=True)
        path = self.samples / f"step_{step:07d}.png"
        grid.save(path)
        return path


def save_training_checkpoint(run: RunFolder, trainer: Trainer, step: int, config: BaseModel) -> Path:
    spec, generator = trainer.generator()
    path = run.checkpoint_path(step)
    save_checkpoint(
        path,
        spec,
        generator,
        kind=trainer.kind,
        config=config.model_dump(mode="json"),
        **trainer.checkpoint_extras(),
        training={
            "step": step,
            "modules": {name: module.state_dict() for name, module in trainer.modules.items()},
            "optimizers": {name: opt.state_dict() for name, opt in trainer.optimizers.items()},
            "schedulers": {name: s.state_dict() for name, s in trainer.schedulers.items()},
            "extra": trainer.extra_state(),
        },
    )
    for old in run.checkpoint_steps()[:-KEEP_CHECKPOINTS]:
        run.checkpoint_path(old).unlink(missing_ok=True)
    return path


def restore(trainer: Trainer, checkpoint: Path) -> int:
    """Load the training state of `checkpoint` into `trainer`; return its step."""
    state = load_checkpoint(checkpoint)["training"]
    for name, module in trainer.modules.items():
        module.load_state_dict(state["modules"][name])
    for name, optimizer in trainer.optimizers.items():
        optimizer.load_state_dict(state["optimizers"][name])
    for name, scheduler in trainer.schedulers.items():
        scheduler.load_state_dict(state["schedulers"][name])
    trainer.load_extra_state(state["extra"])
    return int(state["step"])


class _StepInputs(Dataset):
    """The inputs of steps start..steps-1, in order, each with its step."""

    def __init__(self, inputs: Callable[[int], tuple[torch.Tensor, ...]], start: int, steps: int) -> None:
        self.inputs, self.start, self.steps = inputs, start, steps

    def __len__(self) -> int:
        return self.steps - self.start

    def __getitem__(self, index: int) -> tuple[int, tuple[torch.Tensor, ...]]:
        return self.start + index, self.inputs(self.start + index)


def step_inputs(trainer: Trainer, start: int) -> DataLoader:
    """The inputs of every step from `start`, made ahead by the placement's data workers (none: when asked)."""
    placement = trainer.placement
    return DataLoader(
        _StepInputs(trainer.inputs, start, trainer.training.steps),
        batch_size=None,
        num_workers=placement.data_workers,
        pin_memory=placement.device.type == "cuda",
        prefetch_factor=2 if placement.data_workers else None,
    )


@dataclass
class Training:
    """One trainer, the run folder it writes, the configuration it records, and whether it goes on from the
    folder's latest checkpoint."""

    trainer: Trainer
    run: RunFolder
    config: BaseModel
    resume: bool = False


def run_training(
    trainer: Trainer, run: RunFolder, config: BaseModel, resume: bool, progress: Progress = no_progress
) -> dict[str, float]:
    """Train from step 0 (or the latest checkpoint when resuming) to `steps`; return the last metrics (rank 0's:
    the other processes of a distributed run return none)."""
    return run_side_by_side([Training(trainer, run, config, resume)], progress)[0]


def run_side_by_side(trainings: list[Training], progress: Progress = no_progress) -> list[dict[str, float]]:
    """Train several runs step by step together, each to its own `steps`, on the inputs of the longest: their
    trainers must make the same inputs at every step (the same data, seed and batch), which are then made once
    for all of them, and work their steps share (a teacher's labels) can be done once. Each run is what it would
    be alone, bit for bit. Under a `max_minutes` they are shortened together to fit it (time_limit.py). The
    progress shown is the longest run's."""
    starts, metrics = [], [{} for _ in trainings]
    for training in trainings:
        trainer, run = training.trainer, training.run
        trainer.place()
        start = 0
        if training.resume:
            start = restore(trainer, run.latest_checkpoint()) if run.checkpoint_steps() else 0
            if trainer.placement.writes:  # rows past the checkpoint (or all, without one) are written again
                run.truncate_logs(start)
        starts.append(start)
    limit = _time_limit(trainings, min(starts))
    placement = trainings[0].trainer.placement
    if placement.writes:
        for training in trainings:
            training.run.write_config(training.config)
    else:
        progress = no_progress
    # The longest stays the longest when a time limit shortens them all alike.
    longest = max(trainings, key=lambda t: t.trainer.training.steps).trainer
    progress(longest.stage, min(starts), longest.training.steps, "resumed" if min(starts) else "started")
    began = time.perf_counter()
    for step, inputs in step_inputs(longest, min(starts)):
        if step >= longest.training.steps:
            break
        inputs = tuple(tensor.to(placement.device, non_blocking=True) for tensor in inputs)
        for index, (training, start) in enumerate(zip(trainings, starts, strict=True)):
            if start <= step < training.trainer.training.steps:
                run_began = time.perf_counter()
                losses = _train_one_step(training, step, inputs)
                limit.run_step(step, index, time.perf_counter() - run_began)
                metrics[index] = _look(training, step + 1, losses) or metrics[index]
                if training.trainer is longest:
                    progress(longest.stage, step + 1, longest.training.steps, _losses(losses))
        now = time.perf_counter()
        if limit.step_done(step, now - began):
            _decide(trainings, limit, step + 1, progress)
        began = now
    for index, (training, start) in enumerate(zip(trainings, starts, strict=True)):
        if start == training.trainer.training.steps and not metrics[index] and placement.writes:
            metrics[index] = training.trainer.evaluate()
    placement.barrier()  # the last checkpoints are written before any process reads them
    return metrics


def _losses(losses: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.3g}" for k, v in losses.items())


def _time_limit(trainings: list[Training], first: int) -> TimeLimit:
    """The runs' shared time limit, or none; runs a limit already shortened take their recorded steps."""
    limits = {training.trainer.training.max_minutes for training in trainings}
    if len(limits) != 1:
        raise ValueError("runs trained side by side share their max_minutes")
    written = [training.trainer.training.steps for training in trainings]
    every = [training.trainer.training.every for training in trainings]
    recorded = [recorded_steps(training.run.path, steps) for training, steps in zip(trainings, written, strict=True)]
    if None not in recorded:  # a resume goes on to the steps last decided
        for training, steps in zip(trainings, recorded, strict=True):
            _take_steps(training, steps)
        return TimeLimit(None, written, every, first)
    return TimeLimit(limits.pop(), written, every, first)


def _decide(trainings: list[Training], limit: TimeLimit, done: int, progress: Progress) -> None:
    """Every run to the steps that fit the limit (rank 0's timing), recorded in its folder for a resume."""
    placement = trainings[0].trainer.placement
    first = limit.look_seconds is None
    if first:
        limit.look_seconds = [_look_seconds(training.trainer) if placement.writes else 0.0 for training in trainings]
    before = list(limit.steps)
    limit.steps = placement.rank_0s(limit.decide(done))
    if not first and limit.steps == before:
        return
    for training, written, steps in zip(trainings, limit.written, limit.steps, strict=True):
        _take_steps(training, steps)
        if placement.writes:
            record(training.run.path, written, steps, limit.max_minutes, limit.seconds_per_step())
            training.run.write_config(training.config)
    announce(progress, trainings[0].trainer.stage, done, limit)


def _look_seconds(trainer: Trainer) -> float:
    """What a look at the run (its evaluation and sample grid, as _look takes) costs, timed once."""
    began = time.perf_counter()
    trainer.evaluate()
    trainer.sample_rows()
    return time.perf_counter() - began


def _take_steps(training: Training, steps: int) -> None:
    if steps != training.trainer.training.steps:
        training.trainer.train_to(steps)
        training.config = training.config.with_steps(steps)


def _train_one_step(training: Training, step: int, inputs: tuple[torch.Tensor, ...]) -> dict[str, float]:
    trainer = training.trainer
    with autocast(trainer.training.precision, trainer.placement.device):
        losses = trainer.train_step(step, inputs)
    trainer.scaler.update()
    for scheduler in trainer.schedulers.values():
        scheduler.step()
    return trainer.placement.average(losses)


def _look(training: Training, done: int, losses: dict[str, float]) -> dict[str, float]:
    """Log the step; every `every` steps and at the end also evaluate, draw samples and checkpoint, and return the
    metrics (none between: and on processes that do not write)."""
    trainer, run = training.trainer, training.run
    if not trainer.placement.writes:
        return {}
    run.append_log("train_log.csv", done, losses)
    if done % trainer.training.every and done != trainer.training.steps:
        return {}
    metrics = trainer.evaluate()
    run.append_log("val_log.csv", done, metrics)
    run.save_samples(done, trainer.sample_rows())
    save_training_checkpoint(run, trainer, done, training.config)
    return metrics


def check_fresh_or_resumable(run: RunFolder, resume: bool) -> None:
    if resume:
        if not (run.path / "config.json").is_file():
            raise CheckpointError(f"{run.path} is not a run folder (no config.json)")
    elif run.path.exists() and any(run.path.iterdir()):
        raise ValueError(f"{run.path} already holds a run; pass --resume to continue it, or choose a new --out")

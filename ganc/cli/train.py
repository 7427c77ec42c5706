"""`ganc train`: teachers, distilled students and supernets, each in a run folder that `--resume` continues.

Each command builds its stage's configuration from the spec's models (ganc/spec.py), whose defaults
are the command's defaults.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel

from ..errors import tracebacks_kept_in
from ..spec import PartInputs, Reconstruction, StudentInit, SupernetSpec, TeacherSpec, TrainingSpec
from .errors import friendly_errors
from .options import given
from .progress import ProgressBars

if TYPE_CHECKING:
    from compression.training import DataConfig

train_app = typer.Typer(help="Train teachers, distilled students and supernets.", no_args_is_help=True)
Run = TypeVar("Run", bound=BaseModel)


def default(spec: type[BaseModel], name: str) -> Any:
    return spec.model_fields[name].default


Out = Annotated[Path, typer.Option(help="the run folder")]
Resume = Annotated[bool, typer.Option(help="continue the run in --out from its latest checkpoint")]
Dataset = Annotated[Path | None, typer.Option(help="dataset folder (see `ganc data sample`)")]
Teacher = Annotated[Path | None, typer.Option(help="the teacher's run folder or checkpoint")]
Steps = Annotated[
    int | None,
    typer.Option(
        help=f"total training steps (default {default(TrainingSpec, 'steps')}; with --resume: extend the run)"
    ),
]
MaxMinutes = Annotated[
    float | None,
    typer.Option(help="train at most this long: the first steps are timed and as many of --steps kept as fit"),
]
BatchSize = Annotated[int, typer.Option(help="images per step")]
Lr = Annotated[float, typer.Option(help="Adam learning rate (linear decay over the second half)")]
Seed = Annotated[int, typer.Option(help="seed for weights, batches and sampling")]
Every = Annotated[int, typer.Option(help="steps between checkpoints, evaluations and sample grids")]
CropSize = Annotated[int | None, typer.Option(help="training crop (default: the sample set's size, else 256)")]
LoadSize = Annotated[int | None, typer.Option(help="resize to this before cropping (default: no resize)")]
ValLimit = Annotated[int | None, typer.Option(help="validation images per evaluation (default 16)")]
Device = Annotated[str, typer.Option(help="auto (a CUDA GPU where there is one, else the CPU), cpu, cuda or cuda:N")]
PartInputsOption = Annotated[
    PartInputs,
    typer.Option(help="own: the student runs end to end; teacher: each part learns from the teacher's input to it"),
]
ReconstructionOption = Annotated[
    Reconstruction, typer.Option(help="the student's loss to the target: l1, or l1+ssim (L1 + 1 - SSIM)")
]
BATCH_SIZE, LR, EVERY = (default(TrainingSpec, name) for name in ("batch_size", "lr", "every"))


@train_app.command("teacher")
@friendly_errors
def train_teacher_command(
    out: Out,
    dataset: Dataset = None,
    model: Annotated[str, typer.Option(help="pix2pix (paired) or cyclegan (unpaired)")] = default(TeacherSpec, "model"),
    arch: Annotated[str, typer.Option(help="resnet, unet, or mobile_resnet (a student trained alone)")] = default(
        TeacherSpec, "arch"
    ),
    ngf: Annotated[int, typer.Option(help="generator width")] = default(TeacherSpec, "ngf"),
    n_blocks: Annotated[int, typer.Option(help="residual blocks")] = default(TeacherSpec, "n_blocks"),
    num_downs: Annotated[int, typer.Option(help="U-Net stages")] = default(TeacherSpec, "num_downs"),
    residual: Annotated[bool, typer.Option(help="predict a residual added to the input (restoration)")] = False,
    ndf: Annotated[int, typer.Option(help="discriminator width")] = default(TeacherSpec, "ndf"),
    gan_mode: Annotated[
        str | None, typer.Option(help="lsgan, hinge or vanilla (default: hinge for pix2pix, lsgan for cyclegan)")
    ] = None,
    lambda_l1: Annotated[float, typer.Option(help="pix2pix's L1 weight")] = default(TeacherSpec, "lambda_l1"),
    steps: Steps = None,
    max_minutes: MaxMinutes = None,
    batch_size: BatchSize = BATCH_SIZE,
    lr: Lr = LR,
    seed: Seed = 0,
    every: Every = EVERY,
    crop_size: CropSize = None,
    load_size: LoadSize = None,
    val_limit: ValLimit = None,
    resume: Resume = False,
    device: Device = "auto",
) -> None:
    """Train a pix2pix or CycleGAN teacher (checkpoints, logs and sample grids in --out)."""
    from compression.training import TeacherRun, train_teacher

    def new_run() -> TeacherRun:
        if dataset is None:
            raise ValueError("--dataset is required for a new run")
        teacher = TeacherSpec(
            model=model,
            arch=arch,
            ngf=ngf,
            n_blocks=n_blocks,
            num_downs=num_downs,
            residual=residual,
            ndf=ndf,
            gan_mode=gan_mode,
            lambda_l1=lambda_l1,
            batch_size=batch_size,
            lr=lr,
            every=every,
            **given(steps=steps, max_minutes=max_minutes),
        )
        return TeacherRun(out=out, data=_data(dataset, crop_size, load_size, val_limit), teacher=teacher, seed=seed)

    _train(train_teacher, _run(TeacherRun, out, resume, steps, new_run), resume, device)


@train_app.command("distill")
@friendly_errors
def train_distill_command(
    out: Out,
    teacher: Teacher = None,
    ngf: Annotated[int, typer.Option(help="the mobile student's width")] = 32,
    student_init: Annotated[
        StudentInit, typer.Option(help="teacher: start from its channels of largest L1 norm; fresh: N(0, 0.02)")
    ] = default(SupernetSpec, "student_init"),
    part_inputs: PartInputsOption = default(SupernetSpec, "part_inputs"),
    reconstruction: ReconstructionOption = default(SupernetSpec, "reconstruction"),
    dataset: Annotated[Path | None, typer.Option(help="dataset folder (default: the teacher's)")] = None,
    steps: Steps = None,
    max_minutes: MaxMinutes = None,
    batch_size: BatchSize = BATCH_SIZE,
    lr: Lr = LR,
    seed: Seed = 0,
    every: Every = EVERY,
    crop_size: CropSize = None,
    load_size: LoadSize = None,
    val_limit: ValLimit = None,
    resume: Resume = False,
    device: Device = "auto",
) -> None:
    """Distil the teacher into a mobile student of one width (the original GAN Compression path)."""
    from compression.training import DistillRun, train_distill

    def new_run() -> DistillRun:
        training = TrainingSpec(
            batch_size=batch_size, lr=lr, every=every, **given(steps=steps, max_minutes=max_minutes)
        )
        data = _data(dataset, crop_size, load_size, val_limit)
        return DistillRun(
            out=out,
            data=data,
            teacher=_teacher(teacher),
            student="mobile",
            ngf=ngf,
            student_init=student_init,
            part_inputs=part_inputs,
            reconstruction=reconstruction,
            training=training,
            seed=seed,
        )

    _train(train_distill, _run(DistillRun, out, resume, steps, new_run), resume, device)


@train_app.command("supernet")
@friendly_errors
def train_supernet_command(
    out: Out,
    teacher: Teacher = None,
    choices: Annotated[str, typer.Option(help="choice set: channels-48, channels-32, channels-64-pix2pix, ...")] = (
        default(SupernetSpec, "choices")
    ),
    init_from: Annotated[Path | None, typer.Option(help="start from a `ganc train distill` run")] = None,
    part_inputs: PartInputsOption = default(SupernetSpec, "part_inputs"),
    reconstruction: ReconstructionOption = default(SupernetSpec, "reconstruction"),
    dataset: Annotated[Path | None, typer.Option(help="dataset folder (default: the teacher's)")] = None,
    steps: Steps = None,
    max_minutes: MaxMinutes = None,
    batch_size: BatchSize = BATCH_SIZE,
    lr: Lr = LR,
    seed: Seed = 0,
    every: Every = EVERY,
    crop_size: CropSize = None,
    load_size: LoadSize = None,
    val_limit: ValLimit = None,
    resume: Resume = False,
    device: Device = "auto",
) -> None:
    """Train a once-for-all supernet from the teacher, one random sub-network per step."""
    from compression.training import DistillRun, train_distill

    def new_run() -> DistillRun:
        training = TrainingSpec(
            batch_size=batch_size, lr=lr, every=every, **given(steps=steps, max_minutes=max_minutes)
        )
        data = _data(dataset, crop_size, load_size, val_limit)
        return DistillRun(
            out=out,
            data=data,
            teacher=_teacher(teacher),
            student="supernet",
            choices=choices,
            init_from=init_from,
            part_inputs=part_inputs,
            reconstruction=reconstruction,
            training=training,
            seed=seed,
        )

    _train(train_distill, _run(DistillRun, out, resume, steps, new_run), resume, device)


def _data(dataset: Path | None, crop_size: int | None, load_size: int | None, val_limit: int | None) -> "DataConfig":
    from compression.training import DataConfig

    return DataConfig(dataset=dataset, **given(crop_size=crop_size, load_size=load_size, val_limit=val_limit))


def _teacher(teacher: Path | None) -> Path:
    if teacher is None:
        raise ValueError("--teacher is required for a new run")
    return teacher


def _run(kind: type[Run], out: Path, resume: bool, steps: int | None, new_run: Callable[[], Run]) -> Run:
    """A new run, or with --resume the run in `out` as its config.json says (to --steps, when given)."""
    if not resume:
        return new_run()
    from compression.training import RunFolder

    run = RunFolder(out).read_config(kind)
    return run.with_steps(steps) if steps is not None else run


def _train(train: Callable[..., dict[str, float]], run: BaseModel, resume: bool, device: str) -> None:
    """Train `run` on `device`: alone, or as one of the processes torchrun started (rank 0 prints)."""
    from compression.training.placement import training_placement

    bars = ProgressBars()
    with tracebacks_kept_in(run.out), training_placement(device) as placement:
        metrics = train(run, resume, bars, placement)
    bars.close()
    if placement.writes:
        typer.echo(json.dumps({"out": str(run.out), "metrics": {k: round(v, 4) for k, v in metrics.items()}}))

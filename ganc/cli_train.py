"""`ganc data` and `ganc train`: build sample datasets and train teachers, students and supernets."""

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli_errors import friendly_errors
from .progress_bar import ProgressBars

data_app = typer.Typer(help="Build and check datasets.", no_args_is_help=True)
train_app = typer.Typer(help="Train teachers, distilled students and supernets.", no_args_is_help=True)

Out = Annotated[Path, typer.Option(help="the run folder")]
Resume = Annotated[bool, typer.Option(help="continue the run in --out from its latest checkpoint")]
Dataset = Annotated[Path | None, typer.Option(help="dataset folder (see `ganc data sample`)")]
Steps = Annotated[int | None, typer.Option(help="total training steps (with --resume: extend the run)")]
BatchSize = Annotated[int, typer.Option(help="images per step")]
Lr = Annotated[float, typer.Option(help="Adam learning rate (linear decay over the second half)")]
Seed = Annotated[int, typer.Option(help="seed for weights, batches and sampling")]
Every = Annotated[int, typer.Option(help="steps between checkpoints, evaluations and sample grids")]
CropSize = Annotated[int | None, typer.Option(help="training crop (default: the sample set's size, else 256)")]
LoadSize = Annotated[int | None, typer.Option(help="resize to this before cropping (default: no resize)")]
ValLimit = Annotated[int, typer.Option(help="validation images per evaluation")]


@data_app.command("sample")
@friendly_errors
def sample_dataset(
    task: Annotated[str, typer.Option(help="edges2photo, sr4x or gray2color")],
    out: Annotated[Path, typer.Option(help="folder to create")],
    size: Annotated[int, typer.Option(help="training crop size in pixels")] = 128,
    photos: Annotated[Path | None, typer.Option(help="your own folder of photos (default: scikit-image's)")] = None,
    seed: Annotated[int, typer.Option(help="seed for the split and the degradations")] = 0,
) -> None:
    """Build a dataset offline from photographs, with disjoint train/train2/val/test regions."""
    from compression.data import build_sample_dataset

    bars = ProgressBars()
    summary = build_sample_dataset(task, size, out, photos, seed, lambda done, total: bars("data", done, total, task))
    bars.close()
    typer.echo(json.dumps({"out": str(out), **{k: summary[k] for k in ("task", "size", "layout", "counts")}}))


def _loop(steps: int | None, batch_size: int, lr: float, seed: int, every: int) -> dict[str, Any]:
    loop: dict[str, Any] = {"batch_size": batch_size, "lr": lr, "seed": seed}
    loop.update(checkpoint_every=every, eval_every=every, sample_every=every)
    if steps is not None:
        loop["steps"] = steps
    return loop


def _data(dataset: Path | None, crop_size: int | None, load_size: int | None, val_limit: int) -> dict[str, Any]:
    data: dict[str, Any] = {"crop_size": crop_size, "load_size": load_size, "val_limit": val_limit}
    if dataset is not None:
        data["dataset"] = str(dataset)
    return data


def _resumed(out: Path, steps: int | None) -> dict[str, Any]:
    from compression.training import RunFolder

    raw = RunFolder(out).read_config()
    if steps is not None:
        raw["loop"]["steps"] = steps
    return raw


def _report(metrics: dict[str, float], out: Path) -> None:
    typer.echo(json.dumps({"out": str(out), "metrics": {k: round(v, 4) for k, v in metrics.items()}}))


@train_app.command("teacher")
@friendly_errors
def train_teacher_command(
    out: Out,
    dataset: Dataset = None,
    model: Annotated[str, typer.Option(help="pix2pix (paired) or cyclegan (unpaired)")] = "pix2pix",
    arch: Annotated[str, typer.Option(help="resnet, unet, or mobile_resnet (a student trained alone)")] = "resnet",
    ngf: Annotated[int, typer.Option(help="generator width")] = 64,
    n_blocks: Annotated[int, typer.Option(help="residual blocks")] = 9,
    num_downs: Annotated[int, typer.Option(help="U-Net stages")] = 8,
    residual: Annotated[bool, typer.Option(help="predict a residual added to the input (restoration)")] = False,
    ndf: Annotated[int, typer.Option(help="discriminator width")] = 64,
    gan_mode: Annotated[str, typer.Option(help="lsgan, hinge or vanilla")] = "lsgan",
    lambda_l1: Annotated[float, typer.Option(help="pix2pix's L1 weight")] = 100.0,
    steps: Steps = None,
    batch_size: BatchSize = 4,
    lr: Lr = 2e-4,
    seed: Seed = 0,
    every: Every = 500,
    crop_size: CropSize = None,
    load_size: LoadSize = None,
    val_limit: ValLimit = 16,
    resume: Resume = False,
) -> None:
    """Train a pix2pix or CycleGAN teacher (checkpoints, logs and sample grids in --out)."""
    from compression.training import build_teacher_config, train_teacher

    if resume:
        raw = _resumed(out, steps)
    else:
        if dataset is None:
            raise ValueError("--dataset is required for a new run")
        raw = dict(
            out=str(out), model=model, arch=arch, ngf=ngf, n_blocks=n_blocks, num_downs=num_downs, residual=residual,
            ndf=ndf, gan_mode=gan_mode, lambda_l1=lambda_l1,
            data=_data(dataset, crop_size, load_size, val_limit), loop=_loop(steps, batch_size, lr, seed, every),
        )  # fmt: skip
    bars = ProgressBars()
    metrics = train_teacher(build_teacher_config(raw), resume, bars)
    bars.close()
    _report(metrics, out)


def _distill(
    student: str, out: Path, teacher: Path | None, raw_student: dict[str, Any], dataset: Path | None,
    steps: int | None, batch_size: int, lr: float, seed: int, every: int, crop_size: int | None,
    load_size: int | None, val_limit: int, resume: bool,
) -> None:  # fmt: skip
    from compression.training import build_distill_config, train_distill

    if resume:
        raw = _resumed(out, steps)
    else:
        if teacher is None:
            raise ValueError("--teacher is required for a new run")
        raw = dict(
            out=str(out), teacher=str(teacher), student=student, **raw_student,
            data=_data(dataset, crop_size, load_size, val_limit), loop=_loop(steps, batch_size, lr, seed, every),
        )  # fmt: skip
    bars = ProgressBars()
    metrics = train_distill(build_distill_config(raw), resume, bars)
    bars.close()
    _report(metrics, out)


Teacher = Annotated[Path | None, typer.Option(help="the teacher's run folder or checkpoint")]


@train_app.command("distill")
@friendly_errors
def train_distill_command(
    out: Out,
    teacher: Teacher = None,
    ngf: Annotated[int, typer.Option(help="the mobile student's width")] = 32,
    dataset: Annotated[Path | None, typer.Option(help="dataset folder (default: the teacher's)")] = None,
    steps: Steps = None,
    batch_size: BatchSize = 4,
    lr: Lr = 2e-4,
    seed: Seed = 0,
    every: Every = 500,
    crop_size: CropSize = None,
    load_size: LoadSize = None,
    val_limit: ValLimit = 16,
    resume: Resume = False,
) -> None:
    """Distil the teacher into a mobile student of one width (the original GAN Compression path)."""
    _distill("mobile", out, teacher, {"ngf": ngf}, dataset, steps, batch_size, lr, seed, every, crop_size,
             load_size, val_limit, resume)  # fmt: skip


@train_app.command("supernet")
@friendly_errors
def train_supernet_command(
    out: Out,
    teacher: Teacher = None,
    choices: Annotated[str, typer.Option(help="choice set: channels-48, channels-32, channels-64-pix2pix, ...")] = (
        "channels-48"
    ),
    init_from: Annotated[Path | None, typer.Option(help="start from a `ganc train distill` run")] = None,
    dataset: Annotated[Path | None, typer.Option(help="dataset folder (default: the teacher's)")] = None,
    steps: Steps = None,
    batch_size: BatchSize = 4,
    lr: Lr = 2e-4,
    seed: Seed = 0,
    every: Every = 500,
    crop_size: CropSize = None,
    load_size: LoadSize = None,
    val_limit: ValLimit = 16,
    resume: Resume = False,
) -> None:
    """Train a once-for-all supernet from the teacher, one random sub-network per step."""
    student = {"choices": choices, "init_from": str(init_from) if init_from else None}
    _distill("supernet", out, teacher, student, dataset, steps, batch_size, lr, seed, every, crop_size,
             load_size, val_limit, resume)  # fmt: skip

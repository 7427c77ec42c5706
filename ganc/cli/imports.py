"""`ganc import`: a generator checkpoint made elsewhere, converted once into a ganc checkpoint."""

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from .errors import friendly_errors

Format = Literal["auto", "pytorch-cyclegan", "vintagify", "ganc-variant"]


@friendly_errors
def import_checkpoint(
    out: Annotated[Path, typer.Option(help="the ganc checkpoint to write")],
    checkpoint: Annotated[
        Path | None,
        typer.Argument(
            help="the generator's state dict (.pth), or a variant's folder in a ganc model repository; with "
            "--format vintagify, default: the wheel's"
        ),
    ] = None,
    format: Annotated[
        str,
        typer.Option(
            help="auto (from its keys and shapes, or a folder's card), pytorch-cyclegan (junyanz's ResNet and "
            "U-Net), vintagify, or ganc-variant (a published variant, read back from its ONNX weights)"
        ),
    ] = "auto",
) -> None:
    """Import a pix2pix/CycleGAN generator (pytorch-CycleGAN-and-pix2pix, vintagify, or one ganc published) as a
    teacher ganc can compress."""
    from compression.checkpoint import generator_of, write_payload
    from compression.foreign import imported_payload, vintagify_weights
    from compression.metrics import count_macs
    from compression.published import is_published_variant, published_payload

    if format not in Format.__args__:
        raise ValueError(f"--format must be one of {', '.join(Format.__args__)}, not {format!r}")
    if out.exists():
        raise ValueError(f"{out} already exists; choose another --out")
    if checkpoint is None:
        if format != "vintagify":
            raise ValueError("give the CHECKPOINT to import (only --format vintagify knows where its weights are)")
        checkpoint = vintagify_weights()
    if format == "ganc-variant" or (format == "auto" and is_published_variant(checkpoint)):
        payload = published_payload(checkpoint)
    else:
        payload = imported_payload(checkpoint, format)
    write_payload(out, payload)
    spec, model = generator_of(payload, checkpoint)
    counts = count_macs(model, 256, int(spec.options.get("input_nc", 3)))
    summary = {"out": str(out), "format": payload["imported_from"]["format"], "arch": spec.arch, **counts.as_dict()}
    typer.echo(json.dumps({**summary, "options": spec.options}))

"""`ganc macs` and `ganc export`: what a generator costs, and the generator as a verified ONNX file or a variant."""

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..card import model_name, split_model_name
from ..repository import publish_variant
from .errors import friendly_errors
from .options import AsJson, Repo, given, repository

if TYPE_CHECKING:
    from torch import nn

    from compression.models import ModelSpec

Arch = Annotated[str | None, typer.Option(help="architecture name, e.g. resnet, sub_mobile_resnet, unet")]
Ngf = Annotated[int | None, typer.Option(help="base width of the generator")]
NBlocks = Annotated[int | None, typer.Option(help="residual blocks (ResNet-style generators)")]
NumDowns = Annotated[int | None, typer.Option(help="down-sampling stages (U-Net)")]
Config = Annotated[str | None, typer.Option(help="channel config c0_..._c7 (sub_mobile_resnet)")]
Choices = Annotated[str | None, typer.Option(help="choice set name (super_mobile_resnet)")]
Norm = Annotated[str | None, typer.Option(help="instance, batch or none")]
Residual = Annotated[bool | None, typer.Option("--residual/--no-residual", help="add the output to the input")]
InputNc = Annotated[int | None, typer.Option(help="input channels")]
OutputNc = Annotated[int | None, typer.Option(help="output channels")]

EXPORT_OWNER = "ganc-export"  # the owner of a family that `ganc export --publish` made: compression jobs keep out


Checkpoint = Annotated[
    Path | None,
    typer.Option(help="a ganc checkpoint or a foreign generator file (with --config: a supernet to extract from)"),
]


@friendly_errors
def macs(
    checkpoint: Checkpoint = None,
    arch: Arch = None,
    ngf: Ngf = None,
    n_blocks: NBlocks = None,
    num_downs: NumDowns = None,
    config: Config = None,
    choices: Choices = None,
    norm: Norm = None,
    residual: Residual = None,
    input_nc: InputNc = None,
    output_nc: OutputNc = None,
    size: Annotated[int, typer.Option(help="input height and width")] = 256,
    as_json: AsJson = False,
) -> None:
    """Count MACs (paper convention and real) and parameters of a generator at SIZE x SIZE."""
    from compression.metrics import count_macs

    if size <= 0:
        raise ValueError(f"--size must be positive, got {size}")
    options = given(
        ngf=ngf,
        n_blocks=n_blocks,
        num_downs=num_downs,
        config=config,
        choices=choices,
        norm=norm,
        residual=residual,
        input_nc=input_nc,
        output_nc=output_nc,
    )
    spec, model = _generator(checkpoint, arch, options)
    report = count_macs(model, size, int(spec.options.get("input_nc", 3)))
    if as_json:
        typer.echo(json.dumps({"arch": spec.arch, "options": spec.options, **report.as_dict()}))
    else:
        typer.echo(
            f"{spec.arch} at {size}x{size}: {report.macs / 1e9:.3f}G MACs (paper), "
            f"{report.macs_real / 1e9:.3f}G MACs (real), {report.params / 1e6:.3f}M params"
        )


@friendly_errors
def export(
    checkpoint: Checkpoint = None,
    arch: Arch = None,
    ngf: Ngf = None,
    n_blocks: NBlocks = None,
    num_downs: NumDowns = None,
    config: Config = None,
    norm: Norm = None,
    residual: Residual = None,
    input_nc: InputNc = None,
    output_nc: OutputNc = None,
    out: Annotated[Path | None, typer.Option(help="write the ONNX file here")] = None,
    fp16: Annotated[bool, typer.Option(help="store weights in FP16 (inputs, outputs and compute stay FP32)")] = False,
    family: Annotated[str | None, typer.Option(help="publish into this family")] = None,
    variant: Annotated[str | None, typer.Option(help="publish as this variant")] = None,
    task: Annotated[str | None, typer.Option(help="the family's task for the card (default: the family)")] = None,
    teacher: Annotated[str | None, typer.Option(help="model name of the teacher, for the card")] = None,
    replace: Annotated[bool, typer.Option(help="publish into a family that a compression job made")] = False,
    repo: Repo = None,
    as_json: AsJson = False,
) -> None:
    """Export a generator to ONNX, verify it against PyTorch, and optionally publish it with its card."""
    # Refuse what cannot work before any model is built.
    if (family is None) != (variant is None):
        raise ValueError("give both --family and --variant to publish, or neither")
    if family is None and out is None:
        raise ValueError("nothing to do: give --out, or --family and --variant to publish")
    if family is not None and variant is not None:
        model_name(family, variant)
    if teacher is not None:
        split_model_name(teacher)
    options = given(
        ngf=ngf,
        n_blocks=n_blocks,
        num_downs=num_downs,
        config=config,
        norm=norm,
        residual=residual,
        input_nc=input_nc,
        output_nc=output_nc,
    )
    spec, model = _generator(checkpoint, arch, options)
    result: dict[str, Any] = {"arch": spec.arch, "options": spec.options}
    with tempfile.TemporaryDirectory() as scratch:
        onnx_path = out or Path(scratch) / "model.onnx"
        result.update(_export_and_verify(spec, model, onnx_path, fp16), onnx=str(out) if out else None)
        if family is not None and variant is not None:
            from compression.export import make_card

            card = make_card(
                spec,
                model,
                onnx_path,
                family=family,
                variant=variant,
                task=task or family,
                fp16=fp16,
                teacher=teacher,
                job=EXPORT_OWNER,
            )
            published = publish_variant(repository(repo), onnx_path, card, replace=replace)
            result.update(model=published.model_name, version=published.version, path=str(published.path))
    _report_export(result, as_json)


def _generator(checkpoint: Path | None, arch: str | None, options: dict[str, Any]) -> "tuple[ModelSpec, nn.Module]":
    """The generator in a checkpoint (a sub-network of it, with options["config"]), or a fresh one of `arch`."""
    from compression.checkpoint import generator_of
    from compression.foreign import read_checkpoint
    from compression.models import ChannelConfig, ModelSpec, extract_subnet

    if checkpoint is not None and (arch is not None or set(options) - {"config"}):
        raise ValueError("with --checkpoint, give no architecture options (only --config, to extract a sub-network)")
    if checkpoint is None:
        spec = ModelSpec(arch or "resnet", options)
        return spec, spec.build().eval()
    spec, model = generator_of(read_checkpoint(checkpoint), checkpoint)
    if "config" in options:
        return extract_subnet(spec, model, ChannelConfig.parse(options["config"]))
    return spec, model


def _export_and_verify(spec: "ModelSpec", model: "nn.Module", onnx_path: Path, fp16: bool) -> dict[str, float]:
    from compression.export import export_onnx, verify_onnx

    channels_in = int(spec.options.get("input_nc", 3))
    export_onnx(model, onnx_path, channels_in, fp16)
    return {"max_abs_diff": verify_onnx(model, onnx_path, channels_in, fp16)}


def _report_export(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"verified against PyTorch: max abs diff {result['max_abs_diff']:.2e}")
    if result["onnx"]:
        typer.echo(f"wrote {result['onnx']}")
    if "model" in result:
        typer.echo(f"published {result['model']} version {result['version']} at {result['path']}")

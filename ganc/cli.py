"""The `ganc` command line.

    ganc macs --arch resnet --ngf 64 --n-blocks 9 --size 256 --json
    ganc export --arch sub_mobile_resnet --config 16_16_32_16_32_32_16_16 --out student.onnx
    ganc export --checkpoint run/latest.pt --family sr4x --variant teacher --task sr4x
    ganc repo list
    ganc submit deploy/specs/sr4x.yaml --wait

Heavy imports (torch, compression) happen inside the commands that need them, so commands that
do not train or export start quickly.
"""

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli_compress import compress
from .cli_errors import friendly_errors
from .cli_serve import serve
from .cli_submit import submit
from .cli_train import data_app, train_app
from .cli_worker import worker
from .settings import get_settings

app = typer.Typer(help="ganc: compress image-to-image GAN generators and serve them.", no_args_is_help=True)
repo_app = typer.Typer(help="Inspect and transform a model repository.", no_args_is_help=True)
app.add_typer(repo_app, name="repo")
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")
app.command()(compress)
app.command()(serve)
app.command()(worker)
app.command()(submit)

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
AsJson = Annotated[bool, typer.Option("--json", help="print one JSON object")]


def _model_options(**values: Any) -> dict[str, Any]:
    """The factory options the user gave (the others keep the factory's defaults)."""
    return {key: value for key, value in values.items() if value is not None}


@app.command()
@friendly_errors
def macs(
    arch: Arch = "resnet",
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
    from compression.models import ModelSpec

    if size <= 0:
        raise ValueError(f"--size must be positive, got {size}")
    options = _model_options(
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
    spec = ModelSpec(arch, options)
    report = count_macs(spec.build(), size, options.get("input_nc", 3))
    result = {"arch": arch, "options": options, **report.as_dict()}
    if as_json:
        typer.echo(json.dumps(result))
    else:
        typer.echo(
            f"{arch} at {size}x{size}: {report.macs / 1e9:.3f}G MACs (paper), "
            f"{report.macs_real / 1e9:.3f}G MACs (real), {report.params / 1e6:.3f}M params"
        )


@app.command()
@friendly_errors
def export(
    checkpoint: Annotated[
        Path | None, typer.Option(help="a ganc checkpoint (with --config: a supernet to extract from)")
    ] = None,
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
    repo: Annotated[Path | None, typer.Option(help="model repository (default: GANC_MODEL_REPOSITORY)")] = None,
    as_json: AsJson = False,
) -> None:
    """Export a generator to ONNX, verify it against PyTorch, and optionally publish it with its card."""
    from ganc.card import model_name

    if (family is None) != (variant is None):
        raise ValueError("give both --family and --variant to publish, or neither")
    if family is None and out is None:
        raise ValueError("nothing to do: give --out, or --family and --variant to publish")
    if family is not None and variant is not None:
        model_name(family, variant)  # refuse unsafe names before any work
    if teacher is not None:
        from ganc.card import split_model_name

        split_model_name(teacher)
    options = _model_options(
        ngf=ngf,
        n_blocks=n_blocks,
        num_downs=num_downs,
        config=config,
        norm=norm,
        residual=residual,
        input_nc=input_nc,
        output_nc=output_nc,
    )
    if checkpoint is not None and (arch is not None or set(options) - {"config"}):
        raise ValueError("with --checkpoint, give no architecture options (only --config, to extract a sub-network)")

    from compression.checkpoint import load_generator
    from compression.export import export_onnx, make_card, verify_onnx
    from compression.models import ChannelConfig, ModelSpec, extract_subnet
    from ganc.repository import publish_variant

    if checkpoint is not None:
        spec, model = load_generator(checkpoint)
        if config is not None:
            spec, model = extract_subnet(spec, model, ChannelConfig.parse(config))
    else:
        spec = ModelSpec(arch or "resnet", options)
        model = spec.build().eval()
    channels_in = int(spec.options.get("input_nc", 3))
    result: dict[str, Any] = {"arch": spec.arch, "options": spec.options}
    with tempfile.TemporaryDirectory() as scratch:
        onnx_path = out or Path(scratch) / "model.onnx"
        export_onnx(model, onnx_path, channels_in, fp16)
        result["max_abs_diff"] = verify_onnx(model, onnx_path, channels_in, fp16)
        result["onnx"] = str(onnx_path) if out else None
        if family is not None and variant is not None:
            card = make_card(spec, model, onnx_path, family, variant, task or family, fp16, teacher)
            published = publish_variant(repo or get_settings().model_repository, onnx_path, card)
            result.update(model=published.model_name, version=published.version, path=str(published.path))
    if as_json:
        typer.echo(json.dumps(result))
    else:
        typer.echo(f"verified against PyTorch: max abs diff {result['max_abs_diff']:.2e}")
        if out:
            typer.echo(f"wrote {out}")
        if "model" in result:
            typer.echo(f"published {result['model']} version {result['version']} at {result['path']}")


@repo_app.command("list")
@friendly_errors
def list_repository(
    repo: Annotated[Path | None, typer.Option(help="model repository (default: GANC_MODEL_REPOSITORY)")] = None,
    as_json: AsJson = False,
) -> None:
    """List every family, variant and version with its MACs, params and quality."""
    from ganc.repository import read_index

    index = read_index(repo or get_settings().model_repository)
    rows = [
        {
            "model": v.model_name,
            "version": v.version,
            "macs": v.card.macs,
            "params": v.card.params,
            "quality": v.card.quality,
        }
        for v in index.versions
    ]
    if as_json:
        typer.echo(json.dumps({"versions": rows, "problems": index.problems}))
        return
    for row in rows:
        macs_g, params_m = row["macs"] / 1e9, row["params"] / 1e6
        typer.echo(f"{row['model']:<40} v{row['version']:<4} {macs_g:8.3f}G MACs {params_m:8.3f}M params")
    for problem in index.problems:
        typer.echo(f"problem: {problem}", err=True)


@repo_app.command("python-flavour")
@friendly_errors
def python_flavour(
    out: Annotated[Path, typer.Option(help="where to write the Python-backend repository")],
    repo: Annotated[Path | None, typer.Option(help="canonical repository (default: GANC_MODEL_REPOSITORY)")] = None,
) -> None:
    """Derive the Python-backend flavour of the repository, for Triton servers without onnxruntime."""
    from ganc.python_flavour import derive_python_flavour

    index = derive_python_flavour(repo or get_settings().model_repository, out)
    typer.echo(f"{len(index.versions)} versions in {out}")

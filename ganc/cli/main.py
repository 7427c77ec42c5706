"""The `ganc` command line.

ganc macs --arch resnet --ngf 64 --n-blocks 9 --size 256 --json
ganc export --arch sub_mobile_resnet --config 16_16_32_16_32_32_16_16 --out student.onnx
ganc data sample --task sr4x --size 128 --out data/sr4x
ganc train teacher --dataset data/sr4x --residual --out runs/teacher
ganc compress deploy/specs/sr4x.yaml
ganc quantize deploy/specs/vintage.yaml
ganc serve / ganc worker / ganc submit deploy/specs/sr4x.yaml --wait
ganc repo list
"""

import os
from typing import Annotated

import typer

from ..settings import ENV_PREFIX
from . import compress, data, imports, models, repo, serve, submit, train, worker
from .errors import OneLineUsageErrors

app = typer.Typer(
    cls=OneLineUsageErrors, help="ganc: compress image-to-image GAN generators and serve them.", no_args_is_help=True
)


@app.callback()
def main(
    debug: Annotated[
        bool, typer.Option("--debug", help="print the traceback of a failure that is not a refusal of input")
    ] = False,
) -> None:
    """Options of every command."""
    if debug:
        os.environ[f"{ENV_PREFIX}DEBUG"] = "1"  # a setting, read where a failure is reported


app.command()(models.macs)
app.command()(models.export)
app.command("import")(imports.import_checkpoint)
app.add_typer(data.data_app, name="data")
app.add_typer(train.train_app, name="train")
app.command()(compress.compress)
app.command()(compress.quantize)
app.command()(serve.serve)
app.command()(worker.worker)
app.command()(submit.submit)
app.add_typer(repo.repo_app, name="repo")

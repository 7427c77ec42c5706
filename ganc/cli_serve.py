"""`ganc serve`: the gateway under BentoML, on the given address, over the given repository."""

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from .settings import get_settings


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 3000,
    repo: Annotated[Path | None, typer.Option(help="model repository (default: GANC_MODEL_REPOSITORY)")] = None,
    workers: Annotated[int, typer.Option(help="gateway worker processes")] = 1,
) -> None:
    """Serve the HTTP API (translation, models, health, metrics) with `bentoml serve`."""
    repository = (repo or get_settings().model_repository).resolve()
    if not repository.is_dir():
        typer.echo(f"error: model repository {repository} does not exist", err=True)
        raise typer.Exit(1)
    env = {**os.environ, "GANC_MODEL_REPOSITORY": str(repository), "BENTOML_DO_NOT_TRACK": "true"}
    bentoml = Path(sys.executable).parent / "bentoml"
    command = [str(bentoml), "serve", "service.bento:Gateway", "--host", host, "--port", str(port)]
    command += ["--working-dir", str(Path(__file__).resolve().parent.parent)]
    env["GANC_GATEWAY_WORKERS"] = str(workers)
    os.execve(command[0], command, env)

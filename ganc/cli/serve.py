"""`ganc serve`: the gateway under BentoML, on the given address, over the given repository."""

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..settings import get_settings
from .errors import friendly_errors
from .options import Repo, given


@friendly_errors
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 3000,
    repo: Repo = None,
    workers: Annotated[
        int | None, typer.Option(help="gateway processes (default: GANC_GATEWAY_WORKERS); one is supported")
    ] = None,
) -> None:
    """Serve the HTTP API (translation, models, health, metrics) with `bentoml serve`."""
    # Bad GANC_ settings are refused here, in one line, rather than in the gateway's process.
    settings = get_settings(**given(model_repository=repo, gateway_workers=workers))
    root = settings.model_repository.resolve()
    if not root.is_dir():
        raise ValueError(f"model repository {root} does not exist")
    env = {**os.environ, "GANC_MODEL_REPOSITORY": str(root), "BENTOML_DO_NOT_TRACK": "true"}
    env["GANC_GATEWAY_WORKERS"] = str(settings.gateway_workers)
    bentoml = Path(sys.executable).parent / "bentoml"
    command = [str(bentoml), "serve", "service.bento:GatewayService", "--host", host, "--port", str(port)]
    command += ["--working-dir", str(Path(__file__).resolve().parents[2])]
    os.execve(command[0], command, env)

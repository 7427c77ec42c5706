"""`ganc serve`: the gateway under BentoML, on the given address, over the given repository."""

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..settings import get_settings
from .errors import friendly_errors
from .options import Repo, given, repository


@friendly_errors
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 3000,
    repo: Repo = None,
    workers: Annotated[
        int | None, typer.Option(help="gateway processes (default: GANC_GATEWAY_WORKERS); one is supported")
    ] = None,
) -> None:
    """Serve the HTTP API (translation, models, jobs, health) with `bentoml serve`; Prometheus metrics on
    GANC_GATEWAY_METRICS_PORT (9102) of the same address."""
    # Bad GANC_ settings are refused here, in one line, rather than in the gateway's process.
    get_settings(**given(gateway_workers=workers))
    root = repository(repo).resolve()
    if not root.is_dir():
        raise ValueError(f"model repository {root} does not exist")
    bentoml = Path(sys.executable).parent / "bentoml"
    command = [str(bentoml), "serve", "service.bento:GatewayService", "--host", host, "--port", str(port)]
    command += ["--working-dir", str(Path(__file__).resolve().parents[2])]
    os.execve(command[0], command, gateway_environment(dict(os.environ), root, workers, host))


def gateway_environment(env: dict[str, str], root: Path, workers: int | None, host: str) -> dict[str, str]:
    """The gateway's environment: `env` with the repository, the metrics port on the API's address unless
    GANC_METRICS_HOST says otherwise, and the worker count where the flag gave one (a GANC_GATEWAY_WORKERS
    already set stays, unless the flag says otherwise)."""
    env = {"GANC_METRICS_HOST": host, **env, "GANC_MODEL_REPOSITORY": str(root), "BENTOML_DO_NOT_TRACK": "true"}
    if workers is not None:
        env["GANC_GATEWAY_WORKERS"] = str(workers)
    return env

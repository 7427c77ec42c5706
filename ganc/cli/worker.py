"""`ganc worker`: a Celery worker that runs compression jobs, one at a time."""

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..settings import get_settings
from .errors import friendly_errors


@friendly_errors
def worker(
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "INFO",
    hostname: Annotated[str | None, typer.Option(help="worker name (default: Celery's)")] = None,
) -> None:
    """Run jobs from the broker (GANC_BROKER_URL; the SQLite default needs no server)."""
    get_settings()  # refuse bad GANC_ settings here, in one line, before Celery starts
    celery = Path(sys.executable).parent / "celery"
    # One job at a time, each in a fresh pool child: workers/celery_app.py configures it.
    command = [str(celery), "-A", "workers.celery_app", "worker", "--loglevel", loglevel]
    if hostname:
        command += ["--hostname", hostname]
    os.execv(command[0], command)

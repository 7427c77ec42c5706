"""`ganc worker`: a Celery worker that runs compression jobs, one at a time; with `--gpus`, one such worker per
GPU, each seeing only its own (CUDA_VISIBLE_DEVICES) and exporting metrics on a port of its own."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from ..settings import Settings, get_settings
from .errors import friendly_errors


@friendly_errors
def worker(
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "INFO",
    hostname: Annotated[str | None, typer.Option(help="worker name (default: Celery's)")] = None,
    gpus: Annotated[
        str | None,
        typer.Option(help="GPUs to run jobs on, e.g. 0,1: one worker process per GPU, one job at a time on each"),
    ] = None,
) -> None:
    """Run jobs from the broker (GANC_BROKER_URL; the SQLite default needs no server)."""
    settings = get_settings()  # refuse bad GANC_ settings here, in one line, before Celery starts
    command = celery_worker(loglevel, hostname)
    if gpus is None:
        os.execv(command[0], command)
    indexes = parse_gpus(gpus)
    check_gpus(indexes)
    children = [
        subprocess.Popen(
            celery_worker(loglevel, f"gpu{index}@{hostname or '%h'}"), env=gpu_environment(index, n, settings)
        )
        for n, index in enumerate(indexes)
    ]
    sys.exit(supervise(children))


def celery_worker(loglevel: str, hostname: str | None) -> list[str]:
    """One job at a time, each in a fresh pool child: workers/celery_app.py configures it."""
    command = [
        str(Path(sys.executable).parent / "celery"),
        "-A",
        "workers.celery_app",
        "worker",
        "--loglevel",
        loglevel,
    ]
    return command + (["--hostname", hostname] if hostname else [])


def parse_gpus(gpus: str) -> list[int]:
    """`0,1` as [0, 1]; anything else refused in one line."""
    parts = [part.strip() for part in gpus.split(",")]
    if not all(part.isdigit() for part in parts) or len(set(parts)) != len(parts):
        raise ValueError(f"--gpus {gpus!r}: name distinct GPU indexes separated by commas, e.g. 0,1")
    return [int(part) for part in parts]


def check_gpus(indexes: list[int]) -> None:
    """Refuse GPUs this machine does not have."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    missing = [index for index in indexes if index >= count]
    if missing:
        has = f"{count} CUDA device{'s' if count != 1 else ''}" if count else "no CUDA device"
        raise ValueError(f"--gpus: this machine has {has}, so no GPU {', '.join(map(str, missing))}")


def gpu_environment(index: int, position: int, settings: Settings) -> dict[str, str]:
    """The environment of GPU `index`'s worker, the `position`-th: that GPU alone visible (so `device: auto`
    trains on it), and the metrics port after the previous worker's."""
    port = settings.worker_metrics_port + position if settings.worker_metrics_port else 0
    return {**os.environ, "CUDA_VISIBLE_DEVICES": str(index), "GANC_WORKER_METRICS_PORT": str(port)}


def supervise(children: list[subprocess.Popen]) -> int:
    """Wait for the workers; a signal to stop is passed on to each, and when one ends the others are stopped.
    Returns the exit status of the first to end (128 + the signal that ended it, as a shell says)."""

    def pass_on(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, pass_on)
    while all(child.poll() is None for child in children):
        time.sleep(0.5)
    first = next(child for child in children if child.returncode is not None)
    pass_on(signal.SIGTERM, None)
    for child in children:
        child.wait()
    return first.returncode if first.returncode >= 0 else 128 - first.returncode

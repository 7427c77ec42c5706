"""`ganc submit SPEC.yaml [--wait]`: queue a compression job on a gateway over HTTP, and follow it."""

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer

from ..job_store import FINAL_STATES
from .compress import read_spec_file
from .errors import friendly_errors
from .progress import ProgressBars

POLL_S = 1.0


class SubmitError(RuntimeError):
    """The gateway refused or could not be reached; the message says which and why."""


def call(method: str, url: str, token: str | None, body: Any = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            reason = json.loads(error.read()).get("error", error.reason)
        except ValueError:
            reason = error.reason
        raise SubmitError(f"{error.code}: {reason}") from None
    except (urllib.error.URLError, TimeoutError) as error:
        raise SubmitError(f"cannot reach the gateway at {url}: {getattr(error, 'reason', error)}") from None


def follow(url: str, token: str | None, job_id: str) -> dict:
    bars = ProgressBars()
    try:
        while True:
            record = call("GET", f"{url}/v1/jobs/{job_id}", token)
            if record["state"] in FINAL_STATES:
                return record
            if record["stage"]:
                bars(record["stage"], record["step"], record["total"], record["message"])
            time.sleep(POLL_S)
    finally:
        bars.close()


def read_token(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as error:
        raise SubmitError(f"cannot read the token file {path}: {error.strerror or error}") from None


@friendly_errors
def submit(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="the compression spec")],
    wait: Annotated[bool, typer.Option(help="show progress until the job ends; fail unless it succeeds")] = False,
    url: Annotated[str, typer.Option(help="the gateway", envvar="GANC_URL")] = "http://127.0.0.1:3000",
    token_file: Annotated[
        Path | None,
        typer.Option(help="a file holding the API token (default: GANC_API_TOKEN); never the token itself on the line"),
    ] = None,
) -> None:
    """Queue a compression job on a running gateway; print the job (and with --wait, follow it to the end)."""
    spec = read_spec_file(spec_path)  # the gateway validates it
    url = url.rstrip("/")
    # A token given on the command line would be in the shell's history and in every process listing.
    token = read_token(token_file) if token_file is not None else os.environ.get("GANC_API_TOKEN")
    record = call("POST", f"{url}/v1/jobs", token, spec)
    typer.echo(f"job {record['id']} queued: {url}/v1/jobs/{record['id']}", err=True)
    if wait:
        record = follow(url, token, record["id"])
    typer.echo(json.dumps(record))
    if wait and record["state"] != "succeeded":
        raise SubmitError(f"job {record['id']} {record['state']}: {record['error'] or record['message']}")

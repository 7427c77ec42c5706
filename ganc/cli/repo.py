"""`ganc repo`: read a model repository, and derive its Python-backend flavour."""

import json
from pathlib import Path
from typing import Annotated

import typer

from ..repository import derive_python_flavour, read_index
from .errors import friendly_errors
from .options import AsJson, Repo, repository

repo_app = typer.Typer(help="Inspect and transform a model repository.", no_args_is_help=True)


@repo_app.command("list")
@friendly_errors
def list_repository(repo: Repo = None, as_json: AsJson = False) -> None:
    """List every family, variant and version with its MACs, params and quality."""
    index = read_index(repository(repo))
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
        typer.echo(json.dumps({"versions": rows, "problems": [str(p) for p in index.problems]}))
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
    index = derive_python_flavour(repository(repo), out)
    typer.echo(f"{len(index.versions)} versions in {out}")

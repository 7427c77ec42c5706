"""Command-line options that several commands share."""

from pathlib import Path
from typing import Annotated, Any

import typer

from ..settings import get_settings

AsJson = Annotated[bool, typer.Option("--json", help="print one JSON object")]
Repo = Annotated[Path | None, typer.Option(help="model repository (default: GANC_MODEL_REPOSITORY)")]


def given(**values: Any) -> dict[str, Any]:
    """The options the user gave; the others keep the defaults of whatever receives them."""
    return {key: value for key, value in values.items() if value is not None}


def repository(repo: Path | None) -> Path:
    return repo or get_settings().model_repository

"""Refused input on the command line: one line on stderr and exit status 1, never a traceback."""

import functools
from collections.abc import Callable
from typing import Any

import typer
from pydantic import ValidationError

from ..validation import describe


def friendly_errors(command: Callable) -> Callable:
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ValidationError as error:  # options the command passed on to one of the spec's models
            typer.echo(f"error: {describe(error, whole='')}", err=True)
            raise typer.Exit(1) from None
        except (ValueError, OSError, RuntimeError) as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(1) from None

    return run

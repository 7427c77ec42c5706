"""Refused input on the command line: one line on stderr and exit status 1, never a traceback."""

import functools
from collections.abc import Callable
from typing import Any

import typer


def friendly_errors(command: Callable) -> Callable:
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (ValueError, OSError, RuntimeError) as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(1) from None

    return run

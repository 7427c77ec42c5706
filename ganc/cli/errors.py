"""Failures on the command line: exit status 1 and the error's first line on stderr, never a traceback for a refusal
of input; any other failure also says where its traceback is (a job's folder keeps it), or prints it with --debug."""

import functools
import traceback
from collections.abc import Callable
from typing import Any

import typer
from pydantic import ValidationError

from ..errors import first_line, is_refusal, traceback_file
from ..settings import SettingsError, get_settings
from ..validation import describe

NOT_A_REFUSAL = ", not a refusal of input"  # the line after the error line of a failure ganc did not expect


def friendly_errors(command: Callable) -> Callable:
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ValidationError as error:  # options the command passed on to one of the spec's models
            typer.echo(f"error: {describe(error, whole='')}", err=True)
            raise typer.Exit(1) from None
        except (ValueError, OSError, RuntimeError) as error:
            typer.echo(f"error: {first_line(error)}", err=True)
            if not is_refusal(error):
                _point_to_traceback(error)
            raise typer.Exit(1) from None

    return run


def _point_to_traceback(error: BaseException) -> None:
    if _debug():
        typer.echo("".join(traceback.format_exception(error)).rstrip(), err=True)
        return
    kept = traceback_file(error)
    where = f"its traceback is in {kept}" if kept else "run with --debug (or GANC_DEBUG=1) to see its traceback"
    typer.echo(f"{type(error).__name__}{NOT_A_REFUSAL}: {where}", err=True)


def _debug() -> bool:
    """`ganc --debug ...`, or GANC_DEBUG=1."""
    try:
        return get_settings().debug
    except SettingsError:
        return False

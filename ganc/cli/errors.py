"""Failures on the command line: exit status 1 and the error's first line on stderr, never a traceback for a refusal
of input; any other failure also says where its traceback is (a job's folder keeps it), or prints it with --debug."""

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from ..errors import first_line, is_refusal, traceback_file
from ..settings import SettingsError, get_settings
from ..validation import describe

NOT_A_REFUSAL = ", not a refusal of input"  # the line after the error line of a failure ganc did not expect
# The usage errors of the click that typer runs on (its own copy since typer 0.2x): BadParameter's base.
USAGE_ERROR = typer.BadParameter.__mro__[1]
NO_ARGS_IS_HELP = getattr(sys.modules[USAGE_ERROR.__module__], "NoArgsIsHelpError", ())


class OneLineUsageErrors(TyperGroup):
    """A command line that does not parse (an unknown command or option, a value an option's type refuses) is
    refused as every other input: one line on stderr and exit status 1, where click would box it and exit 2."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NO_ARGS_IS_HELP:
            raise  # a command given nothing shows its help, as before
        except USAGE_ERROR as error:
            where = f"; see `{error.ctx.command_path} --help`" if error.ctx is not None else ""
            typer.echo(f"error: {first_line(error.format_message()).rstrip('.')}{where}", err=True)
            raise typer.Exit(1) from None


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

"""Errors as a user meets them: ganc's refusals say all in one line; any other failure keeps its traceback.

A refusal is an error ganc raises on purpose about what it was given (a spec field, a file, a size): its class is
one of ganc's, or it is a ValueError or OSError raised by ganc's own code. Any other failure (a RuntimeError inside
torch, a ValueError inside numpy, a bug) is not explained by its first line, so its traceback is kept in a file
beside the job, for the user to read or send, and the error notes where.
"""

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

OWN_PACKAGES = ("ganc", "compression", "service", "workers")
TRACEBACK_FILE = "traceback.log"
TRACEBACK_NOTE = "its traceback: "


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def is_refusal(error: BaseException) -> bool:
    """Whether `error` is ganc refusing its input, which its one line explains."""
    if type(error).__module__.partition(".")[0] in OWN_PACKAGES:
        return True
    return isinstance(error, (ValueError, OSError)) and _raised_by_ganc(error)


def keep_traceback(error: BaseException, folder: Path) -> Path:
    """Write `error`'s traceback to `folder`/TRACEBACK_FILE and note the file on the error."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / TRACEBACK_FILE
    path.write_text("".join(traceback.format_exception(error)))
    error.add_note(f"{TRACEBACK_NOTE}{path}")
    return path


@contextmanager
def tracebacks_kept_in(folder: Path) -> Iterator[None]:
    """Any failure inside that is not a refusal leaves its traceback in `folder` (see keep_traceback)."""
    try:
        yield
    except Exception as error:
        if not is_refusal(error):
            keep_traceback(error, folder)
        raise


def traceback_file(error: BaseException) -> str | None:
    """The file keep_traceback noted on `error`, if any."""
    notes = getattr(error, "__notes__", [])
    return next((note.removeprefix(TRACEBACK_NOTE) for note in notes if note.startswith(TRACEBACK_NOTE)), None)


def _raised_by_ganc(error: BaseException) -> bool:
    """Whether the innermost Python frame `error` passed through is in one of ganc's packages (a C function, such
    as a torch operator, has no frame of its own: the check is then on what the frame raising it was)."""
    frame = error.__traceback__
    if frame is None:
        return False
    while frame.tb_next is not None:
        frame = frame.tb_next
    path = Path(frame.tb_frame.f_code.co_filename).resolve()
    roots = [Path(sys.modules[name].__file__).resolve().parent for name in OWN_PACKAGES if name in sys.modules]
    return any(root in path.parents for root in roots)

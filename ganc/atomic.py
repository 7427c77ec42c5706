"""Writing files and folders so that no reader ever sees half of one.

A file is written under a hidden temporary name beside its destination and renamed over it; a folder
is assembled in a hidden staging folder beside its destination and renamed into place. A rename within
one file system is atomic, and names starting with a dot are skipped by every reader of ours (and by
Triton, which loads only numeric version folders).
"""

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`: what the block writes there replaces `path` when the block succeeds."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomically(path: Path, text: str) -> None:
    with replacing(path) as temporary:
        temporary.write_text(text)


@contextlib.contextmanager
def staging_folder(parent: Path) -> Iterator[Path]:
    """A new hidden folder in `parent` for the block to fill and rename into place; removed if still there after."""
    staging = parent / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_writable(folder: Path) -> None:
    """Write and remove a file in `folder`, or in its nearest existing parent (which must be able to create it)."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    probe = existing / f".ganc-write-check-{uuid.uuid4().hex}"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise OSError(f"{folder} is not writable ({error.strerror})") from None

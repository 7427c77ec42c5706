"""Writing files and folders so that no reader ever sees half of one.

A file is written under a hidden temporary name beside its destination and renamed over it; a folder
is assembled in a hidden staging folder beside its destination and renamed into place. A rename within
one file system is atomic, and names starting with a dot are skipped by every reader of ours (and by
Triton, which loads only numeric version folders). What is renamed into place is flushed to disk first, and
the rename after it: a crash or a full disk leaves the old file or the new one, never a name over half a file.
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
        flush_to_disk(temporary)
        os.replace(temporary, path)
        flush_entries(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomically(path: Path, text: str) -> None:
    with replacing(path) as temporary:
        temporary.write_text(text)


def flush_to_disk(path: Path) -> None:
    """fsync `path`: a file, or a folder with everything in it (what is about to be renamed into place)."""
    if path.is_dir():
        for child in path.iterdir():
            if not child.is_symlink():
                flush_to_disk(child)
    flush_entries(path)


def flush_entries(path: Path) -> None:
    """fsync `path` alone: a file's contents, or a folder's own entries (the names renamed into it)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


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

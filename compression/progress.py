"""The progress callback every stage takes: (stage, step, total, message)."""

from collections.abc import Callable

Progress = Callable[[str, int, int, str], None]


def no_progress(stage: str, step: int, total: int, message: str) -> None:
    """A progress callback that ignores everything."""

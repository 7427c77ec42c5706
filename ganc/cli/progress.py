"""A progress callback (stage, step, total, message) shown on stderr: a live bar on a terminal,
otherwise (logs, CI) one line at most every few seconds and at the end of each stage."""

import sys
import time
from typing import Any

import typer

LINE_INTERVAL_S = 5.0


class ProgressBars:
    def __init__(self) -> None:
        self.stage: str | None = None
        self.total = 0
        self.bar: Any = None
        self.position = 0
        self.last_line = 0.0
        self.live = sys.stderr.isatty()

    def __call__(self, stage: str, step: int, total: int, message: str) -> None:
        if stage != self.stage:
            self.close()
            self.stage = stage
            self.position = 0
            if self.live:
                self.bar = typer.progressbar(length=total, label=stage, file=sys.stderr, show_pos=True, show_eta=True)
                self.bar.__enter__()
        replanned, self.total = total != self.total, total  # a stage shortened to its time limit
        if self.bar is not None:
            self.bar.label = f"{stage} {message}"[:60]
            self.bar.length = total
            self.bar.update(step - self.position)
            if replanned:
                self.bar.render_progress()  # the shorter bar at once
        elif time.monotonic() - self.last_line >= LINE_INTERVAL_S or step == total or replanned:
            typer.echo(f"{stage} {step}/{total} {message}".rstrip(), err=True)
            self.last_line = time.monotonic()
        self.position = step

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

"""Training held to a stage's `max_minutes`: its `steps` are the most it takes; once its first steps are timed
on this machine, it keeps as many as fit.

Budgeted training (Li, Yumer and Ramanan, "Budgeted Training", ICLR 2020): a schedule that decays to zero within
the time it has gets most of what the full schedule gets. The linear decay (run.linear_decay) is constant for the
first half of the steps, so steps chosen before half way leave every step already taken as it was: a run shortened
to n steps is, bit for bit, the run written with n steps. Runs trained side by side are shortened together, each
in proportion to its own steps.
"""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ganc.atomic import write_text_atomically

from ..progress import Progress

UNTIMED_STEPS, TIMED_STEPS = 2, 16  # the first steps warm up (allocations, oneDNN's kernels); then timed
DECISION_FILE = "time_limit.json"


@dataclass
class StepTimes:
    """Seconds spent in the timed steps: by each run's own step (the first run of a step also labels it), and in
    all (making the inputs too)."""

    runs: list[float]
    total: float = 0.0
    steps: int = 0


@dataclass
class TimeLimit:
    """The decision for runs trained together under one `max_minutes`: taken once, after TIMED_STEPS steps."""

    max_minutes: float | None
    steps: list[int]  # each run's steps as written
    every: list[int]  # each run's steps between looks (an evaluation, a sample grid and a checkpoint)
    first: int  # the first step this process trains
    began: float = field(default_factory=time.monotonic)
    decided: bool = field(init=False)
    times: StepTimes = field(init=False)

    def __post_init__(self) -> None:
        self.times = StepTimes([0.0] * len(self.steps))
        self.decided = self.max_minutes is None  # nothing to decide without a limit

    @property
    def timed(self) -> range:
        return range(self.first + UNTIMED_STEPS, self.first + UNTIMED_STEPS + TIMED_STEPS)

    def run_step(self, step: int, index: int, seconds: float) -> None:
        if not self.decided and step in self.timed:
            self.times.runs[index] += seconds

    def step_done(self, step: int, seconds: float) -> bool:
        """Whether the decision is due after step `step` (which took `seconds` in all)."""
        if self.decided or step not in self.timed:
            return False
        self.times.total += seconds
        self.times.steps += 1
        return step == self.timed[-1]

    def decide(self, look_seconds: list[float]) -> list[int]:
        """Each run's steps within what is left of the limit, given what one look of each run takes: scaled alike,
        never below twice the steps done (the schedule is then unchanged for them) nor above as written."""
        done, n = self.timed[-1] + 1, self.times.steps
        per_run = [
            seconds / n + look / every
            for seconds, look, every in zip(self.times.runs, look_seconds, self.every, strict=True)
        ]
        shared = max(0.0, self.times.total / n - sum(per_run))  # making the inputs: once per step for all runs
        left = self.max_minutes * 60 - (time.monotonic() - self.began)
        whole = shared * max(self.steps) + sum(cost * steps for cost, steps in zip(per_run, self.steps, strict=True))
        # Steps `done` of every run are taken already: the time they would cost again is not to be found.
        scale = (left + done * (shared + sum(per_run))) / whole if whole > 0 else 1.0
        self.decided = True
        return [steps if steps <= 2 * done else max(2 * done, min(steps, round(steps * scale))) for steps in self.steps]

    def seconds_per_step(self) -> float:
        return self.times.total / max(1, self.times.steps)


def recorded_steps(folder: Path, steps: int) -> int | None:
    """The steps a run in `folder` was shortened to, where it was written with `steps` (a run resumed with other
    steps decides again)."""
    path = folder / DECISION_FILE
    if not path.is_file():
        return None
    decision = json.loads(path.read_text())
    return decision["steps"] if decision["steps_written"] == steps else None


def record(folder: Path, written: int, steps: int, max_minutes: float, seconds_per_step: float) -> None:
    decision = {
        "max_minutes": max_minutes,
        "steps_written": written,
        "steps": steps,
        "seconds_per_step": round(seconds_per_step, 3),
    }
    write_text_atomically(folder / DECISION_FILE, json.dumps(decision, indent=2) + "\n")


def announce(progress: Progress, stage: str, step: int, written: list[int], steps: list[int], limit: TimeLimit) -> None:
    kept = ", ".join(f"{n} of {w}" for n, w in zip(steps, written, strict=True))
    progress(
        stage,
        step,
        max(steps),
        f"max_minutes {limit.max_minutes:g}: {kept} steps kept ({limit.seconds_per_step():.2f} s a step here)",
    )

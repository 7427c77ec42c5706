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
REPLAN_STEPS = 50  # decided again this often, on every step timed so far, while a run can still change
DECISION_FILE = "time_limit.json"


@dataclass
class StepTimes:
    """Seconds spent in the timed steps: by each run's own step (the first run of a step also labels it) and how
    many of them it took, and in all (making the inputs too)."""

    runs: list[float]
    taken: list[int]
    total: float = 0.0
    steps: int = 0


@dataclass
class TimeLimit:
    """The steps of runs trained together under one `max_minutes`: decided after TIMED_STEPS timed steps, then
    again every REPLAN_STEPS (the machine's speed drifts) until no run can change any more: each keeps at least
    twice the steps done, so that the steps taken stay in the constant half of its schedule."""

    max_minutes: float | None
    written: list[int]  # each run's steps as written: the most it takes
    every: list[int]  # each run's steps between looks (an evaluation, a sample grid and a checkpoint)
    first: int  # the first step this process trains
    began: float = field(default_factory=time.monotonic)
    steps: list[int] = field(init=False)  # each run's steps as now decided
    look_seconds: list[float] | None = None  # what one look of each run takes, timed at the first decision
    times: StepTimes = field(init=False)

    def __post_init__(self) -> None:
        self.steps = list(self.written)
        self.times = StepTimes([0.0] * len(self.written), [0] * len(self.written))

    def timing(self, step: int) -> bool:
        return self.max_minutes is not None and step >= self.first + UNTIMED_STEPS and not self.settled(step + 1)

    def settled(self, done: int) -> bool:
        """Whether no run can change its steps any more, `done` steps in."""
        return all(steps <= 2 * done for steps in self.steps)

    def run_step(self, step: int, index: int, seconds: float) -> None:
        if self.timing(step):
            self.times.runs[index] += seconds
            self.times.taken[index] += 1

    def step_done(self, step: int, seconds: float) -> bool:
        """Whether a decision is due after step `step` (which took `seconds` in all)."""
        if not self.timing(step):
            return False
        self.times.total += seconds
        self.times.steps += 1
        return self.times.steps >= TIMED_STEPS and (self.times.steps - TIMED_STEPS) % REPLAN_STEPS == 0

    def decide(self, done: int) -> list[int]:
        """Each run's steps within what is left of the limit, `done` steps in: scaled alike from the steps written,
        never above them nor below twice the steps done; a run already at or under that keeps its steps."""
        looks = self.look_seconds or [0.0] * len(self.written)
        costs = [
            (seconds / taken if taken else 0.0) + look / every
            for seconds, taken, look, every in zip(self.times.runs, self.times.taken, looks, self.every, strict=True)
        ]
        shared = max(0.0, (self.times.total - sum(self.times.runs)) / self.times.steps)  # making the inputs
        left = self.max_minutes * 60 - (time.monotonic() - self.began)

        def kept(scale: float) -> list[int]:
            return [
                steps if steps <= 2 * done else max(2 * done, min(written, round(written * scale)))
                for steps, written in zip(self.steps, self.written, strict=True)
            ]

        def needed(steps: list[int]) -> float:
            return shared * (max(steps) - done) + sum(c * max(0, n - done) for c, n in zip(costs, steps, strict=True))

        low, high = 0.0, 1.0
        if needed(kept(high)) <= left:
            return kept(high)
        for _ in range(40):  # the time needed grows with the scale: halve the interval where it crosses
            middle = (low + high) / 2
            low, high = (middle, high) if needed(kept(middle)) <= left else (low, middle)
        return kept(low)

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


def announce(progress: Progress, stage: str, step: int, limit: TimeLimit) -> None:
    kept = ", ".join(f"{n} of {w}" for n, w in zip(limit.steps, limit.written, strict=True))
    progress(
        stage,
        step,
        max(limit.steps),
        f"max_minutes {limit.max_minutes:g}: {kept} steps kept ({limit.seconds_per_step():.2f} s a step here)",
    )

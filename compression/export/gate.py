"""The quality gate at publishing: a student that does less for its users than doing nothing is not shipped.

A style student is judged by its agreement with the teacher (PSNR against the teacher's output on the family's
held-out photos) against the unchanged photo's agreement; a student of a paired task by its PSNR against the
targets against the input's. It passes when it is strictly closer than that floor and, where the spec sets
`min_agreement_db`, at least that close.
"""

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Verdict:
    """One student's figures and whether it may be published."""

    score_db: float  # against the teacher (style) or the targets (paired)
    floor_db: float  # the unchanged input's
    min_agreement_db: float | None

    @property
    def passed(self) -> bool:
        above_min = self.min_agreement_db is None or self.score_db >= self.min_agreement_db
        return self.score_db > self.floor_db and above_min

    @property
    def reason(self) -> str:
        against = f"{self.score_db:.2f} dB, {self.score_db - self.floor_db:+.2f} dB against the unchanged input"
        if self.score_db <= self.floor_db:
            return f"{against}: no closer than doing nothing"
        if not self.passed:
            return f"{against}: {self.min_agreement_db - self.score_db:.2f} dB below min_agreement_db"
        return against

    def as_record(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed, "reason": self.reason}


def score_key(paired: bool) -> str:
    """The card's quality figure the gate judges: PSNR against the targets, or against the teacher."""
    return "psnr" if paired else "psnr_teacher"


class QualityGateError(ValueError):
    """No student of a job passed the gate: the job publishes nothing."""


def judge_students(scores: dict[str, float], floor_db: float, min_agreement_db: float | None) -> dict[str, Verdict]:
    """The verdict on each student (variant -> its score); raises QualityGateError when none passes."""
    verdicts = {name: Verdict(round(score, 4), round(floor_db, 4), min_agreement_db) for name, score in scores.items()}
    if verdicts and not any(v.passed for v in verdicts.values()):
        failed = "; ".join(f"{name} {v.reason}" for name, v in verdicts.items())
        raise QualityGateError(f"no student passed the quality gate, so nothing was published: {failed}")
    return verdicts

"""Evaluated sub-networks, the Pareto front they make, and the ladder chosen from them: one variant per budget."""

from dataclasses import dataclass
from typing import Literal

BudgetKind = Literal["macs", "latency_ms"]


class SearchError(ValueError):
    """A search that cannot give what was asked (budgets nobody meets, a ladder larger than the front)."""


@dataclass
class Candidate:
    config: str
    macs: int
    macs_real: int
    latency_predicted_ms: float
    quality: dict[str, float]
    score: float
    latency_measured_ms: float | None = None

    def cost(self, kind: BudgetKind) -> float:
        return self.macs if kind == "macs" else self.latency_predicted_ms


def pareto_front(candidates: list[Candidate], kind: BudgetKind) -> list[Candidate]:
    """Candidates that no other beats on both cost (lower) and score (higher), cheapest first."""
    front, best = [], float("-inf")
    for candidate in sorted(candidates, key=lambda c: (c.cost(kind), -c.score)):
        if candidate.score > best:
            front.append(candidate)
            best = candidate.score
    return front


def choose_ladder(candidates: list[Candidate], budgets: list[float], kind: BudgetKind) -> list[Candidate]:
    """For each budget, the best-scoring candidate within it; refuse a ladder with repeats."""
    ladder = []
    for budget in budgets:
        fitting = [c for c in candidates if c.cost(kind) <= budget]
        if not fitting:
            raise SearchError(f"no evaluated sub-network fits the budget {budget:g}")
        ladder.append(max(fitting, key=lambda c: (c.score, -c.cost(kind))))
    configs = [c.config for c in ladder]
    if len(set(configs)) < len(configs):
        raise SearchError(
            f"the ladder asks for {len(budgets)} variants but the front offers only {len(set(configs))} distinct ones "
            f"within these budgets ({', '.join(f'{b:g}' for b in budgets)}); widen the budgets or use fewer"
        )
    return ladder

"""Evaluated sub-networks, the Pareto front they make, and the ladder chosen from them: one variant per budget."""

from dataclasses import dataclass
from typing import Literal

BudgetKind = Literal["macs", "latency_ms"]


class SearchError(ValueError):
    """A search that cannot give what was asked (budgets nobody meets, a ladder larger than the front)."""


@dataclass
class SearchCandidate:
    config: str
    macs: int
    macs_real: int
    latency_predicted_ms: float
    quality: dict[str, float]
    score: float
    latency_measured_ms: float | None = None

    def cost(self, kind: BudgetKind) -> float:
        return self.macs if kind == "macs" else self.latency_predicted_ms


def pareto_front(candidates: list[SearchCandidate], kind: BudgetKind) -> list[SearchCandidate]:
    """Candidates that no other beats on both cost (lower) and score (higher), cheapest first."""
    front, best = [], float("-inf")
    for candidate in sorted(candidates, key=lambda c: (c.cost(kind), -c.score)):
        if candidate.score > best:
            front.append(candidate)
            best = candidate.score
    return front


def choose_ladder(candidates: list[SearchCandidate], budgets: list[float], kind: BudgetKind) -> list[SearchCandidate]:
    """For each budget, the best-scoring candidate within it. Where that is already a smaller budget's variant,
    the budget takes the best candidate that needs more than the next smaller budget, a variant of its own (on a
    flat front such scores are within the noise of judging a few images); refuse when there is none."""
    ladder: list[SearchCandidate] = []
    for lower, budget in zip([float("-inf"), *budgets], budgets):
        fitting = [c for c in candidates if c.cost(kind) <= budget]
        if not fitting:
            raise SearchError(f"no evaluated sub-network fits the budget {budget:g}")
        best = max(fitting, key=lambda c: (c.score, -c.cost(kind)))
        if ladder and best.config in {c.config for c in ladder}:
            own = [c for c in fitting if c.cost(kind) > lower]
            if not own:
                raise SearchError(
                    f"no evaluated sub-network needs more than {lower:g} and at most {budget:g}, so the budgets "
                    f"{', '.join(f'{b:g}' for b in budgets)} cannot have a variant each; widen them or use fewer"
                )
            best = max(own, key=lambda c: (c.score, -c.cost(kind)))
        ladder.append(best)
    return ladder

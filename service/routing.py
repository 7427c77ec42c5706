"""The router: a pure function from candidates, their latency estimates and a budget to a decision.

Candidates are the healthy (variant, backend) pairs of a family. Each carries its quality (from its
card) and the predicted tail latency for this request's size (live estimate plus queueing). The
router picks the highest-quality candidate whose prediction fits the budget; with no budget, the
best quality; with nothing that fits, the fastest, marked as a miss.

A request without a budget may go instead to a backend whose estimate for the chosen variant went stale (not
measured for a while): a backend that is never chosen would otherwise keep its estimate, one slow sample say,
for ever, and never be chosen again.

Tight budgets are protected under mixed load: a request on a shared backend delays whatever arrives
behind it, so while tighter budgets are being asked for, a budgeted request gets the best candidate
that also keeps its own service time within `max_service_ms` (the slack those tighter budgets leave).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Reason = Literal["best_quality", "fits_budget", "fastest_miss", "fastest_over_cap", "pinned", "remeasure"]


@dataclass(frozen=True)
class RouteCandidate:
    variant: str
    backend: str
    quality: float
    predicted_ms: float
    healthy: bool = True
    service_ms: float = 0.0  # its own time on the backend, without the wait (the tail)
    alone_ms: float = 0.0  # its own time when nothing else runs beside it (a low quantile)


@dataclass(frozen=True)
class Decision:
    candidate: RouteCandidate
    reason: Reason
    budget_met: bool | None  # None when there was no budget

    @property
    def variant(self) -> str:
        return self.candidate.variant

    @property
    def backend(self) -> str:
        return self.candidate.backend


def _quality_then_speed(c: RouteCandidate) -> tuple[float, float]:
    return (c.quality, -c.predicted_ms)


def choose(
    candidates: list[RouteCandidate],
    budget_ms: float | None,
    max_service_ms: float | None = None,
    cap_ms: float | None = None,
) -> Decision | None:
    """The decision for one request, or None when no healthy candidate exists. Without a budget, the best quality
    whose prediction stays within the server's cap (`cap_ms`), or the fastest when none does."""
    healthy = [c for c in candidates if c.healthy]
    if not healthy:
        return None
    if budget_ms is None:
        within = [c for c in healthy if cap_ms is None or c.predicted_ms <= cap_ms]
        if within:
            return Decision(max(within, key=_quality_then_speed), "best_quality", None)
        return Decision(min(healthy, key=lambda c: c.predicted_ms), "fastest_over_cap", None)
    fitting = [c for c in healthy if c.predicted_ms <= budget_ms]
    polite = [c for c in fitting if max_service_ms is None or c.service_ms <= max_service_ms]
    if polite:
        return Decision(max(polite, key=_quality_then_speed), "fits_budget", True)
    if fitting:
        return Decision(min(fitting, key=lambda c: c.service_ms), "fits_budget", True)
    return Decision(min(healthy, key=lambda c: c.predicted_ms), "fastest_miss", False)


def ranked(
    candidates: list[RouteCandidate],
    budget_ms: float | None,
    max_service_ms: float | None = None,
    cap_ms: float | None = None,
) -> list[Decision]:
    """Every healthy candidate in the order the router would try them: first choice, then the retries."""
    order, remaining = [], list(candidates)
    while (decision := choose(remaining, budget_ms, max_service_ms, cap_ms)) is not None:
        order.append(decision)
        remaining = [c for c in remaining if c != decision.candidate]
    return order


def remeasuring_first(order: list[Decision], stale: Callable[[RouteCandidate], bool]) -> list[Decision]:
    """`order` with, first, the next candidate of the first choice's variant (its quality) whose estimate is `stale`,
    for a request without a budget; `order` as it is for any other."""
    if not order or order[0].budget_met is not None:
        return order
    for position, decision in enumerate(order[1:], 1):
        if decision.variant == order[0].variant and stale(decision.candidate):
            return [Decision(decision.candidate, "remeasure", None), *order[:position], *order[position + 1 :]]
    return order

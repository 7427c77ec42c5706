"""Search a supernet for sub-networks under MACs or measured-latency budgets."""

from .cost import SubnetCost, subnet_cost
from .latency import LatencyModel, LatencyTarget, TargetUnavailableError, measure_model_ms
from .search import (
    Candidate,
    SearchConfig,
    SearchError,
    SearchResult,
    check_budgets_reachable,
    choose_ladder,
    pareto_front,
    run_search,
    smallest_config,
)

__all__ = [
    "Candidate",
    "LatencyModel",
    "LatencyTarget",
    "SearchConfig",
    "SearchError",
    "SearchResult",
    "SubnetCost",
    "TargetUnavailableError",
    "check_budgets_reachable",
    "choose_ladder",
    "measure_model_ms",
    "pareto_front",
    "run_search",
    "smallest_config",
    "subnet_cost",
]

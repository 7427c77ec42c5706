"""Search a supernet for sub-networks under MACs or measured-latency budgets."""

from .candidates import SearchCandidate, SearchError, choose_ladder, pareto_front
from .cost import SubnetCost, subnet_cost
from .latency import (
    LatencyTarget,
    TargetUnavailableError,
    latency_target,
    measure_model_ms,
    measure_onnx_ms,
)
from .latency_table import LatencyModel
from .search import Judge, SearchResult, check_budgets_reachable, run_search

__all__ = [
    "Judge",
    "LatencyModel",
    "LatencyTarget",
    "SearchCandidate",
    "SearchError",
    "SearchResult",
    "SubnetCost",
    "TargetUnavailableError",
    "check_budgets_reachable",
    "choose_ladder",
    "latency_target",
    "measure_model_ms",
    "measure_onnx_ms",
    "pareto_front",
    "run_search",
    "subnet_cost",
]

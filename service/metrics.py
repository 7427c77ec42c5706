"""The gateway's Prometheus metrics (names start with ganc_; latency in seconds).

Under `bentoml serve` with several workers, prometheus_client runs in multiprocess mode
(PROMETHEUS_MULTIPROC_DIR is set): gauges then say how to combine the workers' values, and
`/metrics` aggregates every worker's files.
"""

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

# From 2 ms to 10 s: brackets the budgets people use, for small students on GPUs up to teachers on CPUs.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0)
SERVED = ("family", "variant", "backend", "hardware")
UNKNOWN_FAMILY = "(unknown)"  # what a request names that is no family: clients choose paths, not label values

REQUEST_LATENCY = Histogram(
    "ganc_request_latency_seconds", "Time from request to answer, per serving choice", SERVED, buckets=LATENCY_BUCKETS
)
INFERENCE_LATENCY = Histogram(
    "ganc_inference_latency_seconds", "Model time on the backend", SERVED, buckets=LATENCY_BUCKETS
)
REQUESTS = Counter("ganc_requests_total", "Translation requests answered", (*SERVED, "status"))
PIXELS = Counter("ganc_pixels_total", "Input pixels translated", SERVED)
REFUSED = Counter("ganc_refused_requests_total", "Requests refused before inference", ("family", "status"))
BUDGET_MISSES = Counter("ganc_budget_misses_total", "Requests whose latency exceeded their budget", SERVED)
BUDGET_REQUESTS = Counter("ganc_budget_requests_total", "Requests that carried a latency budget", SERVED)
DECISIONS = Counter("ganc_router_decisions_total", "Router decisions", ("family", "variant", "backend", "reason"))
UNEXPECTED = Counter("ganc_unexpected_errors_total", "Requests that failed in a way nobody planned for", ("route",))
RETRIES = Counter("ganc_retries_total", "Requests retried on another candidate after a backend failure", ("backend",))
IN_FLIGHT = Gauge("ganc_in_flight_requests", "Requests being served", ("family",), multiprocess_mode="livesum")
MACS = Gauge("ganc_variant_macs", "MACs at 256x256, paper convention", ("family", "variant"), multiprocess_mode="max")
MACS_REAL = Gauge(
    "ganc_variant_macs_real", "MACs at 256x256 actually performed", ("family", "variant"), multiprocess_mode="max"
)
PARAMS = Gauge("ganc_variant_params", "Parameters", ("family", "variant"), multiprocess_mode="max")
BACKEND_UP = Gauge("ganc_backend_up", "1 when the backend is healthy", ("backend", "hardware"), multiprocess_mode="max")


def render() -> tuple[bytes, str]:
    """The exposition text of every metric (of every worker in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

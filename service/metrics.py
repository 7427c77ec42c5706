"""The gateway's Prometheus metrics (names start with ganc_; latency in seconds).

They are served on a port of their own (`serve`), not the API's: a network policy can then let only the
monitoring system reach them. Where BentoML sets PROMETHEUS_MULTIPROC_DIR, prometheus_client runs in
multiprocess mode: gauges then say how to combine the processes' values, and a scrape reads every file.
"""

import os
from collections.abc import Callable

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
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


def serve(host: str, port: int) -> Callable[[], None]:
    """Serve /metrics on `host`:`port` from a thread; return what stops it (and frees the port)."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        raise OSError(f"the gateway's metrics port {host}:{port} cannot be opened: {error.strerror}") from None

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return stop

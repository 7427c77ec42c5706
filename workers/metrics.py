"""The worker's Prometheus metrics, served on GANC_WORKER_METRICS_PORT."""

from prometheus_client import Counter, Histogram

JOBS = Counter("ganc_jobs_total", "Compression jobs by the state they reached", ("state",))
STAGE_SECONDS = Histogram(
    "ganc_job_stage_seconds", "Time spent in each pipeline stage", ("stage",),
    buckets=(1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400, 43200),
)  # fmt: skip

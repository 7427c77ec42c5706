"""The worker's Prometheus metrics, served on GANC_WORKER_METRICS_PORT by the worker's main process.

Read from the shared jobs folder and the broker at every scrape, so they hold whatever process ran
the jobs (pool children, other workers) and survive restarts.
"""

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import get_args

from celery import Celery
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ganc.job_store import JobState, JobStore

STAGE_BUCKETS = (1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400, 43200)


def stage_seconds(work: Path) -> dict[str, float]:
    """Seconds each finished stage of a job's work folder took (from its completion markers)."""
    seconds = {}
    for marker in work.glob("*/done.json"):
        value = json.loads(marker.read_text()).get("seconds")
        if value is not None:
            seconds[marker.parent.name] = float(value)
    return seconds


class JobsCollector(Collector):
    def __init__(self, store: JobStore, queue_depth: Callable[[], int | None]) -> None:
        self.store, self.queue_depth = store, queue_depth

    def collect(self) -> Iterator[Metric]:
        records = self.store.all()
        states = Counter(record.state for record in records)
        jobs = GaugeMetricFamily("ganc_jobs", "Compression jobs by state", labels=["state"])
        for state in get_args(JobState):
            jobs.add_metric([state], states.get(state, 0))
        yield jobs

        durations: dict[str, list[float]] = {}
        for record in records:
            for stage, seconds in stage_seconds(self.store.folder(record.id) / "work").items():
                durations.setdefault(stage, []).append(seconds)
        stages = HistogramMetricFamily(
            "ganc_job_stage_seconds", "Time jobs spent in each pipeline stage", labels=["stage"]
        )
        for stage, values in sorted(durations.items()):
            buckets = [(str(b), sum(v <= b for v in values)) for b in STAGE_BUCKETS]
            stages.add_metric([stage], [*buckets, ("+Inf", len(values))], sum(values))
        yield stages

        depth = self.queue_depth()
        if depth is not None:
            queue = GaugeMetricFamily("ganc_job_queue_depth", "Jobs waiting in the broker for a worker")
            queue.add_metric([], depth)
            yield queue


def queue_depth(app: Celery) -> int | None:
    """Jobs waiting in the broker, or None when the broker cannot say (no sample rather than a failed scrape)."""
    try:
        with app.connection_for_read() as connection:
            queue = app.conf.task_default_queue
            # Not passive: Redis deletes an empty queue's key, and a passive declare would call it missing.
            return connection.default_channel.queue_declare(queue=queue, durable=True, auto_delete=False).message_count
    except Exception:  # a broker that is down or has no queue yet
        return None

"""The Celery app of the workers, configured from GANC_ settings.

`acks_late` with prefetch 1: a job is acknowledged only when it ends, so a worker killed mid-job has
it redelivered (after the visibility timeout, set above the longest job) and the pipeline resumes
from its stage checkpoints. Each job runs in a fresh pool child (one at a time), which is what lets
Celery enforce the spec's soft and hard time limits.
"""

import logging

from celery import Celery
from celery.signals import task_failure, worker_init, worker_ready
from prometheus_client import REGISTRY, start_http_server

from ganc.jobs import COMPRESS_TASK, JobStore, broker_transport_options, make_local_broker_dirs, uses_redis
from ganc.settings import Settings, get_settings

from .metrics import JobsCollector

log = logging.getLogger("ganc.worker")


def make_app(settings: Settings) -> Celery:
    make_local_broker_dirs(settings.broker_url, settings.result_backend)
    app = Celery("ganc", broker=settings.broker_url, backend=settings.result_backend, include=["workers.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        worker_max_tasks_per_child=1,
        task_track_started=True,
        broker_connection_retry_on_startup=True,
        result_expires=None,
        worker_hijack_root_logger=False,
    )
    app.conf.broker_transport_options = broker_transport_options(settings)
    return app


app = make_app(get_settings())


def queue_depth() -> int | None:
    try:
        with app.connection_for_read() as connection:
            queue = app.conf.task_default_queue
            # Not passive: Redis deletes an empty queue's key, and a passive declare would call it missing.
            return connection.default_channel.queue_declare(queue=queue, durable=True, auto_delete=False).message_count
    except Exception:  # a broker that is down or has no queue yet: no sample rather than a failed scrape
        return None


@worker_init.connect
def serve_metrics(**_: object) -> None:
    settings = get_settings()
    if settings.worker_metrics_port:
        REGISTRY.register(JobsCollector(JobStore(settings.jobs_root), queue_depth))
        start_http_server(settings.worker_metrics_port, addr="0.0.0.0")


@worker_ready.connect
def recover_orphans(**_: object) -> None:
    if not uses_redis(get_settings().broker_url):
        from .tasks import resend_orphans

        resend_orphans()


@task_failure.connect
def record_failure(sender=None, task_id: str | None = None, exception: BaseException | None = None, **_: object):
    if sender is not None and sender.name == COMPRESS_TASK and task_id:
        from .tasks import record_failure as record

        record(task_id, exception or RuntimeError("unknown failure"))

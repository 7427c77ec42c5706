"""The Celery app of the workers, configured from GANC_ settings (a leaf: the tasks import it, never the reverse).

`acks_late` with prefetch 1: a job is acknowledged only when it ends, so a worker killed mid-job has
it redelivered (after the visibility timeout, set above the longest job) and the pipeline resumes
from its stage checkpoints. Each job runs in a fresh pool child (one at a time), which is what lets
Celery enforce the spec's soft and hard time limits.
"""

from celery import Celery

from ganc.job_store import broker_transport_options, make_local_broker_dirs
from ganc.settings import Settings, settings_or_exit


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
        result_expires=settings.job_results_expire_s,
        worker_hijack_root_logger=False,
    )
    app.conf.broker_transport_options = broker_transport_options(settings)
    return app


app = make_app(settings_or_exit())

"""The Celery task that runs a compression job, and the worker's signal handlers.

Like web views: the task handles delivery, retries and Triton; the job's life lives in workers/job_runner.py
and the work itself in compression/.
"""

import logging

import redis
import sqlalchemy.exc
from celery import Task
from celery.signals import task_failure, worker_init, worker_ready
from kombu.exceptions import OperationalError
from prometheus_client import REGISTRY, start_http_server

from ganc.card import STATISTICS_FORMS, form_model_name
from ganc.job_store import COMPRESS_TASK, JobStore, uses_redis
from ganc.repository import add_missing_forms, has_forms, remove_stale_staging, remove_unfinished
from ganc.settings import get_settings

from . import job_runner
from .celery_app import app
from .metrics import JobsCollector, queue_depth
from .triton_control import TritonControlError, load_model

log = logging.getLogger("ganc.worker")
# What a result backend that is down or restarting raises (Redis in deployment, SQLite on a laptop).
RESULT_BACKEND_DOWN = (OSError, redis.exceptions.RedisError, sqlalchemy.exc.SQLAlchemyError, OperationalError)


@app.task(name=COMPRESS_TASK, bind=True, autoretry_for=(TritonControlError,), retry_backoff=True, max_retries=5)
def compress_generator(self: Task, job_id: str) -> dict:
    """Run (or resume, after a redelivery) the job's pipeline, publish, and load the result in Triton."""
    settings = get_settings()
    store = JobStore(settings.jobs_root)
    record = store.get(job_id)
    if record.state in ("queued", "running"):
        report = job_runner.JobProgress(store, job_id, lambda state: publish_progress(self, state))
        try:
            record = job_runner.run_job(store, job_id, settings, report)
        except job_runner.RunningElsewhereError as elsewhere:
            # Not dropped: if that worker was lost (a killed child on another host), this delivery is what
            # resumes the job once its heartbeat is stale; if it lives, the job has ended by then.
            log.warning("%s: this delivery is tried again in %g s", elsewhere, settings.heartbeat_stale_s)
            raise self.retry(countdown=settings.heartbeat_stale_s, max_retries=None) from None
    if record.state == "succeeded" and settings.triton_url:
        for entry in record.published.values():
            model, version = entry["model"], entry["version"]
            forms = STATISTICS_FORMS if has_forms(settings.model_repository, model, version) else ()
            for name in [*(form_model_name(model, form) for form in forms), model]:
                load_model(settings.triton_url, name, settings.triton_control_key)  # transient failures: a retry
    return record.model_dump(mode="json")


def publish_progress(task: Task, state: dict) -> None:
    """Celery's result follows the job's progress when it can. The job's record in the jobs folder is what the
    gateway reads, so a result backend that is down for a while (a Redis restart) does not stop the job."""
    try:
        task.update_state(state="PROGRESS", meta=state)
    except RESULT_BACKEND_DOWN as error:
        log.warning("progress of job %s not sent to the result backend: %s", task.request.id, error)


def resend_orphans() -> list[str]:
    """Queue again the jobs this host's killed workers left running; they resume from their checkpoints.

    Only for the embedded SQL broker, which forgets a message delivered to a worker that dies;
    Redis redelivers it by itself after the visibility timeout.
    """
    store = JobStore(get_settings().jobs_root)
    ids = [record.id for record in store.all() if job_runner.orphaned(record, get_settings().worker_host)]
    for job_id in ids:
        store.update(job_id, state="queued", worker=None, message="requeued after its worker died")
        compress_generator.apply_async(args=[job_id], task_id=job_id, **store.spec(job_id).time_limits())
        log.warning("job %s was left running by a dead worker: queued again", job_id)
    return ids


@worker_init.connect
def serve_metrics(**_: object) -> None:
    settings = get_settings()
    if settings.worker_metrics_port:
        REGISTRY.register(JobsCollector(JobStore(settings.jobs_root), lambda: queue_depth(app)))
        start_http_server(settings.worker_metrics_port, addr=settings.metrics_host)


STALE_STAGING_S = 3600.0  # a publisher's staging folder older than this was left by one that was killed


@worker_ready.connect
def tidy_up(**_: object) -> None:
    """At start: queue again what dead workers left running, remove what finished work and killed publishers
    left behind (staging folders, a family's variants placed before they all were), and give the statistics forms
    to the variants published without them."""
    settings = get_settings()
    if not uses_redis(settings.broker_url):
        resend_orphans()
    remove_stale_staging(settings.model_repository, STALE_STAGING_S)
    remove_unfinished(settings.model_repository)
    for model in add_missing_forms(settings.model_repository):
        log.info("statistics forms written for %s", model)
        if settings.triton_url:
            try:
                for form in STATISTICS_FORMS:
                    load_model(settings.triton_url, form_model_name(model, form), settings.triton_control_key)
            except TritonControlError as error:  # a Triton started later loads them itself (--load-model=*)
                log.warning("statistics forms of %s not loaded: %s", model, error)
    job_runner.remove_old_work(JobStore(settings.jobs_root), settings.job_work_retention_days)


@task_failure.connect
def record_failure(sender=None, task_id: str | None = None, exception: BaseException | None = None, **_: object):
    if sender is not None and sender.name == COMPRESS_TASK and task_id:
        job_runner.record_failure(
            JobStore(get_settings().jobs_root), task_id, exception or RuntimeError("unknown failure")
        )

"""Thin Celery tasks around the compression pipeline (like web views: state and retries here, logic in compression)."""

import logging
import os
import shutil
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from compression.pipeline import run_pipeline
from ganc.jobs import COMPRESS_TASK, FINAL_STATES, JobRecord, JobStore
from ganc.repository import read_card
from ganc.settings import get_settings
from ganc.spec import SpecError, confine_to_roots
from ganc.triton_control import TritonControlError, load_model

from .celery_app import app

log = logging.getLogger("ganc.worker")
PROGRESS_INTERVAL_S = 1.0


class JobCancelledError(Exception):
    """The job's cancel file appeared: stop at this step boundary."""


@app.task(name=COMPRESS_TASK, bind=True, autoretry_for=(TritonControlError,), retry_backoff=True, max_retries=5)
def compress_generator(self, job_id: str) -> dict:
    """Run (or resume, after a redelivery) the job's pipeline, publish, and load the result in Triton."""
    settings = get_settings()
    store = JobStore(settings.jobs_root)
    record = store.get(job_id)
    if record.state in FINAL_STATES and record.state != "succeeded":
        return record.model_dump(mode="json")
    work = store.folder(job_id) / "work"
    if store.cancel_requested(job_id):
        return _cancel(store, job_id, work).model_dump(mode="json")
    if record.state != "succeeded":
        store.update(job_id, state="running", started_at=record.started_at or datetime.now(UTC),
                     attempts=record.attempts + 1, worker=worker_id(), error=None)  # fmt: skip
        last = {"at": 0.0, "stage": None}

        def progress(stage: str, step: int, total: int, message: str) -> None:
            if store.cancel_requested(job_id):
                raise JobCancelledError
            if message == "resumed":  # the stage picked up from its checkpoint after an interruption
                store.update(job_id, resumed={**store.get(job_id).resumed, stage: step})
            now = time.monotonic()
            if stage != last["stage"] or step == total or now - last["at"] >= PROGRESS_INTERVAL_S:
                last.update(at=now, stage=stage)
                state = {"stage": stage, "step": step, "total": total, "message": message}
                store.update(job_id, **state)
                self.update_state(state="PROGRESS", meta=state)

        try:
            spec = confine_to_roots(store.spec(job_id), settings.data_roots)
            result = run_pipeline(spec, work, settings.model_repository, job_id, resume=True, progress=progress)
        except JobCancelledError:
            return _cancel(store, job_id, work).model_dump(mode="json")
        except SoftTimeLimitExceeded:
            return _fail(store, job_id, "the job ran past its soft time limit").model_dump(mode="json")
        except (SpecError, ValueError, OSError, RuntimeError) as error:
            return _fail(store, job_id, str(error).strip().splitlines()[0]).model_dump(mode="json")
        published = {
            variant: {**entry, "card": read_card(Path(entry["path"]) / "card.json").model_dump(mode="json")}
            for variant, entry in result["published"].items()
        }
        store.update(job_id, state="succeeded", finished_at=datetime.now(UTC), published=published,
                     stage="publish", message="published")  # fmt: skip
    if settings.triton_url:
        for entry in store.get(job_id).published.values():
            load_model(settings.triton_url, entry["model"])  # transient failures retry the task (idempotent)
    return store.get(job_id).model_dump(mode="json")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def orphaned(record: JobRecord) -> bool:
    """A running job whose process on this host is gone (killed with its worker)."""
    if record.state != "running" or not record.worker:
        return False
    host, _, pid = record.worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, under another user
    return False


def resend_orphans() -> list[str]:
    """Queue again the jobs this host's killed workers left running; they resume from their checkpoints.

    Only for the embedded SQL broker, which forgets a message delivered to a worker that dies;
    Redis redelivers it by itself after the visibility timeout.
    """
    store = JobStore(get_settings().jobs_root)
    ids = [record.id for record in store.all() if orphaned(record)]
    for job_id in ids:
        store.update(job_id, state="queued", worker=None, message="requeued after its worker died")
        compress_generator.apply_async(args=[job_id], task_id=job_id, **store.spec(job_id).time_limits())
        log.warning("job %s was left running by a dead worker: queued again", job_id)
    return ids


def _cancel(store: JobStore, job_id: str, work: Path) -> JobRecord:
    shutil.rmtree(work, ignore_errors=True)
    return store.update(job_id, state="cancelled", finished_at=datetime.now(UTC), message="cancelled")


def _fail(store: JobStore, job_id: str, error: str) -> JobRecord:
    log.warning("job %s failed: %s", job_id, error)
    return store.update(job_id, state="failed", finished_at=datetime.now(UTC), error=error)


def record_failure(job_id: str, error: BaseException) -> None:
    """A job whose task failed outside the pipeline's own handling (a hard time limit, a bug): say so."""
    store = JobStore(get_settings().jobs_root)
    try:
        if store.get(job_id).state not in FINAL_STATES:
            if isinstance(error, TimeLimitExceeded):  # the pool killed the job's child process
                message = "the job ran past its hard time limit and was stopped"
            else:
                message = f"{type(error).__name__}: {error}".strip().splitlines()[0]
            _fail(store, job_id, message)
    except KeyError:
        log.warning("task %s failed, and it has no job record", job_id)

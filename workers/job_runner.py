"""A job's life on a worker: queued or running -> running -> succeeded, failed or cancelled.

Plain functions over the job records in the shared jobs folder; the Celery task in tasks.py calls them.
"""

import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from compression.pipeline import run_pipeline
from compression.training.placement import training_placement
from ganc.errors import first_line, is_refusal, keep_traceback, traceback_file
from ganc.job_store import FINAL_STATES, JobRecord, JobStore
from ganc.repository import read_card
from ganc.settings import Settings
from ganc.spec import SpecError, confine_to_roots

log = logging.getLogger("ganc.worker")
PROGRESS_INTERVAL_S = 1.0
HEARTBEAT_FILE = "heartbeat"


class RunningElsewhereError(RuntimeError):
    """A delivery of a job that a live worker runs: to be tried again once its heartbeat could have gone stale."""


class JobCancelledError(Exception):
    """The job's cancel file appeared: stop at this step boundary."""


class JobProgress:
    """The pipeline's progress callback for one job.

    Stops the job at the step where a cancellation appears; records which stage resumed from which
    checkpoint; and writes progress into the job record (and to `publish`, for Celery's result) at each
    new stage, at each new total of steps (a stage shortened to its time limit), at each stage's end, and otherwise
    at most once per PROGRESS_INTERVAL_S.
    """

    def __init__(self, store: JobStore, job_id: str, publish: Callable[[dict], None]) -> None:
        self.store, self.job_id, self.publish = store, job_id, publish
        self.stage: str | None = None
        self.total = 0
        self.written_at = 0.0

    def __call__(self, stage: str, step: int, total: int, message: str) -> None:
        if self.store.cancel_requested(self.job_id):
            raise JobCancelledError
        if message == "resumed":  # the stage picked up from its checkpoint after an interruption
            resumed = self.store.get(self.job_id).resumed
            self.store.update(self.job_id, resumed={**resumed, stage: step})
        now = time.monotonic()
        if (stage, total) == (self.stage, self.total) and step != total and now - self.written_at < PROGRESS_INTERVAL_S:
            return
        self.stage, self.total, self.written_at = stage, total, now
        state = {"stage": stage, "step": step, "total": total, "message": message}
        self.store.update(self.job_id, **state)
        self.publish(state)


def run_job(store: JobStore, job_id: str, settings: Settings, progress: JobProgress) -> JobRecord:
    """Run (or resume) a queued or running job to its end; returns the ended record.

    A delivery of a job that a live worker is running raises RunningElsewhereError (the broker handed it out again
    while it ran, or at once after a child on another host was killed, its heartbeat still fresh); a job whose
    workers were lost `job_max_attempts` times fails instead of being tried forever.
    """
    work = store.work_folder(job_id)
    if store.cancel_requested(job_id):
        return cancel(store, job_id)
    record = store.get(job_id)
    if running_elsewhere(store, record, settings):
        raise RunningElsewhereError(f"job {job_id} runs in {record.worker}")
    if record.attempts >= settings.job_max_attempts:
        lost = f"its worker was lost {record.attempts} times (out of memory?), so it is not tried again"
        return fail(store, job_id, lost)
    store.update(
        job_id,
        state="running",
        started_at=record.started_at or datetime.now(UTC),
        attempts=record.attempts + 1,
        worker=worker_id(settings.worker_host),
        error=None,
        traceback=None,
    )
    try:
        spec = confine_to_roots(store.spec(job_id), settings.data_roots)
        with (
            heartbeat(store.folder(job_id) / HEARTBEAT_FILE, settings.heartbeat_s),
            training_placement(spec.device, spec.data_workers) as placement,  # `ganc worker --gpus`: its one GPU
        ):
            result = run_pipeline(
                spec,
                work,
                settings.model_repository,
                job_id,
                resume=True,
                rerun_changed=True,  # a job's spec is fixed: only a newer ganc's stage format differs
                progress=progress,
                keep_versions=settings.keep_versions,
                placement=placement,
            )
    except JobCancelledError:
        return cancel(store, job_id)
    except SoftTimeLimitExceeded:
        return fail(store, job_id, "the job ran past its soft time limit")
    except (SpecError, ValueError, OSError, RuntimeError) as error:
        return fail(store, job_id, first_line(error), error)
    return succeed(store, job_id, result["published"], result.get("held_back", {}))


def remove_old_work(store: JobStore, retention_days: float) -> list[str]:
    """Delete the work folders of jobs that succeeded or were cancelled more than `retention_days` ago (a failed
    job's work stays, to be looked at); returns their ids."""
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    old = [
        r.id
        for r in store.all()
        if r.state in ("succeeded", "cancelled") and r.finished_at and r.finished_at < cutoff
        if store.work_folder(r.id).exists()
    ]
    for job_id in old:
        shutil.rmtree(store.work_folder(job_id), ignore_errors=True)
    return old


def succeed(store: JobStore, job_id: str, published: dict[str, dict], held_back: dict[str, dict]) -> JobRecord:
    """Record the published variants, each with its card, and the students the quality gate held back."""
    with_cards = {
        variant: {**entry, "card": read_card(Path(entry["path"]) / "card.json").model_dump(mode="json")}
        for variant, entry in published.items()
    }
    return store.update(
        job_id,
        state="succeeded",
        finished_at=datetime.now(UTC),
        published=with_cards,
        held_back=held_back,
        stage="publish",
        message="published",
    )


def cancel(store: JobStore, job_id: str) -> JobRecord:
    shutil.rmtree(store.work_folder(job_id), ignore_errors=True)
    return store.update(job_id, state="cancelled", finished_at=datetime.now(UTC), message="cancelled")


def fail(store: JobStore, job_id: str, message: str, error: BaseException | None = None) -> JobRecord:
    """End the job as failed with `message`; a failure that is not a refusal (`error`) keeps its traceback in the
    job's folder, and the record names the file."""
    kept = None
    if error is not None and not is_refusal(error):
        kept = traceback_file(error) or str(keep_traceback(error, store.folder(job_id)))
        log.error("job %s failed: %s", job_id, message, exc_info=error)
    else:
        log.warning("job %s failed: %s", job_id, message)
    return store.update(job_id, state="failed", finished_at=datetime.now(UTC), error=message, traceback=kept)


def record_failure(store: JobStore, job_id: str, error: BaseException) -> None:
    """A job whose task failed outside the pipeline's own handling (a hard time limit, a bug): say so."""
    try:
        if store.get(job_id).state in FINAL_STATES:
            return
    except KeyError:
        log.warning("task %s failed, and it has no job record", job_id)
        return
    if isinstance(error, TimeLimitExceeded):  # the pool killed the job's child process
        fail(store, job_id, "the job ran past its hard time limit and was stopped")
    else:
        fail(store, job_id, f"{type(error).__name__}: {first_line(error)}", error)


def worker_id(host: str) -> str:
    return f"{host}:{os.getpid()}"


@contextlib.contextmanager
def heartbeat(path: Path, every_s: float) -> Iterator[None]:
    """Touch `path` every `every_s` while the block runs: how workers on other hosts see this one alive."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            path.touch()

    path.touch()
    thread = threading.Thread(target=beat, name="ganc-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def running_elsewhere(store: JobStore, record: JobRecord, settings: Settings) -> bool:
    """A running job whose worker is alive and not this process: on this host its process exists; on another,
    its heartbeat is fresh."""
    if record.state != "running" or not record.worker or record.worker == worker_id(settings.worker_host):
        return False
    host, _, pid = record.worker.rpartition(":")
    if host == settings.worker_host:
        return pid.isdigit() and _alive(int(pid))
    beat = store.folder(record.id) / HEARTBEAT_FILE
    return beat.is_file() and time.time() - beat.stat().st_mtime < settings.heartbeat_stale_s


def orphaned(record: JobRecord, host: str) -> bool:
    """A running job whose process on this host is gone (killed with its worker)."""
    if record.state != "running" or not record.worker:
        return False
    worker_host, _, pid = record.worker.rpartition(":")
    return worker_host == host and pid.isdigit() and not _alive(int(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, under another user
    return True

"""Thin Celery tasks around the compression pipeline (like web views: state and retries here, logic in compression)."""

import json
import logging
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded

from compression.pipeline import run_pipeline
from ganc.jobs import COMPRESS_TASK, FINAL_STATES, JobStore
from ganc.repository import read_card
from ganc.settings import get_settings
from ganc.triton_control import TritonControlError, load_model

from . import metrics
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
                     attempts=record.attempts + 1)  # fmt: skip
        metrics.JOBS.labels("running").inc()
        last = {"at": 0.0, "stage": None}

        def progress(stage: str, step: int, total: int, message: str) -> None:
            if store.cancel_requested(job_id):
                raise JobCancelledError
            now = time.monotonic()
            if stage != last["stage"] or step == total or now - last["at"] >= PROGRESS_INTERVAL_S:
                last.update(at=now, stage=stage)
                store.update(job_id, stage=stage, step=step, total=total, message=message)
                self.update_state(state="PROGRESS", meta={"stage": stage, "step": step, "total": total})

        try:
            result = run_pipeline(store.spec(job_id), work, settings.model_repository, job_id, resume=True,
                                  progress=progress)  # fmt: skip
        except JobCancelledError:
            return _cancel(store, job_id, work).model_dump(mode="json")
        except SoftTimeLimitExceeded:
            return _fail(store, job_id, "the job ran past its time limit").model_dump(mode="json")
        except (ValueError, OSError, RuntimeError) as error:
            return _fail(store, job_id, str(error).strip().splitlines()[0]).model_dump(mode="json")
        published = {
            variant: {
                **entry,
                "card": read_card(__import__("pathlib").Path(entry["path"]) / "card.json").model_dump(mode="json"),
            }
            for variant, entry in result["published"].items()
        }
        store.update(job_id, state="succeeded", finished_at=datetime.now(UTC), published=published,
                     stage="publish", message="published")  # fmt: skip
        metrics.JOBS.labels("succeeded").inc()
        for stage, seconds in _stage_seconds(work).items():
            metrics.STAGE_SECONDS.labels(stage).observe(seconds)
    if settings.triton_url:
        for entry in store.get(job_id).published.values():
            load_model(settings.triton_url, entry["model"])  # transient failures retry the task (idempotent)
    return store.get(job_id).model_dump(mode="json")


def _cancel(store: JobStore, job_id: str, work: Path):
    shutil.rmtree(work, ignore_errors=True)
    metrics.JOBS.labels("cancelled").inc()
    return store.update(job_id, state="cancelled", finished_at=datetime.now(UTC), message="cancelled")


def _fail(store: JobStore, job_id: str, error: str):
    log.warning("job %s failed: %s", job_id, error)
    metrics.JOBS.labels("failed").inc()
    return store.update(job_id, state="failed", finished_at=datetime.now(UTC), error=error)


def _stage_seconds(work: Path) -> dict[str, float]:
    seconds = {}
    for marker in work.glob("*/done.json"):
        value = json.loads(marker.read_text()).get("seconds")
        if value is not None:
            seconds[marker.parent.name] = float(value)
    return seconds

"""Compression jobs from the gateway's side: validate, record, queue by task name, follow, cancel.

The gateway never imports the workers: it writes the job record and sends the task through the broker.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from celery import Celery

from ganc.job_store import (
    COMPRESS_TASK,
    FINAL_STATES,
    REPORT_FILE,
    JobRecord,
    JobStore,
    broker_transport_options,
    make_local_broker_dirs,
)
from ganc.settings import Settings
from ganc.spec import confine_to_roots, parse_spec, within_limits

MIN_TOKEN_LENGTH = 32
PLACEHOLDER_WORDS = ("replace", "changeme", "change-me", "example", "secret", "password", "token")


def token_problem(token: str | None) -> str | None:
    """Why `token` cannot guard the job endpoints (they stay off), or None for one that can."""
    if not token:
        return "the server has no GANC_API_TOKEN"
    if len(token) < MIN_TOKEN_LENGTH:
        return f"GANC_API_TOKEN is shorter than {MIN_TOKEN_LENGTH} characters"
    if any(word in token.lower() for word in PLACEHOLDER_WORDS):
        return "GANC_API_TOKEN looks like a placeholder, not a random token"
    return None


class JobError(Exception):
    """A job request the gateway refuses: HTTP status and a sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class JobQueue:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = JobStore(settings.jobs_root)
        make_local_broker_dirs(settings.broker_url)
        self.celery = Celery("ganc-gateway", broker=settings.broker_url)
        self.celery.conf.broker_connection_retry_on_startup = True
        # A broker that is down answers the client within a second or two, not after Celery's long retries.
        self.celery.conf.task_publish_retry_policy = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.4}
        self.celery.conf.broker_transport_options = broker_transport_options(settings)

    def submit(self, data: Any) -> JobRecord:
        """Validate the spec (422 naming the fields), record the job and queue it; nothing is left on failure."""
        try:
            spec = within_limits(confine_to_roots(parse_spec(data, "spec"), self.settings.data_roots), self.settings)
        except ValueError as error:
            raise JobError(422, str(error)) from None
        try:
            record = self.store.create(spec)
        except OSError as error:  # a full or read-only jobs folder: nothing was left in it
            raise JobError(503, f"the jobs folder cannot take a job now ({error.strerror}); retry later") from None
        try:
            self.celery.send_task(COMPRESS_TASK, args=[record.id], task_id=record.id, **spec.time_limits())
        except Exception as error:  # the broker is unreachable: forget the job rather than leave it queued forever
            self.store.remove(record.id)
            raise JobError(503, f"the job queue is unreachable ({type(error).__name__}); retry later") from None
        return record

    def report(self, job_id: str) -> Path:
        """The job's report, once it has published."""
        self.get(job_id)
        path = self.store.work_folder(job_id) / REPORT_FILE
        if not path.is_file():
            raise JobError(404, f"job {job_id!r} has no report yet: a job writes it once it has published")
        return path

    def get(self, job_id: str) -> JobRecord:
        try:
            return self.store.get(job_id)
        except KeyError:
            raise JobError(404, f"no job {job_id!r}") from None

    def recent(self, limit: int) -> list[JobRecord]:
        return self.store.recent(limit)

    def cancel(self, job_id: str) -> JobRecord:
        """Ask the job to stop: a queued job is cancelled at once, a running one at its next step."""
        record = self.get(job_id)
        if record.state in FINAL_STATES:
            raise JobError(409, f"job {job_id} has already {record.state}; nothing to cancel")
        self.store.request_cancel(job_id)
        if record.state == "queued":
            return self.store.update(
                job_id, state="cancelled", finished_at=datetime.now(UTC), message="cancelled before it started"
            )
        return self.store.get(job_id)

    def close(self) -> None:
        self.celery.close()

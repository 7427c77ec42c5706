"""The job contract between the gateway and the workers: task name, states, and the job records.

A job lives in its own folder under the jobs root (shared by gateways and workers, like the model
repository): `job.json` (the record, rewritten atomically), `spec.json` (what was asked) and the
pipeline's stage folders. The gateway creates the record and sends the task by name; workers update
it as the pipeline reports progress; a `cancel` file asks the worker to stop at the next step.
"""

import json
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from .atomic import flush_to_disk, staging_folder, write_text_atomically
from .settings import Settings
from .spec import CompressionSpec

REPORT_FILE = "report.html"  # in a job's work folder once it has published: what it bought and cost

COMPRESS_TASK = "ganc.compress_generator"
JOB_FILE = "job.json"
CANCEL_FILE = "cancel"

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINAL_STATES = ("succeeded", "failed", "cancelled")


class JobRecord(BaseModel):
    id: str
    state: JobState = "queued"
    family: str
    stage: str | None = None
    step: int = 0
    total: int = 0
    message: str = ""
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    published: dict[str, Any] = Field(default_factory=dict, description="variant -> model, version, card")
    held_back: dict[str, Any] = Field(
        default_factory=dict, description="student -> its figures and why the quality gate did not publish it"
    )
    error: str | None = None
    traceback: str | None = Field(
        None, description="the file holding the traceback of a failure that was not a refusal of the job's input"
    )
    attempts: int = 0
    worker: str | None = Field(None, description="host:pid of the process running it")
    resumed: dict[str, int] = Field(default_factory=dict, description="stage -> checkpoint step it resumed from")


def make_local_broker_dirs(*urls: str) -> None:
    """The embedded SQLite broker and result store live in files whose folder must exist."""
    for url in urls:
        if "sqlite:///" in url:
            Path(url.split("sqlite:///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)


def uses_redis(broker_url: str) -> bool:
    return broker_url.startswith(("redis://", "rediss://"))


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    """Redis redelivers an unacknowledged job after the visibility timeout; the SQL transport has none."""
    return {"visibility_timeout": settings.visibility_timeout_s} if uses_redis(settings.broker_url) else {}


def new_job_id() -> str:
    return uuid.uuid4().hex[:16]


class JobStore:
    """Job records as files under `root` (stdlib only, so the gateway can read them without the worker stack)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def work_folder(self, job_id: str) -> Path:
        """Where the job's pipeline works (its stages, checkpoints and REPORT_FILE)."""
        return self.folder(job_id) / "work"

    def folder(self, job_id: str) -> Path:
        if not job_id.isalnum():
            raise KeyError(job_id)
        return self.root / job_id

    def remove(self, job_id: str) -> None:
        """Forget a job that never reached the broker."""
        shutil.rmtree(self.folder(job_id))

    def create(self, spec: CompressionSpec) -> JobRecord:
        """A new job's folder with its request and record, assembled aside and renamed into place whole: a full
        disk leaves no folder behind."""
        record = JobRecord(id=new_job_id(), family=spec.family, created_at=datetime.now(UTC))
        self.root.mkdir(parents=True, exist_ok=True)
        with staging_folder(self.root) as staging:
            (staging / "request.json").write_text(spec.model_dump_json(indent=2) + "\n")
            (staging / JOB_FILE).write_text(record.model_dump_json(indent=2) + "\n")
            flush_to_disk(staging)
            os.rename(staging, self.folder(record.id))
        return record

    def spec(self, job_id: str) -> CompressionSpec:
        return CompressionSpec.model_validate_json((self.folder(job_id) / "request.json").read_text())

    def save(self, record: JobRecord) -> None:
        write_text_atomically(self.folder(record.id) / JOB_FILE, record.model_dump_json(indent=2) + "\n")

    def get(self, job_id: str) -> JobRecord:
        try:
            return JobRecord.model_validate_json((self.folder(job_id) / JOB_FILE).read_text())
        except (OSError, ValueError):
            raise KeyError(job_id) from None

    def update(self, job_id: str, **changes: Any) -> JobRecord:
        record = self.get(job_id).model_copy(update=changes)
        self.save(record)
        return record

    def all(self) -> list[JobRecord]:
        if not self.root.is_dir():
            return []
        records = []
        for folder in self.root.iterdir():
            if folder.name.startswith("."):
                continue  # a job's folder being assembled
            try:
                records.append(self.get(folder.name))
            except KeyError:
                continue
        return records

    def recent(self, limit: int = 50) -> list[JobRecord]:
        return sorted(self.all(), key=lambda r: r.created_at, reverse=True)[:limit]

    def request_cancel(self, job_id: str) -> None:
        (self.folder(job_id) / CANCEL_FILE).write_text(json.dumps({"at": datetime.now(UTC).isoformat()}))

    def cancel_requested(self, job_id: str) -> bool:
        return (self.folder(job_id) / CANCEL_FILE).exists()

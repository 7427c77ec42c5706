"""Compression jobs with real processes: the environment of a gateway or worker, a worker, queueing a job as the
gateway does, and waiting for a job's record."""

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from ganc.job_store import JobRecord, JobStore
from ganc.settings import Settings
from service.job_queue import JobQueue
from tests.support.processes import GANC, spawn

TOKEN = "4f1b0c9e7a2d4e6f8a1b3c5d7e9f0a2b4c6d8e"


def broker_env(tmp_path: Path, redis_port: int | None = None) -> dict[str, str]:
    """The environment of a gateway or worker whose jobs, data and repository live under `tmp_path`: its broker is
    the Redis on `redis_port`, or without one the embedded SQLite broker."""
    if redis_port is None:
        urls = {
            "GANC_BROKER_URL": f"sqla+sqlite:///{tmp_path}/broker.sqlite",
            "GANC_RESULT_BACKEND": f"db+sqlite:///{tmp_path}/results.sqlite",
        }
    else:
        redis.Redis(port=redis_port).flushall()  # nothing left over from an earlier test
        urls = {
            "GANC_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
            "GANC_RESULT_BACKEND": f"redis://127.0.0.1:{redis_port}/1",
        }
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "repo").mkdir(exist_ok=True)
    return {
        **urls,
        "GANC_JOBS_ROOT": str(tmp_path / "jobs"),
        "GANC_MODEL_REPOSITORY": str(tmp_path / "repo"),
        "GANC_DATA_ROOTS": json.dumps([str(tmp_path / "data")]),
        "GANC_API_TOKEN": TOKEN,
        "GANC_WORKER_METRICS_PORT": "0",
    }


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    return spawn([GANC, "worker", "--loglevel", "WARNING"], env, log)


def send(env: dict[str, str], spec: dict) -> str:
    """Queue a job as the gateway does (record, then the task by name through the broker)."""
    settings = Settings(
        jobs_root=Path(env["GANC_JOBS_ROOT"]),
        broker_url=env["GANC_BROKER_URL"],
        data_roots=json.loads(env["GANC_DATA_ROOTS"]),
    )
    queue = JobQueue(settings)
    try:
        return queue.submit(spec).id
    finally:
        queue.close()


def wait_for(store: JobStore, job_id: str, done: Callable[[JobRecord], bool], timeout_s: float = 600) -> JobRecord:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = store.get(job_id)
        if done(record):
            return record
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id} stayed {store.get(job_id).state} at {store.get(job_id).stage}")

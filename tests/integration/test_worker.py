"""A real Celery worker process runs a tiny compression job from a real broker and publishes its family."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery

from ganc.jobs import COMPRESS_TASK, JobStore
from ganc.repository import read_index
from ganc.spec import parse_spec
from tests.integration.test_pipeline import TINY

pytestmark = pytest.mark.integration


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as handle:
        return subprocess.Popen([str(Path(sys.executable).parent / "ganc"), "worker", "--loglevel", "WARNING"],
                                env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def wait_for(store: JobStore, job_id: str, states: tuple[str, ...], timeout_s: float = 300):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = store.get(job_id)
        if record.state in states:
            return record
        time.sleep(0.5)
    raise TimeoutError(f"job {job_id} stayed {store.get(job_id).state}")


@pytest.mark.parametrize("broker", ["redis", "sqlite"])
def test_a_tiny_job_succeeds_and_publishes(tmp_path, broker):
    if broker == "redis":
        urls = {"GANC_BROKER_URL": "redis://127.0.0.1:6379/14", "GANC_RESULT_BACKEND": "redis://127.0.0.1:6379/15"}
    else:
        urls = {"GANC_BROKER_URL": f"sqla+sqlite:///{tmp_path}/broker.sqlite",
                "GANC_RESULT_BACKEND": f"db+sqlite:///{tmp_path}/results.sqlite"}  # fmt: skip
    env = {**urls, "GANC_JOBS_ROOT": str(tmp_path / "jobs"), "GANC_MODEL_REPOSITORY": str(tmp_path / "repo"),
           "GANC_WORKER_METRICS_PORT": "0"}  # fmt: skip
    store = JobStore(tmp_path / "jobs")
    record = store.create(parse_spec(TINY))
    client = Celery(broker=urls["GANC_BROKER_URL"], backend=urls["GANC_RESULT_BACKEND"])
    client.send_task(COMPRESS_TASK, args=[record.id], task_id=record.id)
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        done = wait_for(store, record.id, ("succeeded", "failed"))
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    assert done.state == "succeeded", (done.error, (tmp_path / "worker.log").read_text()[-2000:])
    assert set(done.published) >= {"teacher"} and done.attempts == 1
    assert {v.card.job for v in read_index(tmp_path / "repo").versions} == {record.id}

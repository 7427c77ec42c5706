"""Compression jobs with real processes: Redis (or the embedded SQLite broker), Celery workers, the gateway."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
from celery import Celery

from ganc.jobs import COMPRESS_TASK, JobStore
from ganc.repository import read_index
from ganc.settings import Settings
from service.jobs import JobQueue
from tests.conftest import free_port, free_ports, wait_for_http
from tests.integration.test_gateway import png
from tests.integration.test_pipeline import TINY

pytestmark = pytest.mark.integration

GANC = str(Path(sys.executable).parent / "ganc")
TOKEN = "integration-token"
REDIS = {"GANC_BROKER_URL": "redis://127.0.0.1:6379/14", "GANC_RESULT_BACKEND": "redis://127.0.0.1:6379/15"}
# A job slow enough to be caught mid-stage: the supernet trains for a few hundred tiny steps.
SLOW = {**TINY, "supernet": {**TINY["supernet"], "steps": 120, "every": 10}}


def broker_env(tmp_path: Path, broker: str) -> dict[str, str]:
    if broker == "redis":
        for db in (14, 15):  # nothing left over from an earlier run
            redis.Redis(db=db).flushdb()
        urls = REDIS
    else:
        urls = {"GANC_BROKER_URL": f"sqla+sqlite:///{tmp_path}/broker.sqlite",
                "GANC_RESULT_BACKEND": f"db+sqlite:///{tmp_path}/results.sqlite"}  # fmt: skip
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "repo").mkdir(exist_ok=True)
    return {**urls, "GANC_JOBS_ROOT": str(tmp_path / "jobs"), "GANC_MODEL_REPOSITORY": str(tmp_path / "repo"),
            "GANC_DATA_ROOTS": json.dumps([str(tmp_path / "data")]), "GANC_API_TOKEN": TOKEN,
            "GANC_WORKER_METRICS_PORT": "0"}  # fmt: skip


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as handle:
        return subprocess.Popen(command, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    return spawn([GANC, "worker", "--loglevel", "WARNING"], env, log)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def wait_for(store: JobStore, job_id: str, done, timeout_s: float = 600):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = store.get(job_id)
        if done(record):
            return record
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id} stayed {store.get(job_id).state} at {store.get(job_id).stage}")


def send(env: dict[str, str], spec: dict) -> str:
    """Queue a job as the gateway does (record, then the task by name through the broker)."""
    settings = Settings(jobs_root=Path(env["GANC_JOBS_ROOT"]), broker_url=env["GANC_BROKER_URL"],
                        data_roots=json.loads(env["GANC_DATA_ROOTS"]))  # fmt: skip
    queue = JobQueue(settings)
    try:
        return queue.submit(spec).id
    finally:
        queue.close()


@pytest.mark.parametrize("broker", ["redis", "sqlite"])
def test_a_job_submitted_over_http_is_published_and_served(tmp_path, broker):
    env = broker_env(tmp_path, broker)
    metrics_port, port = free_ports(2)
    serve = [GANC, "serve", "--port", str(port), "--repo", str(tmp_path / "repo")]
    gateway = spawn(serve, {**env, "GANC_CATALOG_POLL_S": "0.5", "GANC_WARMUP_RUNS": "1"}, tmp_path / "gateway.log")
    worker = start_worker({**env, "GANC_WORKER_METRICS_PORT": str(metrics_port)}, tmp_path / "worker.log")
    url = f"http://127.0.0.1:{port}"
    (tmp_path / "tiny.yaml").write_text(json.dumps(TINY))  # JSON is YAML
    try:
        wait_for_http(f"{url}/livez", gateway, tmp_path / "gateway.log")
        submitted = subprocess.run([GANC, "submit", str(tmp_path / "tiny.yaml"), "--wait", "--url", url],
                                   env={**os.environ, "GANC_API_TOKEN": TOKEN}, capture_output=True, text=True,
                                   timeout=400)  # fmt: skip
        assert submitted.returncode == 0, (submitted.stderr[-2000:], (tmp_path / "worker.log").read_text()[-2000:])
        record = json.loads(submitted.stdout)
        assert record["state"] == "succeeded" and record["attempts"] == 1 and record["started_at"]
        assert set(record["published"]) >= {"teacher"}
        assert all(entry["card"]["job"] == record["id"] for entry in record["published"].values())
        assert {v.card.job for v in read_index(tmp_path / "repo").versions} == {record["id"]}
        deadline = time.monotonic() + 60
        while (response := httpx.post(f"{url}/v1/translate/tiny", content=png(), timeout=30,
                                      headers={"Content-Type": "image/png"})).status_code == 404:  # fmt: skip
            assert time.monotonic() < deadline, "the gateway never picked up the published family"
            time.sleep(0.5)
        assert response.status_code == 200 and response.headers["x-ganc-variant"] in record["published"]
        listed = httpx.get(f"{url}/v1/jobs", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert [job["id"] for job in listed] == [record["id"]]
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert 'ganc_jobs{state="succeeded"} 1.0' in scraped
        assert 'ganc_job_stage_seconds_count{stage="teacher"} 1.0' in scraped
        assert "ganc_job_queue_depth 0.0" in scraped
    finally:
        stop(worker)
        stop(gateway)


@pytest.mark.parametrize(
    "broker, restart_env",
    [
        ("redis", {"GANC_VISIBILITY_TIMEOUT_S": "1"}),  # Redis hands the unacknowledged job out again
        ("sqlite", {}),  # the embedded broker forgets it; the restarted worker queues it again
    ],
)
def test_a_worker_killed_mid_job_resumes_it_from_its_checkpoint(tmp_path, broker, restart_env):
    env = broker_env(tmp_path, broker)
    store = JobStore(tmp_path / "jobs")
    job_id = send(env, SLOW)
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        wait_for(store, job_id, lambda r: r.stage == "supernet" and r.step >= 20)
    finally:
        stop(worker, signal.SIGKILL)
    work = tmp_path / "jobs" / job_id / "work"
    teacher_done = (work / "teacher" / "done.json").stat().st_mtime_ns
    assert not (work / "supernet" / "done.json").exists() and list((work / "supernet").rglob("step_*.pt"))
    assert store.get(job_id).state == "running"
    worker = start_worker({**env, **restart_env}, tmp_path / "worker.log")
    try:
        record = wait_for(store, job_id, lambda r: r.state in ("succeeded", "failed"))
    finally:
        stop(worker)
    assert record.state == "succeeded", (record.error, (tmp_path / "worker.log").read_text()[-2000:])
    assert record.attempts == 2 and record.resumed["supernet"] >= 10  # from its checkpoint, not from scratch
    assert (work / "teacher" / "done.json").stat().st_mtime_ns == teacher_done  # finished stages are skipped
    assert {v.card.job for v in read_index(tmp_path / "repo").versions} == {job_id}


def test_cancel_time_limits_and_an_unreadable_dataset_end_jobs_and_nothing_is_published(tmp_path):
    env = broker_env(tmp_path, "sqlite")
    store = JobStore(tmp_path / "jobs")
    bad = tmp_path / "data" / "broken"
    for split in ("train", "val", "test"):
        (bad / split).mkdir(parents=True)
        (bad / split / "0.png").write_bytes(b"not an image at all")
    cancelled = send(env, SLOW)
    unreadable = send(env, {**TINY, "family": "broken", "dataset": {"path": str(bad)}})
    soft = send(env, {**SLOW, "soft_time_limit_s": 4, "time_limit_s": 120})
    hard = send(env, {**SLOW, "time_limit_s": 4})
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        wait_for(store, cancelled, lambda r: r.stage == "teacher")
        queue = JobQueue(Settings(jobs_root=tmp_path / "jobs", broker_url=env["GANC_BROKER_URL"]))
        assert queue.cancel(cancelled).state == "running"  # it stops at its next step
        queue.close()
        assert wait_for(store, cancelled, lambda r: r.state != "running", 60).state == "cancelled"
        failed = wait_for(store, unreadable, lambda r: r.state in ("succeeded", "failed"), 120)
        stopped_softly = wait_for(store, soft, lambda r: r.state in ("succeeded", "failed"), 120)
        killed = wait_for(store, hard, lambda r: r.state in ("succeeded", "failed"), 120)
    finally:
        stop(worker)
    assert not (tmp_path / "jobs" / cancelled / "work").exists()
    assert failed.state == "failed" and str(bad) in failed.error, failed.error
    assert stopped_softly.state == "failed" and "soft time limit" in stopped_softly.error
    assert killed.state == "failed" and "hard time limit" in killed.error
    assert read_index(tmp_path / "repo").versions == []


def test_a_redis_restart_keeps_queued_jobs_with_the_deployment_config(tmp_path):
    port = free_port()
    config = Path(__file__).parents[2] / "deploy" / "redis" / "redis.conf"
    command = ["redis-server", str(config), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    try:
        wait_redis(client)
        Celery(broker=f"redis://127.0.0.1:{port}/0").send_task(COMPRESS_TASK, args=["0123456789abcdef"])
        assert client.llen("celery") == 1
        time.sleep(1.5)  # the append-only file is synced every second
        server.send_signal(signal.SIGKILL)  # a crash, not a clean shutdown that would write a snapshot
        server.wait(10)
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        wait_redis(client)
        assert client.llen("celery") == 1
        body = json.loads(client.lindex("celery", 0))
        assert body["headers"]["task"] == COMPRESS_TASK
    finally:
        server.terminate()
        server.wait(10)


def wait_redis(client: redis.Redis) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            if client.ping():
                return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)

"""Compression jobs with real processes: Redis (or the embedded SQLite broker), Celery workers, the gateway."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import redis
from celery import Celery

from ganc.job_store import COMPRESS_TASK, JobStore
from ganc.repository import read_index
from ganc.settings import Settings
from service.job_queue import JobQueue
from tests.support import (
    GANC,
    TINY,
    TOKEN,
    broker_env,
    free_port,
    free_ports,
    png,
    send,
    spawn,
    start_worker,
    stop,
    stop_all,
    wait_for,
    wait_for_http,
    wait_for_redis,
)

pytestmark = pytest.mark.integration

# A job slow enough to be caught mid-stage: the supernet trains for a few hundred tiny steps.
SLOW = {**TINY, "supernet": {**TINY["supernet"], "steps": 120, "every": 10}}


@pytest.mark.parametrize("broker", ["redis", "sqlite"])
def test_a_job_submitted_over_http_is_published_and_served(tmp_path, broker, redis_port):
    env = broker_env(tmp_path, redis_port if broker == "redis" else None)
    metrics_port, port = free_ports(2)
    serve = [GANC, "serve", "--port", str(port), "--repo", str(tmp_path / "repo")]
    gateway = spawn(serve, {**env, "GANC_CATALOG_POLL_S": "0.5", "GANC_WARMUP_RUNS": "1"}, tmp_path / "gateway.log")
    worker = start_worker({**env, "GANC_WORKER_METRICS_PORT": str(metrics_port)}, tmp_path / "worker.log")
    url = f"http://127.0.0.1:{port}"
    (tmp_path / "tiny.yaml").write_text(json.dumps(TINY))  # JSON is YAML
    try:
        wait_for_http(f"{url}/livez", gateway, tmp_path / "gateway.log")
        submitted = subprocess.run(
            [GANC, "submit", str(tmp_path / "tiny.yaml"), "--wait", "--url", url],
            env={**os.environ, "GANC_API_TOKEN": TOKEN},
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert submitted.returncode == 0, (submitted.stderr[-2000:], (tmp_path / "worker.log").read_text()[-2000:])
        record = json.loads(submitted.stdout)
        assert record["state"] == "succeeded" and record["attempts"] == 1 and record["started_at"]
        assert set(record["published"]) >= {"teacher"}
        assert all(entry["card"]["job"] == record["id"] for entry in record["published"].values())
        assert {v.card.job for v in read_index(tmp_path / "repo").versions} == {record["id"]}
        deadline = time.monotonic() + 60
        translate, headers = f"{url}/v1/translate/tiny", {"Content-Type": "image/png"}
        while (response := httpx.post(translate, content=png(), timeout=30, headers=headers)).status_code == 404:
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
def test_a_worker_killed_mid_job_resumes_it_from_its_checkpoint(tmp_path, broker, restart_env, redis_port):
    env = broker_env(tmp_path, redis_port if broker == "redis" else None)
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
    env = broker_env(tmp_path)
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


def persistent_redis(port: int, folder: Path) -> list[str]:
    """The command of a Redis with the deployment's persistence settings, keeping its files in `folder`."""
    config = Path(__file__).parents[2] / "deploy" / "redis" / "redis.conf"
    return ["redis-server", str(config), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]


def test_a_redis_restart_keeps_queued_jobs_with_the_deployment_config(tmp_path):
    port = free_port()
    command = persistent_redis(port, tmp_path)
    server = spawn(command, {}, tmp_path / "redis.log")
    client = redis.Redis(port=port)
    try:
        wait_for_redis(client)
        Celery(broker=f"redis://127.0.0.1:{port}/0").send_task(COMPRESS_TASK, args=["0123456789abcdef"])
        assert client.llen("celery") == 1
        time.sleep(1.5)  # the append-only file is synced every second
        stop(server, signal.SIGKILL)  # a crash, not a clean shutdown that would write a snapshot
        server = spawn(command, {}, tmp_path / "redis.log")
        wait_for_redis(client)
        assert client.llen("celery") == 1
        body = json.loads(client.lindex("celery", 0))
        assert body["headers"]["task"] == COMPRESS_TASK
    finally:
        stop(server)


def test_a_job_whose_child_is_killed_on_every_attempt_fails_after_the_cap(tmp_path, redis_port):
    env = {**broker_env(tmp_path, redis_port), "GANC_JOB_MAX_ATTEMPTS": "2"}
    store = JobStore(tmp_path / "jobs")
    job_id = send(env, SLOW)
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        for attempt in (1, 2):
            running = wait_for(store, job_id, lambda r, n=attempt: r.state == "running" and r.attempts == n, 120)
            child = int(running.worker.rsplit(":", 1)[1])
            assert child != worker.pid
            os.kill(child, signal.SIGKILL)  # as the kernel's out-of-memory killer would
        record = wait_for(store, job_id, lambda r: r.state in ("succeeded", "failed"), 120)
        assert worker.poll() is None  # the worker itself lives on, and takes the next job
    finally:
        stop(worker)
    assert record.state == "failed" and "lost 2 times" in record.error, (record, (tmp_path / "worker.log").read_text())
    assert read_index(tmp_path / "repo").versions == []


def test_a_redis_killed_and_restarted_during_a_job_loses_nothing(tmp_path):
    port = free_port()
    command = persistent_redis(port, tmp_path)
    server = spawn(command, {}, tmp_path / "redis.log")
    wait_for_redis(redis.Redis(port=port))
    env = broker_env(tmp_path, port)
    store = JobStore(tmp_path / "jobs")
    job_id = send(env, SLOW)
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        wait_for(store, job_id, lambda r: r.stage == "supernet" and r.step >= 10)
        time.sleep(1.5)  # the append-only file is synced every second
        stop(server, signal.SIGKILL)
        time.sleep(2)  # the job goes on without its broker
        server = spawn(command, {}, tmp_path / "redis.log")
        record = wait_for(store, job_id, lambda r: r.state in ("succeeded", "failed"))
        time.sleep(3)  # time for a wrongly redelivered copy to start
        again = store.get(job_id)
    finally:
        stop(worker)
        stop(server)
    assert record.state == "succeeded", (record.error, (tmp_path / "worker.log").read_text()[-2000:])
    assert record.attempts == 1 and again == record  # it ran once, to its end
    versions = read_index(tmp_path / "repo").versions
    assert versions and {v.card.job for v in versions} == {job_id} and {v.version for v in versions} == {1}


def test_a_job_whose_child_on_another_host_is_killed_is_resumed_by_a_worker_there(tmp_path, redis_port):
    # Two workers on one Redis as two pods: each its own host name, heartbeats every second, stale after five.
    env = {**broker_env(tmp_path, redis_port), "GANC_HEARTBEAT_S": "1", "GANC_HEARTBEAT_STALE_S": "5"}
    store = JobStore(tmp_path / "jobs")
    job_id = send(env, SLOW)
    first = start_worker({**env, "GANC_WORKER_HOST": "pod-a"}, tmp_path / "worker-a.log")
    second = None
    try:
        running = wait_for(store, job_id, lambda r: r.state == "running" and r.stage == "supernet", 120)
        second = start_worker({**env, "GANC_WORKER_HOST": "pod-b"}, tmp_path / "worker-b.log")
        time.sleep(5)  # the second worker is listening
        os.kill(first.pid, signal.SIGTERM)  # the first takes nothing new while it waits for its job ...
        time.sleep(1)
        os.kill(int(running.worker.rsplit(":", 1)[1]), signal.SIGKILL)  # ... whose process the kernel kills
        # Its delivery comes back at once, to the other pod, while the dead worker's heartbeat is fresh: not
        # dropped (the job would stay `running` for ever) but tried again once the heartbeat is stale.
        record = wait_for(store, job_id, lambda r: r.state in ("succeeded", "failed"), 300)
    finally:
        stop_all([p for p in (first, second) if p is not None])
    logs = (tmp_path / "worker-b.log").read_text()
    assert record.state == "succeeded", (record, logs[-3000:])
    assert record.attempts == 2 and record.worker.startswith("pod-b:")
    assert f"job {job_id} runs in pod-a:" in logs and "this delivery is tried again in 5 s" in logs

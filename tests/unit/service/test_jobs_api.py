"""The job endpoints in process, with a real broker (kombu's SQLite transport) and a real jobs folder."""

import asyncio
import errno
import json

import httpx
import pytest
from celery import Celery
from fastapi.testclient import TestClient

from ganc import job_store
from ganc.job_store import COMPRESS_TASK
from ganc.settings import Settings
from service.app import create_app

TOKEN = "7d3e9a1c5b0f42e8a6c4d2b0e8f6a4c2"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SPEC = {
    "family": "tiny",
    "task": "sr4x",
    "dataset": {"sample": "sr4x", "size": 32},
    "search": {"macs_budgets": [1e12]},
    "soft_time_limit_s": 600,
    "time_limit_s": 660,
}


@pytest.fixture
def env(tmp_path):
    (tmp_path / "data" / "photos").mkdir(parents=True)
    broker = f"sqla+sqlite:///{tmp_path}/broker.sqlite"
    settings = Settings(
        model_repository=tmp_path / "repo",
        jobs_root=tmp_path / "jobs",
        broker_url=broker,
        api_token=TOKEN,
        data_roots=[tmp_path / "data"],
        warmup_runs=1,
        warmup_size=32,
    )
    with TestClient(create_app(settings)) as client:
        yield client, tmp_path, broker


def queued_messages(broker: str) -> int:
    with Celery(broker=broker).connection_for_read() as connection:
        return connection.default_channel.queue_declare(queue="celery", passive=True).message_count


def test_a_job_is_validated_recorded_and_queued_by_task_name(env):
    client, _, broker = env
    response = client.post("/v1/jobs", json=SPEC, headers=AUTH)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["state"] == "queued" and job["family"] == "tiny"
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert client.get(response.headers["location"], headers=AUTH).json()["id"] == job["id"]
    assert [j["id"] for j in client.get("/v1/jobs", headers=AUTH).json()] == [job["id"]]
    assert queued_messages(broker) == 1
    with Celery(broker=broker).connection_for_read() as connection:
        message = connection.SimpleQueue("celery", no_ack=True).get(timeout=5)
    assert message.headers["task"] == COMPRESS_TASK and message.headers["id"] == job["id"]
    assert message.headers["timelimit"] == [660, 600]  # (hard, soft) from the spec


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_job_endpoints_need_the_bearer_token(env, headers):
    client, _, broker = env
    for method, path in (
        ("post", "/v1/jobs"),
        ("get", "/v1/jobs"),
        ("get", "/v1/jobs/abc"),
        ("delete", "/v1/jobs/abc"),
    ):
        response = client.request(method.upper(), path, json=SPEC, headers=headers)
        assert response.status_code == 401 and "token" in response.json()["error"]
        assert response.headers["www-authenticate"] == "Bearer"
    assert queued_messages(broker) == 0


def test_without_a_configured_token_job_endpoints_refuse_everything(tmp_path):
    settings = Settings(
        model_repository=tmp_path,
        jobs_root=tmp_path / "jobs",
        api_token=None,
        broker_url=f"sqla+sqlite:///{tmp_path}/b.sqlite",
        warmup_runs=1,
        warmup_size=32,
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/v1/jobs", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 401 and "GANC_API_TOKEN" in response.json()["error"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"teacher": {"steps": -1}}, "teacher.steps"),
        ({"colour": "blue"}, "colour"),
        ({"search": {}}, "search"),
        ({"family": "../evil"}, "family"),
        ({"soft_time_limit_s": 700}, "soft_time_limit_s"),
    ],
)
def test_a_bad_spec_gets_422_naming_the_field_and_nothing_is_queued(env, change, message):
    client, tmp_path, broker = env
    response = client.post("/v1/jobs", json={**SPEC, **change}, headers=AUTH)
    assert response.status_code == 422 and message in response.json()["error"]
    assert not (tmp_path / "jobs").exists() or not list((tmp_path / "jobs").iterdir())
    assert queued_messages(broker) == 0


def test_non_finite_numbers_and_symlink_loops_get_422_and_nothing_is_queued(env):
    client, tmp_path, broker = env
    # JSON as Python writes it by default: Infinity and NaN are literals its parser takes.
    body = json.dumps({**SPEC, "teacher": {"lr": float("inf")}, "search": {"macs_budgets": [float("nan")]}})
    response = client.post("/v1/jobs", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert "teacher.lr" in response.json()["error"] and "search.macs_budgets" in response.json()["error"]
    (tmp_path / "data" / "loop").symlink_to(tmp_path / "data" / "loop")
    dataset = {"sample": "sr4x", "photos": str(tmp_path / "data" / "loop" / "photos")}
    response = client.post("/v1/jobs", json={**SPEC, "dataset": dataset}, headers=AUTH)
    assert response.status_code == 422 and "dataset.photos" in response.json()["error"]
    assert queued_messages(broker) == 0


def test_a_full_disk_while_creating_a_job_is_a_503_that_leaves_no_folder(env, monkeypatch):
    client, tmp_path, broker = env

    def full(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(job_store, "flush_to_disk", full)
    response = client.post("/v1/jobs", json=SPEC, headers=AUTH)
    assert response.status_code == 503 and "No space left on device" in response.json()["error"]
    assert not list((tmp_path / "jobs").iterdir()) and queued_messages(broker) == 0


def test_a_jobs_report_is_served_once_written_and_only_with_the_token(env):
    client, tmp_path, _ = env
    job_id = client.post("/v1/jobs", json=SPEC, headers=AUTH).json()["id"]
    response = client.get(f"/v1/jobs/{job_id}/report", headers=AUTH)
    assert response.status_code == 404 and "no report yet" in response.json()["error"]
    work = tmp_path / "jobs" / job_id / "work"
    work.mkdir()
    (work / "report.html").write_text("<!doctype html><h1>tiny</h1>")
    response = client.get(f"/v1/jobs/{job_id}/report", headers=AUTH)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "<h1>tiny</h1>" in response.text
    assert client.get(f"/v1/jobs/{job_id}/report").status_code == 401
    assert client.get("/v1/jobs/nosuchjob/report", headers=AUTH).status_code == 404


def test_a_body_that_is_not_json_is_refused(env):
    client, _, _ = env
    response = client.post("/v1/jobs", content=b"family: x", headers={**AUTH, "Content-Type": "application/yaml"})
    assert response.status_code == 400 and "JSON" in response.json()["error"]


def test_paths_outside_the_data_roots_are_refused(env):
    client, tmp_path, broker = env
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "data" / "escape").symlink_to(outside)
    for path in (str(outside), str(tmp_path / "data" / ".." / "elsewhere"), str(tmp_path / "data" / "escape")):
        dataset = {"sample": "sr4x", "photos": path}
        response = client.post("/v1/jobs", json={**SPEC, "dataset": dataset}, headers=AUTH)
        assert response.status_code == 422, path
        assert "dataset.photos" in response.json()["error"] and "outside the data roots" in response.json()["error"]
    response = client.post("/v1/jobs", json={**SPEC, "teacher": {"checkpoint": "/etc/passwd"}}, headers=AUTH)
    assert response.status_code == 422 and "teacher.checkpoint" in response.json()["error"]
    assert queued_messages(broker) == 0
    inside = {"sample": "sr4x", "photos": str(tmp_path / "data" / "photos")}
    assert client.post("/v1/jobs", json={**SPEC, "dataset": inside}, headers=AUTH).status_code == 202


def test_a_queued_job_is_cancelled_at_once_and_only_once(env):
    client, tmp_path, _ = env
    job = client.post("/v1/jobs", json=SPEC, headers=AUTH).json()
    response = client.delete(f"/v1/jobs/{job['id']}", headers=AUTH)
    assert response.status_code == 202 and response.json()["state"] == "cancelled"
    assert (tmp_path / "jobs" / job["id"] / "cancel").is_file()  # the worker that receives it stops at once
    again = client.delete(f"/v1/jobs/{job['id']}", headers=AUTH)
    assert again.status_code == 409 and "cancelled" in again.json()["error"]
    assert client.get("/v1/jobs/0123456789abcdef", headers=AUTH).status_code == 404
    assert client.get("/v1/jobs/..%2Fetc", headers=AUTH).status_code == 404


def unreachable_broker(tmp_path) -> Settings:
    """A gateway whose broker's port refuses every connection (the send is retried, then given up)."""
    return Settings(
        model_repository=tmp_path,
        jobs_root=tmp_path / "jobs",
        api_token=TOKEN,
        broker_url="redis://127.0.0.1:1/0",
        warmup_runs=1,
        warmup_size=32,
    )


def test_an_unreachable_broker_gets_503_and_leaves_no_job(tmp_path):
    settings = unreachable_broker(tmp_path)
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/jobs", json=SPEC, headers=AUTH)
    assert response.status_code == 503 and "unreachable" in response.json()["error"]
    assert list((tmp_path / "jobs").iterdir()) == []


@pytest.mark.parametrize(
    "token, why", [("short-but-real-1234", "shorter than 32"), ("replace-me-with-a-long-random-token", "placeholder")]
)
def test_a_weak_token_leaves_the_job_endpoints_off(tmp_path, token, why):
    settings = Settings(
        jobs_root=tmp_path / "jobs",
        model_repository=tmp_path,
        api_token=token,
        warmup_runs=1,
        broker_url=f"sqla+sqlite:///{tmp_path}/broker.sqlite",
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/v1/jobs", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and why in response.json()["error"]


def test_a_submission_that_waits_on_the_broker_does_not_hold_up_the_event_loop(tmp_path):
    """The loop's lag, measured by a task that sleeps 5 ms at a time, stays far below the submission's own time
    while the broker is retried (the port refuses, and the retry policy waits between tries)."""
    settings = unreachable_broker(tmp_path)

    async def scenario() -> tuple[int, float, float]:
        app = create_app(settings)
        loop = asyncio.get_running_loop()
        lags: list[float] = []
        stopped = asyncio.Event()

        async def probe() -> None:
            while not stopped.is_set():
                before = loop.time()
                await asyncio.sleep(0.005)
                lags.append(loop.time() - before - 0.005)

        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                prober = asyncio.create_task(probe())
                start = loop.time()
                response = await client.post("/v1/jobs", json=SPEC, headers=AUTH)
                took = loop.time() - start
                stopped.set()
                await prober
        return response.status_code, took, max(lags)

    status, took, worst_lag = asyncio.run(scenario())
    assert status == 503 and took > 0.5  # the send was retried for a while
    assert worst_lag < took / 5, (worst_lag, took)

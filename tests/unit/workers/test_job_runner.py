"""A job's life on a worker: deliveries of a job that is running elsewhere are deferred, lost workers counted."""

import os
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import torch

from compression.pipeline import Pipeline
from ganc.job_store import JobStore
from ganc.settings import Settings
from ganc.spec import parse_spec
from workers.job_runner import (
    HEARTBEAT_FILE,
    JobProgress,
    RunningElsewhereError,
    heartbeat,
    remove_old_work,
    run_job,
)

SPEC = {"family": "tiny", "task": "sr4x", "dataset": {"sample": "sr4x", "size": 32}, "search": {"macs_budgets": [1e12]}}


@pytest.fixture
def store(tmp_path):
    return JobStore(tmp_path / "jobs")


def deliver(store: JobStore, job_id: str, tmp_path):
    settings = Settings(jobs_root=store.root, model_repository=tmp_path / "repo", data_roots=[tmp_path])
    return run_job(store, job_id, settings, JobProgress(store, job_id, lambda _state: None))


def test_a_job_whose_worker_was_lost_too_often_fails_instead_of_running_again(store, tmp_path):
    job = store.create(parse_spec(SPEC))
    store.update(job.id, state="running", attempts=3, worker=f"{socket.gethostname()}:999999999")
    ended = deliver(store, job.id, tmp_path)
    assert ended.state == "failed" and "lost 3 times" in ended.error
    assert not (store.folder(job.id) / "work").exists()


def test_a_delivery_of_a_job_a_live_worker_runs_is_deferred_not_run(store, tmp_path):
    job = store.create(parse_spec(SPEC))
    alive_here = f"{socket.gethostname()}:{os.getppid()}"
    store.update(job.id, state="running", attempts=1, worker=alive_here)
    with pytest.raises(RunningElsewhereError, match=f"runs in {alive_here}"):
        deliver(store, job.id, tmp_path)
    (store.folder(job.id) / HEARTBEAT_FILE).touch()  # a worker on another host, alive
    store.update(job.id, worker="elsewhere:42")
    with pytest.raises(RunningElsewhereError):
        deliver(store, job.id, tmp_path)
    assert store.get(job.id).attempts == 1 and not (store.folder(job.id) / "work").exists()


def test_a_worker_on_another_host_that_fell_silent_is_taken_over(store, tmp_path):
    job = store.create(parse_spec(SPEC))
    store.update(job.id, state="running", attempts=3, worker="elsewhere:42")
    beat = store.folder(job.id) / HEARTBEAT_FILE
    beat.touch()
    stale = time.time() - Settings().heartbeat_stale_s - 1
    os.utime(beat, (stale, stale))
    assert "lost 3 times" in deliver(store, job.id, tmp_path).error  # not dropped: counted, and over the cap


def test_the_heartbeat_beats_while_a_job_runs(tmp_path):
    beat = tmp_path / HEARTBEAT_FILE
    with heartbeat(beat, 30.0):
        assert beat.is_file()
    before = beat.stat().st_mtime
    time.sleep(0.05)
    assert beat.stat().st_mtime == before  # stopped with the block


def test_finished_work_is_removed_after_its_retention_and_failed_work_is_kept(store):
    ids = {}
    for state in ("succeeded", "cancelled", "failed", "running"):
        job = store.create(parse_spec(SPEC))
        (store.folder(job.id) / "work").mkdir()
        store.update(job.id, state=state, finished_at=datetime.now(UTC) - timedelta(days=10))
        ids[state] = job.id
    fresh = store.create(parse_spec(SPEC))
    (store.folder(fresh.id) / "work").mkdir()
    store.update(fresh.id, state="succeeded", finished_at=datetime.now(UTC))
    assert sorted(remove_old_work(store, 7)) == sorted([ids["succeeded"], ids["cancelled"]])
    assert (store.folder(ids["failed"]) / "work").exists() and (store.folder(fresh.id) / "work").exists()


def _a_stage_that_fails_inside_torch(self):
    return {"dataset": str(torch.ones(2, 3) @ torch.ones(2, 3))}


def test_a_job_that_fails_inside_torch_keeps_its_traceback_and_its_record_names_the_file(
    store, tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr(Pipeline, "data", _a_stage_that_fails_inside_torch)
    job = store.create(parse_spec(SPEC))
    ended = deliver(store, job.id, tmp_path)
    assert ended.state == "failed" and ended.error == "mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)"
    assert ended.traceback == str(store.folder(job.id) / "traceback.log")
    assert "_a_stage_that_fails_inside_torch" in Path(ended.traceback).read_text()
    logged = [r for r in caplog.records if r.name == "ganc.worker"]
    assert [r.exc_info is not None for r in logged] == [True]  # logged with its stack


def test_a_job_whose_input_is_refused_fails_with_its_line_and_no_traceback(store, tmp_path):
    job = store.create(parse_spec({**SPEC, "dataset": {"path": str(tmp_path / "absent")}}))
    ended = deliver(store, job.id, tmp_path)
    assert ended.state == "failed" and "absent" in ended.error and ended.traceback is None
    assert not (store.folder(job.id) / "traceback.log").exists()


def test_a_job_asking_for_a_gpu_this_worker_lacks_fails_with_its_line_before_any_work(store, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    job = store.create(parse_spec({**SPEC, "device": "cuda"}))
    ended = deliver(store, job.id, tmp_path)
    assert ended.state == "failed" and ended.error.startswith("device cuda: this machine has no CUDA device")
    assert ended.traceback is None and not store.work_folder(job.id).exists()


def test_progress_is_written_at_a_new_stage_a_new_total_and_a_stages_end_and_else_seldom(store):
    job = store.create(parse_spec(SPEC))
    published = []
    progress = JobProgress(store, job.id, published.append)
    progress("supernet", 1, 1500, "started")
    progress("supernet", 2, 1500, "")  # within the interval: not written
    progress("supernet", 18, 540, "max_minutes 25: 540 of 1500 steps kept")  # shortened to its time limit
    progress("supernet", 19, 540, "")
    progress("supernet", 540, 540, "")
    assert [(state["step"], state["total"]) for state in published] == [(1, 1500), (18, 540), (540, 540)]
    assert (store.get(job.id).step, store.get(job.id).total) == (540, 540)

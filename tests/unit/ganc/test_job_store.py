import pytest

from ganc.job_store import JobStore
from ganc.spec import parse_spec

SPEC = parse_spec({"family": "sr4x", "task": "sr4x", "dataset": {"sample": "sr4x"}, "search": {"macs_budgets": [2e9]}})


def test_a_job_is_created_queued_with_its_request(tmp_path):
    store = JobStore(tmp_path)
    record = store.create(SPEC)
    assert record.state == "queued" and record.family == "sr4x"
    assert store.get(record.id) == record
    assert store.spec(record.id) == SPEC


def test_updates_are_visible_and_recent_jobs_come_newest_first(tmp_path):
    store = JobStore(tmp_path)
    first, second = store.create(SPEC), store.create(SPEC)
    store.update(first.id, state="running", stage="teacher", step=3, total=10)
    assert store.get(first.id).stage == "teacher"
    assert [r.id for r in store.recent()] == [second.id, first.id]
    assert not [p for p in (tmp_path / first.id).iterdir() if p.name.startswith(".")]


def test_cancellation_is_a_request_the_worker_sees(tmp_path):
    store = JobStore(tmp_path)
    record = store.create(SPEC)
    assert not store.cancel_requested(record.id)
    store.request_cancel(record.id)
    assert store.cancel_requested(record.id)


@pytest.mark.parametrize("job_id", ["../x", "missing", "a/b", ""])
def test_unknown_or_unsafe_ids_are_not_found(tmp_path, job_id):
    with pytest.raises(KeyError):
        JobStore(tmp_path).get(job_id)

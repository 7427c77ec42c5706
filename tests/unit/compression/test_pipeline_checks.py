"""A spec that cannot run fails before the expensive work, and publishes nothing."""

import pytest

from compression.pipeline import run_pipeline
from ganc.spec import parse_spec

BASE = {
    "family": "tiny",
    "task": "sr4x",
    "dataset": {"sample": "sr4x", "size": 32},
    "teacher": {"ngf": 16, "n_blocks": 3, "steps": 2},
    "supernet": {"choices": "channels-16", "steps": 2},
    "search": {"macs_budgets": [1e12]},
}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"dataset": {"path": "/nonexistent/data"}}, "dataset folder /nonexistent/data does not exist"),
        ({"dataset": {"sample": "sr4x", "photos": "/nonexistent/photos"}}, "dataset.photos"),
        ({"teacher": {"checkpoint": "/nonexistent/teacher.pt"}}, "does not exist"),
        ({"supernet": {"choices": "channels-7"}}, "unknown choice set"),
        ({"search": {"macs_budgets": [1e6]}}, "no sub-network of 'channels-16' can meet the budget"),
        ({"search": {"latency_budgets_ms": [0.001]}}, "can meet the budget of 0.001 ms"),
        ({"search": {"macs_budgets": [1e12] * 300}}, "budgets but the choice set has only 256"),
        ({"search": {"macs_budgets": [1e12], "target": "onnxruntime-cuda"}}, "not available here"),
    ],
)
def test_impossible_specs_fail_before_training_and_publish_nothing(tmp_path, change, message):
    spec = parse_spec({**BASE, **change})
    with pytest.raises(Exception, match=message):
        run_pipeline(spec, tmp_path / "work", tmp_path / "repo", "job")
    assert not (tmp_path / "repo").exists()
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["spec.json"]

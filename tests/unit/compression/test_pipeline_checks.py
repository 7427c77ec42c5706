"""A spec that cannot run fails before the expensive work, and publishes nothing."""

from pathlib import Path

import pytest

from compression.pipeline import Pipeline, run_pipeline
from ganc.card import VariantCard
from ganc.repository import publish_variant, read_index
from ganc.spec import SpecError, parse_spec
from tests.support import card_fields

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
        ({"supernet": {"choices": "channels-16", "part_inputs": "teacher"}}, "use `channels-16-trunk-16`"),
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


def test_a_resumed_job_does_not_measure_the_budgets_it_found_reachable_again(tmp_path, monkeypatch):
    spec = parse_spec({**BASE, "search": {"latency_budgets_ms": [1000]}})
    pipeline = Pipeline(spec, tmp_path / "work", tmp_path / "repo", "job")
    pipeline.check()
    # The same job resumed on a machine so busy that the smallest sub-network now takes 2 s: not measured.
    monkeypatch.setattr("compression.pipeline.measure_model_ms", lambda *_args: 2000.0)
    pipeline.check()
    # Other budgets are checked anew.
    faster = parse_spec({**BASE, "search": {"latency_budgets_ms": [500]}})
    with pytest.raises(Exception, match="can meet the budget of 500 ms"):
        Pipeline(faster, tmp_path / "work", tmp_path / "repo", "job").check()


def test_a_job_publishes_only_into_families_it_made_unless_told_to_replace(tmp_path, tiny_onnx):
    publish_variant(tmp_path / "repo", tiny_onnx, VariantCard(**card_fields(tiny_onnx, job="first")))
    with pytest.raises(SpecError, match="'tiny' was made by job 'first'; choose another family, or set `replace"):
        run_pipeline(parse_spec(BASE), tmp_path / "work", tmp_path / "repo", "second")
    assert len(read_index(tmp_path / "repo").versions) == 1
    replacing = Pipeline(
        parse_spec({**BASE, "replace": True}), tmp_path / "w2", tmp_path / "repo", "second", progress=print
    )
    replacing.check_publishing()  # allowed
    Pipeline(
        parse_spec(BASE), tmp_path / "w3", tmp_path / "repo", "first", progress=print
    ).check_publishing()  # its own


def test_a_repository_that_cannot_be_written_is_refused_before_any_work(tmp_path):
    with pytest.raises(OSError, match="/proc/ganc-repository is not writable"):
        run_pipeline(parse_spec(BASE), tmp_path / "work", Path("/proc/ganc-repository"), "job")

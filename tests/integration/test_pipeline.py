"""A tiny spec runs the whole pipeline end to end, and the family it publishes loads in Triton."""

import json
import shutil
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient
from playwright.sync_api import sync_playwright

import compression.export.quantize as quantize_module
from compression.pipeline import MARKER, ResumeError, quantize_family, run_pipeline
from compression.training.distill import load_teacher
from ganc.card import INPUT_NAME, OUTPUT_NAME
from ganc.repository import derive_python_flavour, read_index
from ganc.spec import parse_spec
from tests.support import TINY

pytestmark = pytest.mark.integration

STAGES = ("data", "teacher", "distill", "supernet", "search", "finetune", "export", "publish")


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    events = []
    start = time.perf_counter()
    result = run_pipeline(parse_spec(TINY), root / "work", root / "repo", "job-1", progress=lambda *e: events.append(e))
    return root, result, events, time.perf_counter() - start


def test_pipeline_publishes_the_teacher_and_the_ladder(pipeline_run):
    root, result, events, _seconds = pipeline_run
    published = result["published"]
    assert set(published) == {
        "teacher",
        f"student-{json.loads((root / 'work/search/done.json').read_text())['ladder'][0]}",
    }
    index = read_index(root / "repo")
    assert index.problems == [] and len(index.versions) == 2
    for entry in index.versions:
        card = entry.card
        assert card.job == "job-1" and card.precision == "fp16" and card.task == "edges2photo"
        assert {"psnr", "ssim", "psnr_input"} <= set(card.quality)
        assert list(card.latency_ms) == ["onnxruntime-cpu-2t-64px"]
        if card.variant != "teacher":
            assert card.teacher == "tiny--teacher" and card.config and "psnr_teacher" in card.quality
    # Every published latency is the search's measurement (the teacher's too), not measured again at export.
    search = json.loads((root / "work/search/done.json").read_text())
    measured = {e.card.variant: e.card.latency_ms["onnxruntime-cpu-2t-64px"] for e in index.versions}
    teacher_ms = json.loads((root / "work/search/teacher.json").read_text())["latency_measured_ms"]
    assert measured["teacher"] == search["latency_ms"]["teacher"] == teacher_ms
    for stage in STAGES:
        assert (root / "work" / stage / MARKER).is_file()
    # The original path: the supernet starts from the distilled mobile student.
    supernet_config = json.loads((root / "work/supernet/run/config.json").read_text())
    assert supernet_config["init_from"] == str(root / "work/distill/run")
    # The students keep their teacher's weight on reconstruction (compression/training/distill.py decides it).
    assert load_teacher(root / "work/teacher/run").lambda_l1 == 200
    assert {e[0] for e in events} >= set(STAGES) | {"calibrate"}
    search = root / "work" / "search"
    assert json.loads((search / "candidates.json").read_text())
    assert (search / "pareto.png").stat().st_size > 10_000
    ladder = json.loads((search / "ladder.json").read_text())
    assert all(c["latency_measured_ms"] > 0 and c["latency_predicted_ms"] > 0 for c in ladder)
    # Candidates were ranked on 2 of the 3 images; the ladder is the best of the finalists scored on all 3.
    finalists = {c["config"]: c for c in json.loads((search / "finalists.json").read_text())}
    assert {c["config"] for c in ladder} <= set(finalists)
    screened = {c["config"]: c for c in json.loads((search / "candidates.json").read_text())}
    assert all(finalists[k]["score"] != screened[k]["score"] for k in finalists)
    calibration = json.loads((search / "latency_model.json").read_text())
    assert len(calibration["measured_ms"]) == 4 and calibration["model"]["table"]
    timing = json.loads((search / "timing.json").read_text())
    assert set(timing["seconds"]) == {"calibration", "candidates", "finalists", "ladder_latency", "teacher", "plot"}
    assert all(seconds > 0 for seconds in timing["seconds"].values())
    assert timing["evaluated"] == len(json.loads((search / "candidates.json").read_text()))


def test_resuming_a_finished_job_publishes_nothing_new(pipeline_run):
    root, result, _, _ = pipeline_run
    (root / "work" / "publish" / MARKER).unlink()  # as if the worker died while publishing
    again = run_pipeline(parse_spec(TINY), root / "work", root / "repo", "job-1", resume=True)
    assert _timeless(again) == _timeless(result)  # the same versions, found again: nothing published twice
    assert len(read_index(root / "repo").versions) == 2


def _timeless(outputs: dict) -> dict:
    return {k: v for k, v in outputs.items() if k != "seconds"}


def test_a_work_folder_in_use_is_not_reused_without_resume(pipeline_run):
    root, *_ = pipeline_run
    with pytest.raises(ValueError, match="pass --resume"):
        run_pipeline(parse_spec(TINY), root / "work", root / "repo", "job-2")


def test_the_published_family_serves_in_triton(pipeline_run, triton_factory, tmp_path):
    root, result, _, _ = pipeline_run
    derive_python_flavour(root / "repo", tmp_path / "python")
    server = triton_factory(tmp_path / "python")
    client = httpclient.InferenceServerClient(server.http_url)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 32, 48)).astype(np.float32)
    for entry in result["published"].values():
        client.load_model(entry["model"])
        tensor = httpclient.InferInput(INPUT_NAME, list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        output = client.infer(entry["model"], [tensor]).as_numpy(OUTPUT_NAME)
        assert output.shape == x.shape and np.isfinite(output).all()


def int8_rerun(pipeline_run, tmp_path, min_agreement_db: float) -> tuple[dict, dict, object]:
    """The finished job resumed with `int8:` in its spec, into a fresh repository: its export and publishing run
    again, the stages whose inputs changed."""
    root, *_ = pipeline_run
    work = tmp_path / "work"
    shutil.copytree(root / "work", work)
    spec = parse_spec({**TINY, "int8": {"min_agreement_db": min_agreement_db, "calibration_images": 4}})
    result = run_pipeline(spec, work, tmp_path / "repo", "job-1", resume=True, rerun_changed=True)
    return result, json.loads((work / "export" / MARKER).read_text()), read_index(tmp_path / "repo")


def test_int8_variants_that_agree_too_little_are_refused_and_leave_nothing(pipeline_run, tmp_path):
    result, export, index = int8_rerun(pipeline_run, tmp_path, min_agreement_db=200)
    assert set(export["int8"]) == set(result["published"]) == {e.card.variant for e in index.versions}
    for variant, check in export["int8"].items():
        assert check["published"] is False and "below 200 dB" in check["refused"]
        assert 0 < check["agreement_db"] < 200 and check["float_ms"] > 0 and check["int8_ms"] > 0
        assert not (tmp_path / "work" / "export" / f"{variant}-int8").exists()
    assert all(e.card.precision == "fp16" for e in index.versions)


def test_int8_variants_that_pass_are_published_beside_their_float_selves(pipeline_run, tmp_path, monkeypatch):
    # Whether INT8 is faster is the machine's to say, and this tiny family's is not: it is said to be, to follow the
    # pipeline's publishing path (tests/unit/compression/test_quantize.py decides by a real measurement).
    monkeypatch.setattr(quantize_module, "measure_onnx_ms", lambda paths, target: [20.0, 10.0])
    result, export, index = int8_rerun(pipeline_run, tmp_path, min_agreement_db=1)
    floats = {e.card.variant: e for e in index.versions if e.card.precision == "fp16"}
    int8s = {e.card.variant: e for e in index.versions if e.card.precision == "int8"}
    assert set(int8s) == {f"{variant}-int8" for variant in floats} and len(result["published"]) == 2 * len(floats)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 32, 48)).astype(np.float32)
    for variant, entry in floats.items():
        card = int8s[f"{variant}-int8"].card
        check = export["int8"][variant]
        assert check["published"] is True and card.float_agreement_db == check["agreement_db"] > 1
        assert card.quantized_from == entry.card.model_name and card.latency_ms == {"onnxruntime-cpu-2t-64px": 10.0}
        assert set(card.quality) == set(entry.card.quality) and card.macs == entry.card.macs
        assert card.config == entry.card.config and card.teacher == entry.card.teacher
        outputs = [
            ort.InferenceSession(str(e.onnx_path), providers=["CPUExecutionProvider"]).run(None, {INPUT_NAME: x})[0]
            for e in (entry, int8s[f"{variant}-int8"])
        ]
        assert outputs[1].shape == x.shape and 0 < np.abs(outputs[1] - outputs[0]).max() < 0.5


def test_quantize_adds_int8_variants_to_a_published_family_once(pipeline_run, tmp_path, monkeypatch):
    root, result, *_ = pipeline_run
    shutil.copytree(root / "repo", tmp_path / "repo")
    monkeypatch.setattr(quantize_module, "measure_onnx_ms", lambda paths, target: [20.0, 10.0])
    spec = parse_spec({**TINY, "int8": {"min_agreement_db": 1, "calibration_images": 4}})
    first = quantize_family(spec, tmp_path / "work", tmp_path / "repo")
    assert set(first["int8"]) == set(result["published"])
    assert all(check["published"] and check["model"].endswith("-int8") for check in first["int8"].values())
    again = quantize_family(spec, tmp_path / "work", tmp_path / "repo")  # the same cards: nothing new
    assert [c["version"] for c in again["int8"].values()] == [c["version"] for c in first["int8"].values()]
    index = read_index(tmp_path / "repo")
    assert index.problems == [] and len(index.versions) == 2 * len(result["published"])
    teacher = next(e.card for e in index.versions if e.card.variant == "teacher-int8")
    assert teacher.quantized_from == "tiny--teacher" and "psnr_teacher" not in teacher.quality  # paired: vs targets


def test_a_resume_runs_again_only_the_stages_whose_inputs_changed(pipeline_run, tmp_path):
    root, *_ = pipeline_run
    work, repo = tmp_path / "work", tmp_path / "repo"
    shutil.copytree(root / "work", work)
    shutil.copytree(root / "repo", repo)
    events = []
    run_pipeline(parse_spec(TINY), work, repo, "job-1", resume=True, progress=lambda *e: events.append(e))
    assert events == []  # the same spec: nothing runs again
    longer = {**TINY, "finetune": {**TINY["finetune"], "steps": [4]}}  # one number per budget
    with pytest.raises(ResumeError, match=r"stage finetune was run with other inputs \(finetune\.steps\)"):
        run_pipeline(parse_spec(longer), work, repo, "job-1", resume=True)
    assert events == [] and len(read_index(repo).versions) == 2  # refused before any work
    run_pipeline(
        parse_spec(longer), work, repo, "job-1", resume=True, rerun_changed=True, progress=lambda *e: events.append(e)
    )
    assert ("finetune", 0, 1, "runs again: finetune.steps changed") in events
    assert [e[0] for e in events if e[3] == "done"] == ["finetune", "export", "publish"]
    finetuned = next(p for p in (work / "finetune").iterdir() if p.is_dir())
    assert json.loads((finetuned / "config.json").read_text())["training"]["steps"] == 4


def test_a_published_teacher_is_compressed_again_and_its_students_judged_on_the_targets(pipeline_run, tmp_path):
    root, *_ = pipeline_run
    repo = tmp_path / "repo"
    shutil.copytree(root / "repo", repo)
    teacher_folder = repo / "tiny--teacher"
    spec = {**TINY, "teacher": {"checkpoint": str(teacher_folder)}}
    result = run_pipeline(parse_spec(spec), tmp_path / "work", repo, "job-1")
    assert load_teacher(tmp_path / "work" / "teacher" / "imported.pt").kind == "imported"  # read back once
    # The teacher is exported again byte for byte as served, so its version stays: nothing republished.
    assert result["published"]["teacher"]["version"] == 1
    assert sorted(p.name for p in teacher_folder.iterdir() if p.is_dir()) == ["1"]
    # The students learnt the teacher's outputs; the data has targets, so cards and gate judge on them.
    gate = json.loads((tmp_path / "work" / "export" / "done.json").read_text())["gate"]
    val_input = json.loads((root / "work" / "export" / "done.json").read_text())["gate"]
    assert gate and all(v["floor_db"] == next(iter(val_input.values()))["floor_db"] for v in gate.values())
    for student, verdict in gate.items():
        card = json.loads((tmp_path / "work" / "export" / student / "card.json").read_text())
        assert card["quality_against"] == "target" and verdict["score_db"] == card["quality"]["psnr"]
        assert "psnr_teacher" in card["quality"]


def test_the_job_writes_a_report_whose_numbers_are_the_cards_and_whose_images_load(pipeline_run):
    root, result, _, _ = pipeline_run
    report = Path(result["report"])
    assert report == root / "work" / "report.html"
    cards = {e.card.variant: e.card for e in read_index(root / "repo").versions}
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: apt-get install chromium (.ci/run does)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(report.as_uri())
            images = page.locator("img")
            assert images.count() == 2  # the photos and the search's front, inline
            for i in range(images.count()):
                assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
            for variant, card in cards.items():
                cells = page.locator(f'tr[data-variant="{variant}"] td').all_inner_texts()
                assert cells[1] == f"{card.macs / 1e9:.3f}G" and cells[3] == f"{card.params / 1e6:.3f}M", variant
                assert cells[4] == f"{next(iter(card.latency_ms.values())):.1f} ms", variant
                assert cells[5] == f"{card.quality['psnr']:.2f} dB" and cells[-1] == "published", variant
        finally:
            browser.close()

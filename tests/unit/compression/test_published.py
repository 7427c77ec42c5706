"""Variants published in a ganc model repository read back into the generators they were exported from."""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from compression.checkpoint import generator_of, load_generator
from compression.export import export_onnx
from compression.foreign import as_ganc_checkpoint
from compression.models import ModelSpec
from compression.published import PublishedVariantError, published_payload
from compression.stage_inputs import stage_fields
from compression.training.distill import load_teacher
from ganc.card import INPUT_NAME, VariantCard
from ganc.cli.compress import load_spec_file
from ganc.cli.main import app
from ganc.repository import publish_variant
from ganc.spec import parse_spec
from tests.support.foreign_generators import randomised
from tests.support.samples import TINY, card_fields

TEACHER = ModelSpec("resnet", {"ngf": 8, "n_blocks": 3, "residual": True})
STUDENT = ModelSpec("sub_mobile_resnet", {"config": "8_8_16_8_8_8_8_8", "n_blocks": 3, "residual": True})


def publish(root, tmp_path, spec: ModelSpec, variant: str, seed: int = 0, fp16: bool = True, **card) -> torch.nn.Module:
    model = randomised(spec.build(), seed)
    onnx_path = tmp_path / f"{variant}-{seed}.onnx"
    export_onnx(model, onnx_path, fp16=fp16)
    fields = card_fields(onnx_path, variant=variant, architecture=spec.arch, architecture_options=spec.options)
    publish_variant(root, onnx_path, VariantCard(**{**fields, "precision": "fp16" if fp16 else "fp32", **card}))
    return model


def onnx_output(path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT_NAME: x.numpy()})[0]


@pytest.mark.parametrize("spec, variant", [(TEACHER, "teacher"), (STUDENT, "student-8_8_16_8_8_8_8_8")])
@pytest.mark.parametrize("fp16", [True, False])
def test_a_published_variant_reads_back_as_the_weights_it_serves(tmp_path, spec, variant, fp16):
    root = tmp_path / "repo"
    original = publish(root, tmp_path, spec, variant, fp16=fp16)
    folder = root / f"tiny--{variant}"
    payload = published_payload(folder)
    read_spec, model = generator_of(payload, folder)
    assert read_spec == spec and payload["imported_from"]["format"] == "ganc-variant"
    # The student's output convolution was folded for onnxruntime (thin_output.py): it comes back unfolded.
    served = {k: v.half().float() if fp16 else v for k, v in original.state_dict().items()}
    for key, value in model.state_dict().items():
        assert torch.equal(value, served[key]), key
    x = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        assert np.abs(model(x).numpy() - onnx_output(folder / "1" / "model.onnx", x)).max() < 1e-4


def test_the_latest_version_is_read_unless_a_version_is_named(tmp_path):
    root = tmp_path / "repo"
    first = publish(root, tmp_path, TEACHER, "teacher", seed=0)
    second = publish(root, tmp_path, TEACHER, "teacher", seed=1)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    for folder, expected, other in [
        (root / "tiny--teacher", second, first),
        (root / "tiny--teacher" / "1", first, second),
    ]:
        _, model = generator_of(published_payload(folder), folder)
        with torch.no_grad():
            assert (model(x) - expected(x)).abs().max() < 1e-2 < (model(x) - other(x)).abs().max()


def test_ganc_import_writes_a_published_teacher_as_a_checkpoint(tmp_path):
    root = tmp_path / "repo"
    original = publish(root, tmp_path, TEACHER, "teacher")
    out = tmp_path / "teacher.pt"
    result = CliRunner().invoke(app, ["import", str(root / "tiny--teacher"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["format"] == "ganc-variant" and summary["arch"] == "resnet"
    spec, model = load_generator(out)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert spec == TEACHER and (model(x) - original(x)).abs().max() < 1e-2


def test_a_spec_compresses_a_published_teacher_and_notices_a_new_version(tmp_path):
    root = tmp_path / "repo"
    publish(root, tmp_path, TEACHER, "teacher")
    folder = root / "tiny--teacher"
    teacher = load_teacher(folder)
    assert teacher.kind == "imported" and teacher.spec == TEACHER and teacher.checkpoint == folder
    imported = as_ganc_checkpoint(folder, tmp_path / "imported.pt")
    assert imported == tmp_path / "imported.pt" and load_generator(imported)[0] == TEACHER
    spec = parse_spec({**TINY, "teacher": {"checkpoint": str(folder), "residual": True}})
    before = stage_fields(spec)["teacher"]["checkpoint"]
    publish(root, tmp_path, TEACHER, "teacher", seed=1)
    assert before is not None and stage_fields(spec)["teacher"]["checkpoint"] != before


def test_variants_that_cannot_be_read_back_get_one_line_and_nothing_is_written(tmp_path):
    root = tmp_path / "repo"
    publish(root, tmp_path, TEACHER, "teacher", architecture_options={**TEACHER.options, "n_blocks": 6})
    publish(root, tmp_path, STUDENT, "quantized", precision="int8", quantized_from="tiny--s8")
    (tmp_path / "empty").mkdir()
    (tmp_path / "torn" / "1").mkdir(parents=True)
    (tmp_path / "torn" / "1" / "card.json").write_text("{not json")
    cases = {
        tmp_path / "torn": "torn/1/card.json is no variant card: Invalid JSON",
        root / "tiny--teacher": "lacks the weights blocks.3.conv_block.1.weight",
        root / "tiny--quantized": "is an INT8 variant: import the float variant it came from",
        tmp_path / "empty": "is no published variant: no card.json in it or in a version folder",
    }
    for folder, message in cases.items():
        out = tmp_path / "t.pt"
        result = CliRunner().invoke(app, ["import", str(folder), "--out", str(out), "--format", "ganc-variant"])
        assert result.exit_code == 1 and message in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()
    with pytest.raises(PublishedVariantError, match="no published variant"):
        published_payload(tmp_path / "empty")


def test_the_committed_sr4x_spec_reads_its_teacher_from_the_shipped_repository(monkeypatch):
    root = Path(__file__).parents[3]
    monkeypatch.chdir(root)  # the spec's paths are relative to the checkout, as the README runs it
    spec = load_spec_file(root / "deploy" / "specs" / "sr4x.yaml")
    teacher = load_teacher(spec.teacher.checkpoint)  # checked against the ONNX file as it is read back
    assert teacher.kind == "imported" and not spec.publish_teacher
    assert teacher.spec == ModelSpec("resnet", {"ngf": 64, "norm": "instance", "residual": True, "n_blocks": 9})

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from compression.export import ExportError, export_onnx, make_card, verify_onnx
from compression.models import ModelSpec
from ganc.card import INPUT_NAME, OUTPUT_NAME

SPEC = ModelSpec("sub_mobile_resnet", {"config": "8_8_16_8_8_16_8_8", "n_blocks": 3})


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    return SPEC.build().eval()


def test_export_has_dynamic_batch_height_and_width(student, tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(student, path)
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version >= 17
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in [(1, 3, 8, 12), (3, 3, 40, 24)]:
        x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
        y = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
        with torch.no_grad():
            np.testing.assert_allclose(y, student(torch.from_numpy(x)).numpy(), atol=1e-4)


def test_verify_reports_a_small_difference(student, tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(student, path)
    assert verify_onnx(student, path) <= 1e-4


def test_verify_catches_a_graph_that_differs(student, tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(student, path)
    other = SPEC.build().eval()
    with pytest.raises(ExportError, match="differs from PyTorch"):
        verify_onnx(other, path)


def test_fp16_weights_halve_the_file_and_keep_fp32_io(student, tmp_path):
    full, half = tmp_path / "full.onnx", tmp_path / "half.onnx"
    export_onnx(student, full)
    export_onnx(student, half, fp16=True)
    assert half.stat().st_size < 0.7 * full.stat().st_size
    proto = onnx.load(str(half))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert verify_onnx(student, half, fp16=True) <= 1e-4


def test_card_carries_the_computed_figures(student, tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(student, path)
    card = make_card(
        SPEC, student, path, family="tiny", variant="s8", task="sr4x", teacher="tiny--teacher", job="job-1"
    )
    assert card.model_name == "tiny--s8"
    assert card.config == "8_8_16_8_8_16_8_8"
    assert card.size_multiple == 4
    assert card.macs > card.macs_real > 0
    assert card.params == sum(p.numel() for p in student.parameters())
    assert card.teacher == "tiny--teacher" and card.job == "job-1"
    assert card.tile_statistics == "image"  # it has InstanceNorm layers: its tiles share the image's statistics


def test_a_generator_without_norm_layers_runs_its_tiles_on_their_own(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.Tanh()).eval()
    path = tmp_path / "plain.onnx"
    export_onnx(model, path)
    spec = ModelSpec("plain", {})
    assert make_card(spec, model, path, family="tiny", variant="plain", task="sr4x").tile_statistics == "tile"

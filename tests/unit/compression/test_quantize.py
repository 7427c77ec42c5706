import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from compression.export import export_onnx
from compression.export.quantize import (
    MIN_INT8_SPEEDUP,
    Int8Check,
    OnnxGenerator,
    centre,
    export_int8,
    quantize_int8,
)
from compression.metrics.quality import generate, psnr
from compression.models import ModelSpec
from compression.search.latency import LatencyTarget
from ganc.card import INPUT_NAME, OUTPUT_NAME, VariantCard
from tests.support import card_fields

SPEC = ModelSpec("sub_mobile_resnet", {"config": "8_8_16_8_8_16_8_8", "n_blocks": 3})


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = SPEC.build().eval()
    path = tmp_path_factory.mktemp("quantize") / "fp16.onnx"
    export_onnx(model, path, fp16=True)
    return model, path


def inputs(count: int, side: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, (1, 3, side, side)).astype(np.float32) for _ in range(count)]


def test_an_int8_model_quantises_the_convolutions_and_keeps_fp32_io(exported, tmp_path):
    _model, path = exported
    out = tmp_path / "int8.onnx"
    quantize_int8(path, out, inputs(4, 32), 4)
    proto = onnx.load(str(out))
    ops = {node.op_type for node in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert "Cast" not in ops  # the FP16-stored weights were turned back into FP32 before quantising
    int8_weights = [i for i in proto.graph.initializer if i.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) >= sum(n.op_type == "Conv" for n in proto.graph.node)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (y,) = session.run([OUTPUT_NAME], {INPUT_NAME: inputs(1, 48, seed=1)[0]})  # another size than calibration
    assert y.shape == (1, 3, 48, 48) and y.dtype == np.float32 and np.isfinite(y).all()


def test_the_int8_model_stays_close_to_its_float_self(exported, tmp_path):
    _model, path = exported
    out = tmp_path / "int8.onnx"
    quantize_int8(path, out, inputs(8, 32), 4)
    images = [torch.from_numpy(x[0]) for x in inputs(3, 32, seed=2)]
    float_outputs = generate(OnnxGenerator(path, 4), images)
    agreement = np.mean([psnr(o, r) for o, r in zip(generate(OnnxGenerator(out, 4), images), float_outputs)])
    assert 25 < agreement < 100  # close, and not the float model itself


def test_an_onnx_generator_computes_what_the_torch_model_computes(exported, tmp_path):
    model, _path = exported
    fp32 = tmp_path / "fp32.onnx"
    export_onnx(model, fp32)
    images = [torch.from_numpy(x[0]) for x in inputs(2, 16)]
    for ours, theirs in zip(generate(OnnxGenerator(fp32, 4), images), generate(model, images)):
        torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)


def test_an_int8_model_is_refused_when_it_agrees_too_little_or_is_not_faster():
    assert Int8Check(agreement_db=45.0, float_ms=20.0, int8_ms=12.0).refusal(40.0) is None
    assert "35.00 dB, below 40 dB" in Int8Check(35.0, 20.0, 12.0).refusal(40.0)
    assert "not 1.1x faster than its float self (25.0 ms against 20.0 ms)" in Int8Check(45.0, 20.0, 25.0).refusal(40.0)
    assert "not 1.1x faster" in Int8Check(45.0, 20.0, 19.0).refusal(40.0)  # 5% is within the timings' swing


def test_calibration_inputs_are_cut_to_their_centre_in_whole_size_multiples():
    image = np.arange(2 * 300 * 200, dtype=np.float32).reshape(1, 2, 300, 200)
    cut = centre(image, 4)
    assert cut.shape == (1, 2, 128, 128)
    np.testing.assert_array_equal(cut, image[:, :, 86:214, 36:164])
    assert centre(image, 256).shape == (1, 2, 256, 200)  # a U-Net's multiple: as much as fits
    assert centre(image[:, :, :64, :96], 4).shape == (1, 2, 64, 96)  # smaller inputs stay whole


def test_an_int8_model_is_published_or_refused_by_the_latencies_measured_for_real(tmp_path):
    # A dense stack of 64-channel convolutions: where INT8 kernels pay (2.8x faster on a CPU with VNNI). Whether
    # it is faster is this machine's to say; what is tested is that the decision follows what was measured.
    torch.manual_seed(0)
    layers = [nn.Conv2d(3, 64, 3, padding=1), nn.ReLU()]
    layers += [layer for _ in range(4) for layer in (nn.Conv2d(64, 64, 3, padding=1), nn.ReLU())]
    model = nn.Sequential(*layers, nn.Conv2d(64, 3, 3, padding=1), nn.Tanh()).eval()
    float_path = tmp_path / "float.onnx"
    export_onnx(model, float_path)
    card = VariantCard(**card_fields(float_path, size_multiple=1))
    val = [(f"{i}", torch.from_numpy(x[0]), torch.from_numpy(x[0])) for i, x in enumerate(inputs(2, 64, seed=3))]
    folder = tmp_path / "s8-int8"
    int8_card, report = export_int8(
        float_path,
        card,
        folder,
        calibration=inputs(4, 64),
        val=val,
        references=None,
        target=LatencyTarget(size=64),
        min_agreement_db=1.0,
    )
    assert report["float_ms"] > 0 and report["int8_ms"] > 0 and report["agreement_db"] > 1.0
    assert (
        report["published"] == (report["int8_ms"] * MIN_INT8_SPEEDUP <= report["float_ms"]) == (int8_card is not None)
    )
    if int8_card is not None:
        assert int8_card.precision == "int8" and int8_card.latency_ms == {"onnxruntime-cpu-2t-64px": report["int8_ms"]}
        assert VariantCard.model_validate_json((folder / "card.json").read_text()) == int8_card
    else:
        assert "faster than its float self" in report["refused"] and not folder.exists()

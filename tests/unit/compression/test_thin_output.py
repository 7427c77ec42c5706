import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from compression.export import export_onnx
from compression.export.thin_output import fold_thin_output_conv
from compression.models import ModelSpec


def conv_graph(channels_out: int, kernel: int, bias: bool = True, **attributes) -> onnx.ModelProto:
    rng = np.random.default_rng(kernel)
    weights = [numpy_helper.from_array(rng.standard_normal((channels_out, 5, kernel, kernel)).astype(np.float32), "w")]
    inputs = ["x", "w"]
    if bias:
        weights.append(numpy_helper.from_array(rng.standard_normal(channels_out).astype(np.float32), "b"))
        inputs.append("b")
    node = helper.make_node("Conv", inputs, ["y"], kernel_shape=[kernel, kernel], **attributes)
    graph = helper.make_graph(
        [node],
        "thin",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 5, None, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, channels_out, None, None])],
        weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def run(proto: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]


@pytest.mark.parametrize("kernel", [3, 5, 7])
@pytest.mark.parametrize("bias", [True, False])
def test_folded_convolution_computes_the_same_sums(kernel, bias):
    original = conv_graph(3, kernel, bias)
    folded = onnx.ModelProto.FromString(original.SerializeToString())
    assert fold_thin_output_conv(folded, size_multiple=4)
    onnx.checker.check_model(folded)
    assert [node.op_type for node in folded.graph.node] == ["SpaceToDepth", "Conv", "DepthToSpace"]
    assert {initializer.name for initializer in folded.graph.initializer}.isdisjoint({"w", "b"})
    x = np.random.default_rng(1).standard_normal((2, 5, 14, 20)).astype(np.float32)
    expected = run(original, x)
    actual = run(folded, x)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, atol=1e-4)


@pytest.mark.parametrize(
    "proto, size_multiple",
    [
        (conv_graph(8, 7), 4),  # a full SIMD block: nothing to save
        (conv_graph(3, 4), 4),  # even kernel: the folded output would be one pixel off
        (conv_graph(3, 7, strides=[2, 2]), 4),
        (conv_graph(3, 7, pads=[3, 3, 3, 3]), 4),
        (conv_graph(3, 7), 1),  # odd input sizes allowed: SpaceToDepth would refuse them
    ],
)
def test_other_convolutions_are_left_alone(proto, size_multiple):
    before = proto.SerializeToString()
    assert not fold_thin_output_conv(proto, size_multiple)
    assert proto.SerializeToString() == before


def test_exported_generator_folds_its_output_layer(tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(ModelSpec("mobile_resnet", {"ngf": 8, "n_blocks": 3}).build(), path)
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert ops.count("SpaceToDepth") == ops.count("DepthToSpace") == 1
    assert ops.index("DepthToSpace") > max(index for index, op in enumerate(ops) if op == "Conv")

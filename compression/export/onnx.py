"""Export generators to ONNX (dynamic batch, height and width) and check them against PyTorch."""

import copy
import math
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from ganc.atomic import replacing
from ganc.card import INPUT_NAME, OUTPUT_NAME

from .thin_output import fold_thin_output_conv

OPSET = 17
TOLERANCE = 1e-4


class ExportError(RuntimeError):
    """The exported graph does not reproduce the PyTorch model."""


def size_multiple(model: nn.Module) -> int:
    return int(getattr(model, "size_multiple", 1))


def export_onnx(
    model: nn.Module,
    path: Path,
    channels_in: int = 3,
    fp16: bool = False,
    opset: int = OPSET,
    fold_output: bool = True,
) -> None:
    """Write `model` to `path` with FP32 input and output [N, C, H, W]; `fp16` stores weights in half precision;
    `fold_output` rewrites a thin output convolution as thin_output.py explains (bench/thin_output.py turns it off
    to measure what it saves)."""
    model = copy.deepcopy(model).cpu().eval()  # trained on a GPU or not, exported (and measured) from the CPU
    multiple = size_multiple(model)
    side = _trace_side(multiple)
    example = torch.zeros(1, channels_in, side, side)
    axes = {0: "batch", 2: "height", 3: "width"}
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as temporary:
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter warns about constant folding and instance-norm training
            # flags that do not apply to inference graphs.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example,),
                str(temporary),
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
            )
        proto = onnx.load(str(temporary))
        if fold_output:
            fold_thin_output_conv(proto, multiple)
        if fp16:
            _store_weights_in_fp16(proto)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(temporary))


def verify_onnx(model: nn.Module, path: Path, channels_in: int = 3, fp16: bool = False, seed: int = 0) -> float:
    """Run the ONNX file and the PyTorch model on random inputs at two sizes; return the max abs difference.

    With `fp16`, the reference is the PyTorch model with its weights rounded to half precision,
    which is exactly what the file stores. Raises ExportError above the tolerance.
    """
    reference = copy.deepcopy(model).eval()
    if fp16:
        with torch.no_grad():
            for tensor in [*reference.parameters(), *reference.buffers()]:
                if tensor.is_floating_point():
                    tensor.copy_(tensor.half().float())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    multiple = size_multiple(model)
    side = _trace_side(multiple)
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    for batch, height, width in ((1, side, side), (2, side + multiple, side + 2 * multiple)):
        x = torch.rand(batch, channels_in, height, width, generator=generator) * 2 - 1
        with torch.no_grad():
            expected = reference(x).numpy()
        actual = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
        if actual.shape != expected.shape:
            raise ExportError(f"ONNX output shape {actual.shape} differs from PyTorch's {expected.shape}")
        worst = max(worst, float(np.abs(actual - expected).max()))
    if worst > TOLERANCE:
        raise ExportError(f"ONNX output differs from PyTorch by {worst:.2e} (tolerance {TOLERANCE:.0e})")
    return worst


def _trace_side(multiple: int) -> int:
    return multiple * max(1, math.ceil(64 / multiple))


def _store_weights_in_fp16(proto: onnx.ModelProto) -> None:
    """Store float initializers as FP16 and cast them back to FP32 at load: half the file, FP32 compute.

    onnxruntime folds these casts when it builds the session, so inference pays nothing for them.
    """
    graph = proto.graph
    casts = []
    for initializer in graph.initializer:
        if initializer.data_type != TensorProto.FLOAT:
            continue
        name = initializer.name
        half = numpy_helper.from_array(numpy_helper.to_array(initializer).astype(np.float16), f"{name}__fp16")
        initializer.CopyFrom(half)
        casts.append(helper.make_node("Cast", [f"{name}__fp16"], [name], to=TensorProto.FLOAT, name=f"{name}__cast"))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)

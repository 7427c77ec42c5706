"""INT8 variants: onnxruntime's static quantisation of an exported generator, and the checks before it is published.

QDQ format, per-channel INT8 weights, UINT8 activations whose ranges are calibrated (percentiles of
histograms, which kept 1-4 dB more agreement than min-max on the shipped generators) on `train2`
inputs. The convolutions' outputs are re-quantised to 8 bits with one range for all images, while
InstanceNorm exists because those ranges differ per image: so an INT8 generator can lose far more
than its weights' rounding suggests, and each one is checked against its float self before it ships.
"""

import contextlib
import io
import shutil
import statistics
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from torch import nn

from ganc.atomic import replacing, write_text_atomically
from ganc.card import INPUT_NAME, OUTPUT_NAME, VariantCard
from ganc.repository import sha256_file

from ..metrics import evaluate_generator
from ..metrics.quality import generate, psnr
from ..search.latency import LatencyTarget, measure_onnx_ms

# Only the convolutions: with InstanceNorm and the residual additions quantised as well, the sr4x teacher
# agreed with its float self at 36 dB instead of 47 and ran no faster (onnxruntime 1.31, Xeon with AMX).
QUANTISED_OPS = ["Conv"]
# An INT8 variant ships only if it runs this much faster than its float self: at parity, the few percent by which
# interleaved timings swing on a shared host let one through at random (the sr4x student 32_32_24_24_16_16_32_8
# measured 4% faster at export and 7% slower in bench/compress_report.py minutes later, 2026-12-07).
MIN_INT8_SPEEDUP = 1.1
# onnxruntime's histogram calibrator keeps every activation of every calibration input until it has seen them
# all (about 200 MB per 256x384 photo for a ResNet teacher), so inputs are cut to their centre first.
CALIBRATION_SIDE = 128


def float_weights(path: Path, out: Path) -> None:
    """The model with its FP16-stored weights turned back into FP32 initializers (no Cast nodes)."""
    model = onnx.load(str(path))
    graph = model.graph
    halves = {i.name: i for i in graph.initializer if i.data_type == TensorProto.FLOAT16}
    casts = [n for n in graph.node if n.op_type == "Cast" and n.input[0] in halves]
    for cast in casts:
        weight = numpy_helper.to_array(halves.pop(cast.input[0])).astype(np.float32)
        graph.initializer.append(numpy_helper.from_array(weight, cast.output[0]))
        graph.node.remove(cast)
    kept = [i for i in graph.initializer if i.data_type != TensorProto.FLOAT16 or i.name in halves]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.save(model, str(out))


class _Inputs(CalibrationDataReader):
    def __init__(self, images: Iterable[np.ndarray]) -> None:
        self.images = iter(images)

    def get_next(self) -> dict | None:
        image = next(self.images, None)
        return None if image is None else {INPUT_NAME: image}


def centre(image: np.ndarray, size_multiple: int) -> np.ndarray:
    """The central CALIBRATION_SIDE square of a [1, C, H, W] input (rounded up to the model's size multiple)."""
    side = -(-CALIBRATION_SIDE // size_multiple) * size_multiple
    height, width = image.shape[2:]
    top, left = max(0, (height - side) // 2), max(0, (width - side) // 2)
    return image[:, :, top : top + side, left : left + side]


def quantize_int8(model_path: Path, out: Path, calibration: Iterable[np.ndarray], size_multiple: int) -> None:
    """Write the INT8 (QDQ) model of the ONNX file `model_path` to `out`; `calibration` are [1, C, H, W] inputs
    whose height and width are multiples of `size_multiple`."""
    with tempfile.TemporaryDirectory() as scratch:
        fp32, prepared = Path(scratch) / "fp32.onnx", Path(scratch) / "prepared.onnx"
        float_weights(model_path, fp32)
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        # onnxruntime's calibrator prints its progress; the pipeline reports its own.
        with replacing(out) as temporary, contextlib.redirect_stdout(io.StringIO()):
            quantize_static(
                str(prepared),
                str(temporary),
                _Inputs(centre(image, size_multiple) for image in calibration),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.Percentile,
                op_types_to_quantize=QUANTISED_OPS,
            )


class OnnxGenerator(nn.Module):
    """An ONNX generator run by onnxruntime on the CPU, as a module that evaluate_generator can judge."""

    def __init__(self, path: Path, size_multiple: int, threads: int = 2) -> None:
        super().__init__()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.size_multiple = size_multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (y,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy().astype(np.float32)})
        return torch.from_numpy(y)


@dataclass(frozen=True)
class Int8Check:
    """What decides whether an INT8 model ships: its agreement with its float self and both latencies."""

    agreement_db: float  # PSNR of the INT8 output against the float one on `val`
    float_ms: float
    int8_ms: float

    def refusal(self, min_agreement_db: float) -> str | None:
        """Why it must not be published, or None when it may."""
        if self.agreement_db < min_agreement_db:
            return f"agrees with its float self at {self.agreement_db:.2f} dB, below {min_agreement_db:g} dB"
        if self.int8_ms * MIN_INT8_SPEEDUP > self.float_ms:
            return (
                f"not {MIN_INT8_SPEEDUP:g}x faster than its float self ({self.int8_ms:.1f} ms against "
                f"{self.float_ms:.1f} ms)"
            )
        return None


def int8_variant(variant: str) -> str:
    return f"{variant}-int8"


def export_int8(
    float_path: Path,
    float_card: VariantCard,
    folder: Path,
    *,
    calibration: Iterable[np.ndarray],
    val: list,
    references: list[torch.Tensor] | None,
    target: LatencyTarget,
    min_agreement_db: float,
) -> tuple[VariantCard | None, dict[str, Any]]:
    """The INT8 model of an exported float variant, written with its card into `folder` when it passes the checks
    (judged on `val` as the float one was: against the targets, and against `references`, the teacher's outputs,
    where given); when refused, None and nothing kept. Also the figures that decided."""
    onnx_path = folder / "model.onnx"
    quantize_int8(float_path, onnx_path, calibration, float_card.size_multiple)
    int8 = OnnxGenerator(onnx_path, float_card.size_multiple, target.threads)
    inputs = [a for _name, a, _b in val]
    float_outputs = generate(OnnxGenerator(float_path, float_card.size_multiple, target.threads), inputs)
    agreement = statistics.fmean(psnr(o, r) for o, r in zip(generate(int8, inputs), float_outputs))
    float_ms, int8_ms = measure_onnx_ms([float_path, onnx_path], target)
    refusal = Int8Check(agreement, float_ms, int8_ms).refusal(min_agreement_db)
    report = {"agreement_db": round(agreement, 2), "float_ms": round(float_ms, 3), "int8_ms": round(int8_ms, 3)}
    if refusal is not None:
        shutil.rmtree(folder)
        return None, {**report, "published": False, "refused": refusal}
    quality = evaluate_generator(int8, val, references, float_card.quality_against == "target")
    card = VariantCard.model_validate(
        {
            **float_card.model_dump(),
            "variant": int8_variant(float_card.variant),
            "precision": "int8",
            "quality": {k: round(v, 4) for k, v in quality.items()},
            "latency_ms": {target.name: round(int8_ms, 3)},
            "quantized_from": float_card.model_name,
            "float_agreement_db": round(agreement, 2),
            "created_at": datetime.now(UTC),
            "onnx_sha256": sha256_file(onnx_path),
        }
    )
    write_text_atomically(folder / "card.json", card.model_dump_json(indent=2) + "\n")
    return card, {**report, "published": True}

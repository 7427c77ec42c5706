"""Small inputs the tests share: a variant card's fields, a PNG, a tiny compression spec."""

import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper
from PIL import Image

from ganc.card import INPUT_NAME, OUTPUT_NAME
from ganc.repository import sha256_file

# A whole compression job in seconds: a 16-channel teacher, a few steps per stage, 32-pixel images. Edges to
# photos, because its students beat their input (edges) within those few steps: students no closer to the
# targets than the input are not published (compression/export/gate.py), and a few steps cannot restore sr4x.
TINY = {
    "family": "tiny",
    "task": "edges2photo",
    "dataset": {"sample": "edges2photo", "size": 32},
    "teacher": {
        "ngf": 16,
        "n_blocks": 3,
        "ndf": 8,
        "steps": 12,
        "batch_size": 2,
        "every": 6,
        "lambda_l1": 200,
    },
    "supernet": {
        "path": "original",
        "distill_steps": 6,
        "choices": "channels-16",
        "steps": 12,
        "batch_size": 2,
        "every": 6,
    },
    "search": {
        "macs_budgets": [1e12],
        "calibration_samples": 4,
        "method": "evolution",
        "population_size": 6,
        "iterations": 2,
        "eval_images": 3,
        "screen_images": 2,
        "size": 64,
    },
    "finetune": {"steps": 2, "batch_size": 2, "every": 2},
    "fp16": True,
}


def card_fields(onnx_path: Path, **overrides) -> dict:
    """The fields of a valid variant card for `onnx_path`, with `overrides`."""
    fields = dict(
        family="tiny",
        variant="s8",
        task="sr4x",
        architecture="sub_mobile_resnet",
        architecture_options={"config": "8_8_8_8_8_8_8_8", "n_blocks": 3},
        config="8_8_8_8_8_8_8_8",
        macs=1000,
        macs_real=800,
        params=100,
        size_multiple=4,
        opset=17,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        onnx_sha256=sha256_file(onnx_path),
    )
    fields.update(overrides)
    return fields


def png(width: int = 48, height: int = 32, seed: int = 0) -> bytes:
    """A PNG of random RGB noise."""
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def identity_onnx(path):
    """A real ONNX model that returns its input: what tiles blend into must be the image itself."""
    shape = ["batch", 3, "height", "width"]
    graph = helper.make_graph(
        [helper.make_node("Identity", [INPUT_NAME], [OUTPUT_NAME])],
        "identity",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, shape)],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path

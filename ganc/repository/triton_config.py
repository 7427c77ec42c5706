"""Triton `config.pbtxt` for a published variant and its statistics forms, in the canonical and the
Python-backend flavour.

Both flavours declare the same tensors (FP32, dynamic batch; images [N, C, H, W] with dynamic height and width,
statistics [N, S]), so a client cannot tell which flavour serves it.
"""

from pathlib import Path
from typing import Literal

from ..card import (
    INPUT_NAME,
    OUTPUT_NAME,
    STATISTICS_INPUT,
    STATISTICS_OUTPUT,
    StatisticsForm,
    VariantCard,
    form_model_name,
)

MAX_BATCH_SIZE = 8
QUEUE_DELAY_US = 1000

Flavour = Literal["onnxruntime", "python"]
# What each version folder of a Python-flavour model holds besides model.onnx.
PYTHON_MODEL = Path(__file__).with_name("python_backend") / "model.py"


def render_config(
    card: VariantCard,
    flavour: Flavour = "onnxruntime",
    form: StatisticsForm | None = None,
    max_batch_size: int = MAX_BATCH_SIZE,
) -> str:
    """The config.pbtxt text of `card`'s model, or of one of its statistics forms, in `flavour`."""
    name = card.model_name if form is None else form_model_name(card.model_name, form)
    image_in = _tensor(INPUT_NAME, [card.channels_in, -1, -1])
    inputs = [image_in, _tensor(STATISTICS_INPUT, [-1])] if form == "tiles" else [image_in]
    image_out = _tensor(OUTPUT_NAME, [card.channels_out, -1, -1])
    output = _tensor(STATISTICS_OUTPUT, [-1]) if form == "statistics" else image_out
    # The canonical flavour lets Triton place instances (GPU where there is one); the Python
    # backend runs onnxruntime inside its stub process, which we keep on the CPU.
    kind = "KIND_AUTO" if flavour == "onnxruntime" else "KIND_CPU"
    listed_inputs = ",\n".join(inputs)
    return f"""name: "{name}"
backend: "{flavour}"
max_batch_size: {max_batch_size}
input [
{listed_inputs}
]
output [
{output}
]
dynamic_batching {{
  max_queue_delay_microseconds: {QUEUE_DELAY_US}
}}
instance_group [
  {{
    count: 1
    kind: {kind}
  }}
]
"""


def _tensor(name: str, dims: list[int]) -> str:
    return f"""  {{
    name: "{name}"
    data_type: TYPE_FP32
    dims: [ {", ".join(map(str, dims))} ]
  }}"""

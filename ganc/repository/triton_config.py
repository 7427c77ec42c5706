"""Triton `config.pbtxt` for a published variant, in the canonical and the Python-backend flavour.

Both declare the same image tensors (FP32 [N, C, H, W], dynamic batch, height and width), so a client
cannot tell which flavour serves it. The Python flavour of a variant whose tiles share the image's statistics
also declares those (python_backend/image_statistics.py): an optional input and an output, FP32 [N, S].
"""

from typing import Literal

from ..card import INPUT_NAME, OUTPUT_NAME, STATISTICS_INPUT, STATISTICS_OUTPUT, VariantCard

MAX_BATCH_SIZE = 8
QUEUE_DELAY_US = 1000

Flavour = Literal["onnxruntime", "python"]


def render_config(card: VariantCard, flavour: Flavour = "onnxruntime", max_batch_size: int = MAX_BATCH_SIZE) -> str:
    """The config.pbtxt text of `card`'s model in `flavour`."""
    # The canonical flavour lets Triton place instances (GPU where there is one); the Python
    # backend runs onnxruntime inside its stub process, which we keep on the CPU.
    kind = "KIND_AUTO" if flavour == "onnxruntime" else "KIND_CPU"
    statistics = flavour == "python" and card.tile_statistics == "image"
    extra_input = (
        f""",
  {{
    name: "{STATISTICS_INPUT}"
    data_type: TYPE_FP32
    dims: [ -1 ]
    optional: true
  }}"""
        if statistics
        else ""
    )
    extra_output = (
        f""",
  {{
    name: "{STATISTICS_OUTPUT}"
    data_type: TYPE_FP32
    dims: [ -1 ]
  }}"""
        if statistics
        else ""
    )
    return f"""name: "{card.model_name}"
backend: "{flavour}"
max_batch_size: {max_batch_size}
input [
  {{
    name: "{INPUT_NAME}"
    data_type: TYPE_FP32
    dims: [ {card.channels_in}, -1, -1 ]
  }}{extra_input}
]
output [
  {{
    name: "{OUTPUT_NAME}"
    data_type: TYPE_FP32
    dims: [ {card.channels_out}, -1, -1 ]
  }}{extra_output}
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

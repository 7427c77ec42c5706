"""A Triton Python-backend model that runs the variant's `model.onnx` with onnxruntime.

ganc derives this flavour of the repository for Triton servers that lack the onnxruntime backend
(the server inside the nvidia-pytriton wheel). It is copied next to each version's model.onnx;
the stub process must see onnxruntime and numpy on its PYTHONPATH.
"""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        self.input_name = config["input"][0]["name"]
        self.output_name = config["output"][0]["name"]
        onnx_path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        self.session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])

    def execute(self, requests: list) -> list:
        # Requests that Triton batched together may differ in height and width: run each shape once.
        inputs = [pb_utils.get_input_tensor_by_name(r, self.input_name).as_numpy() for r in requests]
        outputs: list = [None] * len(requests)
        by_shape: dict[tuple, list[int]] = {}
        for position, array in enumerate(inputs):
            by_shape.setdefault(array.shape[1:], []).append(position)
        for positions in by_shape.values():
            batch = np.concatenate([inputs[p] for p in positions]).astype(np.float32, copy=False)
            result = self.session.run([self.output_name], {self.input_name: batch})[0]
            start = 0
            for p in positions:
                count = inputs[p].shape[0]
                outputs[p] = result[start : start + count]
                start += count
        return [
            pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(self.output_name, output)]) for output in outputs
        ]

    def finalize(self) -> None:
        self.session = None

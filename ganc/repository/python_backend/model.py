"""A Triton Python-backend model that runs the `model.onnx` beside it with onnxruntime.

ganc derives this flavour of the repository for Triton servers that lack the onnxruntime backend
(the server inside the nvidia-pytriton wheel). It is copied next to each version's model.onnx: a variant's,
or one of its statistics forms'. The stub process must see onnxruntime and numpy on its PYTHONPATH.
"""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        self.input_names = [tensor["name"] for tensor in config["input"]]
        self.output_name = config["output"][0]["name"]
        options = ort.SessionOptions()
        # A model whose output is not an image (a statistics form) runs on a whole image's copy, larger than a
        # tile: an arena kept at its size would hold that memory between requests.
        options.enable_cpu_mem_arena = len(config["output"][0]["dims"]) > 1
        onnx_path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def execute(self, requests: list) -> list:
        # Requests that Triton batched together may differ in height and width: run each shape once.
        feeds = [
            {name: pb_utils.get_input_tensor_by_name(r, name).as_numpy() for name in self.input_names} for r in requests
        ]
        outputs: list = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for position, given in enumerate(feeds):
            groups.setdefault(tuple(a.shape[1:] for a in given.values()), []).append(position)
        for positions in groups.values():
            batch = {
                name: np.concatenate([feeds[p][name] for p in positions]).astype(np.float32, copy=False)
                for name in self.input_names
            }
            result = self.session.run([self.output_name], batch)[0]
            start = 0
            for p in positions:
                count = feeds[p][self.input_names[0]].shape[0]
                outputs[p] = pb_utils.Tensor(self.output_name, result[start : start + count])
                start += count
        return [pb_utils.InferenceResponse(output_tensors=[output]) for output in outputs]

    def finalize(self) -> None:
        self.session = None

"""A Triton Python-backend model that runs the variant's `model.onnx` with onnxruntime.

ganc derives this flavour of the repository for Triton servers that lack the onnxruntime backend
(the server inside the nvidia-pytriton wheel). It is copied next to each version's model.onnx, with
`image_statistics.py`; the stub process must see onnxruntime, onnx and numpy on its PYTHONPATH.

A variant whose config declares the statistics tensors runs in one of three forms, by request: the image
alone (the whole image), the image with `statistics` (a tile that shares the whole image's statistics), or
only `image_statistics` asked for (the statistics of an image: a downscaled copy of the whole one).
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

# The stub has no ganc: the graph surgery ships beside this file.
_spec = importlib.util.spec_from_file_location("image_statistics", Path(__file__).with_name("image_statistics.py"))
image_statistics = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(image_statistics)

WHOLE, TILE, STATISTICS = "whole", "tile", "statistics"


def _session(model: bytes, arena: bool = True) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = arena
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        # The image tensors come first; the statistics tensors, where declared, second.
        (self.input_name, *statistics_input), (self.output_name, *statistics_output) = (
            [tensor["name"] for tensor in config[kind]] for kind in ("input", "output")
        )
        onnx_path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        data = onnx_path.read_bytes()
        self.sessions = {WHOLE: _session(data)}
        self.statistics_input = statistics_input[0] if statistics_input else None
        self.statistics_output = statistics_output[0] if statistics_output else None
        if self.statistics_input and self.statistics_output:
            graph = onnx.load_from_string(data)
            tile = image_statistics.tile_form(graph, self.statistics_input)
            self.sessions[TILE] = _session(tile.SerializeToString())
            statistics = image_statistics.statistics_form(graph, self.statistics_output)
            # The copy is larger than a tile: an arena kept at its size would hold that memory between requests.
            self.sessions[STATISTICS] = _session(statistics.SerializeToString(), arena=False)

    def _form(self, request) -> tuple[str, dict[str, np.ndarray]]:
        feeds = {self.input_name: pb_utils.get_input_tensor_by_name(request, self.input_name).as_numpy()}
        if self.statistics_input is not None:
            given = pb_utils.get_input_tensor_by_name(request, self.statistics_input)
            if given is not None:
                feeds[self.statistics_input] = given.as_numpy()
                return TILE, feeds
        if self.statistics_output and set(request.requested_output_names()) == {self.statistics_output}:
            return STATISTICS, feeds
        return WHOLE, feeds

    def execute(self, requests: list) -> list:
        # Requests that Triton batched together may differ in form, height and width: run each kind once.
        forms = [self._form(r) for r in requests]
        outputs: list = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for position, (form, feeds) in enumerate(forms):
            groups.setdefault((form, *(a.shape[1:] for a in feeds.values())), []).append(position)
        for (form, *_), positions in groups.items():
            names = list(forms[positions[0]][1])
            batch = {
                n: np.concatenate([forms[p][1][n] for p in positions]).astype(np.float32, copy=False) for n in names
            }
            output_name = self.statistics_output if form == STATISTICS else self.output_name
            result = self.sessions[form].run([output_name], batch)[0]
            start = 0
            for p in positions:
                count = forms[p][1][self.input_name].shape[0]
                outputs[p] = pb_utils.Tensor(output_name, result[start : start + count])
                start += count
        return [pb_utils.InferenceResponse(output_tensors=[output]) for output in outputs]

    def finalize(self) -> None:
        self.sessions = {}

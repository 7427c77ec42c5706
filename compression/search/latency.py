"""Latency measured with onnxruntime on a named target.

MACs predict latency poorly for depthwise-separable students (their layers are memory-bound), so
the search constrains what users feel: latency measured on the target. Measuring every candidate
would take hours; latency_table.py predicts it from layers measured alone, and the chosen configs
are then measured whole to check the prediction.
"""

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import onnxruntime as ort
from torch import nn

from ganc.card import INPUT_NAME, OUTPUT_NAME
from ganc.spec import SearchSpec

from ..export import export_onnx

Device = Literal["cpu", "cuda"]
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


class TargetUnavailableError(RuntimeError):
    """The latency target does not exist on this machine."""


@dataclass(frozen=True)
class LatencyTarget:
    """Where latency is measured: onnxruntime on `device` with `threads` intra-op threads, batch 1, size x size."""

    device: Device = "cpu"
    threads: int = 2
    size: int = 256
    repeats: int = 5  # runs per round of measure_models_ms
    rounds: int = 3  # interleaved rounds, each network's best kept
    warmup: int = 3  # runs before the first round

    @property
    def name(self) -> str:
        return f"onnxruntime-{self.device}-{self.threads}t-{self.size}px"

    def check_available(self) -> None:
        """onnxruntime-gpu lists CUDA even without a GPU, so open a real session and see what it runs on."""
        provider = PROVIDERS.get(self.device)
        if provider is None or not provider_works(provider):
            raise TargetUnavailableError(f"latency target {self.name} is not available here ({provider} cannot run)")

    def session(self, onnx_path: Path) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        # Idle intra-op threads spin by default and steal the cores from the next session of an interleaved
        # measurement: a 49-ms sub-network once measured 107 ms after another's run.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(onnx_path), options, providers=[PROVIDERS[self.device]])


def latency_target(spec: SearchSpec) -> LatencyTarget:
    """Where the spec's latency budgets are measured."""
    device: Device = "cuda" if spec.target == "onnxruntime-cuda" else "cpu"
    return LatencyTarget(device=device, threads=spec.threads, size=spec.size)


def provider_works(provider: str) -> bool:
    if provider not in ort.get_available_providers():
        return False
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])],
        "probe",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)], ir_version=8)
    options = ort.SessionOptions()
    options.log_severity_level = 4  # the failed CUDA probe would otherwise log an error
    try:
        providers = list(dict.fromkeys([provider, "CPUExecutionProvider"]))
        session = ort.InferenceSession(model.SerializeToString(), options, providers=providers)
    except Exception:  # onnxruntime raises its own exception types for a provider that cannot start
        return False
    return session.get_providers()[0] == provider


def measure_models_ms(models: list[nn.Module], target: LatencyTarget) -> list[float]:
    """Latency of one size x size image through each model on `target`, exported to ONNX and measured as
    measure_onnx_ms measures."""
    with tempfile.TemporaryDirectory() as scratch:
        paths = []
        for index, model in enumerate(models):
            paths.append(Path(scratch) / f"model{index}.onnx")
            export_onnx(model, paths[-1])
        return measure_onnx_ms(paths, target)


def measure_onnx_ms(
    paths: list[Path], target: LatencyTarget, shapes: list[tuple[int, ...]] | None = None
) -> list[float]:
    """Latency of one size x size image (or an input of each of `shapes`) through each ONNX file on `target`:
    warmed up, then measured in `target.rounds` interleaved rounds (the median of `repeats` runs each), keeping each
    model's best round. A busy moment of a shared machine only ever adds time, and interleaving spreads it over
    all the models instead of shifting the few measured while it lasted."""
    rng = np.random.default_rng(0)
    shapes = shapes or [(1, 3, target.size, target.size)] * len(paths)
    inputs = [rng.uniform(-1, 1, shape).astype(np.float32) for shape in shapes]
    sessions = [target.session(path) for path in paths]
    for session, x in zip(sessions, inputs):
        for _ in range(target.warmup):
            session.run([OUTPUT_NAME], {INPUT_NAME: x})
    best = [float("inf")] * len(sessions)
    for _ in range(target.rounds):
        for index, (session, x) in enumerate(zip(sessions, inputs)):
            best[index] = min(best[index], _median_ms(session, x, target.repeats))
    return best


def measure_model_ms(model: nn.Module, target: LatencyTarget) -> float:
    """The latency of one model on `target`, as measure_models_ms measures it."""
    return measure_models_ms([model], target)[0]


def _median_ms(session: ort.InferenceSession, x: np.ndarray, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run([OUTPUT_NAME], {INPUT_NAME: x})
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3

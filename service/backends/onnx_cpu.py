"""onnxruntime in the gateway's process, on the CPU, in a thread pool so the event loop never blocks.

A lone request runs on all of the backend's cores (the lowest latency); while others are running,
each runs on one core (the highest throughput: small convolutional generators parallelise poorly
inside one inference, and two single-threaded inferences on two cores serve about twice as many
requests as one two-threaded inference at a time). So every variant has two sessions, wide and narrow; the
gateway keeps a long inference narrow while tight budgets are being asked for, so one arriving behind it finds
a core of its own.
"""

import asyncio
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

from ganc.card import INPUT_NAME, OUTPUT_NAME, STATISTICS_INPUT, STATISTICS_OUTPUT
from ganc.repository.image_statistics import statistics_form, tile_form

from .base import Backend, BackendError, Inference, InputError


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


@dataclass(frozen=True)
class _Pair:
    wide: ort.InferenceSession
    narrow: ort.InferenceSession

    def pick(self, spread: bool) -> ort.InferenceSession:
        return self.wide if spread else self.narrow


@dataclass(frozen=True)
class _Sessions:
    version: int
    whole: _Pair
    tiles: _Pair | None  # the forms for tiles that share the image's statistics
    statistics: _Pair | None


def _session(model: bytes, threads: int, arena: bool) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = arena
    # Idle intra-op threads spin (onnxruntime's default): waking sleeping threads on every operator
    # costs a lone inference more than the spinning costs the rest (a wide session runs only alone).
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class OnnxCpuBackend(Backend):
    name = "cpu"

    def __init__(self, threads: int) -> None:
        self.threads = self.concurrency = threads
        self.hardware = cpu_model()
        self.sessions: dict[str, _Sessions] = {}
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="onnx-cpu")
        self.running = 0  # inferences submitted and not finished (event loop only)

    def _pair(self, model: bytes, arena: bool = True) -> _Pair:
        wide = _session(model, self.threads, arena)
        return _Pair(wide, _session(model, 1, arena) if self.threads > 1 else wide)

    def _load(self, onnx_path: Path, version: int, image_statistics: bool) -> _Sessions:
        data = onnx_path.read_bytes()
        whole = self._pair(data)
        if not image_statistics:
            return _Sessions(version, whole, None, None)
        graph = onnx.load_from_string(data)
        tiles = self._pair(tile_form(graph, STATISTICS_INPUT).SerializeToString())
        # The copy is larger than a tile: an arena kept at its size would hold that memory between requests.
        statistics = self._pair(statistics_form(graph, STATISTICS_OUTPUT).SerializeToString(), arena=False)
        return _Sessions(version, whole, tiles, statistics)

    async def load(self, model: str, version: int, onnx_path: Path, image_statistics: bool) -> None:
        current = self.sessions.get(model)
        if current is not None and current.version >= version:
            return
        loop = asyncio.get_running_loop()
        try:
            sessions = await loop.run_in_executor(self.pool, self._load, onnx_path, version, image_statistics)
        except Exception as error:  # onnxruntime raises its own types for unreadable graphs
            raise BackendError(f"onnxruntime cannot load {onnx_path}: {str(error).splitlines()[0]}") from error
        self.sessions[model] = sessions  # requests already running keep the old sessions

    def ready(self, model: str) -> bool:
        return model in self.sessions

    def shares_statistics(self, model: str) -> bool:
        sessions = self.sessions.get(model)
        return sessions is not None and sessions.statistics is not None

    def _loaded(self, model: str) -> _Sessions:
        try:
            return self.sessions[model]
        except KeyError:
            raise BackendError(f"{model} is not loaded on the CPU backend") from None

    async def infer(
        self, model: str, x: np.ndarray, spread: bool = True, statistics: np.ndarray | None = None
    ) -> Inference:
        sessions, wide = self._loaded(model), spread and self.running == 0
        if statistics is None:
            return await self._run(model, sessions.whole.pick(wide), OUTPUT_NAME, {INPUT_NAME: x})
        if sessions.tiles is None:
            raise BackendError(f"{model} was not loaded with its forms for shared statistics")
        feeds = {INPUT_NAME: x, STATISTICS_INPUT: statistics}
        return await self._run(model, sessions.tiles.pick(wide), OUTPUT_NAME, feeds)

    async def statistics(self, model: str, x: np.ndarray, spread: bool = True) -> Inference:
        sessions = self._loaded(model)
        if sessions.statistics is None:
            raise BackendError(f"{model} was not loaded with its forms for shared statistics")
        session = sessions.statistics.pick(spread and self.running == 0)
        return await self._run(model, session, STATISTICS_OUTPUT, {INPUT_NAME: x})

    async def _run(self, model: str, session: ort.InferenceSession, output_name: str, feeds: dict) -> Inference:
        def run() -> Inference:
            start = time.perf_counter()
            output = session.run([output_name], feeds)[0]
            return Inference(output, (time.perf_counter() - start) * 1e3)

        self.running += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, run)
        except InvalidArgument as error:  # the input's shape or type, not the backend
            raise InputError(f"{model} cannot take this input: {str(error).splitlines()[0]}") from error
        except Exception as error:  # onnxruntime raises its own types
            raise BackendError(f"onnxruntime failed on {model}: {error}") from error
        finally:
            self.running -= 1

    async def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

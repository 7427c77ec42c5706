"""onnxruntime in the gateway's process, on the CPU: one session per variant, inference in a thread pool."""

import asyncio
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ganc.card import INPUT_NAME, OUTPUT_NAME

from .base import Backend, BackendError, Inference


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


class OnnxCpuBackend(Backend):
    name = "cpu"

    def __init__(self, threads: int, workers: int) -> None:
        self.threads, self.concurrency = threads, workers
        self.hardware = cpu_model()
        self.sessions: dict[str, tuple[int, ort.InferenceSession]] = {}
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="onnx-cpu")

    def _session(self, onnx_path: Path) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # One session per variant: idle threads must not spin on the cores another variant needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    async def load(self, model: str, version: int, onnx_path: Path) -> None:
        current = self.sessions.get(model)
        if current is not None and current[0] >= version:
            return
        loop = asyncio.get_running_loop()
        try:
            session = await loop.run_in_executor(self.pool, self._session, onnx_path)
        except Exception as error:  # onnxruntime raises its own types for unreadable graphs
            raise BackendError(f"onnxruntime cannot load {onnx_path}: {str(error).splitlines()[0]}") from error
        self.sessions[model] = (version, session)  # requests already running keep the old session

    def ready(self, model: str) -> bool:
        return model in self.sessions

    async def infer(self, model: str, x: np.ndarray) -> Inference:
        try:
            _, session = self.sessions[model]
        except KeyError:
            raise BackendError(f"{model} is not loaded on the CPU backend") from None

        def run() -> Inference:
            start = time.perf_counter()
            output = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
            return Inference(output, (time.perf_counter() - start) * 1e3)

        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, run)
        except Exception as error:  # onnxruntime raises its own types
            raise BackendError(f"onnxruntime failed on {model}: {error}") from error

    async def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

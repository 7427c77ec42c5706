"""NVIDIA Triton through tritonclient's asyncio HTTP client (binary tensors; one client shared by all requests).

HTTP rather than gRPC so that one address (GANC_TRITON_URL, Triton's HTTP port) serves inference, health
and the repository API that workers use to load new models.
"""

import asyncio
import time
from pathlib import Path

import aiohttp
import numpy as np
import tritonclient.http.aio as httpclient
from tritonclient.utils import InferenceServerException

from ganc.card import INPUT_NAME, OUTPUT_NAME

from .base import Backend, BackendError, Inference

# What a Triton that is down, restarting or hanging up on us raises through the client.
UNREACHABLE = (InferenceServerException, aiohttp.ClientError, TimeoutError, OSError)


class TritonBackend(Backend):
    name = "triton"

    def __init__(self, url: str, concurrency: int, timeout_s: float, hardware: str, manage_models: bool) -> None:
        self.url, self.concurrency, self.timeout_s = url, concurrency, timeout_s
        self.hardware = hardware
        self.manage_models = manage_models
        self.client = httpclient.InferenceServerClient(url, conn_limit=max(8, concurrency * 2))
        self.models: dict[str, int] = {}

    async def load(self, model: str, version: int, onnx_path: Path) -> None:
        """In explicit model-control mode, ask Triton to (re)load `model`; then wait until `version` is ready."""
        try:
            await self._load_if_forgotten(model, version)
            if await self.client.is_model_ready(model, str(version)):
                self.models[model] = version
        except UNREACHABLE as error:
            raise BackendError(f"Triton cannot load {model}: {_describe(error)}") from None

    async def _load_if_forgotten(self, model: str, version: int) -> None:
        """In explicit model-control mode, ask Triton to (re)load `model` unless `version` is ready."""
        if self.manage_models and not await self.client.is_model_ready(model, str(version)):
            await asyncio.wait_for(self.client.load_model(model), self.timeout_s)

    def ready(self, model: str) -> bool:
        return model in self.models

    async def infer(self, model: str, x: np.ndarray, spread: bool = True) -> Inference:  # Triton schedules its own
        tensor = httpclient.InferInput(INPUT_NAME, list(x.shape), "FP32")
        tensor.set_data_from_numpy(x, binary_data=True)
        output = httpclient.InferRequestedOutput(OUTPUT_NAME, binary_data=True)
        start = time.perf_counter()
        try:
            result = await asyncio.wait_for(self.client.infer(model, [tensor], outputs=[output]), self.timeout_s)
        except UNREACHABLE as error:
            raise BackendError(f"Triton failed on {model}: {_describe(error)}") from None
        # Triton queues and batches on its side: the round trip is this backend's service time.
        return Inference(result.as_numpy(OUTPUT_NAME), (time.perf_counter() - start) * 1e3)

    async def healthy(self) -> bool:
        """Ready, with the models this backend serves loaded: a Triton restarted in explicit model-control mode has
        forgotten those it was told to load, so they are loaded again before it takes requests."""
        try:
            if not await asyncio.wait_for(self.client.is_server_ready(), self.timeout_s):
                return False
            for model, version in list(self.models.items()):
                await self._load_if_forgotten(model, version)
            return True
        except UNREACHABLE:
            return False

    async def close(self) -> None:
        await self.client.close()


def _describe(error: Exception) -> str:
    if isinstance(error, InferenceServerException):
        return error.message()
    return str(error) or type(error).__name__

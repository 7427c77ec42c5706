"""NVIDIA Triton through tritonclient's asyncio HTTP client (binary tensors; one client shared by all requests).

HTTP rather than gRPC so that one address (GANC_TRITON_URL, Triton's HTTP port) serves inference, health
and the repository API that workers use to load new models.
"""

import asyncio
import contextlib
import time
from pathlib import Path

import aiohttp
import numpy as np
import tritonclient.http.aio as httpclient
from tritonclient.utils import InferenceServerException

from ganc.card import INPUT_NAME, OUTPUT_NAME, STATISTICS_FORMS, STATISTICS_INPUT, STATISTICS_OUTPUT, form_model_name
from ganc.settings import TRITON_CONTROL_HEADER

from .base import Backend, BackendError, Inference

# What a Triton that is down, restarting or hanging up on us raises through the client.
UNREACHABLE = (InferenceServerException, aiohttp.ClientError, TimeoutError, OSError)


class TritonBackend(Backend):
    name = "triton"

    def __init__(
        self,
        url: str,
        concurrency: int,
        timeout_s: float,
        hardware: str,
        manage_models: bool,
        control_key: str | None = None,
    ) -> None:
        self.url, self.concurrency, self.timeout_s = url, concurrency, timeout_s
        self.hardware = hardware
        self.manage_models = manage_models
        self.control_headers = {TRITON_CONTROL_HEADER: control_key} if control_key else None
        self.client = httpclient.InferenceServerClient(url, conn_limit=max(8, concurrency * 2))
        self.models: dict[str, int] = {}
        self.with_statistics: set[str] = set()
        self.awaiting_forms: dict[str, int] = {}  # model -> the version whose forms Triton has not loaded yet

    async def load(self, model: str, version: int, onnx_path: Path, image_statistics: bool) -> None:
        """In explicit model-control mode, ask Triton to (re)load `model`, and its statistics forms where asked;
        then wait until `version` is ready. Tiles share statistics here only where Triton has both forms at that
        version (ganc/repository/statistics_forms.py)."""
        try:
            await self._load_if_forgotten(model, version)
            if not await self.client.is_model_ready(model, str(version)):
                return
            self.models[model] = version
            self._drop_forms(model)
            if image_statistics:
                self.awaiting_forms[model] = version
                for name in _forms(model):
                    with contextlib.suppress(InferenceServerException):  # not in its repository (yet)
                        await self._load_if_forgotten(name, version)
                await self._take_forms_if_ready(model, version)
        except UNREACHABLE as error:
            raise BackendError(f"Triton cannot load {model}: {_describe(error)}") from None

    async def _take_forms_if_ready(self, model: str, version: int) -> None:
        """Tiled requests of `model` that share statistics come here once Triton has both its forms at `version`;
        forms written after the variant (a worker giving them to a repository published without) are looked for
        again on every `refresh`."""
        if not all([await self.client.is_model_ready(name, str(version)) for name in _forms(model)]):
            return
        # The catalog's poll and a load may look at once: only the look that still finds it awaited takes it.
        if self.awaiting_forms.get(model) == version:
            del self.awaiting_forms[model]
            self.models.update({name: version for name in _forms(model)})
            self.with_statistics.add(model)

    async def refresh(self) -> None:
        try:
            for model, version in list(self.awaiting_forms.items()):
                await self._take_forms_if_ready(model, version)
        except UNREACHABLE:
            pass  # down: the health probes see to it

    def _drop_forms(self, model: str) -> None:
        self.awaiting_forms.pop(model, None)
        for name in _forms(model):
            self.models.pop(name, None)
        self.with_statistics.discard(model)

    async def _load_if_forgotten(self, model: str, version: int) -> None:
        """In explicit model-control mode, ask Triton to (re)load `model` unless `version` is ready."""
        if self.manage_models and not await self.client.is_model_ready(model, str(version)):
            await asyncio.wait_for(self.client.load_model(model, headers=self.control_headers), self.timeout_s)

    def ready(self, model: str) -> bool:
        return model in self.models

    def shares_statistics(self, model: str) -> bool:
        return model in self.with_statistics

    async def infer(  # Triton schedules its own: `spread` is not ours to choose
        self, model: str, x: np.ndarray, spread: bool = True, statistics: np.ndarray | None = None
    ) -> Inference:
        if statistics is None:
            return await self._run(model, {INPUT_NAME: x}, OUTPUT_NAME)
        tiles = form_model_name(model, "tiles")
        return await self._run(tiles, {INPUT_NAME: x, STATISTICS_INPUT: statistics}, OUTPUT_NAME)

    async def statistics(self, model: str, x: np.ndarray, spread: bool = True) -> Inference:
        return await self._run(form_model_name(model, "statistics"), {INPUT_NAME: x}, STATISTICS_OUTPUT)

    async def _run(self, model: str, inputs: dict[str, np.ndarray], output_name: str) -> Inference:
        tensors = []
        for name, array in inputs.items():
            tensors.append(httpclient.InferInput(name, list(array.shape), "FP32"))
            tensors[-1].set_data_from_numpy(array, binary_data=True)
        output = httpclient.InferRequestedOutput(output_name, binary_data=True)
        start = time.perf_counter()
        try:
            result = await asyncio.wait_for(self.client.infer(model, tensors, outputs=[output]), self.timeout_s)
        except UNREACHABLE as error:
            raise BackendError(f"Triton failed on {model}: {_describe(error)}") from None
        # Triton queues and batches on its side: the round trip is this backend's service time.
        return Inference(result.as_numpy(output_name), (time.perf_counter() - start) * 1e3)

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


def _forms(model: str) -> list[str]:
    return [form_model_name(model, form) for form in STATISTICS_FORMS]


def _describe(error: Exception) -> str:
    if isinstance(error, InferenceServerException):
        return error.message()
    return str(error) or type(error).__name__

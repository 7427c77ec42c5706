"""What every backend offers the gateway."""

from abc import ABC, abstractmethod
from pathlib import Path
from typing import NamedTuple

import numpy as np


class BackendError(RuntimeError):
    """A backend that failed or timed out on a request (the router retries on the next candidate)."""


class InputError(BackendError):
    """The backend refused this request's input; the backend itself is fine (it is not marked down)."""


class Inference(NamedTuple):
    output: np.ndarray
    service_ms: float  # the model's own time where it runs, without the backend's queue


class Backend(ABC):
    name: str  # "cpu" or "triton": the X-Ganc-Backend header and the metrics label
    hardware: str  # e.g. the CPU model or the GPU name
    concurrency: int  # requests it runs at once; more wait in its queue

    @abstractmethod
    async def load(self, model: str, version: int, onnx_path: Path, image_statistics: bool) -> None:
        """Make `model` at `version` servable; in-flight requests on an older version finish on it.
        `image_statistics`: also its two forms for tiles that share the whole image's statistics, where the
        backend can run them (see `shares_statistics`)."""

    @abstractmethod
    def ready(self, model: str) -> bool: ...

    @abstractmethod
    def shares_statistics(self, model: str) -> bool:
        """Whether `statistics` and `infer(..., statistics=...)` work for `model` here."""

    @abstractmethod
    async def infer(
        self, model: str, x: np.ndarray, spread: bool = True, statistics: np.ndarray | None = None
    ) -> Inference:
        """Run [1, 3, H, W] float32 through `model`; raise BackendError on failure. `spread`: it may use every
        core it finds idle (False keeps it to one, for backends that choose). `statistics`: normalise with these
        (from `statistics`) instead of the input's own."""

    @abstractmethod
    async def statistics(self, model: str, x: np.ndarray, spread: bool = True) -> Inference:
        """The normalisation statistics [1, S] of `model` run on `x` (ganc/repository/python_backend/
        image_statistics.py)."""

    async def healthy(self) -> bool:
        return True

    async def refresh(self) -> None:  # noqa: B027 (a hook: a backend with nothing to take up keeps it empty)
        """Take up what became servable since `load` without a new version (Triton: statistics forms that a
        worker wrote and loaded later); the catalog calls it on every poll."""

    @abstractmethod
    async def close(self) -> None:
        """Release what the backend holds."""

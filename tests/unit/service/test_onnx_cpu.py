import asyncio

import numpy as np
import pytest

from service.backends import BackendError, InputError
from service.backends.onnx_cpu import OnnxCpuBackend, _Sessions


class Counting:
    """A session that counts its runs (and runs the real one)."""

    def __init__(self, session) -> None:
        self.session, self.runs = session, 0

    def run(self, *args, **kwargs):
        self.runs += 1
        return self.session.run(*args, **kwargs)


def test_a_lone_request_runs_wide_and_concurrent_ones_narrow_with_equal_outputs(tiny_onnx):
    async def scenario():
        backend = OnnxCpuBackend(threads=2)
        await backend.load("tiny--s8", 1, tiny_onnx)
        sessions = backend.sessions["tiny--s8"]
        wide, narrow = Counting(sessions.wide), Counting(sessions.narrow)
        backend.sessions["tiny--s8"] = _Sessions(1, wide, narrow)
        x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)
        alone = await backend.infer("tiny--s8", x)
        assert (wide.runs, narrow.runs) == (1, 0) and alone.service_ms > 0
        together = await asyncio.gather(*(backend.infer("tiny--s8", x) for _ in range(4)))
        assert wide.runs == 2 and narrow.runs == 3  # the first found the backend idle
        for result in together:
            np.testing.assert_allclose(result.output, alone.output, atol=1e-5)
        assert backend.running == 0
        await backend.infer("tiny--s8", x, spread=False)  # idle, but asked to keep to one core
        assert (wide.runs, narrow.runs) == (2, 4)
        with pytest.raises(BackendError, match="not loaded"):
            await backend.infer("tiny--missing", x)
        # An input the model cannot take is that request's fault (the gateway answers 422 and keeps the backend).
        with pytest.raises(InputError, match="cannot take this input"):
            await backend.infer("tiny--s8", x[:, :2])
        np.testing.assert_allclose((await backend.infer("tiny--s8", x)).output, alone.output, atol=1e-5)
        await backend.close()

    asyncio.run(scenario())


def test_one_core_means_one_session(tiny_onnx):
    async def scenario():
        backend = OnnxCpuBackend(threads=1)
        await backend.load("tiny--s8", 1, tiny_onnx)
        sessions = backend.sessions["tiny--s8"]
        assert sessions.wide is sessions.narrow and backend.concurrency == 1
        await backend.close()

    asyncio.run(scenario())

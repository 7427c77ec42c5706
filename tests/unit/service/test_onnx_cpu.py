import asyncio

import numpy as np
import pytest

from service.backends import BackendError, InputError
from service.backends.onnx_cpu import OnnxCpuBackend, _Pair, _Sessions


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
        await backend.load("tiny--s8", 1, tiny_onnx, image_statistics=False)
        sessions = backend.sessions["tiny--s8"]
        wide, narrow = Counting(sessions.whole.wide), Counting(sessions.whole.narrow)
        backend.sessions["tiny--s8"] = _Sessions(1, _Pair(wide, narrow), None, None)
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
        await backend.load("tiny--s8", 1, tiny_onnx, image_statistics=True)
        sessions = backend.sessions["tiny--s8"]
        for pair in (sessions.whole, sessions.tiles, sessions.statistics):
            assert pair.wide is pair.narrow
        assert backend.concurrency == 1
        await backend.close()

    asyncio.run(scenario())


def test_the_statistics_forms_load_only_where_the_card_asks_for_them(tiny_onnx):
    async def scenario():
        backend = OnnxCpuBackend(threads=2)
        await backend.load("tiny--own", 1, tiny_onnx, image_statistics=False)
        await backend.load("tiny--shared", 1, tiny_onnx, image_statistics=True)
        assert not backend.shares_statistics("tiny--own") and backend.shares_statistics("tiny--shared")
        x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)
        with pytest.raises(BackendError, match="shared statistics"):
            await backend.statistics("tiny--own", x)
        statistics = await backend.statistics("tiny--shared", x)
        given = await backend.infer("tiny--shared", x, statistics=statistics.output)
        own = await backend.infer("tiny--shared", x)
        np.testing.assert_allclose(given.output, own.output, atol=1e-4)
        await backend.close()

    asyncio.run(scenario())

"""The Triton backend against a peer that hangs up on every connection (a Triton dying or restarting)."""

import asyncio
import socket
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ganc.settings import Settings
from service.app import create_app
from service.backends import BackendError, TritonBackend
from service.catalog import Catalog
from service.estimates import LatencyEstimates
from service.gateway import Gateway
from tests.support import png, scrape, with_metrics_port


@pytest.fixture
def hangs_up():
    """A loopback port whose server accepts each connection and closes it at once."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stopped = threading.Event()

    def serve() -> None:
        while not stopped.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                return
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stopped.set()
    server.close()
    thread.join(5)


def test_a_triton_that_hangs_up_fails_requests_cleanly(hangs_up):
    async def exercise() -> tuple[bool, list[str]]:
        backend = TritonBackend(hangs_up, concurrency=1, timeout_s=5, hardware="gpu", manage_models=True)
        errors = []
        for call in (
            backend.infer("tiny--s8", np.zeros((1, 3, 8, 8), np.float32)),
            backend.load("tiny--s8", 1, None, False),
        ):
            try:
                await call
            except BackendError as error:
                errors.append(str(error))
        healthy = await backend.healthy()
        await backend.close()
        return healthy, errors

    healthy, errors = asyncio.run(exercise())
    assert not healthy
    assert len(errors) == 2 and errors[0].startswith("Triton failed on tiny--s8") and "cannot load" in errors[1]


def test_the_gateway_starts_on_the_cpu_when_triton_hangs_up(repo, hangs_up):
    settings = Settings(**with_metrics_port(model_repository=repo, triton_url=hangs_up, warmup_runs=1, warmup_size=32))
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/translate/tiny", content=png(40, 24), headers={"Content-Type": "image/png"})
        assert response.status_code == 200 and response.headers["x-ganc-backend"] == "cpu"
        assert 'ganc_backend_up{backend="triton",hardware="triton"} 0.0' in scrape(settings.gateway_metrics_port)
        assert any(" on triton: " in problem for problem in client.get("/v1/models").json()["problems"])


def test_probes_of_a_triton_that_never_answers_are_kept_and_cancelled_when_the_gateway_closes(tmp_path):
    silent = socket.socket()  # accepts connections (the kernel's backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    settings = Settings(model_repository=tmp_path, triton_timeout_s=60, probe_backoff_s=0.001)

    async def scenario() -> tuple[int, list[bool], set]:
        triton = TritonBackend(f"127.0.0.1:{silent.getsockname()[1]}", 1, 60, "triton", manage_models=False)
        estimates = LatencyEstimates()
        catalog = Catalog(tmp_path, {"triton": triton}, estimates, 1, 32)
        gateway = Gateway(settings, catalog, {"triton": triton}, estimates)
        gateway._mark_down("triton")
        await asyncio.sleep(0.01)
        gateway._probe_due_backends()
        await asyncio.sleep(0.1)
        probes = list(gateway.probes)  # the probe waits on the silent port, held by the gateway
        await gateway.close()
        await triton.close()
        return len(probes), [probe.cancelled() for probe in probes], gateway.probes

    try:
        assert asyncio.run(scenario()) == (1, [True], set())
    finally:
        silent.close()


def test_two_looks_at_once_for_forms_a_worker_loaded_take_them_up_once():
    async def scenario() -> TritonBackend:
        backend = TritonBackend("127.0.0.1:9", 1, 1.0, "triton", manage_models=False)

        async def ready(name: str, version: str) -> bool:
            await asyncio.sleep(0)  # each look yields, as a real round trip does
            return True

        backend.client.is_model_ready = ready
        backend.awaiting_forms["tiny--s8"] = 1
        await asyncio.gather(backend.refresh(), backend.refresh())  # the catalog's poll beside another look
        await backend.close()
        return backend

    backend = asyncio.run(scenario())
    assert backend.shares_statistics("tiny--s8") and backend.awaiting_forms == {}
    assert backend.models == {"tiny--s8--statistics": 1, "tiny--s8--tiles": 1}

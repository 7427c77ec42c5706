"""`ganc serve` (bentoml serve) with the real Triton server binary as a second backend."""

import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from compression.export import export_onnx
from compression.models import ModelSpec
from ganc.card import INPUT_NAME, OUTPUT_NAME, VariantCard
from ganc.repository import derive_python_flavour, publish_variant
from service.images import finish, prepare
from tests.support import GANC, card_fields, free_ports, png, scrape, spawn, stop, wait_for_http

pytestmark = pytest.mark.integration


def expected(onnx_path: Path, data: bytes) -> np.ndarray:
    prepared = prepare(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), 4)
    output = ort.InferenceSession(str(onnx_path)).run([OUTPUT_NAME], {INPUT_NAME: prepared.tensor})[0]
    return finish(output, prepared)


def decode(response: httpx.Response) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)))


class Gateway:
    """`ganc serve` over `repo`, ready when built."""

    def __init__(self, repo: Path, env: dict[str, str], workdir: Path) -> None:
        self.port, self.metrics_port = free_ports(2)
        self.url = f"http://127.0.0.1:{self.port}"
        log = workdir / f"gateway-{self.port}.log"
        command = [GANC, "serve", "--port", str(self.port), "--repo", str(repo)]
        defaults = {
            "GANC_CATALOG_POLL_S": "0.5",
            "GANC_WARMUP_RUNS": "2",
            "GANC_WARMUP_SIZE": "128",
            "GANC_GATEWAY_METRICS_PORT": str(self.metrics_port),
        }
        self.process = spawn(command, {**defaults, **env}, log)
        wait_for_http(f"{self.url}/readyz", self.process, log)

    def translate(self, data: bytes, **params) -> httpx.Response:
        return httpx.post(
            f"{self.url}/v1/translate/tiny",
            content=data,
            params=params,
            headers={"Content-Type": "image/png"},
            timeout=30,
        )

    def metrics(self) -> str:
        return scrape(self.metrics_port)

    def stop(self) -> None:
        stop(self.process)


@pytest.fixture
def stack(tmp_path, tiny_onnx, triton_factory):
    canonical, flavour = tmp_path / "canonical", tmp_path / "python"
    publish_variant(canonical, tiny_onnx, VariantCard(**card_fields(tiny_onnx, variant="s8", quality={"psnr": 25.0})))
    derive_python_flavour(canonical, flavour)
    triton = triton_factory(flavour)
    gateways = []

    def start(**env) -> Gateway:
        gateway = Gateway(canonical, {"GANC_TRITON_URL": triton.http_url, **env}, tmp_path)
        gateways.append(gateway)
        return gateway

    yield canonical, flavour, triton, start
    for gateway in gateways:
        gateway.stop()


def test_each_backend_answers_like_onnxruntime(stack, tiny_onnx):
    _, _, _, start = stack
    data = png()
    for env, backend in (({"GANC_TRITON_URL": ""}, "cpu"), ({"GANC_CPU_BACKEND": "false"}, "triton")):
        gateway = start(**env)
        response = gateway.translate(data)
        assert response.status_code == 200, response.text
        assert response.headers["x-ganc-backend"] == backend
        assert np.abs(decode(response).astype(int) - expected(tiny_onnx, data)).max() <= 1
        gateway.stop()


def test_requests_keep_succeeding_on_the_cpu_when_triton_stops_and_on_triton_when_it_is_back(stack):
    _, _, triton, start = stack
    # A single-threaded CPU backend queues up under load, so the router sends part of it to Triton
    # (which runs several requests at once with more threads).
    gateway = start(GANC_CPU_THREADS="1", GANC_TRITON_CONCURRENCY="4", GANC_WARMUP_SIZE="256", GANC_REMEASURE_S="2")
    data = png(256, 256)

    def load(count: int) -> list[httpx.Response]:
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda _: gateway.translate(data), range(count)))

    def load_until_triton_serves(what: str) -> None:
        # How soon Triton's share starts depends on both backends' measured speeds, which other work on the
        # machine moves; a backend left unchosen is tried again once its estimate goes stale (2 s here).
        deadline = time.monotonic() + 60
        served: set[str] = set()
        while "triton" not in served:
            assert time.monotonic() < deadline, f"Triton never served {what}"
            time.sleep(1)
            responses = load(16)
            assert [r.status_code for r in responses] == [200] * 16
            served = {r.headers["x-ganc-backend"] for r in responses}

    load_until_triton_serves("under load")
    triton.stop()
    after = load(48)
    assert [r.status_code for r in after] == [200] * 48
    assert {r.headers["x-ganc-backend"] for r in after[-8:]} == {"cpu"}
    metrics = gateway.metrics()
    assert 'ganc_backend_up{backend="triton"' in metrics
    # Restarted, it forgot the models it had been told to load: the probe loads them and Triton serves again.
    triton.start()
    load_until_triton_serves("again after its restart")


def test_a_version_published_while_serving_is_picked_up(stack, tmp_path):
    canonical, flavour, _, start = stack
    gateway = start()
    data = png()
    assert gateway.translate(data).headers["x-ganc-version"] == "1"
    torch.manual_seed(1)
    other = tmp_path / "other.onnx"
    export_onnx(ModelSpec("sub_mobile_resnet", {"config": "8_8_8_8_8_8_8_8", "n_blocks": 3}).build(), other)
    publish_variant(canonical, other, VariantCard(**card_fields(other, variant="s8", quality={"psnr": 25.0})))
    derive_python_flavour(canonical, flavour)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = gateway.translate(data)
        assert response.status_code == 200
        if response.headers["x-ganc-version"] == "2":
            break
        time.sleep(0.3)
    assert response.headers["x-ganc-version"] == "2"
    assert np.abs(decode(response).astype(int) - expected(other, data)).max() <= 1


def test_metrics_carry_the_serving_labels(stack):
    *_, start = stack
    gateway = start()
    for _ in range(6):
        assert gateway.translate(png(), budget_ms=10_000).status_code == 200
    text = gateway.metrics()
    lines = [line for line in text.splitlines() if line.startswith("ganc_request_latency_seconds_count")]
    assert lines and all('family="tiny"' in line and 'variant="s8"' in line and "hardware=" in line for line in lines)
    served = sum(float(line.rsplit(" ", 1)[1]) for line in lines)
    assert served >= 6
    for name in ("ganc_pixels_total", "ganc_variant_macs", "ganc_router_decisions_total", "ganc_budget_requests_total"):
        assert name in text


def test_no_backend_able_to_serve_gives_503_with_retry_after(stack):
    _, _, triton, start = stack
    gateway = start(GANC_CPU_BACKEND="false")
    assert gateway.translate(png()).status_code == 200
    triton.stop()
    for _ in range(3):
        response = gateway.translate(png())
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "2" and "serve" in response.json()["error"]


def test_made_up_paths_add_no_metric_series_and_no_metric_files(tmp_path, tiny_onnx):
    repo = tmp_path / "repo"
    publish_variant(repo, tiny_onnx, VariantCard(**card_fields(tiny_onnx)))
    home = tmp_path / "bentoml"  # where BentoML keeps prometheus_client's multiprocess files
    gateway = Gateway(repo, {"BENTOML_HOME": str(home)}, tmp_path)
    try:

        def series() -> set[str]:
            text = gateway.metrics()
            return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}

        def files() -> dict[str, int]:
            return {p.name: p.stat().st_size for p in (home / "prometheus_multiproc_dir").iterdir()}

        with httpx.Client(base_url=gateway.url) as client:
            for i in range(20):  # every kind of refusal once: its series exist before counting
                client.get(f"/zz-{i}")
                client.post(f"/v1/translate/anything-{i}", content=b"x")
            before_series, before_files = series(), files()
            for i in range(20, 2000):
                assert client.get(f"/zz-{i}").status_code == 404
                assert client.post(f"/v1/translate/anything-{i}", content=b"x").status_code in (404, 415)
        assert series() == before_series and files() == before_files
    finally:
        gateway.stop()

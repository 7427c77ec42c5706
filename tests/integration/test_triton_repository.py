"""A published variant loads in the real Triton server (Python-backend flavour) and answers like onnxruntime."""

import io
import shutil

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from fastapi.testclient import TestClient
from PIL import Image

from ganc.card import INPUT_NAME, OUTPUT_NAME, VariantCard
from ganc.repository import derive_python_flavour, publish_variant
from ganc.repository.statistics_forms import write_forms
from ganc.settings import Settings
from service.app import create_app
from tests.support import card_fields, png
from workers.triton_control import load_model

pytestmark = pytest.mark.integration


def _infer_http(client, model, x):
    tensor = httpclient.InferInput(INPUT_NAME, list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=True)
    output = httpclient.InferRequestedOutput(OUTPUT_NAME, binary_data=True)
    return client.infer(model, [tensor], outputs=[output]).as_numpy(OUTPUT_NAME)


def test_published_variant_loads_through_the_repository_api_and_matches_onnxruntime(
    tmp_path, tiny_onnx, triton_factory
):
    canonical, flavour = tmp_path / "canonical", tmp_path / "python"
    publish_variant(canonical, tiny_onnx, VariantCard(**card_fields(tiny_onnx)))
    derive_python_flavour(canonical, flavour)
    server = triton_factory(flavour)

    client = httpclient.InferenceServerClient(server.http_url)
    assert not client.is_model_ready("tiny--s8")  # explicit mode: nothing loads until asked
    client.load_model("tiny--s8")
    assert client.is_model_ready("tiny--s8")

    session = ort.InferenceSession(str(tiny_onnx), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for shape in [(1, 3, 32, 32), (2, 3, 24, 40)]:
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        expected = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
        np.testing.assert_allclose(_infer_http(client, "tiny--s8", x), expected, atol=1e-4)

    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    x = rng.uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32)
    tensor = grpcclient.InferInput(INPUT_NAME, list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    actual = grpc.infer("tiny--s8", [tensor]).as_numpy(OUTPUT_NAME)
    np.testing.assert_allclose(actual, session.run([OUTPUT_NAME], {INPUT_NAME: x})[0], atol=1e-4)


def test_tiles_that_share_the_image_statistics_answer_on_triton_as_on_the_cpu(tmp_path, tiny_onnx, triton_factory):
    canonical, flavour = tmp_path / "canonical", tmp_path / "python"
    publish_variant(canonical, tiny_onnx, VariantCard(**card_fields(tiny_onnx, tile_statistics="image")))
    derive_python_flavour(canonical, flavour)
    server = triton_factory(flavour)
    common = dict(model_repository=canonical, warmup_runs=1, warmup_size=64, tile_size=128, tile_overlap=32)
    # Larger than the copy too: the gateway downscales it before the statistics pass.
    data, answers = png(400, 260, seed=3), {}
    for backend, settings in (
        ("cpu", Settings(**common, statistics_size=128)),
        ("triton", Settings(**common, statistics_size=128, cpu_backend=False, triton_url=server.http_url)),
    ):
        with TestClient(create_app(settings)) as client:
            response = client.post("/v1/translate/tiny", content=data, headers={"Content-Type": "image/png"})
            assert response.status_code == 200, response.text
            assert response.headers["x-ganc-backend"] == backend
            assert client.app.state.gateway.backends[backend].shares_statistics("tiny--s8")
        answers[backend] = np.asarray(Image.open(io.BytesIO(response.content)), int)
    assert np.abs(answers["cpu"] - answers["triton"]).max() <= 1


def test_forms_a_worker_writes_and_loads_after_the_variant_are_taken_up_without_a_new_version(
    tmp_path, tiny_onnx, triton_factory
):
    canonical, flavour = tmp_path / "canonical", tmp_path / "python"
    card = VariantCard(**card_fields(tiny_onnx, tile_statistics="image"))
    publish_variant(canonical, tiny_onnx, card)
    derive_python_flavour(canonical, flavour)
    for path in flavour.glob("*--*--*"):  # a repository published before its variant had forms
        shutil.rmtree(path)
    server = triton_factory(flavour)
    settings = Settings(
        model_repository=canonical,
        warmup_runs=1,
        warmup_size=64,
        tile_size=128,
        tile_overlap=32,
        cpu_backend=False,
        triton_url=server.http_url,
        triton_timeout_s=60,  # the Python backend's stubs are slow to answer on a loaded machine
    )
    with TestClient(create_app(settings)) as client:
        gateway = client.app.state.gateway
        assert not gateway.backends["triton"].shares_statistics("tiny--s8")
        write_forms(flavour, card, tiny_onnx, 1, "python")
        for form in ("statistics", "tiles"):
            load_model(server.http_url, f"tiny--s8--{form}")
        client.portal.call(gateway.catalog.refresh)
        assert gateway.backends["triton"].shares_statistics("tiny--s8")
        response = client.post(
            "/v1/translate/tiny", content=png(400, 260, seed=3), headers={"Content-Type": "image/png"}
        )
        assert response.status_code == 200, response.text

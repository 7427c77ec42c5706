"""What a worker does after publishing: ask a real Triton (explicit model control) to load the new version."""

import pytest
import tritonclient.http as httpclient
from fastapi.testclient import TestClient

from ganc.card import VariantCard
from ganc.repository import derive_python_flavour, publish_variant
from ganc.settings import TRITON_CONTROL_HEADER, Settings
from service.app import create_app
from tests.support import card_fields, free_port, png
from workers.triton_control import TritonControlError, load_model

pytestmark = pytest.mark.integration


def test_a_published_variant_is_loaded_and_its_next_version_picked_up(tmp_path, tiny_onnx, triton_factory):
    canonical, flavour = tmp_path / "canonical", tmp_path / "python"
    publish_variant(canonical, tiny_onnx, VariantCard(**card_fields(tiny_onnx)))
    derive_python_flavour(canonical, flavour)
    server = triton_factory(flavour)
    client = httpclient.InferenceServerClient(server.http_url)
    assert not client.is_model_ready("tiny--s8")
    load_model(server.http_url, "tiny--s8")
    assert client.is_model_ready("tiny--s8", "1")
    publish_variant(canonical, tiny_onnx, VariantCard(**card_fields(tiny_onnx, job="job-2")))
    derive_python_flavour(canonical, flavour)
    load_model(server.http_url, "tiny--s8")
    assert client.is_model_ready("tiny--s8", "2")
    with pytest.raises(TritonControlError, match="refused to load tiny--nothing"):
        load_model(server.http_url, "tiny--nothing")


def test_an_unreachable_triton_is_a_transient_error_the_task_retries():
    with pytest.raises(TritonControlError, match="unreachable"):
        load_model(f"127.0.0.1:{free_port()}", "tiny--s8", timeout_s=5)


def test_a_triton_whose_repository_api_is_restricted_loads_only_for_the_key(tmp_path, tiny_onnx, triton_factory):
    canonical, flavour = tmp_path / "canonical", tmp_path / "python"
    publish_variant(canonical, tiny_onnx, VariantCard(**card_fields(tiny_onnx)))
    derive_python_flavour(canonical, flavour)
    server = triton_factory(flavour, control_key="k3y")
    with pytest.raises(TritonControlError, match="refused to load tiny--s8"):
        load_model(server.http_url, "tiny--s8")
    with pytest.raises(TritonControlError, match="refused to load tiny--s8"):
        load_model(server.http_url, "tiny--s8", "wrong")
    load_model(server.http_url, "tiny--s8", "k3y")
    client = httpclient.InferenceServerClient(server.http_url)
    assert client.is_model_ready("tiny--s8", "1")  # inference and health stay open: only loading is restricted
    settings = Settings(model_repository=canonical, cpu_backend=False, triton_url=server.http_url, warmup_runs=1)
    client.unload_model("tiny--s8", headers={TRITON_CONTROL_HEADER: "k3y"})
    with TestClient(create_app(settings.model_copy(update={"triton_control_key": "k3y"}))) as gateway:
        response = gateway.post("/v1/translate/tiny", content=png(), headers={"Content-Type": "image/png"})
        assert response.status_code == 200 and response.headers["x-ganc-backend"] == "triton"

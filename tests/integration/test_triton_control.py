"""What a worker does after publishing: ask a real Triton (explicit model control) to load the new version."""

import pytest
import tritonclient.http as httpclient

from ganc.card import VariantCard
from ganc.repository import derive_python_flavour, publish_variant
from tests.support import card_fields, free_port
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

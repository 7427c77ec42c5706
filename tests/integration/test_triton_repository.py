"""A published variant loads in the real Triton server (Python-backend flavour) and answers like onnxruntime."""

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from ganc.card import INPUT_NAME, OUTPUT_NAME, VariantCard
from ganc.repository import derive_python_flavour, publish_variant
from tests.support import card_fields

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

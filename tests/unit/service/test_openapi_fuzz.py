"""schemathesis against the gateway's own OpenAPI document, in process: every endpoint, as generated (tokens
that are wrong or absent) and with the right token; never a 5xx, and every answer is one the document
describes (status, content type, body)."""

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from ganc.card import VariantCard
from ganc.repository import publish_variant
from ganc.settings import Settings
from service.app import create_app
from tests.support import card_fields

TOKEN = "5c1f8e2a9b7d4036a1e8c5f2b9d7a4e0"


@pytest.fixture(scope="module")
def gateway_schema(tmp_path_factory, tiny_onnx):
    root = tmp_path_factory.mktemp("fuzz")
    publish_variant(root / "repo", tiny_onnx, VariantCard(**card_fields(tiny_onnx, variant="teacher")))
    (root / "data").mkdir()
    app = create_app(
        Settings(
            model_repository=root / "repo",
            jobs_root=root / "jobs",
            broker_url=f"sqla+sqlite:///{root}/broker.sqlite",
            api_token=TOKEN,
            data_roots=[root / "data"],
            warmup_runs=1,
            warmup_size=32,
        )
    )
    with TestClient(app):  # the lifespan: catalog, backends and job queue
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


OPERATIONS = [
    "POST /v1/translate/{family}",
    "GET /v1/models",
    "GET /livez",
    "GET /readyz",
    "POST /v1/jobs",
    "GET /v1/jobs",
    "GET /v1/jobs/{job_id}",
    "DELETE /v1/jobs/{job_id}",
    "GET /v1/jobs/{job_id}/report",
]


def test_the_document_lists_every_endpoint(gateway_schema):
    labels = {result.ok().label for result in gateway_schema.get_all_operations()}
    assert labels == set(OPERATIONS)


@pytest.mark.parametrize("label", OPERATIONS)
def test_no_endpoint_answers_a_5xx_or_off_its_document(gateway_schema, label):
    operation = gateway_schema.find_operation_by_label(label)
    # Any bytes are a schema-valid image body, and most are not images: refusing those is right.
    lenient = [positive_data_acceptance]

    @given(case=operation.as_strategy())
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        case.call_and_validate(excluded_checks=lenient)  # as generated: on the job endpoints, a wrong or no token
        if "/v1/jobs" in label:
            case.headers = {**(case.headers or {}), "authorization": f"Bearer {TOKEN}"}
            case.call_and_validate(excluded_checks=lenient)

    check()

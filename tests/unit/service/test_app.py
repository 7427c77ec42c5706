"""The gateway app in process (real onnxruntime, a real repository on disk), through FastAPI's test client."""

import dataclasses
import io
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from ganc.card import INPUT_NAME, OUTPUT_NAME, VariantCard
from ganc.repository import publish_variant
from ganc.settings import Settings
from service.app import create_app
from service.estimates import size_bucket
from service.images import finish, prepare
from tests.support import card_fields, identity_onnx, png, scrape, with_metrics_port

PNG = {"Content-Type": "image/png"}


@pytest.fixture
def client(repo):
    fields = with_metrics_port(model_repository=repo, warmup_runs=1, warmup_size=32, catalog_poll_s=0.2)
    with TestClient(create_app(Settings(**fields))) as test_client:
        test_client.metrics_port = fields["gateway_metrics_port"]
        yield test_client


def test_the_gateway_never_imports_torch():
    probe = "import sys, service.app, service.bento; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0


def test_translate_answers_the_same_size_with_what_served_it(client, tiny_onnx):
    data = png(37, 23)
    response = client.post("/v1/translate/tiny", content=data, headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-ganc-variant"] == "teacher"  # best quality without a budget
    assert response.headers["x-ganc-backend"] == "cpu"
    assert float(response.headers["x-ganc-latency-ms"]) > 0
    timings = dict(part.split(";dur=") for part in response.headers["server-timing"].split(", "))
    assert set(timings) == {"decode", "wait", "model", "encode"} and float(timings["model"]) > 0
    out = np.asarray(Image.open(io.BytesIO(response.content)))
    assert out.shape == (23, 37, 3)
    rgb = np.asarray(Image.open(io.BytesIO(data)))
    prepared = prepare(rgb, 4)
    expected = ort.InferenceSession(str(tiny_onnx)).run([OUTPUT_NAME], {INPUT_NAME: prepared.tensor})[0]
    expected = ((np.clip(expected[0, :, :23, :37], -1, 1) + 1) * 127.5 + 0.5).astype(np.uint8).transpose(1, 2, 0)
    assert np.abs(out.astype(int) - expected).max() <= 1


def test_multipart_budget_header_pinning_and_formats(client):
    response = client.post(
        "/v1/translate/tiny?format=jpeg&variant=small", files={"image": ("x.png", png(40, 24), "image/png")}
    )
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-ganc-variant"] == "small"
    headers = {"Content-Type": "image/png", "X-Latency-Budget-Ms": "100000"}
    response = client.post("/v1/translate/tiny?format=webp", content=png(40, 24), headers=headers)
    assert response.status_code == 200 and response.headers["x-ganc-budget-met"] == "true"


def test_a_tight_budget_is_served_by_the_fastest_and_marked_a_miss(client):
    response = client.post(
        "/v1/translate/tiny?budget_ms=0.0001", content=png(40, 24), headers={"Content-Type": "image/png"}
    )
    assert response.status_code == 200
    assert response.headers["x-ganc-budget-met"] == "false"
    assert "fastest" in response.headers["x-ganc-budget-note"]


def test_tight_budgets_keep_long_requests_off_the_shared_backend(client):
    estimates = client.app.state.gateway.estimates
    for _ in range(64):  # the teacher takes 400 ms on this size (the test's models are equally tiny)
        estimates.record("tiny--teacher", "cpu", 40 * 24, 400.0)

    def served(budget_ms: float) -> str:
        response = client.post(f"/v1/translate/tiny?budget_ms={budget_ms}", content=png(40, 24), headers=PNG)
        assert response.status_code == 200 and response.headers["x-ganc-budget-met"] == "true"
        return response.headers["x-ganc-variant"]

    assert served(1000) == "teacher"
    response = client.post("/v1/translate/tiny?budget_ms=0.001", content=png(40, 24), headers=PNG)
    assert response.headers["x-ganc-variant"] == "small" and response.headers["x-ganc-budget-met"] == "false"
    assert served(1000) == "teacher"  # a budget nothing can meet is not protected
    assert served(100) == "small"  # the teacher would not fit
    assert served(1000) == "small"  # a 100 ms request arriving behind a teacher run would miss


def test_a_budget_the_fastest_meets_alone_stays_protected_when_load_stretches_its_tail(client):
    estimates = client.app.state.gateway.estimates
    for _ in range(64):
        estimates.record("tiny--teacher", "cpu", 40 * 24, 400.0)
    for index in range(64):  # 20 ms alone; beside other inferences up to 150 ms, so its p95 is past 100 ms
        estimates.record("tiny--small", "cpu", 40 * 24, 150.0 if index % 8 == 0 else 20.0)
    response = client.post("/v1/translate/tiny?budget_ms=100", content=png(40, 24), headers=PNG)
    assert response.headers["x-ganc-variant"] == "small"
    response = client.post("/v1/translate/tiny?budget_ms=1000", content=png(40, 24), headers=PNG)
    assert response.headers["x-ganc-variant"] == "small"  # the teacher would hold the core a 100 ms request needs


def test_a_long_inference_keeps_to_one_core_while_tight_budgets_are_asked_for(client):
    gateway = client.app.state.gateway
    backend = gateway.backends["cpu"]
    runs = []

    class Recording:
        def __init__(self, session, kind: str) -> None:
            self.session, self.kind = session, kind

        def run(self, *args, **kwargs):
            runs.append(self.kind)
            return self.session.run(*args, **kwargs)

    sessions = backend.sessions["tiny--teacher"]
    whole = type(sessions.whole)(Recording(sessions.whole.wide, "wide"), Recording(sessions.whole.narrow, "narrow"))
    backend.sessions["tiny--teacher"] = dataclasses.replace(sessions, whole=whole)
    for _ in range(64):
        gateway.estimates.record("tiny--teacher", "cpu", 40 * 24, 400.0)
    assert client.post("/v1/translate/tiny", content=png(40, 24), headers=PNG).headers["x-ganc-variant"] == "teacher"
    assert runs == ["wide"]  # alone, with nothing tight asked for: every core
    client.post("/v1/translate/tiny?budget_ms=100", content=png(40, 24), headers=PNG)
    assert client.post("/v1/translate/tiny", content=png(40, 24), headers=PNG).headers["x-ganc-variant"] == "teacher"
    assert runs == ["wide", "narrow"]  # 400 ms is longer than a 100 ms budget's slack: one core


@pytest.mark.parametrize(
    "path, body, content_type, status, message",
    [
        ("/v1/translate/nope", png(40, 24), "image/png", 404, "no family 'nope'"),
        ("/v1/translate/tiny?variant=huge", png(40, 24), "image/png", 404, "no variant 'huge'"),
        ("/v1/translate/tiny", b"hello", "text/plain", 415, "content type"),
        ("/v1/translate/tiny", b"not an image", "image/png", 415, "not a PNG"),
        ("/v1/translate/tiny", b"", "image/png", 400, "empty"),
        ("/v1/translate/tiny?format=gif", png(40, 24), "image/png", 422, "format"),
        ("/v1/translate/tiny?budget_ms=-3", png(40, 24), "image/png", 422, "budget_ms"),
    ],
)
def test_refusals_are_4xx_with_a_json_error(client, path, body, content_type, status, message):
    response = client.post(path, content=body, headers={"Content-Type": content_type})
    assert response.status_code == status
    assert message in response.json()["error"]


def test_models_lists_cards_backends_and_live_latency(client):
    client.post("/v1/translate/tiny", content=png(40, 24), headers={"Content-Type": "image/png"})
    families = client.get("/v1/models").json()["families"]
    assert [f["family"] for f in families] == ["tiny"]
    variants = {v["variant"]: v for v in families[0]["variants"]}
    assert set(variants) == {"teacher", "small"}
    backend = variants["teacher"]["backends"][0]
    assert backend["backend"] == "cpu" and backend["p50_ms"] > 0 and backend["p95_ms"] >= backend["p50_ms"]
    assert variants["small"]["macs"] == 1000 and variants["small"]["quality"] == {"psnr": 29.0}


def test_health_readiness_and_metrics(client):
    assert client.get("/livez").json() == {"status": "alive"}
    assert client.get("/readyz").status_code == 200
    client.post("/v1/translate/tiny", content=png(40, 24), headers={"Content-Type": "image/png"})
    assert client.get("/metrics").status_code == 404  # not on the API's port: on a port of its own
    text = scrape(client.metrics_port)
    assert 'ganc_request_latency_seconds_bucket{backend="cpu",family="tiny"' in text
    assert 'ganc_variant_macs{family="tiny",variant="small"} 1000.0' in text
    assert "ganc_router_decisions_total" in text and "ganc_pixels_total" in text
    client.post("/v1/translate/tiny", content=b"junk", headers=PNG)
    client.post("/v1/translate/made-up-family", content=png(40, 24), headers=PNG)
    text = scrape(client.metrics_port)
    assert 'ganc_refused_requests_total{family="tiny",status="415"}' in text
    assert 'ganc_refused_requests_total{family="(unknown)",status="404"}' in text


def test_the_metrics_port_closes_with_the_gateway_and_a_taken_one_is_refused_in_one_line(repo):
    fields = with_metrics_port(model_repository=repo, warmup_runs=1, warmup_size=32)
    settings, port = Settings(**fields), fields["gateway_metrics_port"]
    with TestClient(create_app(settings)):
        assert "ganc_variant_macs" in scrape(port)
        taken = f"the gateway's metrics port 127.0.0.1:{port} cannot be opened"
        with pytest.raises(OSError, match=taken) as refused, TestClient(create_app(settings)):
            pass
        assert len(str(refused.value).splitlines()) == 1
    with TestClient(create_app(settings)):  # the port was given back: a new gateway opens it again
        assert "ganc_variant_macs" in scrape(port)


def test_a_body_over_the_cap_is_refused(repo):
    settings = Settings(model_repository=repo, warmup_runs=1, warmup_size=32, max_body_bytes=100)
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/translate/tiny", content=png(40, 24), headers={"Content-Type": "image/png"})
        assert response.status_code == 413 and "more than 100" in response.json()["error"]


def test_an_empty_repository_is_not_ready(tmp_path):
    with TestClient(create_app(Settings(model_repository=tmp_path))) as client:
        assert client.get("/readyz").status_code == 503


def test_a_variant_that_fails_to_load_is_reported_and_the_rest_serve(repo, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx graph")
    publish_variant(repo, broken, VariantCard(**card_fields(broken, variant="broken", quality={"psnr": 99.0})))
    with TestClient(create_app(Settings(model_repository=repo, warmup_runs=1, warmup_size=32))) as client:
        problems = client.get("/v1/models").json()["problems"]
        assert problems == ["tiny--broken v1 on cpu: cannot be served"]  # no path, no onnxruntime's words
        response = client.post("/v1/translate/tiny", content=png(40, 24), headers={"Content-Type": "image/png"})
        assert response.status_code == 200 and response.headers["x-ganc-variant"] == "teacher"


def test_an_unreadable_card_is_named_without_its_path_or_the_parsers_words(repo):
    (repo / "tiny--teacher" / "1" / "card.json").write_text("{not json")
    with TestClient(create_app(Settings(model_repository=repo, warmup_runs=1, warmup_size=32))) as client:
        assert client.get("/v1/models").json()["problems"] == ["tiny--teacher/1: unreadable card"]


def test_more_requests_in_flight_than_the_bound_get_429(repo):
    settings = Settings(model_repository=repo, warmup_runs=1, warmup_size=32, max_in_flight=1)
    with TestClient(create_app(settings)) as client, ThreadPoolExecutor(8) as pool:
        big = png(512, 512)
        responses = list(pool.map(lambda _: client.post("/v1/translate/tiny", content=big, headers=PNG), range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert 200 in statuses and 429 in statuses and set(statuses) <= {200, 429}
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["retry-after"] == "1" and "in flight" in refused.json()["error"]


def test_images_whose_decoded_memory_together_passes_the_bound_get_429(repo):
    # One 512x512 image fits in 12 MB once decoded (40 bytes a pixel); two do not.
    settings = Settings(model_repository=repo, warmup_runs=1, warmup_size=32, max_decoded_mb=12)
    with TestClient(create_app(settings)) as client, ThreadPoolExecutor(8) as pool:
        big = png(512, 512)
        responses = list(pool.map(lambda _: client.post("/v1/translate/tiny", content=big, headers=PNG), range(8)))
        assert client.post("/v1/translate/tiny", content=png(1024, 1024), headers=PNG).status_code == 200  # alone
    statuses = sorted(r.status_code for r in responses)
    assert 200 in statuses and 429 in statuses and set(statuses) <= {200, 429}
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["retry-after"] == "1" and "12 MB" in refused.json()["error"]


def test_anything_unexpected_is_a_json_500_that_is_logged_and_counted(repo, caplog):
    settings = Settings(**with_metrics_port(model_repository=repo, warmup_runs=1, warmup_size=32))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:

        async def broken(*_args, **_kwargs):
            raise RuntimeError("a bug")

        client.app.state.gateway.translate = broken
        response = client.post("/v1/translate/tiny", content=png(40, 24), headers=PNG)
        assert response.status_code == 500 and "RuntimeError" in response.json()["error"]
        scraped = scrape(settings.gateway_metrics_port)
        assert 'ganc_unexpected_errors_total{route="/v1/translate/{family}"} 1.0' in scraped
    assert "unexpected error serving POST /v1/translate/tiny" in caplog.text


def test_made_up_family_names_never_become_metric_labels(client):
    for name in ("a1", "b2", "c3"):
        assert client.post(f"/v1/translate/{name}", content=png(8, 8), headers=PNG).status_code == 404
    text = scrape(client.metrics_port)
    assert not any(f'family="{name}"' in text for name in ("a1", "b2", "c3"))
    assert 'ganc_in_flight_requests{family="(unknown)"}' in text


def test_large_images_run_in_tiles_that_blend_back_seamlessly(tmp_path):
    model = identity_onnx(tmp_path / "identity.onnx")
    publish_variant(tmp_path / "repo", model, VariantCard(**card_fields(model, family="same", variant="id")))
    settings = Settings(
        model_repository=tmp_path / "repo", warmup_runs=1, warmup_size=64, tile_size=128, tile_overlap=32
    )
    data = png(300, 200)
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/translate/same", content=data, headers=PNG)
        assert response.status_code == 200, response.text
        gateway = client.app.state.gateway
        assert 2**14 in {2**b for b in gateway.estimates.samples[("same--id", "cpu")]}  # measured per 128-px tile
    out = np.asarray(Image.open(io.BytesIO(response.content)))
    assert np.abs(out.astype(int) - np.asarray(Image.open(io.BytesIO(data))).astype(int)).max() <= 1


def test_tiles_of_a_variant_whose_card_says_so_share_the_image_statistics(tmp_path, tiny_onnx):
    for variant, statistics in (("own", "tile"), ("shared", "image")):
        card = card_fields(tiny_onnx, variant=variant, tile_statistics=statistics)
        publish_variant(tmp_path / "repo", tiny_onnx, VariantCard(**card))
    settings = Settings(
        model_repository=tmp_path / "repo", warmup_runs=1, warmup_size=64, tile_size=128, tile_overlap=32
    )
    rgb = np.random.default_rng(0).integers(0, 256, (160, 288, 3), dtype=np.uint8)
    rgb[:, 144:] = rgb[:, 144:] // 8 + 200  # a bright, flat half: tiles there have statistics of their own
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    prepared = prepare(rgb, 4)
    expected = ort.InferenceSession(str(tiny_onnx)).run([OUTPUT_NAME], {INPUT_NAME: prepared.tensor})[0]
    whole = np.asarray(Image.fromarray(finish(expected, prepared)), np.float64)
    errors = {}
    with TestClient(create_app(settings)) as client:
        for variant in ("own", "shared"):
            response = client.post(f"/v1/translate/tiny?variant={variant}", content=buffer.getvalue(), headers=PNG)
            assert response.status_code == 200, response.text
            errors[variant] = np.abs(np.asarray(Image.open(io.BytesIO(response.content)), np.float64) - whole).mean()
        samples = client.app.state.gateway.estimates.samples[("tiny--shared", "cpu")]
        assert size_bucket(160 * 288) in samples  # the statistics pass, on the image itself (it fits the copy)
    assert errors["shared"] < 0.25 * errors["own"], errors


def test_an_image_no_larger_than_the_statistics_copy_runs_whole(tmp_path, tiny_onnx):
    publish_variant(tmp_path / "repo", tiny_onnx, VariantCard(**card_fields(tiny_onnx, tile_statistics="image")))
    settings = Settings(
        model_repository=tmp_path / "repo",
        warmup_runs=1,
        warmup_size=32,
        tile_size=64,
        tile_overlap=16,
        statistics_size=256,
    )
    rgb = np.random.default_rng(0).integers(0, 256, (160, 200, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    prepared = prepare(rgb, 4)
    expected = ort.InferenceSession(str(tiny_onnx)).run([OUTPUT_NAME], {INPUT_NAME: prepared.tensor})[0]
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/translate/tiny", content=buffer.getvalue(), headers=PNG)
        assert response.status_code == 200, response.text
        samples = client.app.state.gateway.estimates.samples[("tiny--s8", "cpu")]
        assert size_bucket(64 * 64) not in samples  # no tile ran
    answer = np.asarray(Image.open(io.BytesIO(response.content)), int)
    assert np.abs(answer - finish(expected, prepared).astype(int)).max() <= 1


def test_an_image_no_variant_can_translate_within_the_cap_is_refused_with_413(repo):
    settings = Settings(model_repository=repo, warmup_runs=1, warmup_size=32, max_latency_ms=0.001)
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/translate/tiny", content=png(40, 24), headers=PNG)
        assert response.status_code == 413 and "past the server's cap" in response.json()["error"]


def test_multipart_parts_are_capped_like_raw_bodies(repo):
    settings = Settings(model_repository=repo, warmup_runs=1, warmup_size=32, max_body_bytes=100_000)
    with TestClient(create_app(settings)) as client:

        def chunks():  # no Content-Length: the cap must hold on the stream itself
            yield b"--b\r\nContent-Disposition: form-data; name=image; filename=x.png\r\n\r\n"
            for _ in range(50):
                yield b"\x00" * 10_000
            yield b"\r\n--b--\r\n"

        headers = {"Content-Type": "multipart/form-data; boundary=b"}
        response = client.post("/v1/translate/tiny", content=chunks(), headers=headers)
        assert response.status_code == 413 and "more than" in response.json()["error"]
        broken = client.post("/v1/translate/tiny", content=b"--b\r\nno headers", headers=headers)
        assert broken.status_code == 400

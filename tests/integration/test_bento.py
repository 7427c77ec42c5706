"""`bentoml build` packs the gateway offline from bentofile.yaml, and the built Bento serves translations."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ganc.card import VariantCard
from ganc.repository import publish_variant
from tests.support import card_fields, free_port, png, spawn, stop, wait_for_http

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
BENTOML = str(Path(sys.executable).parent / "bentoml")


def test_the_bento_builds_offline_and_serves(tmp_path, tiny_onnx):
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
    built = subprocess.run(
        [BENTOML, "build", "--output", "tag"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    tag = built.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    assert tag.startswith("ganc-gateway:")
    bento = tmp_path / "bentoml" / "bentos" / "ganc-gateway" / tag.split(":")[1]
    assert (bento / "src" / "service" / "bento.py").is_file() and (bento / "src" / "ganc" / "card.py").is_file()
    assert not list((bento / "src").glob("compression")), "the gateway's Bento must not carry the training code"
    assert not (bento / "src" / "ganc" / "cli").exists(), "nor the command line that reaches into it"

    publish_variant(tmp_path / "repo", tiny_onnx, VariantCard(**card_fields(tiny_onnx)))
    port = free_port()
    server = spawn(
        [BENTOML, "serve", tag, "--host", "127.0.0.1", "--port", str(port)],
        {**env, "GANC_MODEL_REPOSITORY": str(tmp_path / "repo"), "GANC_WARMUP_RUNS": "1", "GANC_WARMUP_SIZE": "64"},
        tmp_path / "bento.log",
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/readyz", server, tmp_path / "bento.log")
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/translate/tiny",
            content=png(),
            headers={"Content-Type": "image/png"},
            timeout=30,
        )
        assert response.status_code == 200 and response.headers["x-ganc-variant"] == "s8"
    finally:
        stop(server)

"""`ganc submit` against a real gateway app served by uvicorn in this process (SQLite broker, no worker)."""

import json
import threading
import time

import pytest
import uvicorn
from typer.testing import CliRunner

from ganc.cli.main import app
from ganc.settings import Settings
from service.app import create_app
from tests.support import free_port

runner = CliRunner()
SPEC = {"family": "tiny", "task": "sr4x", "dataset": {"sample": "sr4x", "size": 32}, "search": {"macs_budgets": [1e9]}}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    root = tmp_path_factory.mktemp("submit")
    (root / "repo").mkdir()
    settings = Settings(
        model_repository=root / "repo",
        jobs_root=root / "jobs",
        api_token="c4a1e7b9d2f04a6c8e1b3d5f7a9c0e2b",
        broker_url=f"sqla+sqlite:///{root}/broker.sqlite",
        data_roots=[root],
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", root
    server.should_exit = True
    thread.join(10)


def submit(*args: str, token: str | None = "c4a1e7b9d2f04a6c8e1b3d5f7a9c0e2b"):
    return runner.invoke(app, ["submit", *args], env={"GANC_API_TOKEN": token} if token else {"GANC_API_TOKEN": ""})


def test_a_spec_is_queued_and_the_job_printed(gateway, tmp_path):
    url, root = gateway
    (tmp_path / "spec.yaml").write_text(json.dumps(SPEC))
    result = submit(str(tmp_path / "spec.yaml"), "--url", url)
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    assert job["state"] == "queued" and (root / "jobs" / job["id"] / "job.json").is_file()


@pytest.mark.parametrize(
    "spec, token, message",
    [
        ({**SPEC, "teacher": {"steps": 0}}, "c4a1e7b9d2f04a6c8e1b3d5f7a9c0e2b", "422: spec: teacher.steps"),
        ({**SPEC, "dataset": {"path": "/etc"}}, "c4a1e7b9d2f04a6c8e1b3d5f7a9c0e2b", "outside the data roots"),
        (SPEC, "wrong", "401: send the API token"),
        (SPEC, None, "401: send the API token"),
    ],
)
def test_refusals_are_one_line_and_a_failing_exit(gateway, tmp_path, spec, token, message):
    url, _ = gateway
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    result = submit(str(tmp_path / "spec.yaml"), "--url", url, token=token)
    assert result.exit_code == 1 and message in result.output and len(result.output.strip().splitlines()) == 1


def test_a_missing_file_bad_yaml_or_no_gateway_is_a_clear_error(tmp_path):
    assert "does not exist" in submit(str(tmp_path / "missing.yaml")).output
    (tmp_path / "bad.yaml").write_text("family: [unclosed")
    assert "not valid YAML" in submit(str(tmp_path / "bad.yaml")).output
    (tmp_path / "spec.yaml").write_text(json.dumps(SPEC))
    result = submit(str(tmp_path / "spec.yaml"), "--url", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 1 and "cannot reach the gateway" in result.output


def test_the_token_comes_from_a_file_or_the_environment_never_the_command_line(gateway, tmp_path):
    url, _ = gateway
    (tmp_path / "spec.yaml").write_text(json.dumps(SPEC))
    (tmp_path / "token").write_text("c4a1e7b9d2f04a6c8e1b3d5f7a9c0e2b\n")
    result = submit(str(tmp_path / "spec.yaml"), "--url", url, "--token-file", str(tmp_path / "token"), token=None)
    assert result.exit_code == 0, result.output
    result = submit(str(tmp_path / "spec.yaml"), "--url", url, "--token", "c4a1e7b9d2f04a6c8e1b3d5f7a9c0e2b")
    assert result.exit_code != 0 and "No such option: --token" in result.output
    result = submit(str(tmp_path / "spec.yaml"), "--url", url, "--token-file", str(tmp_path / "missing"), token=None)
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1

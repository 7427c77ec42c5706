import json
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from compression.checkpoint import save_checkpoint
from compression.models import ModelSpec
from ganc.cli.main import app
from ganc.repository import RepositoryError, publish_variant, read_index

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_macs_of_the_teacher_as_json():
    result = run("macs", "--arch", "resnet", "--ngf", "64", "--n-blocks", "9", "--size", "256", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["params"] == 11_378_179
    assert abs(report["macs"] - 56.8e9) / 56.8e9 < 0.001
    assert report["macs_real"] < report["macs"]


def test_macs_of_the_horse2zebra_student_as_json():
    result = run(
        "macs", "--arch", "sub_mobile_resnet", "--config", "16_16_32_16_32_32_16_16", "--size", "256", "--json"
    )
    assert result.exit_code == 0, result.output
    assert abs(json.loads(result.stdout)["macs"] - 2.55e9) / 2.55e9 < 0.02


def test_export_publishes_with_a_card(tmp_path):
    result = run(
        "export",
        "--arch",
        "sub_mobile_resnet",
        "--config",
        "8_8_8_8_8_8_8_8",
        "--n-blocks",
        "3",
        "--family",
        "tiny",
        "--variant",
        "s8",
        "--task",
        "sr4x",
        "--repo",
        str(tmp_path),
        "--fp16",
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["model"] == "tiny--s8" and summary["version"] == 1
    (entry,) = read_index(tmp_path).versions
    assert entry.card.precision == "fp16" and entry.card.config == "8_8_8_8_8_8_8_8"
    # The family is now the exports' own: a compression job keeps out of it unless it replaces it.
    assert read_index(tmp_path).owner("tiny") == "ganc-export"
    other = entry.card.model_copy(update={"job": "job-1", "variant": "s16"})
    with pytest.raises(RepositoryError, match="was made by job 'ganc-export'"):
        publish_variant(tmp_path, entry.onnx_path, other)


def test_export_extracts_a_subnet_from_a_supernet_checkpoint(tmp_path):
    spec = ModelSpec("super_mobile_resnet", {"choices": "channels-32", "n_blocks": 3})
    save_checkpoint(tmp_path / "super.pt", spec, spec.build())
    out = tmp_path / "sub.onnx"
    result = run(
        "export", "--checkpoint", str(tmp_path / "super.pt"), "--config", "16_24_32_16_16_24_32_16", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert out.is_file()


def _checkpoint(tmp_path, kind: str):
    path = tmp_path / "g.pt"
    if kind == "corrupt":
        path.write_bytes(b"garbage")
    elif kind == "supernet":
        spec = ModelSpec("super_mobile_resnet", {"choices": "channels-48", "n_blocks": 3})
        save_checkpoint(path, spec, spec.build())
    return path


@pytest.mark.parametrize(
    "args, message",
    [
        (["macs", "--arch", "sub_mobile_resnet", "--config", "16_16_32"], "8 entries"),
        (["macs", "--arch", "sub_mobile_resnet", "--config", "16_0_32_16_32_32_16_16"], "positive"),
        (["macs", "--arch", "sub_mobile_resnet", "--config", "16_1.5_32_16_32_32_16_16"], "not a positive integer"),
        (["macs", "--arch", "transformer"], "unknown architecture 'transformer'"),
        (["macs", "--arch", "resnet", "--size", "0"], "--size must be positive"),
        (["export", "--checkpoint", "{missing}", "--out", "{out}"], "does not exist"),
        (["export", "--checkpoint", "{corrupt}", "--out", "{out}"], "unreadable"),
        (
            ["export", "--checkpoint", "{supernet}", "--config", "40_40_40_40_40_40_40_40", "--out", "{out}"],
            "not in choice set",
        ),
        (["export", "--arch", "resnet", "--ngf", "8", "--family", "../up", "--variant", "v"], "unsafe family name"),
        (["export", "--arch", "resnet", "--ngf", "8", "--family", "f", "--variant", "A B"], "unsafe variant name"),
        (["export", "--arch", "resnet", "--ngf", "8"], "nothing to do"),
    ],
)
def test_bad_input_gives_one_line_and_writes_nothing(tmp_path, args, message):
    repo = tmp_path / "repo"
    paths = {
        "missing": tmp_path / "absent.pt",
        "corrupt": _checkpoint(tmp_path, "corrupt") if "{corrupt}" in args else None,
        "supernet": _checkpoint(tmp_path, "supernet") if "{supernet}" in args else None,
        "out": tmp_path / "out.onnx",
    }
    args = [a.format(**paths) if a.startswith("{") else a for a in args]
    if args[0] == "export":
        args += ["--repo", str(repo)]
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not repo.exists()
    assert not (tmp_path / "out.onnx").exists()


def test_repo_list_shows_published_variants(tmp_path):
    torch.manual_seed(0)
    run(
        "export",
        "--arch",
        "resnet",
        "--ngf",
        "8",
        "--n-blocks",
        "3",
        "--family",
        "f",
        "--variant",
        "t",
        "--repo",
        str(tmp_path),
    )
    result = run("repo", "list", "--repo", str(tmp_path), "--json")
    assert result.exit_code == 0
    assert [row["model"] for row in json.loads(result.stdout)["versions"]] == ["f--t"]


def _a_stage_that_fails_inside_torch(self):
    return {"dataset": str(torch.ones(2, 3) @ torch.ones(2, 3))}


@pytest.fixture
def failing_spec(tmp_path, monkeypatch):
    """A spec whose first stage fails inside torch."""
    from compression.pipeline import Pipeline

    monkeypatch.setattr(Pipeline, "data", _a_stage_that_fails_inside_torch)
    spec = {"family": "tiny", "task": "sr4x", "dataset": {"sample": "sr4x", "size": 32}}
    (tmp_path / "spec.json").write_text(json.dumps({**spec, "search": {"macs_budgets": [1e12]}}))
    return tmp_path / "spec.json"


@pytest.mark.parametrize("debug", [False, True])
def test_a_failure_inside_torch_says_its_line_and_where_its_traceback_is(tmp_path, failing_spec, debug):
    work = tmp_path / "work"
    args = ["compress", str(failing_spec), "--work-dir", str(work), "--repo", str(tmp_path / "repo")]
    # --debug sets GANC_DEBUG for the command; the runner restores the variable afterwards
    result = runner.invoke(app, ["--debug", *args] if debug else args, env={"GANC_DEBUG": None})
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "error: mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)"
    kept = (work / "traceback.log").read_text()
    assert "_a_stage_that_fails_inside_torch" in kept
    if debug:
        assert (
            "Traceback (most recent call last)" in result.stderr and "_a_stage_that_fails_inside_torch" in result.stderr
        )
    else:
        assert lines[1:] == [f"RuntimeError, not a refusal of input: its traceback is in {work / 'traceback.log'}"]
    assert not (tmp_path / "repo").exists()


def test_compress_works_under_ganc_jobs_root_when_no_folder_is_given(tmp_path, failing_spec):
    args = ["compress", str(failing_spec), "--repo", str(tmp_path / "repo")]
    result = runner.invoke(app, args, env={"GANC_JOBS_ROOT": str(tmp_path / "jobs")})
    assert result.exit_code == 1
    assert (tmp_path / "jobs" / "tiny" / "traceback.log").is_file()


def test_serve_keeps_the_gateway_workers_the_environment_gives_unless_the_flag_says_otherwise(tmp_path):
    from ganc.cli.serve import gateway_environment

    env = {"GANC_GATEWAY_WORKERS": "1", "PATH": "/bin"}
    assert gateway_environment(env, tmp_path, None, "127.0.0.1")["GANC_GATEWAY_WORKERS"] == "1"
    assert gateway_environment({}, tmp_path, 1, "127.0.0.1")["GANC_GATEWAY_WORKERS"] == "1"
    assert "GANC_GATEWAY_WORKERS" not in gateway_environment({}, tmp_path, None, "127.0.0.1")
    assert gateway_environment(env, tmp_path, None, "127.0.0.1")["GANC_MODEL_REPOSITORY"] == str(tmp_path)


def test_serve_opens_the_metrics_port_on_the_apis_address_unless_the_environment_names_one(tmp_path):
    from ganc.cli.serve import gateway_environment

    assert gateway_environment({}, tmp_path, None, "127.0.0.1")["GANC_METRICS_HOST"] == "127.0.0.1"
    given = {"GANC_METRICS_HOST": "10.0.0.5"}
    assert gateway_environment(given, tmp_path, None, "0.0.0.0")["GANC_METRICS_HOST"] == "10.0.0.5"


def test_the_command_line_runs_as_a_module_as_torchrun_starts_it():
    done = subprocess.run([sys.executable, "-m", "ganc.cli", "compress", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--nproc-per-node" in done.stdout and "Usage: ganc compress" in done.stdout

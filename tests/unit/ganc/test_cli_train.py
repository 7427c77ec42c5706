import json

import pytest
from typer.testing import CliRunner

from ganc.cli.main import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_sample_then_train_then_resume_a_teacher(tmp_path):
    result = run("data", "sample", "--task", "sr4x", "--size", "32", "--out", tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["train"]["pairs"] > 0
    common = ["--ngf", "8", "--n-blocks", "3", "--ndf", "8", "--batch-size", "1", "--every", "2"]
    result = run("train", "teacher", "--dataset", tmp_path / "data", "--out", tmp_path / "t", "--steps", "2", *common)
    assert result.exit_code == 0, result.output
    assert "psnr" in json.loads(result.stdout)["metrics"]
    result = run("train", "teacher", "--out", tmp_path / "t", "--resume", "--steps", "4")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t" / "checkpoints" / "step_0000004.pt").is_file()
    # Held to a time limit no step fits: it keeps twice the steps taken when it decides (2 + 16).
    limited = ["--dataset", tmp_path / "data", "--out", tmp_path / "l", "--steps", "100", "--max-minutes", "1e-4"]
    result = run("train", "teacher", *limited, *common)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "l" / "time_limit.json").read_text())["steps"] == 36
    assert (tmp_path / "l" / "checkpoints" / "step_0000036.pt").is_file()
    for init in ("teacher", "fresh"):
        out = tmp_path / f"d-{init}"
        result = run("train", "distill", "--teacher", tmp_path / "t", "--out", out, "--ngf", "4", "--steps", "1",
                     "--batch-size", "1", "--student-init", init)  # fmt: skip
        assert result.exit_code == 0, result.output
        assert json.loads((out / "config.json").read_text())["student_init"] == init
    result = run(
        "train",
        "supernet",
        "--teacher",
        tmp_path / "t",
        "--out",
        tmp_path / "s",
        "--choices",
        "channels-32",
        "--steps",
        "1",
        "--batch-size",
        "1",
    )
    assert result.exit_code == 0, result.output
    result = run(
        "export", "--checkpoint", tmp_path / "s", "--config", "16_16_16_16_16_16_16_16", "--out", tmp_path / "s.onnx"
    )
    assert result.exit_code == 0, result.output
    # Parts that learn from the teacher's inputs need its trunk (ngf 8: c2 = 8) in every sub-network.
    parts = ["train", "supernet", "--teacher", tmp_path / "t", "--part-inputs", "teacher", "--steps", "1"]
    ssim = ("--reconstruction", "l1+ssim")
    result = run(*parts, *ssim, "--out", tmp_path / "p", "--choices", "channels-32-trunk-8", "--batch-size", "1")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "p" / "config.json").read_text())
    assert (config["part_inputs"], config["reconstruction"]) == ("teacher", "l1+ssim")
    result = run(*parts, "--out", tmp_path / "q", "--choices", "channels-32")
    assert result.exit_code == 1 and "`channels-32-trunk-8`" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "q").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["data", "sample", "--task", "horses", "--out", "{tmp}/d"], "unknown task"),
        (["data", "sample", "--task", "sr4x", "--photos", "{tmp}/none", "--out", "{tmp}/d"], "does not exist"),
        (["train", "teacher", "--out", "{tmp}/t"], "--dataset is required"),
        (["train", "teacher", "--out", "{tmp}/t", "--dataset", "{tmp}/none"], "dataset folder"),
        (["train", "teacher", "--out", "{tmp}/t", "--resume"], "not a run folder"),
        (["train", "teacher", "--out", "{tmp}/t", "--dataset", "{tmp}", "--model", "gan"], "model: Input should be"),
        (["train", "supernet", "--out", "{tmp}/s", "--teacher", "{tmp}/none"], "does not exist"),
        (["train", "supernet", "--out", "{tmp}/s", "--reconstruction", "ssim"], "Invalid value for '--reconstruction'"),
        (["train", "supernet", "--out", "{tmp}/s", "--part-inputs", "all"], "Invalid value for '--part-inputs'"),
        (["train", "supernet", "--out", "{tmp}/s", "--colour", "red"], "No such option: --colour"),
        (["train", "teacher", "--out", "{tmp}/t", "--dataset", "{tmp}", "--max-minutes", "0"], "max_minutes"),
        (["train", "students", "--out", "{tmp}/s"], "No such command 'students'"),
        (
            ["train", "supernet", "--out", "{tmp}/s", "--teacher", "{tmp}", "--choices", "channels-7"],
            "unknown choice set",
        ),
    ],
)
def test_bad_training_requests_get_one_line(tmp_path, args, message):
    result = run(*[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "t").exists() and not (tmp_path / "s").exists() and not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        ("family: [unclosed", "not valid YAML"),
        ("family: sr4x\ntask: sr4x\ndataset: {sample: sr4x}\nsearch: {macs_budgets: [1e9]}\ncolour: red\n", "colour"),
        ("family: sr4x\ntask: sr4x\ndataset: {sample: sr4x}\nsearch: {macs_budgets: [1e3]}\n", "can meet the budget"),
    ],
)
def test_compress_refuses_bad_specs_with_one_line(tmp_path, content, message):
    spec = tmp_path / "spec.yaml"
    if content is not None:
        spec.write_text(content)
    result = run("compress", spec, "--work-dir", tmp_path / "work", "--repo", tmp_path / "repo")
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "repo").exists()


def test_quantize_refuses_a_family_without_a_published_teacher_in_one_line(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("family: sr4x\ntask: sr4x\ndataset: {sample: sr4x}\nsearch: {macs_budgets: [1e9]}\nint8: {}\n")
    result = run("quantize", spec, "--work-dir", tmp_path / "work", "--repo", tmp_path / "repo")
    assert result.exit_code == 1
    assert "family 'sr4x' has no published teacher" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "work").exists() and not any((tmp_path / "repo").glob("*"))

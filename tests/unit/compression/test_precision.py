"""bfloat16 where the CPU has it and it pays: `auto` resolves by the hardware and a timing, and a job insisting on
bf16 where it would be emulated is refused."""

import pytest
import torch

from compression import precision
from compression.pipeline import run_pipeline
from compression.precision import PrecisionError, autocast, check_runnable, grad_scaler, resolve
from ganc.spec import parse_spec
from tests.unit.compression.test_pipeline_checks import BASE


@pytest.fixture(autouse=True)
def measured_afresh(monkeypatch):
    """Each test decides `auto` anew (the decision is kept for the process)."""
    monkeypatch.setattr(precision, "CPU_DECISION", {})


def never_timed() -> float:
    raise AssertionError("bfloat16 was timed on a CPU that would emulate it")


@pytest.mark.parametrize(
    "native, speedup, expected",
    [
        (True, lambda: 2.0, "bf16"),
        (True, lambda: 0.75, "fp32"),
        (True, lambda: 1.05, "fp32"),
        (False, never_timed, "fp32"),
    ],
)
def test_auto_is_bf16_only_where_the_cpu_computes_it_and_it_pays(monkeypatch, native, speedup, expected):
    monkeypatch.setattr(precision, "native_bf16", lambda: native)
    monkeypatch.setattr(precision, "cpu_bf16_speedup", speedup)
    assert resolve("auto") == expected
    assert resolve("fp32") == "fp32" and resolve("bf16") == "bf16"
    with autocast("auto"):
        out = torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 1, 1))
    assert out.dtype == (torch.bfloat16 if expected == "bf16" else torch.float32)


@pytest.mark.skipif(not precision.native_bf16(), reason="bfloat16 is emulated on this CPU: never timed (above)")
def test_the_speedup_is_timed_once_per_process_on_this_cpu(monkeypatch):
    speedup = precision.cpu_bf16_speedup()
    assert 0.05 < speedup < 20  # measured: about 2 (AMD EPYC, AVX512-BF16), 0.6-0.75 (Intel Xeon without AMX)
    decided = resolve("auto")
    monkeypatch.setattr(precision, "cpu_bf16_speedup", never_timed)
    assert resolve("auto") == decided  # kept, not timed again


def test_bf16_is_refused_on_a_cpu_that_would_emulate_it(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda: False)
    with pytest.raises(PrecisionError, match="supernet.precision: bf16 needs a CPU with AVX512-BF16 or AMX"):
        check_runnable("bf16", "supernet")
    check_runnable("auto", "supernet")
    monkeypatch.setattr(precision, "native_bf16", lambda: True)
    check_runnable("bf16", "supernet")


def test_a_job_asking_bf16_where_it_is_emulated_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda: False)
    spec = parse_spec({**BASE, "finetune": {"steps": 2, "precision": "bf16"}})
    with pytest.raises(PrecisionError, match="finetune.precision: bf16"):
        run_pipeline(spec, tmp_path / "work", tmp_path / "repo", "job")
    assert not (tmp_path / "repo").exists()
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["spec.json"]


@pytest.mark.parametrize("bf16, expected", [(True, "bf16"), (False, "fp16")])
def test_auto_on_a_gpu_is_bf16_where_it_computes_it_else_fp16(monkeypatch, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: bf16)
    gpu = torch.device("cuda", 0)
    assert resolve("auto", gpu) == expected and resolve("fp32", gpu) == "fp32"
    if not bf16:
        with pytest.raises(PrecisionError, match="supernet.precision: bf16 needs a GPU that computes it"):
            check_runnable("bf16", "supernet", gpu)
    check_runnable("auto", "supernet", gpu)


def test_only_fp16_scales_its_losses():
    assert not grad_scaler("auto").is_enabled() and not grad_scaler("bf16").is_enabled()


@pytest.mark.gpu
def test_a_gpu_trains_under_its_autocast_and_scales_fp16_losses():
    gpu = torch.device("cuda", 0)
    with autocast("auto", gpu):
        out = torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3, device=gpu), torch.ones(1, 1, 1, 1, device=gpu))
    assert out.dtype == (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    assert grad_scaler("auto", gpu).is_enabled() == (not torch.cuda.is_bf16_supported())

"""Where reduced precision pays: bfloat16 autocast on CPUs that compute it natively, and on GPUs.

On an AMD EPYC with AVX512-BF16, bfloat16 autocast ran a distillation step about 2x faster and the teacher's
labelling 2.8x faster (docs/method.md); on an Intel Xeon with AVX512-BF16 and no AMX it ran a step at 0.89x and a
generator's convolutions at 0.6-0.67x of fp32 (2026-12-07). Where the CPU has neither AVX512-BF16 nor AMX, oneDNN
emulates it: on an AMD EPYC with AVX2 alone, a batch of four 256-px images through the vintagify teacher took
4.6 s in fp32 and did not finish in nine minutes under bfloat16. So on a CPU `auto` takes bfloat16 only where
the CPU has it and a generator's convolutions, timed once per process, run faster with it; a job that insists
on bfloat16 where it is emulated is refused before it starts.

On a CUDA device `auto` is bfloat16 where the GPU computes it (Ampere and later), else float16, whose
gradients a scaler keeps from underflowing (`grad_scaler`).
"""

import contextlib
import time

import torch
from torch import nn

from ganc.spec import Precision

CPU = torch.device("cpu")
# bfloat16 must beat fp32 by this much to be chosen: the two CPUs measured sit far on either side (about 2x and
# 0.6x), and a margin keeps a CPU near parity, where the timing could go either way, on the exact one.
MIN_BF16_SPEEDUP = 1.1
CPU_DECISION: dict[str, bool] = {}  # bf16_pays_on_cpu's answer, once this process has it


class PrecisionError(ValueError):
    """A precision this machine cannot run at a useful speed."""


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX)."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def bf16_pays_on_cpu() -> bool:
    """Whether this CPU computes bfloat16 natively and runs a generator's convolutions faster with it (timed once
    per process, in about a second; never where bfloat16 would be emulated). Processes that train together take
    their rank 0's answer (placement.py), so that `auto` means one precision for all of them."""
    if "bf16_pays" not in CPU_DECISION:
        CPU_DECISION["bf16_pays"] = native_bf16() and cpu_bf16_speedup() >= MIN_BF16_SPEEDUP
    return CPU_DECISION["bf16_pays"]


def adopt_cpu_decision(bf16_pays: bool) -> None:
    """Take another process's answer of bf16_pays_on_cpu as this one's."""
    CPU_DECISION["bf16_pays"] = bf16_pays


def cpu_bf16_speedup(repeats: int = 5) -> float:
    """fp32 time over bfloat16 autocast time of a training step through a trunk-sized 3x3 convolution (the layer
    that dominates a ResNet generator's step), each the best of `repeats`, interleaved."""
    generator = torch.Generator().manual_seed(0)
    conv = nn.Conv2d(128, 128, 3, padding=1)
    x = torch.randn(2, 128, 64, 64, generator=generator, requires_grad=True)

    def step(bf16: bool) -> float:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = conv(x)
        out.float().square().mean().backward()
        return time.perf_counter() - start

    for bf16 in (False, True):  # warm-up: oneDNN builds its kernels on the first call
        step(bf16)
    best = {False: float("inf"), True: float("inf")}
    for _ in range(repeats):
        for bf16 in best:
            best[bf16] = min(best[bf16], step(bf16))
    return best[False] / best[True]


def resolve(precision: Precision, device: torch.device = CPU) -> str:
    """fp32, bf16 or fp16 (CUDA only): `auto` becomes bf16 where `device` computes it natively (on a CPU: and it
    pays, bf16_pays_on_cpu), on a GPU without it fp16, else fp32."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if bf16_pays_on_cpu() else "fp32"


def check_runnable(precision: Precision, where: str, device: torch.device = CPU) -> None:
    """Refuse bf16 on a device that would emulate it (on a CPU the job would run tens of times slower)."""
    if precision != "bf16":
        return
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise PrecisionError(
            f"{where}.precision: bf16 needs a GPU that computes it (Ampere or later), and {device} does not; "
            "use `auto` (fp16 with a gradient scaler there) or `fp32`"
        )
    if device.type == "cpu" and not native_bf16():
        raise PrecisionError(
            f"{where}.precision: bf16 needs a CPU with AVX512-BF16 or AMX, and this one has neither (emulated, "
            "it runs tens of times slower than fp32); use `auto` (bf16 where the CPU has it and it pays) or `fp32`"
        )


def autocast(precision: Precision, device: torch.device = CPU) -> contextlib.AbstractContextManager:
    """The autocast context for `precision` on `device`: bfloat16 or float16 convolutions, or nothing."""
    resolved = resolve(precision, device)
    dtype = torch.float16 if resolved == "fp16" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype, enabled=resolved != "fp32")


def grad_scaler(precision: Precision, device: torch.device = CPU) -> torch.amp.GradScaler:
    """What scales the losses of fp16 training (and passes everything through otherwise)."""
    return torch.amp.GradScaler(device.type, enabled=resolve(precision, device) == "fp16")

"""Where reduced precision pays: bfloat16 autocast on CPUs that compute it natively, and on GPUs.

On a CPU with AVX512-BF16 or AMX, bfloat16 autocast ran a distillation step about 2x faster and the teacher's
labelling 2.8x faster (docs/method.md). Elsewhere oneDNN emulates it: on an AMD EPYC with AVX2 alone, a batch of
four 256-px images through the vintagify teacher took 4.6 s in fp32 and did not finish in nine minutes under
bfloat16. So `auto` takes bfloat16 only where the CPU has it, and a job that insists on it elsewhere is refused
before it starts.

On a CUDA device `auto` is bfloat16 where the GPU computes it (Ampere and later), else float16, whose
gradients a scaler keeps from underflowing (`grad_scaler`).
"""

import contextlib

import torch

from ganc.spec import Precision

CPU = torch.device("cpu")


class PrecisionError(ValueError):
    """A precision this machine cannot run at a useful speed."""


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX)."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def resolve(precision: Precision, device: torch.device = CPU) -> str:
    """fp32, bf16 or fp16 (CUDA only): `auto` becomes bf16 where `device` computes it natively, on a GPU without
    it fp16, else fp32."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if native_bf16() else "fp32"


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
            "it runs tens of times slower than fp32); use `auto` (bf16 where the CPU has it) or `fp32`"
        )


def autocast(precision: Precision, device: torch.device = CPU) -> contextlib.AbstractContextManager:
    """The autocast context for `precision` on `device`: bfloat16 or float16 convolutions, or nothing."""
    resolved = resolve(precision, device)
    dtype = torch.float16 if resolved == "fp16" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype, enabled=resolved != "fp32")


def grad_scaler(precision: Precision, device: torch.device = CPU) -> torch.amp.GradScaler:
    """What scales the losses of fp16 training (and passes everything through otherwise)."""
    return torch.amp.GradScaler(device.type, enabled=resolve(precision, device) == "fp16")

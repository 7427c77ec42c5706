"""Where bfloat16 pays: autocast on CPUs that compute it natively.

On a CPU with AVX512-BF16 or AMX, bfloat16 autocast ran a distillation step about 2x faster and the teacher's
labelling 2.8x faster (docs/method.md). Elsewhere oneDNN emulates it: on an AMD EPYC with AVX2 alone, a batch of
four 256-px images through the vintagify teacher took 4.6 s in fp32 and did not finish in nine minutes under
bfloat16. So `auto` takes bfloat16 only where the CPU has it, and a job that insists on it elsewhere is refused
before it starts.
"""

import contextlib

import torch

from ganc.spec import Precision


class PrecisionError(ValueError):
    """A precision this machine cannot run at a useful speed."""


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX)."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def resolve(precision: Precision) -> Precision:
    """fp32 or bf16: `auto` becomes bf16 where the CPU computes it natively, else fp32."""
    if precision == "auto":
        return "bf16" if native_bf16() else "fp32"
    return precision


def check_runnable(precision: Precision, where: str) -> None:
    """Refuse bf16 on a CPU that would emulate it (the job would run tens of times slower)."""
    if precision == "bf16" and not native_bf16():
        raise PrecisionError(
            f"{where}.precision: bf16 needs a CPU with AVX512-BF16 or AMX, and this one has neither (emulated, "
            "it runs tens of times slower than fp32); use `auto` (bf16 where the CPU has it) or `fp32`"
        )


def autocast(precision: Precision) -> contextlib.AbstractContextManager:
    """The autocast context for `precision` (resolved): bfloat16 convolutions, or nothing."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=resolve(precision) == "bf16")

"""Where training runs: the CPU or a CUDA GPU, as a spec's `device` (or `--device`) names it.

`auto` is the first CUDA device where torch sees one, else the CPU. Under torchrun each process takes the GPU
of its local rank, so `cuda` there means one GPU per process. A device this machine does not have is refused
before any work, naming what it has.
"""

import re

import torch
from torch import nn

from ganc.spec import DEVICE_PATTERN


class DeviceError(ValueError):
    """A device this machine does not have."""


def resolve_device(name: str, local_rank: int | None = None) -> torch.device:
    """The torch device `name` (auto, cpu, cuda or cuda:N) means here; `local_rank`: this process's place among
    the processes of its machine under torchrun (each takes its own GPU)."""
    if not re.fullmatch(DEVICE_PATTERN, name):
        raise DeviceError(f"device {name!r}: name auto, cpu, cuda or cuda:N")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        built = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA"
        raise DeviceError(
            f"device {name}: this machine has no CUDA device (torch {torch.__version__}, built with {built}); "
            "use `cpu`, or `auto` (a GPU where there is one)"
        )
    count = torch.cuda.device_count()
    _, _, given = name.partition(":")
    if given and local_rank is not None:
        raise DeviceError(
            f"device {name}: several processes train together here, each on the GPU of its local rank; "
            "name `cuda` (or `auto`), and choose the GPUs with CUDA_VISIBLE_DEVICES"
        )
    index = int(given) if given else (local_rank or 0)
    if index >= count:
        raise DeviceError(
            f"device cuda:{index}: this machine has {count} CUDA device{'s' if count != 1 else ''} "
            f"(cuda:0{f' to cuda:{count - 1}' if count > 1 else ''})"
        )
    return torch.device("cuda", index)


def device_of(model: nn.Module) -> torch.device:
    """Where `model`'s parameters are (the CPU for a model without any)."""
    return next(model.parameters(), torch.zeros(())).device

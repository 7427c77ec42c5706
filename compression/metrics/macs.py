"""MACs and parameter counts in the two conventions a variant card records.

- `macs`: the paper's convention, as torchprofile counts it. A transposed convolution is counted
  as (output size x input channels x kernel area), four times the work it really does at stride 2.
  Published GAN Compression figures (56.8G for the teacher) use this count.
- `macs_real`: multiply-accumulates the convolutions and matrix products actually perform
  (PyTorch's FLOP counter, halved), which is what hardware spends.
"""

import warnings
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchprofile import profile_macs

from ..device import device_of


@dataclass(frozen=True)
class MacsReport:
    macs: int
    macs_real: int
    params: int
    size: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, size: int = 256, input_channels: int = 3) -> MacsReport:
    """Count MACs for one `size` x `size` image in both conventions, and the parameters."""
    was_training = model.training
    model.eval()
    x = torch.zeros(1, input_channels, size, size, device=device_of(model))
    try:
        with torch.no_grad():
            with warnings.catch_warnings():
                # torchprofile has no handler for padding, which costs no MACs anyway.
                warnings.simplefilter("ignore", UserWarning)
                paper = profile_macs(model, x)
            counter = FlopCounterMode(display=False)
            with counter:
                model(x)
    finally:
        model.train(was_training)
    return MacsReport(macs=int(paper), macs_real=counter.get_total_flops() // 2, params=count_params(model), size=size)

"""Building blocks shared by the generators: normalisation by name, padding, separable convolutions."""

import functools
from collections.abc import Callable
from typing import Literal

from torch import nn

NormName = Literal["instance", "instance_affine", "batch", "none"]
PaddingType = Literal["reflect", "replicate", "zero"]
NormLayer = Callable[[int], nn.Module]


def check_positive(**values: int) -> None:
    """Raise a ValueError naming the first option that is not a positive integer."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def norm_layer_for(name: NormName) -> NormLayer:
    """The pix2pix convention: instance norm has no affine parameters and no running statistics
    (`instance_affine`, which some CycleGAN generators use, learns a scale and shift per channel)."""
    if name == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if name == "instance_affine":
        return functools.partial(nn.InstanceNorm2d, affine=True, track_running_stats=False)
    if name == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if name == "none":
        return lambda _channels: nn.Identity()
    raise ValueError(f"unknown norm {name!r}; expected instance, instance_affine, batch or none")


def uses_bias(norm: NormName) -> bool:
    """Convolutions before a batch norm need no bias: the norm's shift replaces it."""
    return norm != "batch"


def padding_layer(padding_type: PaddingType, amount: int) -> tuple[nn.Module, int]:
    """The explicit padding layer for `padding_type`, and the padding left for the convolution itself."""
    if padding_type == "reflect":
        return nn.ReflectionPad2d(amount), 0
    if padding_type == "replicate":
        return nn.ReplicationPad2d(amount), 0
    if padding_type == "zero":
        return nn.Identity(), amount
    raise ValueError(f"unknown padding {padding_type!r}; expected reflect, replicate or zero")


class SeparableConv2d(nn.Module):
    """Depthwise k x k convolution, normalisation, then a pointwise 1 x 1 convolution."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        padding: int = 0,
        norm_layer: NormLayer = nn.InstanceNorm2d,
        bias: bool = True,
        depthwise_conv: type[nn.Conv2d] = nn.Conv2d,
        pointwise_conv: type[nn.Conv2d] = nn.Conv2d,
    ) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            depthwise_conv(in_channels, in_channels, kernel_size, padding=padding, groups=in_channels, bias=bias),
            norm_layer(in_channels),
            pointwise_conv(in_channels, out_channels, kernel_size=1, bias=bias),
        )

    def forward(self, x):
        return self.conv(x)


INIT_STD = 0.02  # pix2pix's, CycleGAN's and GAN Compression's: weights ~ N(0, 0.02)


def reference_init(network: nn.Module) -> None:
    """The reference implementations' initialisation: convolution weights ~ N(0, 0.02) and zero biases;
    batch-norm scales ~ N(1, 0.02) and zero shifts (instance norms keep their ones and zeros)."""
    for module in network.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(module.weight, 0.0, INIT_STD)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d) and module.affine:
            nn.init.normal_(module.weight, 1.0, INIT_STD)
            nn.init.zeros_(module.bias)


def zero_init(layer: nn.Module) -> None:
    """Zero a residual generator's last layer, so that it starts as the identity and learns corrections."""
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)

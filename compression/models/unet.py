"""The U-Net generator of pix2pix (Isola et al., CVPR 2017): the default pix2pix teacher.

`num_downs` stride-2 stages (8 for 256x256 inputs: the bottleneck is then 1x1), with skip
connections between mirrored stages. Inputs must be multiples of 2**num_downs.
"""

import torch
from torch import nn

from .layers import NormLayer, NormName, check_positive, norm_layer_for, reference_init, uses_bias, zero_init
from .registry import register_model


class UnetSkipBlock(nn.Module):
    """One down/up stage around `inner`; all but the outermost concatenate their input to their output."""

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        inner: nn.Module | None = None,
        *,
        norm_layer: NormLayer,
        bias: bool,
        input_nc: int | None = None,
        outermost: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        input_nc = input_nc or outer_nc
        down_conv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        up_in = inner_nc if inner is None else inner_nc * 2
        up_conv = nn.ConvTranspose2d(up_in, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias or outermost)
        if outermost:
            layers = [down_conv, inner, nn.ReLU(), up_conv, nn.Tanh()]
        elif inner is None:
            layers = [nn.LeakyReLU(0.2), down_conv, nn.ReLU(), up_conv, norm_layer(outer_nc)]
        else:
            layers = [
                nn.LeakyReLU(0.2),
                down_conv,
                norm_layer(inner_nc),
                inner,
                nn.ReLU(),
                up_conv,
                norm_layer(outer_nc),
            ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        return y if self.outermost else torch.cat([x, y], 1)


class UnetGenerator(nn.Module):
    """pix2pix's U-Net: widths ngf, 2ngf, 4ngf, then 8ngf for every deeper stage."""

    def __init__(
        self,
        *,
        input_nc: int = 3,
        output_nc: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm_layer: NormLayer | None = None,
        bias: bool = False,
        residual: bool = False,
    ) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs must be at least 5, got {num_downs}")
        if residual and input_nc != output_nc:
            raise ValueError("a residual generator needs as many output channels as input channels")
        norm_layer = norm_layer or norm_layer_for("batch")
        self.residual = residual
        self.size_multiple = 2**num_downs
        norms = {"norm_layer": norm_layer, "bias": bias}
        block = UnetSkipBlock(ngf * 8, ngf * 8, **norms)
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(ngf * 8, ngf * 8, block, **norms)
        for outer in (4, 2, 1):
            block = UnetSkipBlock(ngf * outer, ngf * outer * 2, block, **norms)
        self.model = UnetSkipBlock(output_nc, ngf, block, input_nc=input_nc, outermost=True, **norms)
        reference_init(self)
        if residual:
            zero_init(self.model.model[3])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        return (x + y).clamp(-1, 1) if self.residual else y


@register_model("unet")
def unet_generator(
    *,
    input_nc: int = 3,
    output_nc: int = 3,
    num_downs: int = 8,
    ngf: int = 64,
    norm: NormName = "batch",
    residual: bool = False,
) -> UnetGenerator:
    check_positive(ngf=ngf, input_nc=input_nc, output_nc=output_nc, num_downs=num_downs)
    return UnetGenerator(
        input_nc=input_nc,
        output_nc=output_nc,
        num_downs=num_downs,
        ngf=ngf,
        norm_layer=norm_layer_for(norm),
        bias=uses_bias(norm),
        residual=residual,
    )

"""ResNet generators (Johnson et al. 2016), as pix2pix and CycleGAN use them, and their shared layout.

Every ResNet-style generator in ganc (teacher, mobile, supernet, sub-network) has the same
layout: a 7x7 stem, two stride-2 convolutions, residual blocks, two stride-2 transposed
convolutions and a 7x7 head with tanh. Only the blocks and the widths differ, so one layout
class holds the structure and the subclasses choose the block and the widths. Keeping the
layout identical also makes sub-network extraction a walk over both module trees in step.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .layers import (
    NormLayer,
    NormName,
    PaddingType,
    check_positive,
    norm_layer_for,
    padding_layer,
    reference_init,
    uses_bias,
    zero_init,
)
from .registry import register_model

BlockBuilder = Callable[[int, int], nn.Module]


@dataclass(frozen=True)
class ResnetWidths:
    """Output widths of every layer of the layout."""

    stem: int
    down: tuple[int, int]
    block_inner: tuple[int, ...]
    up: tuple[int, int]

    @property
    def trunk(self) -> int:
        return self.down[1]

    @classmethod
    def from_ngf(cls, ngf: int, n_blocks: int) -> "ResnetWidths":
        return cls(stem=ngf, down=(ngf * 2, ngf * 4), block_inner=(ngf * 4,) * n_blocks, up=(ngf * 2, ngf))


class ResnetLayout(nn.Module):
    """Stem, down-sampling, residual blocks, up-sampling and head; forward split for distillation taps."""

    size_multiple = 4

    def __init__(
        self,
        *,
        widths: ResnetWidths,
        make_block: BlockBuilder,
        input_nc: int,
        output_nc: int,
        norm_layer: NormLayer,
        padding_type: PaddingType,
        bias: bool,
        residual: bool,
        conv: type[nn.Conv2d] = nn.Conv2d,
        conv_transpose: type[nn.ConvTranspose2d] = nn.ConvTranspose2d,
    ) -> None:
        super().__init__()
        if residual and input_nc != output_nc:
            raise ValueError("a residual generator needs as many output channels as input channels")
        self.residual = residual
        self.widths = widths

        pad, conv_padding = padding_layer(padding_type, 3)
        encoder: list[nn.Module] = [
            pad,
            conv(input_nc, widths.stem, kernel_size=7, padding=conv_padding, bias=bias),
            norm_layer(widths.stem),
            nn.ReLU(True),
        ]
        in_channels = widths.stem
        for out_channels in widths.down:
            encoder += [
                conv(in_channels, out_channels, kernel_size=3, stride=2, padding=1, bias=bias),
                norm_layer(out_channels),
                nn.ReLU(True),
            ]
            in_channels = out_channels
        self.encoder = nn.Sequential(*encoder)

        self.blocks = nn.Sequential(*(make_block(widths.trunk, inner) for inner in widths.block_inner))

        decoder: list[nn.Module] = []
        for out_channels in widths.up:
            decoder += [
                conv_transpose(
                    in_channels, out_channels, kernel_size=3, stride=2, padding=1, output_padding=1, bias=bias
                ),
                norm_layer(out_channels),
                nn.ReLU(True),
            ]
            in_channels = out_channels
        pad, conv_padding = padding_layer(padding_type, 3)
        head = conv(in_channels, output_nc, kernel_size=7, padding=conv_padding)
        decoder += [pad, head, nn.Tanh()]
        self.decoder = nn.Sequential(*decoder)
        reference_init(self)
        if residual:
            zero_init(head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(x, self.blocks(self.encoder(x)))

    def decode(self, x: torch.Tensor, trunk: torch.Tensor) -> torch.Tensor:
        """The output for input `x` whose trunk features after the last block are `trunk`."""
        y = self.decoder(trunk)
        return (x + y).clamp(-1, 1) if self.residual else y

    def forward_with_taps(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The output, and the trunk features after down-sampling and after every residual block (the reference
        taps blocks 3, 6 and 9 of 9; a tap after each block tells every block what it has to compute)."""
        h = self.encoder(x)
        taps = [h]
        for block in self.blocks:
            h = block(h)
            taps.append(h)
        return self.decode(x, h), taps


class ResnetBlock(nn.Module):
    """Two 3x3 convolutions with a skip connection."""

    def __init__(self, dim: int, *, norm_layer: NormLayer, padding_type: PaddingType, bias: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for last in (False, True):
            pad, conv_padding = padding_layer(padding_type, 1)
            layers += [pad, nn.Conv2d(dim, dim, kernel_size=3, padding=conv_padding, bias=bias), norm_layer(dim)]
            if not last:
                layers.append(nn.ReLU(True))
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(ResnetLayout):
    """The pix2pix/CycleGAN teacher: full 3x3 convolutions in every residual block."""

    def __init__(
        self,
        *,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm_layer: NormLayer | None = None,
        padding_type: PaddingType = "reflect",
        bias: bool = True,
        residual: bool = False,
    ) -> None:
        norm_layer = norm_layer or norm_layer_for("instance")
        super().__init__(
            widths=ResnetWidths.from_ngf(ngf, n_blocks),
            make_block=lambda trunk, _inner: ResnetBlock(
                trunk, norm_layer=norm_layer, padding_type=padding_type, bias=bias
            ),
            input_nc=input_nc,
            output_nc=output_nc,
            norm_layer=norm_layer,
            padding_type=padding_type,
            bias=bias,
            residual=residual,
        )


@register_model("resnet")
def resnet_generator(
    *,
    input_nc: int = 3,
    output_nc: int = 3,
    ngf: int = 64,
    n_blocks: int = 9,
    norm: NormName = "instance",
    padding: PaddingType = "reflect",
    residual: bool = False,
) -> ResnetGenerator:
    check_positive(ngf=ngf, input_nc=input_nc, output_nc=output_nc, n_blocks=n_blocks)
    return ResnetGenerator(
        input_nc=input_nc,
        output_nc=output_nc,
        ngf=ngf,
        n_blocks=n_blocks,
        norm_layer=norm_layer_for(norm),
        padding_type=padding,
        bias=uses_bias(norm),
        residual=residual,
    )

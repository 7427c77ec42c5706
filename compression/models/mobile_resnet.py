"""Mobile ResNet generators from GAN Compression (Li et al., CVPR 2020).

The residual blocks use depthwise-separable convolutions. `MobileResnetGenerator` has one
width (ngf) everywhere, like the teacher; `SubMobileResnetGenerator` takes a channel config
(`c0_..._c7`, see channel_config.py) and is what the search extracts from the supernet.
"""

from typing import Any

import torch
from torch import nn

from .channel_config import ChannelConfig
from .layers import (
    NormLayer,
    NormName,
    PaddingType,
    SeparableConv2d,
    check_positive,
    norm_layer_for,
    padding_layer,
    uses_bias,
)
from .registry import register_model
from .resnet import ResnetLayout, ResnetWidths


class MobileResnetBlock(nn.Module):
    """trunk -> inner -> trunk through two separable 3x3 convolutions, with a skip connection."""

    def __init__(
        self,
        trunk: int,
        inner: int,
        *,
        norm_layer: NormLayer,
        padding_type: PaddingType,
        bias: bool,
        depthwise_conv: type[nn.Conv2d] = nn.Conv2d,
        pointwise_conv: type[nn.Conv2d] = nn.Conv2d,
    ) -> None:
        super().__init__()
        self.pad, conv_padding = padding_layer(padding_type, 1)
        options = dict(
            padding=conv_padding,
            norm_layer=norm_layer,
            bias=bias,
            depthwise_conv=depthwise_conv,
            pointwise_conv=pointwise_conv,
        )
        self.expand = SeparableConv2d(trunk, inner, 3, **options)
        self.expand_norm = norm_layer(inner)
        self.project = SeparableConv2d(inner, trunk, 3, **options)
        self.project_norm = norm_layer(trunk)
        # A block whose last norm has a scale starts as the identity: a student started from its teacher's
        # outer layers then passes the teacher's trunk through until each block has learnt its part.
        if getattr(self.project_norm, "affine", False):
            nn.init.zeros_(self.project_norm.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.expand_norm(self.expand(self.pad(x))))
        return x + self.project_norm(self.project(self.pad(h)))


def config_widths(config: ChannelConfig, n_blocks: int) -> ResnetWidths:
    return ResnetWidths(
        stem=config.stem, down=config.down, block_inner=tuple(config.block_inner(n_blocks)), up=config.up
    )


def check_n_blocks(n_blocks: int) -> None:
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 3 or n_blocks % 3:
        raise ValueError(f"n_blocks must be a positive multiple of 3 (the config has 3 block groups), got {n_blocks!r}")


class SubMobileResnetGenerator(ResnetLayout):
    """A standalone mobile ResNet whose widths come from a channel config."""

    def __init__(
        self,
        config: ChannelConfig,
        *,
        input_nc: int = 3,
        output_nc: int = 3,
        n_blocks: int = 9,
        norm_layer: NormLayer | None = None,
        padding_type: PaddingType = "reflect",
        bias: bool = True,
        residual: bool = False,
    ) -> None:
        check_n_blocks(n_blocks)
        norm_layer = norm_layer or norm_layer_for("instance")
        super().__init__(
            widths=config_widths(config, n_blocks),
            make_block=lambda trunk, inner: MobileResnetBlock(
                trunk, inner, norm_layer=norm_layer, padding_type=padding_type, bias=bias
            ),
            input_nc=input_nc,
            output_nc=output_nc,
            norm_layer=norm_layer,
            padding_type=padding_type,
            bias=bias,
            residual=residual,
        )
        self.config = config


class MobileResnetGenerator(SubMobileResnetGenerator):
    """The mobile ResNet at one width: every config entry equals ngf."""

    def __init__(self, ngf: int = 64, **kwargs) -> None:
        super().__init__(ChannelConfig.uniform(ngf), **kwargs)


def _layout_options(
    *, input_nc: int, output_nc: int, n_blocks: int, norm: NormName, padding: PaddingType, residual: bool
) -> dict[str, Any]:
    """Factory options turned into constructor arguments."""
    check_positive(input_nc=input_nc, output_nc=output_nc)
    return dict(
        input_nc=input_nc,
        output_nc=output_nc,
        n_blocks=n_blocks,
        norm_layer=norm_layer_for(norm),
        padding_type=padding,
        bias=uses_bias(norm),
        residual=residual,
    )


@register_model("mobile_resnet")
def mobile_resnet_generator(
    *,
    input_nc: int = 3,
    output_nc: int = 3,
    ngf: int = 64,
    n_blocks: int = 9,
    norm: NormName = "instance",
    padding: PaddingType = "reflect",
    residual: bool = False,
) -> MobileResnetGenerator:
    check_positive(ngf=ngf)
    options = _layout_options(
        input_nc=input_nc, output_nc=output_nc, n_blocks=n_blocks, norm=norm, padding=padding, residual=residual
    )
    return MobileResnetGenerator(ngf, **options)


@register_model("sub_mobile_resnet")
def sub_mobile_resnet_generator(
    *,
    config: str,
    input_nc: int = 3,
    output_nc: int = 3,
    n_blocks: int = 9,
    norm: NormName = "instance",
    padding: PaddingType = "reflect",
    residual: bool = False,
) -> SubMobileResnetGenerator:
    options = _layout_options(
        input_nc=input_nc, output_nc=output_nc, n_blocks=n_blocks, norm=norm, padding=padding, residual=residual
    )
    return SubMobileResnetGenerator(ChannelConfig.parse(config), **options)

"""The once-for-all supernet of GAN Compression's mobile ResNet, and sub-network extraction.

Every searchable layer is built at its largest width and, with a channel config active, uses
only its first k output channels (and the first channels of its input, whatever the previous
layer produced). Sub-networks therefore share weights, and extracting one is slicing.
"""

import functools

import torch
from torch import nn
from torch.nn import functional as F

from .channel_config import ChannelConfig, ChannelConfigError, ChoiceSet, get_choice_set
from .layers import NormLayer, NormName, PaddingType, check_positive, norm_layer_for, uses_bias
from .mobile_resnet import MobileResnetBlock, SubMobileResnetGenerator, check_n_blocks, config_widths
from .registry import ModelSpec, register_model
from .resnet import ResnetLayout


class SuperConv2d(nn.Conv2d):
    """A convolution that uses its first `active_out` filters over the channels it is given."""

    active_out: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.active_out or self.out_channels
        bias = self.bias[:out] if self.bias is not None else None
        return F.conv2d(x, self.weight[:out, : x.shape[1]], bias, self.stride, self.padding, self.dilation)


class SuperDepthwiseConv2d(nn.Conv2d):
    """A depthwise convolution over as many channels as it is given."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        bias = self.bias[:channels] if self.bias is not None else None
        return F.conv2d(x, self.weight[:channels], bias, self.stride, self.padding, self.dilation, channels)


class SuperConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution that produces its first `active_out` channels."""

    active_out: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.active_out or self.out_channels
        bias = self.bias[:out] if self.bias is not None else None
        weight = self.weight[: x.shape[1], :out]
        return F.conv_transpose2d(x, weight, bias, self.stride, self.padding, self.output_padding)


class SuperInstanceNorm2d(nn.InstanceNorm2d):
    """Instance norm for any number of channels up to its own: without affine parameters, or with the scale and
    shift of its first channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.affine:
            return F.instance_norm(x, eps=self.eps)
        channels = x.shape[1]
        return F.instance_norm(x, weight=self.weight[:channels], bias=self.bias[:channels], eps=self.eps)


def super_norm_layer(norm: NormName) -> NormLayer:
    """Width-agnostic normalisation: the supernet shares each norm layer across all its widths."""
    if norm in ("instance", "instance_affine"):
        return functools.partial(SuperInstanceNorm2d, affine=norm == "instance_affine")
    if norm == "none":
        return norm_layer_for("none")
    raise ValueError(
        f"a supernet shares normalisation across widths: use norm 'instance', 'instance_affine' or 'none', not {norm!r}"
    )


class SuperMobileResnetGenerator(ResnetLayout):
    """The mobile ResNet at its largest widths (ngf everywhere, or a choice set's largest config), runnable at any
    smaller channel config."""

    def __init__(
        self,
        *,
        ngf: int = 64,
        input_nc: int = 3,
        output_nc: int = 3,
        n_blocks: int = 9,
        norm_layer: NormLayer | None = None,
        padding_type: PaddingType = "reflect",
        bias: bool = True,
        residual: bool = False,
        choice_set: ChoiceSet | None = None,
        largest: ChannelConfig | None = None,
    ) -> None:
        check_n_blocks(n_blocks)
        norm_layer = norm_layer or super_norm_layer("instance")
        largest = largest or ChannelConfig.uniform(ngf)
        if choice_set is not None:
            too_wide = [i for i, (c, m) in enumerate(zip(choice_set.largest.channels, largest.channels)) if c > m]
            if too_wide:
                raise ChannelConfigError(
                    f"choice set {choice_set.name!r} has widths above the supernet's at c{too_wide[0]} ({largest})"
                )
        super().__init__(
            widths=config_widths(largest, n_blocks),
            make_block=lambda trunk, inner: MobileResnetBlock(
                trunk,
                inner,
                norm_layer=norm_layer,
                padding_type=padding_type,
                bias=bias,
                depthwise_conv=SuperDepthwiseConv2d,
                pointwise_conv=SuperConv2d,
            ),
            input_nc=input_nc,
            output_nc=output_nc,
            norm_layer=norm_layer,
            padding_type=padding_type,
            bias=bias,
            residual=residual,
            conv=SuperConv2d,
            conv_transpose=SuperConvTranspose2d,
        )
        self.largest = largest
        self.choice_set = choice_set
        self._sub_options = dict(
            input_nc=input_nc,
            output_nc=output_nc,
            n_blocks=n_blocks,
            norm_layer=norm_layer,
            padding_type=padding_type,
            bias=bias,
            residual=residual,
        )
        self.active_config = largest
        self.set_config(largest)

    def check_config(self, config: ChannelConfig) -> None:
        for position, (width, largest) in enumerate(zip(config.channels, self.largest.channels)):
            if width > largest:
                raise ChannelConfigError(f"width {width} at position c{position} exceeds the supernet's {largest}")
        if self.choice_set is not None:
            self.choice_set.check(config)

    def set_config(self, config: ChannelConfig) -> None:
        """Make `config` the active sub-network of every following forward pass."""
        self.check_config(config)
        widths = config_widths(config, len(self.blocks))
        encoder_convs = [m for m in self.encoder if isinstance(m, SuperConv2d)]
        for conv, width in zip(encoder_convs, (widths.stem, *widths.down)):
            conv.active_out = width
        for block, inner in zip(self.blocks, widths.block_inner):
            block.expand.conv[2].active_out = inner
            block.project.conv[2].active_out = widths.trunk
        up_convs = [m for m in self.decoder if isinstance(m, SuperConvTranspose2d)]
        for conv, width in zip(up_convs, widths.up):
            conv.active_out = width
        self.active_config = config

    def extract(self, config: ChannelConfig) -> SubMobileResnetGenerator:
        """A standalone sub-network with `config`'s widths and the supernet's shared weights."""
        self.check_config(config)
        sub = SubMobileResnetGenerator(config, **self._sub_options)
        super_layers = [m for m in self.modules() if _has_weights(m)]
        sub_layers = [m for m in sub.modules() if _has_weights(m)]
        with torch.no_grad():
            for source, target in zip(super_layers, sub_layers, strict=True):
                target.weight.copy_(source.weight[tuple(slice(0, n) for n in target.weight.shape)])
                if target.bias is not None:
                    target.bias.copy_(source.bias[: target.bias.shape[0]])
        return sub.train(self.training)


def _has_weights(module: nn.Module) -> bool:
    """Convolutions, and normalisation layers with a scale and shift."""
    if isinstance(module, nn.InstanceNorm2d):
        return module.affine
    return isinstance(module, (nn.Conv2d, nn.ConvTranspose2d))


@register_model("super_mobile_resnet")
def super_mobile_resnet_generator(
    *,
    ngf: int | None = None,
    choices: str | None = None,
    input_nc: int = 3,
    output_nc: int = 3,
    n_blocks: int = 9,
    norm: NormName = "instance",
    padding: PaddingType = "reflect",
    residual: bool = False,
) -> SuperMobileResnetGenerator:
    norm_layer = super_norm_layer(norm)
    choice_set = get_choice_set(choices) if choices else None
    if ngf is None and choice_set is None:
        raise ValueError("a supernet needs ngf or a choice set")
    if ngf is not None:
        check_positive(ngf=ngf)
    check_positive(input_nc=input_nc, output_nc=output_nc)
    return SuperMobileResnetGenerator(
        largest=ChannelConfig.uniform(ngf) if ngf is not None else choice_set.largest,
        input_nc=input_nc,
        output_nc=output_nc,
        n_blocks=n_blocks,
        norm_layer=norm_layer,
        padding_type=padding,
        bias=uses_bias(norm),
        residual=residual,
        choice_set=choice_set,
    )


def extract_subnet(spec: ModelSpec, supernet: nn.Module, config: ChannelConfig) -> tuple[ModelSpec, nn.Module]:
    """The standalone sub-network `config` of a supernet built from `spec`, with the spec that rebuilds it."""
    if not isinstance(supernet, SuperMobileResnetGenerator):
        raise ChannelConfigError(f"only a supernet has sub-networks to extract, not {spec.arch!r}")
    options = {k: v for k, v in spec.options.items() if k not in ("ngf", "choices")}
    return ModelSpec("sub_mobile_resnet", {"config": str(config), **options}), supernet.extract(config).eval()

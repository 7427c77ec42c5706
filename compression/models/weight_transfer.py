"""A narrower generator started from a wider one by channel selection, as the reference's weight transfer.

Layer by layer, in the order the image flows, the channels whose filters have the largest L1 norm are kept
(mit-han-lab/gan-compression, utils/weight_transfer.py): a layer's kept outputs are the next layer's kept
inputs, a residual block keeps its trunk channels, and the head keeps all three outputs. Blocks are copied
only between blocks of one kind: a full ResNet teacher's 3x3 blocks have no separable convolutions for a
mobile student to take, so its blocks keep their fresh weights while every other layer is transferred. A
student wider than the source somewhere takes all the source's channels there and keeps the rest fresh.
"""

import torch
from torch import nn

from .mobile_resnet import MobileResnetBlock
from .resnet import ResnetBlock, ResnetLayout

Index = torch.Tensor


def transfer_by_l1(source: ResnetLayout, target: ResnetLayout) -> list[str]:
    """Copy into `target` the channels of largest L1 norm of `source`'s layers; returns the names of the
    target's layers that were copied."""
    if not isinstance(source, ResnetLayout) or not isinstance(target, ResnetLayout):
        raise ValueError("weight transfer needs two ResNet-layout generators")
    if len(source.blocks) != len(target.blocks):
        raise ValueError(
            f"weight transfer needs as many blocks in both ({len(source.blocks)} and {len(target.blocks)})"
        )
    source_convs, target_convs = _outer_convs(source), _outer_convs(target)
    names = {module: name for name, module in target.named_modules()}
    copied: list[str] = []
    index: Index | None = None
    n_encoder = sum(1 for _, part in source_convs if part == "encoder")
    with torch.no_grad():
        for position, ((wide, _), (narrow, _)) in enumerate(zip(source_convs, target_convs)):
            index = _transfer_layer(wide, narrow, index)
            copied.append(names[narrow])
            if position == n_encoder - 1:  # the trunk: blocks keep its channels
                copied += _transfer_blocks(source, target, index, names)
    return copied


def _outer_convs(model: ResnetLayout) -> list[tuple[nn.Module, str]]:
    kinds = (nn.Conv2d, nn.ConvTranspose2d)
    return [(m, "encoder") for m in model.encoder if isinstance(m, kinds)] + [
        (m, "decoder") for m in model.decoder if isinstance(m, kinds)
    ]


def _transfer_blocks(source: ResnetLayout, target: ResnetLayout, trunk: Index, names: dict) -> list[str]:
    copied = []
    for wide, narrow in zip(source.blocks, target.blocks):
        if type(wide) is not type(narrow):
            continue
        if isinstance(wide, ResnetBlock):
            first, second = [m for m in wide.conv_block if isinstance(m, nn.Conv2d)]
            into_first, into_second = [m for m in narrow.conv_block if isinstance(m, nn.Conv2d)]
            inner = _transfer_layer(first, into_first, trunk)
            _transfer_layer(second, into_second, inner, keep=trunk)
        elif isinstance(wide, MobileResnetBlock):
            inner = _transfer_separable(wide.expand.conv, narrow.expand.conv, trunk)
            _transfer_separable(wide.project.conv, narrow.project.conv, inner, keep=trunk)
        copied.append(names[narrow])
    return copied


def _transfer_separable(wide: nn.Sequential, narrow: nn.Sequential, index: Index, keep: Index | None = None) -> Index:
    """Depthwise then pointwise: the depthwise filters of the kept input channels, then the pointwise layer."""
    depthwise, pointwise = wide[0], wide[2]
    narrow[0].weight[: len(index)] = depthwise.weight[index]
    if depthwise.bias is not None:
        narrow[0].bias[: len(index)] = depthwise.bias[index]
    return _transfer_layer(pointwise, narrow[2], index, keep=keep)


def _transfer_layer(wide: nn.Module, narrow: nn.Module, index: Index | None, keep: Index | None = None) -> Index:
    """One convolution (or transposed convolution): inputs `index` (all of them for the stem), outputs `keep` or
    the largest by L1 norm (all of them where the narrow layer is as wide: the head). They land in the narrow
    layer's first channels; a layer wider than the source's keeps its other channels as they were."""
    transposed = isinstance(wide, nn.ConvTranspose2d)
    weight = wide.weight.transpose(0, 1) if transposed else wide.weight  # [out, in, k, k]
    if index is not None:
        weight = weight[:, index]
    if keep is None:
        if narrow.out_channels >= weight.shape[0]:
            keep = torch.arange(weight.shape[0])
        else:
            keep = weight.abs().sum((1, 2, 3)).topk(narrow.out_channels).indices
    weight, outputs, inputs = weight[keep], slice(0, len(keep)), slice(0, weight.shape[1])
    if transposed:
        narrow.weight[inputs, outputs] = weight.transpose(0, 1)
    else:
        narrow.weight[outputs, inputs] = weight
    if wide.bias is not None:
        narrow.bias[outputs] = wide.bias[keep]
    return keep

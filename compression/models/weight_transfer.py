"""A narrower generator started from a wider one by channel selection, as the reference's weight transfer.

Layer by layer, in the order the image flows, the channels whose filters have the largest L1 norm are kept
(mit-han-lab/gan-compression, utils/weight_transfer.py): a layer's kept outputs are the next layer's kept
inputs, a residual block keeps its trunk channels, and the head keeps all three outputs. Blocks are copied
only between blocks of one kind: a full ResNet teacher's 3x3 blocks have no separable convolutions for a
mobile student to take, so its blocks keep their fresh weights while every other layer is transferred. A
student wider than the source somewhere takes all the source's channels there and keeps the rest fresh.
Normalisation layers with a scale and shift (affine instance norm) take those of the channels they follow.
"""

from dataclasses import dataclass

import torch
from torch import nn

from .mobile_resnet import MobileResnetBlock
from .resnet import ResnetBlock, ResnetLayout

Index = torch.Tensor


@dataclass(frozen=True)
class Transfer:
    """What a transfer copied: the target's layers (by name), and which of the source's trunk channels the
    target's trunk took, in order (what distillation maps the student's trunk back onto)."""

    copied: list[str]
    trunk: Index


def transfer_by_l1(source: ResnetLayout, target: ResnetLayout) -> Transfer:
    """Copy into `target` the channels of largest L1 norm of `source`'s layers."""
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
    trunk = torch.arange(0)
    n_encoder = sum(1 for _, _, part in source_convs if part == "encoder")
    with torch.no_grad():
        for position, ((wide, wide_norm, _), (narrow, narrow_norm, _)) in enumerate(zip(source_convs, target_convs)):
            index = _transfer_layer(wide, narrow, index)
            _transfer_norm(wide_norm, narrow_norm, index)
            copied.append(names[narrow])
            if position == n_encoder - 1:  # the trunk: blocks keep its channels
                trunk = index
                copied += _transfer_blocks(source, target, index, names)
    return Transfer(copied, trunk)


def _outer_convs(model: ResnetLayout) -> list[tuple[nn.Module, nn.Module | None, str]]:
    """Each outer convolution, the normalisation layer right after it (if any), and its part."""
    kinds = (nn.Conv2d, nn.ConvTranspose2d)
    found = []
    for part, sequence in (("encoder", list(model.encoder)), ("decoder", list(model.decoder))):
        for position, module in enumerate(sequence):
            if isinstance(module, kinds):
                after = sequence[position + 1] if position + 1 < len(sequence) else None
                found.append((module, after if isinstance(after, nn.InstanceNorm2d) else None, part))
    return found


def _transfer_norm(wide: nn.Module | None, narrow: nn.Module | None, index: Index) -> None:
    """The scale and shift of the kept channels, where both layers have them."""
    if wide is None or narrow is None or not (wide.affine and narrow.affine):
        return
    narrow.weight[: len(index)] = wide.weight[index]
    narrow.bias[: len(index)] = wide.bias[index]


def _transfer_blocks(source: ResnetLayout, target: ResnetLayout, trunk: Index, names: dict) -> list[str]:
    copied = []
    for wide, narrow in zip(source.blocks, target.blocks):
        if type(wide) is not type(narrow):
            continue
        if isinstance(wide, ResnetBlock):
            first, second = [m for m in wide.conv_block if isinstance(m, nn.Conv2d)]
            into_first, into_second = [m for m in narrow.conv_block if isinstance(m, nn.Conv2d)]
            first_norm, second_norm = [m for m in wide.conv_block if isinstance(m, nn.InstanceNorm2d)] or (None, None)
            into_norms = [m for m in narrow.conv_block if isinstance(m, nn.InstanceNorm2d)] or (None, None)
            inner = _transfer_layer(first, into_first, trunk)
            _transfer_norm(first_norm, into_norms[0], inner)
            _transfer_layer(second, into_second, inner, keep=trunk)
            _transfer_norm(second_norm, into_norms[1], trunk)
        elif isinstance(wide, MobileResnetBlock):
            inner = _transfer_separable(wide.expand.conv, narrow.expand.conv, trunk)
            _transfer_norm(_norm(wide.expand_norm), _norm(narrow.expand_norm), inner)
            _transfer_separable(wide.project.conv, narrow.project.conv, inner, keep=trunk)
            _transfer_norm(_norm(wide.project_norm), _norm(narrow.project_norm), trunk)
        copied.append(names[narrow])
    return copied


def _norm(module: nn.Module) -> nn.Module | None:
    return module if isinstance(module, nn.InstanceNorm2d) else None


def _transfer_separable(wide: nn.Sequential, narrow: nn.Sequential, index: Index, keep: Index | None = None) -> Index:
    """Depthwise then pointwise: the depthwise filters of the kept input channels, then the pointwise layer."""
    depthwise, pointwise = wide[0], wide[2]
    narrow[0].weight[: len(index)] = depthwise.weight[index]
    if depthwise.bias is not None:
        narrow[0].bias[: len(index)] = depthwise.bias[index]
    _transfer_norm(_norm(wide[1]), _norm(narrow[1]), index)
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

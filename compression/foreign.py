"""Generator checkpoints made elsewhere, read into ganc's generators so they can be compressed.

Two formats, told apart by their keys and shapes:
- `pytorch-cyclegan`: the state dicts junyanz/pytorch-CycleGAN-and-pix2pix saves (`latest_net_G.pth`,
  `latest_net_G_A.pth`, `*_net_G_B.pth`): its ResnetGenerator (any number of blocks) or UnetGenerator,
  norm `instance` (no affine, no running statistics) or `batch`, with or without dropout.
- `vintagify`: the CycleGAN ResNet generator that the vintagify wheel ships: InstanceNorm with affine
  parameters, a bias on every convolution, its residual blocks' layers under `block`.

Both ResNet layouts are one `nn.Sequential` named `model`: stem and down-sampling at 0-9, the blocks from
10, then up-sampling and the head. ganc's ResnetGenerator holds the same layers under `encoder`, `blocks`
and `decoder`, so importing is renaming (dropout has no weights: it only shifts a block's indices). ganc's
U-Net has the reference's very names.
"""

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from ganc.repository import sha256_file

from .checkpoint import (
    IMPORTED,
    CheckpointError,
    checkpoint_payload,
    is_ganc_checkpoint,
    read_torch_file,
    resolve_checkpoint,
    write_payload,
)
from .models import ModelSpec
from .published import is_published_variant, published_payload

ForeignFormat = Literal["pytorch-cyclegan", "vintagify"]
FORMATS: tuple[ForeignFormat, ...] = ("pytorch-cyclegan", "vintagify")
BLOCK_NAME: dict[ForeignFormat, str] = {"pytorch-cyclegan": "conv_block", "vintagify": "block"}
VINTAGIFY_WEIGHTS = "resources/G_A2B_epoch33.pth"  # the modern-to-vintage generator of vintagify 0.1.2
RESNET_BLOCKS_START = 10  # Sequential index of the first residual block, after stem and two down-samplings
State = dict[str, torch.Tensor]


class ForeignCheckpointError(CheckpointError):
    """A checkpoint in no format ganc reads, or whose weights do not fit the layout its keys suggest."""


@dataclass
class ImportedGenerator:
    format: ForeignFormat
    spec: ModelSpec
    model: nn.Module


def vintagify_weights() -> Path:
    """The generator file the vintagify wheel ships, found without importing the package (its imports pull in
    torchvision, which would bring another torch)."""
    spec = importlib.util.find_spec("vintagify")
    if spec is None or not spec.submodule_search_locations:
        raise ForeignCheckpointError("vintagify is not installed: pip install --no-deps vintagify==0.1.2")
    return Path(next(iter(spec.submodule_search_locations))) / VINTAGIFY_WEIGHTS


def read_state_dict(path: Path) -> State:
    """The tensors a foreign checkpoint file holds (a plain state dict, possibly saved from a GPU)."""
    state = read_torch_file(resolve_checkpoint(path))
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ForeignCheckpointError(f"{path} holds no generator state dict (a mapping of names to tensors)")
    # Weights saved from nn.DataParallel carry its `module.` prefix.
    return {key.removeprefix("module."): value for key, value in state.items()}


def detect_format(state: State) -> ForeignFormat:
    keys = list(state)
    if all(key.startswith("model.model.") for key in keys):
        return "pytorch-cyclegan"
    for format_, block in BLOCK_NAME.items():
        if any(re.fullmatch(rf"model\.\d+\.{block}\.\d+\.weight", key) for key in keys):
            return format_
    raise ForeignCheckpointError(
        f"key {keys[0]!r} fits no generator layout ganc reads "
        "(pytorch-CycleGAN-and-pix2pix's ResnetGenerator or UnetGenerator, vintagify's generator)"
    )


def import_generator(path: Path, format: ForeignFormat | Literal["auto"] = "auto") -> ImportedGenerator:
    """The generator in a foreign checkpoint as a ganc generator (eval mode), with the spec that rebuilds it."""
    state = read_state_dict(path)
    detected = detect_format(state)
    if format != "auto" and format != detected:
        raise ForeignCheckpointError(f"{path} is a {detected} checkpoint, not {format}")
    if all(key.startswith("model.model.") for key in state):
        spec, state = _unet(state)
        names = SameNames()
    else:
        spec, state, names = _resnet(state, BLOCK_NAME[detected])
    model = spec.build()
    _load_exactly(model, state, names)
    return ImportedGenerator(detected, spec, model.eval())


def imported_payload(path: Path, format: ForeignFormat | Literal["auto"] = "auto") -> dict[str, Any]:
    """A foreign generator checkpoint as the ganc checkpoint it converts to (kind `imported`)."""
    imported = import_generator(path, format)
    source = {"path": str(path), "format": imported.format, "sha256": sha256_file(path)}
    return checkpoint_payload(imported.spec, imported.model, kind=IMPORTED, imported_from=source)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A ganc checkpoint (file or run folder), a foreign generator file read as an imported one, or a variant
    published in a ganc model repository, read back from its ONNX file (published.py)."""
    if is_published_variant(path):
        return published_payload(path)
    path = resolve_checkpoint(path)
    payload = read_torch_file(path)
    return payload if is_ganc_checkpoint(payload) else imported_payload(path)


def as_ganc_checkpoint(path: Path, imported: Path, write: bool = True) -> Path:
    """`path` itself where it holds a ganc checkpoint; else `imported`, where its foreign or published generator
    is written (unless `write` is false: in several processes one writes it, and the others need its path)."""
    if not is_published_variant(path):
        path = resolve_checkpoint(path)
        if is_ganc_checkpoint(read_torch_file(path)):
            return path
    if write:
        write_payload(imported, read_checkpoint(path))
    return imported


def _norm(state: State, prefix: str) -> str:
    """The normalisation a layer at `prefix` had, from what it saved."""
    if f"{prefix}.weight" not in state:
        return "instance"  # no affine parameters (old PyTorch also saved unused running statistics)
    return "batch" if f"{prefix}.running_mean" in state else "instance_affine"


def _without_unused_statistics(state: State, norm: str) -> State:
    """PyTorch before 0.4 saved running statistics for InstanceNorm, which never uses them."""
    if norm == "batch":
        return state
    unused = (".running_mean", ".running_var", ".num_batches_tracked")
    return {key: value for key, value in state.items() if not key.endswith(unused)}


def _resnet(state: State, block: str) -> tuple[ModelSpec, State, "ResnetNames"]:
    stem = _tensor(state, "model.1.weight")
    norm = _norm(state, "model.2")
    state = _without_unused_statistics(state, norm)
    indices = sorted({int(m[1]) for key in state if (m := re.match(rf"model\.(\d+)\.{block}\.", key))})
    n_blocks = len(indices)
    if indices != list(range(RESNET_BLOCKS_START, RESNET_BLOCKS_START + n_blocks)):
        raise ForeignCheckpointError(f"residual blocks at model.{indices}: expected them from model.10 on")
    # Dropout moves each block's second convolution from index 5 to 6 (where a norm's weight is 1-D).
    dropout = state.get(f"model.10.{block}.6.weight", torch.zeros(1)).dim() == 4
    names = ResnetNames(block, RESNET_BLOCKS_START + n_blocks, dropout)
    head = _tensor(state, names.foreign("decoder.7.weight"))
    options = {"input_nc": stem.shape[1], "output_nc": head.shape[0], "ngf": stem.shape[0], "n_blocks": n_blocks}
    return ModelSpec("resnet", {**options, "norm": norm}), state, names


class SameNames:
    """U-Nets: ganc's names are the reference's."""

    def ganc(self, key: str) -> str:
        return key

    def foreign(self, name: str) -> str:
        return name


@dataclass(frozen=True)
class ResnetNames:
    """ganc's name of each layer of a foreign ResNet generator's Sequential, and back."""

    block: str  # what the residual blocks call their layers
    decoder_start: int  # Sequential index of the first up-sampling layer
    dropout: bool  # a Dropout layer sits between each block's two convolutions (index 4), shifting the rest

    def ganc(self, key: str) -> str:
        match = re.fullmatch(rf"model\.(\d+)\.(?:{self.block}\.(\d+)\.)?(\w+)", key)
        if match is None:
            raise ForeignCheckpointError(f"key {key!r} fits no place in the ResNet generator its other keys describe")
        position, layer, name = int(match[1]), match[2], match[3]
        if position < RESNET_BLOCKS_START:
            return f"encoder.{position}.{name}"
        if position >= self.decoder_start:
            return f"decoder.{position - self.decoder_start}.{name}"
        index = int(layer or 0)
        if self.dropout and index > 4:
            index -= 1
        return f"blocks.{position - RESNET_BLOCKS_START}.conv_block.{index}.{name}"

    def foreign(self, name: str) -> str:
        part, rest = name.split(".", 1)
        if part == "encoder":
            return f"model.{rest}"
        position, rest = rest.split(".", 1)
        if part == "decoder":
            return f"model.{self.decoder_start + int(position)}.{rest}"
        index, rest = rest.removeprefix("conv_block.").split(".", 1)
        shifted = int(index) + 1 if self.dropout and int(index) >= 4 else int(index)
        return f"model.{RESNET_BLOCKS_START + int(position)}.{self.block}.{shifted}.{rest}"


def _unet(state: State) -> tuple[ModelSpec, State]:
    outermost_down = _tensor(state, "model.model.0.weight")
    outermost_up = _tensor(state, "model.model.3.weight")
    # Each deeper stage nests in the one around it: at index 1 of the outermost, at 3 of the others.
    num_downs, prefix = 1, "model.model.1.model."
    while f"{prefix}1.weight" in state:
        num_downs, prefix = num_downs + 1, f"{prefix}3.model."
    norm = "batch" if any(key.endswith(".running_mean") for key in state) else "instance"
    options = {"input_nc": outermost_down.shape[1], "output_nc": outermost_up.shape[1], "ngf": outermost_down.shape[0]}
    spec = ModelSpec("unet", {**options, "num_downs": num_downs, "norm": norm})
    return spec, _without_unused_statistics(state, norm)


def _tensor(state: State, key: str) -> torch.Tensor:
    if key not in state:
        raise ForeignCheckpointError(f"key {key!r} is missing: the layout its other keys suggest needs it")
    return state[key]


def _load_exactly(model: nn.Module, state: State, names: SameNames | ResnetNames) -> None:
    """Load `state` (foreign names) into `model` (ganc's names), or name the first key or shape that does not fit."""
    expected = model.state_dict()
    kind = type(model).__name__
    renamed = {}
    for key, value in state.items():
        name = names.ganc(key)
        if name not in expected:
            raise ForeignCheckpointError(f"key {key!r} has no place in a {kind} of this size")
        if value.shape != expected[name].shape:
            raise ForeignCheckpointError(
                f"{key} has shape {list(value.shape)}; a {kind} needs {list(expected[name].shape)}"
            )
        renamed[name] = value
    missing = [name for name in expected if name not in renamed]
    if missing:
        raise ForeignCheckpointError(f"key {names.foreign(missing[0])!r} is missing; a {kind} of this size needs it")
    model.load_state_dict(renamed)

"""A variant published in a ganc model repository, read back into the generator it was exported from.

A published family keeps no training checkpoint, only ONNX files whose weights carry the generator's own
parameter names (stored in FP16 as `<name>__fp16`) and a card naming its architecture. Reading them back lets
a published teacher be compressed again without retraining it: the weights are exactly what is served. The
one rewrite the exporter makes to weights, the folded output convolution (export/thin_output.py), is undone;
the rebuilt generator is then checked against the ONNX file itself.
"""

from pathlib import Path
from typing import Any

import onnx
import torch
from onnx import numpy_helper
from pydantic import ValidationError
from torch import nn

from ganc.repository import CARD_FILE, MODEL_FILE, read_card, sha256_file, version_numbers
from ganc.validation import describe

from .checkpoint import IMPORTED, CheckpointError, checkpoint_payload
from .export.onnx import ExportError, verify_onnx
from .export.thin_output import FOLDED_BIAS, FOLDED_WEIGHT, unfold_bias, unfold_kernel
from .models import ModelSpec

FORMAT = "ganc-variant"
FP16_SUFFIX = "__fp16"


class PublishedVariantError(CheckpointError):
    """A folder that holds no published variant ganc can read back."""


def is_published_variant(path: Path) -> bool:
    """A variant's folder (`<family>--<variant>`, its latest version is read) or one version folder of it."""
    return path.is_dir() and ((path / CARD_FILE).is_file() or bool(_version_folders(path)))


def published_model_file(path: Path) -> Path:
    """The ONNX file that is read back: the variant's latest version's, or the given version's."""
    return _version_folder(path) / MODEL_FILE


def published_payload(path: Path) -> dict[str, Any]:
    """The generator of the published variant at `path` as a ganc checkpoint (kind `imported`)."""
    folder = _version_folder(path)
    try:
        card = read_card(folder / CARD_FILE)
    except ValidationError as error:
        raise PublishedVariantError(f"{folder / CARD_FILE} is no variant card: {describe(error, '')}") from None
    if card.precision == "int8":
        raise PublishedVariantError(f"{folder} is an INT8 variant: import the float variant it came from")
    spec = ModelSpec(card.architecture, dict(card.architecture_options))
    model = spec.build().eval()
    onnx_path = folder / MODEL_FILE
    _load_weights(model, _initializers(onnx_path), onnx_path)
    try:
        verify_onnx(model, onnx_path, card.channels_in)
    except ExportError as error:
        raise PublishedVariantError(f"{onnx_path} is not what its weights rebuild as {spec.arch}: {error}") from None
    source = {"path": str(folder), "format": FORMAT, "sha256": sha256_file(onnx_path), "model": card.model_name}
    return checkpoint_payload(spec, model, kind=IMPORTED, imported_from=source)


def _version_folders(path: Path) -> list[Path]:
    folders = (path / str(number) for number in version_numbers(path))
    return [folder for folder in folders if (folder / CARD_FILE).is_file()]


def _version_folder(path: Path) -> Path:
    if (path / CARD_FILE).is_file():
        return path
    versions = _version_folders(path)
    if not versions:
        raise PublishedVariantError(f"{path} is no published variant: no {CARD_FILE} in it or in a version folder")
    return versions[-1]


def _initializers(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise PublishedVariantError(f"{path} does not exist")
    try:
        graph = onnx.load(str(path)).graph
    except Exception:  # protobuf raises several types for a damaged file
        raise PublishedVariantError(f"{path} is unreadable: not an ONNX model") from None
    return {
        item.name.removesuffix(FP16_SUFFIX): torch.from_numpy(numpy_helper.to_array(item).copy()).float()
        for item in graph.initializer
    }


def _load_weights(model: nn.Module, weights: dict[str, torch.Tensor], path: Path) -> None:
    state = model.state_dict()
    missing = [key for key in state if key not in weights]
    loaded = {key: weights[key] for key in state if key in weights}
    loaded |= _unfolded_output(missing, state, weights, path)
    for key, value in loaded.items():
        if value.shape != state[key].shape:
            raise PublishedVariantError(f"{path}: {key} has shape {list(value.shape)}, not {list(state[key].shape)}")
    model.load_state_dict(loaded)


def _unfolded_output(
    missing: list[str], state: dict[str, torch.Tensor], weights: dict[str, torch.Tensor], path: Path
) -> dict[str, torch.Tensor]:
    """The output convolution's weight and bias, from the folded pair that replaced them (if any is missing)."""
    if not missing:
        return {}
    folded = {suffix: [name for name in weights if name.endswith(suffix)] for suffix in (FOLDED_WEIGHT, FOLDED_BIAS)}
    layer = missing[0].rsplit(".", 1)[0]
    if set(missing) - {f"{layer}.weight", f"{layer}.bias"} or len(folded[FOLDED_WEIGHT]) != 1:
        raise PublishedVariantError(f"{path} lacks the weights {', '.join(missing)}: not exported by ganc?")
    shape = state[f"{layer}.weight"].shape
    unfolded = {f"{layer}.weight": unfold_kernel(weights[folded[FOLDED_WEIGHT][0]], shape[0], shape[-1])}
    if f"{layer}.bias" in missing and folded[FOLDED_BIAS]:
        unfolded[f"{layer}.bias"] = unfold_bias(weights[folded[FOLDED_BIAS][0]], shape[0])
    return unfolded

"""A variant's two statistics forms as Triton models of their own, beside it in the repository.

    <root>/<family>--<variant>--statistics/<version>/model.onnx   an image -> every norm layer's statistics
    <root>/<family>--<variant>--tiles/<version>/model.onnx        a tile and those statistics -> the tile's answer

Derived from the variant's `model.onnx` (image_statistics.py) and numbered as its version, so that any Triton
serves them as it serves the variant: the onnxruntime backend of a GPU deployment as the Python flavour. Written
at publishing, before the variant's version appears, for every variant whose tiles share the image's statistics;
`add_missing_forms` writes them for versions published without (a repository kept in git holds none of them).
"""

import os
import shutil
from pathlib import Path

import onnx

from ..atomic import staging_folder, write_text_atomically
from ..card import STATISTICS_FORMS, STATISTICS_INPUT, STATISTICS_OUTPUT, VariantCard, form_model_name
from .image_statistics import statistics_form, tile_form
from .model_folder import CONFIG_FILE, MODEL_FILE, remove_version
from .triton_config import PYTHON_MODEL, Flavour, render_config


def write_forms(root: Path, card: VariantCard, onnx_path: Path, version: int, flavour: Flavour) -> None:
    """Both forms of `onnx_path` as `version` of their models under `root`, each version folder renamed into place
    whole (one left there by a publisher that failed before its variant appeared is replaced)."""
    graph = onnx.load(onnx_path)
    derived = {"statistics": statistics_form(graph, STATISTICS_OUTPUT), "tiles": tile_form(graph, STATISTICS_INPUT)}
    for form in STATISTICS_FORMS:
        model_dir = root / form_model_name(card.model_name, form)
        model_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomically(model_dir / CONFIG_FILE, render_config(card, flavour, form))
        with staging_folder(model_dir) as staging:
            onnx.save(derived[form], staging / MODEL_FILE)
            if flavour == "python":
                shutil.copyfile(PYTHON_MODEL, staging / PYTHON_MODEL.name)
            version_dir = model_dir / str(version)
            if version_dir.exists():
                remove_version(model_dir, version)
            os.rename(staging, version_dir)


def has_forms(root: Path, model: str, version: int) -> bool:
    return all((root / form_model_name(model, form) / str(version) / MODEL_FILE).is_file() for form in STATISTICS_FORMS)


def remove_form_versions(root: Path, model: str, versions: list[int]) -> None:
    for form in STATISTICS_FORMS:
        model_dir = root / form_model_name(model, form)
        for version in versions:
            if (model_dir / str(version)).exists():
                remove_version(model_dir, version)

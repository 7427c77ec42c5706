"""Derive the Python-backend flavour of a model repository from its canonical layout.

Same model names, versions and tensors; each version gets the generic `model.py` and links to the canonical
`model.onnx` and `card.json`, each model a Python-backend `config.pbtxt`, and a variant whose tiles share the
image's statistics its two forms (statistics_forms.py), derived here from its `model.onnx`.
"""

import os
import shutil
from pathlib import Path

from ..atomic import write_text_atomically
from .layout import RepositoryIndex, VariantVersion, read_index
from .model_folder import CARD_FILE, CONFIG_FILE, MODEL_FILE, place_version
from .statistics_forms import has_forms, write_forms
from .triton_config import PYTHON_MODEL, render_config


def derive_python_flavour(canonical: Path, target: Path) -> RepositoryIndex:
    """Bring `target` up to date with every version in `canonical`; returns the canonical index."""
    index = read_index(canonical)
    target.mkdir(parents=True, exist_ok=True)
    for entry in index.versions:
        model_dir = target / entry.model_name
        config = model_dir / CONFIG_FILE
        text = render_config(entry.card, "python")
        if config.is_file() and config.read_text() != text:
            write_text_atomically(config, text)
        if entry.card.tile_statistics == "image" and not has_forms(target, entry.model_name, entry.version):
            write_forms(target, entry.card, entry.onnx_path, entry.version, "python")
        if (model_dir / str(entry.version)).exists():
            continue

        def fill(folder: Path, entry: VariantVersion = entry) -> None:
            shutil.copyfile(PYTHON_MODEL, folder / PYTHON_MODEL.name)
            for name in (MODEL_FILE, CARD_FILE):
                os.symlink((entry.path / name).resolve(), folder / name)

        place_version(model_dir, entry.version, text, fill)
    return index

"""Derive the Python-backend flavour of a model repository from its canonical layout.

Same model names, versions and tensors; each version gets the generic `model.py` (and the graph surgery it
imports) and links to the
canonical `model.onnx` and `card.json`, and each model a Python-backend `config.pbtxt`.
"""

import os
import shutil
from pathlib import Path

from ..atomic import staging_folder, write_text_atomically
from .layout import CARD_FILE, CONFIG_FILE, MODEL_FILE, RepositoryIndex, read_index
from .triton_config import render_config

PYTHON_BACKEND = Path(__file__).with_name("python_backend")
PYTHON_MODEL_FILES = ("model.py", "image_statistics.py")


def derive_python_flavour(canonical: Path, target: Path) -> RepositoryIndex:
    """Bring `target` up to date with every version in `canonical`; returns the canonical index."""
    index = read_index(canonical)
    target.mkdir(parents=True, exist_ok=True)
    for entry in index.versions:
        model_dir = target / entry.model_name
        model_dir.mkdir(exist_ok=True)
        config = model_dir / CONFIG_FILE
        text = render_config(entry.card, "python")
        if not config.is_file() or config.read_text() != text:
            write_text_atomically(config, text)
        version_dir = model_dir / str(entry.version)
        if version_dir.exists():
            continue
        with staging_folder(model_dir) as staging:
            for name in PYTHON_MODEL_FILES:
                shutil.copyfile(PYTHON_BACKEND / name, staging / name)
            for name in (MODEL_FILE, CARD_FILE):
                os.symlink((entry.path / name).resolve(), staging / name)
            os.rename(staging, version_dir)
    return index

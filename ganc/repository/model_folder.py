"""What a model's folder holds, and how one of its version folders comes and goes."""

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from ..atomic import flush_entries, flush_to_disk, staging_folder, write_text_atomically

MODEL_FILE = "model.onnx"
CARD_FILE = "card.json"
CONFIG_FILE = "config.pbtxt"


def remove_version(model_dir: Path, version: int) -> None:
    # Renamed away first, so that no reader ever sees a version folder half deleted.
    doomed = model_dir / f".removing-{version}-{uuid.uuid4().hex}"
    os.rename(model_dir / str(version), doomed)
    shutil.rmtree(doomed)


def place_version(model_dir: Path, version: int, config: str, fill: Callable[[Path], None]) -> None:
    """`version` of the model in `model_dir`, its folder filled by `fill`, with `config` as its config.pbtxt: a new
    model's folder is assembled whole beside the others and renamed into place (never a config without a
    version, which would stop a Triton that loads every model at start); an existing model gets its config
    replaced and the version renamed in (one there already, left by a publisher that failed before its variant
    appeared, is replaced)."""
    if not model_dir.exists():
        model_dir.parent.mkdir(parents=True, exist_ok=True)
        with staging_folder(model_dir.parent) as staging:
            (staging / str(version)).mkdir()
            fill(staging / str(version))
            (staging / CONFIG_FILE).write_text(config)
            flush_to_disk(staging)
            os.rename(staging, model_dir)
        flush_entries(model_dir.parent)
        return
    write_text_atomically(model_dir / CONFIG_FILE, config)
    with staging_folder(model_dir) as staging:
        fill(staging)
        flush_to_disk(staging)
        if (model_dir / str(version)).exists():
            remove_version(model_dir, version)
        os.rename(staging, model_dir / str(version))
    flush_entries(model_dir)

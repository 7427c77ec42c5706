"""What a model's folder holds, and how one of its version folders goes away."""

import os
import shutil
import uuid
from pathlib import Path

MODEL_FILE = "model.onnx"
CARD_FILE = "card.json"
CONFIG_FILE = "config.pbtxt"


def remove_version(model_dir: Path, version: int) -> None:
    # Renamed away first, so that no reader ever sees a version folder half deleted.
    doomed = model_dir / f".removing-{version}-{uuid.uuid4().hex}"
    os.rename(model_dir / str(version), doomed)
    shutil.rmtree(doomed)

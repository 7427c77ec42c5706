"""A variant's two statistics forms as Triton models of their own, beside it in the repository.

    <root>/<family>--<variant>--statistics/<version>/model.onnx   an image -> every norm layer's statistics
    <root>/<family>--<variant>--tiles/<version>/model.onnx        a tile and those statistics -> the tile's answer

Derived from the variant's `model.onnx` (image_statistics.py) and numbered as its version, so that any Triton
serves them as it serves the variant: the onnxruntime backend of a GPU deployment as the Python flavour. Written
at publishing, before the variant's version appears, for every variant whose tiles share the image's statistics;
`add_missing_forms` writes them for versions published without (a repository kept in git holds none of them).
"""

import shutil
from pathlib import Path

import onnx

from ..card import STATISTICS_FORMS, STATISTICS_INPUT, STATISTICS_OUTPUT, VariantCard, form_model_name
from .image_statistics import statistics_form, tile_form
from .model_folder import MODEL_FILE, place_version
from .triton_config import PYTHON_MODEL, Flavour, render_config


def write_forms(root: Path, card: VariantCard, onnx_path: Path, version: int, flavour: Flavour) -> None:
    """Both forms of `onnx_path` as `version` of their models under `root` (model_folder.place_version)."""
    graph = onnx.load(onnx_path)
    derived = {"statistics": statistics_form(graph, STATISTICS_OUTPUT), "tiles": tile_form(graph, STATISTICS_INPUT)}
    for form in STATISTICS_FORMS:

        def fill(folder: Path, form: str = form) -> None:
            onnx.save(derived[form], folder / MODEL_FILE)
            if flavour == "python":
                shutil.copyfile(PYTHON_MODEL, folder / PYTHON_MODEL.name)

        config = render_config(card, flavour, form)
        place_version(root / form_model_name(card.model_name, form), version, config, fill)


def has_forms(root: Path, model: str, version: int) -> bool:
    return all((root / form_model_name(model, form) / str(version) / MODEL_FILE).is_file() for form in STATISTICS_FORMS)

"""The model-repository contract: Triton's layout, variant versions published atomically with their statistics
forms, the index that reads them back, each model's config.pbtxt, and the Python-backend flavour derived from it
all."""

from .layout import (
    CardCache,
    Problem,
    RepositoryError,
    RepositoryIndex,
    VariantVersion,
    add_missing_forms,
    prune_versions,
    publish_family,
    publish_variant,
    read_card,
    read_index,
    remove_stale_staging,
    remove_unfinished,
    sha256_file,
    version_numbers,
)
from .model_folder import CARD_FILE, CONFIG_FILE, MODEL_FILE
from .python_flavour import derive_python_flavour
from .statistics_forms import has_forms
from .triton_config import Flavour, render_config

__all__ = [
    "CARD_FILE",
    "CONFIG_FILE",
    "MODEL_FILE",
    "CardCache",
    "Flavour",
    "Problem",
    "RepositoryError",
    "RepositoryIndex",
    "VariantVersion",
    "add_missing_forms",
    "derive_python_flavour",
    "has_forms",
    "prune_versions",
    "publish_family",
    "publish_variant",
    "read_card",
    "read_index",
    "remove_stale_staging",
    "remove_unfinished",
    "render_config",
    "sha256_file",
    "version_numbers",
]

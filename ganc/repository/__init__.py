"""The model-repository contract: Triton's layout, variant versions published atomically, the index that
reads them back, each model's config.pbtxt, and the Python-backend flavour derived from it all."""

from .layout import (
    CARD_FILE,
    CONFIG_FILE,
    MODEL_FILE,
    CardCache,
    RepositoryError,
    RepositoryIndex,
    VariantVersion,
    prune_versions,
    publish_variant,
    read_card,
    read_index,
    remove_stale_staging,
    sha256_file,
)
from .python_flavour import derive_python_flavour
from .triton_config import Flavour, render_config

__all__ = [
    "CARD_FILE",
    "CONFIG_FILE",
    "MODEL_FILE",
    "CardCache",
    "Flavour",
    "RepositoryError",
    "RepositoryIndex",
    "VariantVersion",
    "derive_python_flavour",
    "prune_versions",
    "publish_variant",
    "read_card",
    "read_index",
    "remove_stale_staging",
    "render_config",
    "sha256_file",
]

"""Datasets: reading the usual on-disk formats, and building sample sets offline from photographs."""

from .dataset import Preprocess, TranslationDataset, to_image, to_tensor
from .folders import DataError, find_split
from .sample import build_sample_dataset

__all__ = [
    "DataError",
    "Preprocess",
    "TranslationDataset",
    "build_sample_dataset",
    "find_split",
    "to_image",
    "to_tensor",
]

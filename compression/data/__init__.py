"""Datasets: reading the usual on-disk formats, gathering photographs and building sample sets from them offline."""

from .dataset import Preprocess, TranslationDataset, to_image, to_tensor
from .folders import DataError, find_split
from .photos import gather_photos
from .sample import build_sample_dataset

__all__ = [
    "DataError",
    "Preprocess",
    "TranslationDataset",
    "build_sample_dataset",
    "find_split",
    "gather_photos",
    "to_image",
    "to_tensor",
]

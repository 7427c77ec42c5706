"""Datasets: reading the usual on-disk formats, gathering photographs and building sample sets from them offline."""

from .dataset import Preprocess, TranslationDataset, batch_index, load_rgb, to_image, to_tensor, with_short_side
from .folders import DataError, find_split
from .photos import gather_photos
from .sample import build_sample_dataset
from .unlabelled import (
    build_photo_dataset,
    check_photo_folder,
    judged_split,
    judging_preprocess,
    training_preprocess,
)

__all__ = [
    "DataError",
    "Preprocess",
    "TranslationDataset",
    "batch_index",
    "build_photo_dataset",
    "build_sample_dataset",
    "check_photo_folder",
    "find_split",
    "gather_photos",
    "judged_split",
    "judging_preprocess",
    "load_rgb",
    "to_image",
    "to_tensor",
    "training_preprocess",
    "with_short_side",
]

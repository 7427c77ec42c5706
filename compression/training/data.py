"""The datasets a training stage reads: a training split with augmentation and a plain validation split."""

import json
from dataclasses import dataclass
from pathlib import Path

from ..data import DataError, Preprocess, TranslationDataset

DEFAULT_CROP = 256


@dataclass
class DataConfig:
    """Where the data is and how it is cropped. crop_size None: the sample set's size, else 256."""

    dataset: str = ""
    train_split: str = "train"
    val_split: str = "val"
    crop_size: int | None = None
    load_size: int | None = None
    flip: bool = True
    val_limit: int = 16

    def resolved_crop(self) -> int:
        if self.crop_size is not None:
            return self.crop_size
        summary = Path(self.dataset) / "dataset.json"
        if summary.is_file():
            return int(json.loads(summary.read_text())["size"])
        return DEFAULT_CROP


def open_splits(config: DataConfig, size_multiple: int) -> tuple[TranslationDataset, TranslationDataset | None]:
    """The training split (checked now, so bad data fails before any training) and the validation split if any."""
    if not config.dataset:
        raise DataError("no dataset given")
    crop = config.resolved_crop()
    if crop % size_multiple:
        raise DataError(f"crop size {crop} is not a multiple of {size_multiple}, which the generator needs")
    root = Path(config.dataset)
    train = TranslationDataset(root, config.train_split, Preprocess(config.load_size, crop, config.flip))
    try:
        val = TranslationDataset(root, config.val_split, Preprocess(multiple=size_multiple))
    except DataError as error:
        if "no split" not in str(error):
            raise
        val = None
    return train, val

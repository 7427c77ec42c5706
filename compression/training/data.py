"""The datasets a training stage reads: a training split with augmentation and a plain validation split."""

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ..data import DataError, TranslationDataset, judging_preprocess, training_preprocess

DEFAULT_CROP = 256
TRAIN_SPLIT, VAL_SPLIT = "train", "val"


class DataConfig(BaseModel):
    """Where a run's data is and how it is cropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Path | None = Field(None, description="the dataset folder (distillation: default the teacher's)")
    crop_size: int | None = Field(None, ge=4, description="training crop (default: the sample set's size, else 256)")
    load_size: int | None = Field(None, gt=0, description="resize to this before cropping (default: no resize)")
    val_limit: int = Field(16, gt=0, description="validation images per evaluation")

    def resolved_crop(self) -> int:
        if self.crop_size is not None:
            return self.crop_size
        summary = Path(self.dataset or "") / "dataset.json"
        if summary.is_file():
            return int(json.loads(summary.read_text())["size"])
        return DEFAULT_CROP


def open_splits(config: DataConfig, size_multiple: int) -> tuple[TranslationDataset, TranslationDataset | None]:
    """The training split (checked now, so bad data fails before any training) and the validation split if any."""
    if config.dataset is None:
        raise DataError("no dataset given")
    crop = config.resolved_crop()
    if crop % size_multiple:
        raise DataError(f"crop size {crop} is not a multiple of {size_multiple}, which the generator needs")
    train = TranslationDataset(config.dataset, TRAIN_SPLIT, training_preprocess(config.dataset, crop, config.load_size))
    try:
        val = TranslationDataset(config.dataset, VAL_SPLIT, judging_preprocess(config.dataset, size_multiple))
    except DataError as error:
        if "no split" not in str(error):
            raise
        val = None
    return train, val

"""Training inputs made from a few dozen photographs, for students that learn a teacher's function from them.

A student distilled on unlabelled photos learns the teacher's answer on what it is shown, and a few dozen
photos are too few inputs to pin down how that answer follows an image (docs: the vintage measurements). So
each training input is made afresh from the photos, as "Knowledge distillation: a good teacher is patient and
consistent" (Beyer et al., CVPR 2022) makes its inputs: a crop covering most of a photo at a scale a little
above the one students are judged at, flipped, its colour balance and saturation shifted, and often mixed with
a second photo (blended, or a rectangle of it pasted in). The teacher then labels the made image whole, so the
student is asked exactly what the teacher answers for exactly what the student sees.

Brightness and contrast are not varied: an InstanceNorm right after a generator's first convolution makes it
blind to them (its answer to a x + b is its answer to x), so they would make nothing new.

Every input is a pure function of (seed, step, position): a resumed run makes the inputs an uninterrupted one
would have made, with no state to save.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .dataset import batch_index, load_rgb, with_short_side
from .folders import DataError

LARGEST_SCALE = 1.25  # photos are brought to a short side between the judged size and this much more


@dataclass(frozen=True)
class MixSettings:
    """How inputs are made: the share blended from two photos, the share with a rectangle of another photo
    pasted in (the rest are single photos), and how far colour balance and saturation are shifted."""

    blended: float = 0.25
    pasted: float = 0.25
    channel_gain: float = 0.15  # each of R, G, B multiplied by a factor in [1 - g, 1 + g]
    saturation: float = 0.4  # saturation multiplied by a factor in [1 - s, 1 + s]


class MadeInputs:
    """Square training inputs of `crop_size` made from `photos`, the photos brought to a short side between
    `size` (what students are judged at) and LARGEST_SCALE times that; `distinct` repeats a fixed set of that
    many made inputs instead of making a new one for every position (for measuring how many are needed)."""

    def __init__(
        self,
        photos: list[Path],
        *,
        size: int,
        crop_size: int,
        mix: MixSettings = MixSettings(),
        distinct: int | None = None,
    ) -> None:
        if not photos:
            raise DataError("no photos to make training inputs from")
        if crop_size > size:
            raise DataError(f"crop size {crop_size} is larger than the photos' short side {size}")
        self.crop_size, self.mix, self.distinct = crop_size, mix, distinct
        self.sides = (size, max(size, round(size * LARGEST_SCALE)))
        # Held in memory at the largest scale: every input is then one resize of a small image.
        self.photos = [with_short_side(load_rgb(path), self.sides[1]) for path in photos]

    def __len__(self) -> int:
        return len(self.photos)

    def batch(self, step: int, batch_size: int, seed: int) -> torch.Tensor:
        """The inputs of training step `step`, [batch_size, 3, crop, crop] in [-1, 1]."""
        made = [self.make(position, seed) for position in range(step * batch_size, (step + 1) * batch_size)]
        return torch.from_numpy(np.stack(made)).permute(0, 3, 1, 2).contiguous()

    def make(self, position: int, seed: int) -> np.ndarray:
        """Input number `position`: [crop, crop, 3] float32 in [-1, 1]."""
        if self.distinct is not None:
            position %= self.distinct
        rng = np.random.default_rng([seed, position])
        image = self._shifted(self._crop(batch_index(position, len(self), seed), rng), rng)
        kind = rng.random()
        if kind < self.mix.blended + self.mix.pasted:
            other = self._shifted(self._crop(int(rng.integers(len(self))), rng), rng)
            if kind < self.mix.blended:
                share = rng.uniform(0.3, 0.7)
                image = share * image + (1 - share) * other
            else:
                image = _paste(image, other, rng)
        return (image / 127.5 - 1).astype(np.float32)

    def _crop(self, index: int, rng: np.random.Generator) -> np.ndarray:
        side = int(rng.integers(self.sides[0], self.sides[1] + 1))
        photo = with_short_side(self.photos[index], side)
        x = int(rng.integers(photo.width - self.crop_size + 1))
        y = int(rng.integers(photo.height - self.crop_size + 1))
        crop = photo.crop((x, y, x + self.crop_size, y + self.crop_size))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        return np.asarray(crop, dtype=np.float32)

    def _shifted(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Colour balance and saturation shifted, in 0..255."""
        grey = image.mean(axis=2, keepdims=True)
        saturation = rng.uniform(1 - self.mix.saturation, 1 + self.mix.saturation)
        gains = rng.uniform(1 - self.mix.channel_gain, 1 + self.mix.channel_gain, 3)
        return np.clip((grey + saturation * (image - grey)) * gains, 0, 255)


def _paste(image: np.ndarray, other: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`image` with a rectangle of `other` (a quarter to three quarters of each side) pasted in."""
    size = image.shape[0]
    height, width = (int(rng.integers(size // 4, 3 * size // 4 + 1)) for _ in range(2))
    y, x = int(rng.integers(size - height + 1)), int(rng.integers(size - width + 1))
    out = image.copy()
    out[y : y + height, x : x + width] = other[y : y + height, x : x + width]
    return out

"""Image-translation datasets: pix2pix's preprocessing, tensors in [-1, 1], seeded and deterministic.

What a batch holds depends only on (seed, step): resuming at step s sees exactly the batches an
uninterrupted run would have seen, with no sampler state to save.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .folders import DataError, SplitFiles, check_images, find_split

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preprocess:
    """Resize to `load_size` square (None: keep the size), or keep the aspect and bring the short side to a
    random length in `short_side` (lo, hi); take a `crop_size` crop (None: whole image), maybe flip, and trim
    height and width down to a `multiple` (what the generator needs)."""

    load_size: int | None = None
    short_side: tuple[int, int] | None = None
    crop_size: int | None = None
    flip: bool = False
    multiple: int = 1


def to_tensor(image: Image.Image) -> torch.Tensor:
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def to_image(tensor: torch.Tensor) -> Image.Image:
    """A [3, H, W] tensor in [-1, 1] as an 8-bit RGB image."""
    array = ((tensor.detach().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array)


def load_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        return image.convert("RGB")


class TranslationDataset:
    """One split of a dataset; `pair(index, rng)` gives a preprocessed (A, B) pair of tensors.

    For unpaired splits, B is drawn at random from the B domain (as CycleGAN does).
    """

    def __init__(self, root: Path, split: str, preprocess: Preprocess, check: bool = True) -> None:
        self.root, self.split, self.preprocess = root, split, preprocess
        self.files: SplitFiles = find_split(root, split)
        if check:
            check_images(self.files, preprocess.crop_size or 1)
        self.skipped: list[Path] = []

    @property
    def layout(self) -> str:
        return self.files.layout

    def __len__(self) -> int:
        return len(self.files.a)

    def name(self, index: int) -> str:
        return self.files.a[index].stem

    @property
    def has_targets(self) -> bool:
        """Whether B holds real images; a split of unlabelled photos gives the photo itself as B."""
        return self.files.layout != "photos"

    @property
    def has_paired_targets(self) -> bool:
        """Whether each input's B is its own target (aligned or paired files), the task's truth to judge by."""
        return self.files.layout in ("aligned", "paired")

    def _images(self, index: int, rng: np.random.Generator) -> tuple[Image.Image, Image.Image]:
        if self.files.layout == "photos":
            photo = load_rgb(self.files.a[index])
            return photo, photo
        if self.files.layout == "aligned":
            both = load_rgb(self.files.a[index])
            half = both.width // 2
            return both.crop((0, 0, half, both.height)), both.crop((half, 0, 2 * half, both.height))
        b_index = index if self.files.layout == "paired" else int(rng.integers(len(self.files.b)))
        return load_rgb(self.files.a[index]), load_rgb(self.files.b[b_index])

    def pair(self, index: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self._images(index, rng)
        p = self.preprocess
        if p.short_side is not None:
            side = int(rng.integers(p.short_side[0], p.short_side[1] + 1))
            same = b is a  # unlabelled photos: the photo is both
            a = with_short_side(a, side)
            b = a if same else with_short_side(b, side)
        if p.load_size is not None:
            a = a.resize((p.load_size, p.load_size), Image.BICUBIC)
            b = b.resize((p.load_size, p.load_size), Image.BICUBIC)
        if p.crop_size is not None:
            # Paired images share one crop; unpaired ones are cropped independently.
            x, y = _crop_origin(a, p.crop_size, rng)
            a = a.crop((x, y, x + p.crop_size, y + p.crop_size))
            if self.files.layout == "unpaired":
                x, y = _crop_origin(b, p.crop_size, rng)
            b = b.crop((x, y, x + p.crop_size, y + p.crop_size))
        if p.flip and rng.random() < 0.5:
            a, b = a.transpose(Image.FLIP_LEFT_RIGHT), b.transpose(Image.FLIP_LEFT_RIGHT)
        if p.multiple > 1:
            a, b = _trim(a, p.multiple), _trim(b, p.multiple)
        return to_tensor(a), to_tensor(b)

    def batch(self, step: int, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The training batch of `step`: epoch-wise seeded permutations, a skipped image replaced by the next."""
        a_list, b_list = [], []
        position = step * batch_size
        while len(a_list) < batch_size:
            index = batch_index(position, len(self), seed)
            rng = np.random.default_rng([seed, step, position])
            position += 1
            try:
                a, b = self.pair(index, rng)
            except (OSError, ValueError) as error:
                self._skip(index, error)
                if len(self.skipped) >= len(self):
                    raise DataError(f"every image of {self.root}/{self.split} failed to load") from None
                continue
            a_list.append(a)
            b_list.append(b)
        return torch.stack(a_list), torch.stack(b_list)

    def _skip(self, index: int, error: Exception) -> None:
        path = self.files.a[index]
        if path not in self.skipped:
            self.skipped.append(path)
        log.warning("skipped corrupt image %s (%s); %d skipped so far", path, error, len(self.skipped))

    def eval_pairs(self, limit: int | None = None):
        """Every (name, A, B) of the split with the deterministic preprocessing, skipping corrupt images."""
        rng = np.random.default_rng(0)
        for index in range(len(self) if limit is None else min(limit, len(self))):
            try:
                a, b = self.pair(index, rng)
            except (OSError, ValueError) as error:
                self._skip(index, error)
                continue
            yield self.name(index), a, b


def batch_index(position: int, count: int, seed: int) -> int:
    """The item at `position` of the training order: each epoch a permutation of the `count` items, seeded."""
    epoch, offset = divmod(position, count)
    return int(np.random.default_rng([seed, epoch]).permutation(count)[offset])


def with_short_side(image: Image.Image, side: int) -> Image.Image:
    scale = side / min(image.size)
    size = (max(side, round(image.width * scale)), max(side, round(image.height * scale)))
    return image if size == image.size else image.resize(size, Image.BICUBIC)


def _trim(image: Image.Image, multiple: int) -> Image.Image:
    width, height = image.width // multiple * multiple, image.height // multiple * multiple
    if width == 0 or height == 0:
        raise DataError(f"image of {image.width}x{image.height} is smaller than the size multiple {multiple}")
    return image if (width, height) == image.size else image.crop((0, 0, width, height))


def _crop_origin(image: Image.Image, size: int, rng: np.random.Generator) -> tuple[int, int]:
    if image.width < size or image.height < size:
        raise DataError(f"image of {image.width}x{image.height} is smaller than the {size}px crop")
    return int(rng.integers(image.width - size + 1)), int(rng.integers(image.height - size + 1))

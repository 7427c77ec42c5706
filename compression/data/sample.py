"""Build training sets offline from photographs: scikit-image's own, or a folder of the user's.

Each photo is cut into a grid of non-overlapping square regions (twice the crop size, so training
can take random crops); a photo larger than photos usually are (a wallpaper, a camera original) is
first halved until its short side is at most TYPICAL_SHORT_SIDE, so that its regions hold the detail
per pixel of the photos a service is sent, not the smooth close-ups of a 2560-px wallpaper (at 1024 px
the wallpapers' regions still degraded to 30.5 dB where scikit-image's degrade to 24.8, at 512 px to 28.6); near-uniform
regions are dropped; the regions are shuffled with the seed
and dealt into the splits `train` (supernet training), `train2` (search), `val` and `test`. No
region belongs to two splits, so no crop leaks across splits.

Tasks:
- `edges2photo`: B is the region, A its edge map (black lines on white), as edges2shoes was made.
- `sr4x`: B is the region, A its real-world degradation (see degrade.py). Paired.
- `gray2color`: unpaired; A holds grayscale regions, B colour regions of *other* regions.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
from PIL import Image
from skimage import feature

from ganc.atomic import staging_folder

from . import degrade as degradation
from .folders import DataError, list_images

Task = Literal["edges2photo", "sr4x", "gray2color"]
T = TypeVar("T")
SPLITS = ("train", "train2", "val", "test")
HELD_OUT_FRACTION = 0.1  # of the regions, for each of train2, val and test
MIN_REGION_STD = 10.0  # in 8-bit levels: drops black sky, blank borders
TYPICAL_SHORT_SIDE = 512  # pixels, as scikit-image's photos; larger photos are halved down to this first

# Photographs (not synthetic images) that ship inside the scikit-image package itself.
SKIMAGE_COLOR_PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)
SKIMAGE_GRAY_PHOTOS = ("camera", "moon", "coins", "grass", "gravel", "brick")


@dataclass(frozen=True)
class Photo:
    name: str
    image: Image.Image
    is_color: bool

    def at_typical_size(self) -> "Photo":
        """The photo, halved while its short side is above TYPICAL_SHORT_SIDE."""
        image = self.image
        while min(image.size) > TYPICAL_SHORT_SIDE:
            image = image.resize((image.width // 2, image.height // 2), Image.LANCZOS)
        return Photo(self.name, image, self.is_color)


def skimage_photos() -> list[Photo]:
    from skimage import data

    photos = [Photo(n, Image.fromarray(getattr(data, n)()).convert("RGB"), True) for n in SKIMAGE_COLOR_PHOTOS]
    photos.append(Photo("motorcycle", Image.fromarray(data.stereo_motorcycle()[0]).convert("RGB"), True))
    photos += [Photo(n, Image.fromarray(getattr(data, n)()).convert("RGB"), False) for n in SKIMAGE_GRAY_PHOTOS]
    return photos


def folder_photos(folder: Path) -> list[Photo]:
    photos, unreadable = [], []
    for path in list_images(folder):
        try:
            with Image.open(path) as image:
                image.load()
                rgb = image.convert("RGB")
        except (OSError, ValueError) as error:
            unreadable.append(f"{path} ({error})")
            continue
        array = np.asarray(rgb, dtype=np.int16)
        is_color = bool(np.abs(array[..., 0] - array[..., 1]).mean() + np.abs(array[..., 1] - array[..., 2]).mean() > 2)
        photos.append(Photo(path.stem, rgb, is_color))
    if unreadable:
        raise DataError(f"{len(unreadable)} unreadable photos: {'; '.join(unreadable[:5])}")
    return photos


@dataclass(frozen=True)
class Region:
    photo: Photo
    row: int
    col: int
    image: Image.Image

    @property
    def name(self) -> str:
        return f"{self.photo.name}_r{self.row}c{self.col}"


def cut_regions(photos: list[Photo], side: int) -> list[Region]:
    regions = []
    for photo in (p.at_typical_size() for p in photos):
        rows, cols = photo.image.height // side, photo.image.width // side
        top, left = (photo.image.height - rows * side) // 2, (photo.image.width - cols * side) // 2
        for row in range(rows):
            for col in range(cols):
                box = (left + col * side, top + row * side, left + (col + 1) * side, top + (row + 1) * side)
                image = photo.image.crop(box)
                if np.asarray(image.convert("L"), dtype=np.float32).std() >= MIN_REGION_STD:
                    regions.append(Region(photo, row, col, image))
    return regions


def deal_splits(items: Sequence[T], seed: int) -> dict[str, list[T]]:
    """Shuffle `items` with the seed and deal a tenth (at least one) to each held-out split, the rest to train."""
    order = np.random.default_rng(seed).permutation(len(items))
    held = max(1, round(HELD_OUT_FRACTION * len(items)))
    shuffled = [items[i] for i in order]
    return {
        "test": shuffled[:held],
        "val": shuffled[held : 2 * held],
        "train2": shuffled[2 * held : 3 * held],
        "train": shuffled[3 * held :],
    }


def edge_map(image: Image.Image) -> Image.Image:
    gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    edges = feature.canny(gray, sigma=2.0)
    return Image.fromarray(np.where(edges, 0, 255).astype(np.uint8)).convert("RGB")


def side_by_side(a: Image.Image, b: Image.Image) -> Image.Image:
    both = Image.new("RGB", (a.width + b.width, a.height))
    both.paste(a, (0, 0))
    both.paste(b, (a.width, 0))
    return both


def build_sample_dataset(
    task: Task,
    size: int,
    out: Path,
    *,
    photos_dir: Path | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write the dataset of `task` with `size`-pixel crops into `out` (which must not exist); return its summary."""
    if task not in ("edges2photo", "sr4x", "gray2color"):
        raise DataError(f"unknown task {task!r}; expected edges2photo, sr4x or gray2color")
    if size < 16 or size % 4:
        raise DataError(f"--size must be a multiple of 4, at least 16; got {size}")
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out} already exists and is not empty")
    photos = folder_photos(photos_dir) if photos_dir is not None else skimage_photos()
    side = 2 * size
    regions = cut_regions(photos, side)
    if len(regions) < 4 * 2:
        raise DataError(
            f"the photos give only {len(regions)} usable {side}x{side} regions; need at least 8 "
            "(use a smaller --size or more photos)"
        )
    splits = deal_splits(regions, seed)
    if task == "gray2color" and not any(r.photo.is_color for r in regions):
        raise DataError("gray2color needs colour photos for its B domain; all photos are grayscale")

    counts: dict[str, dict[str, int]] = {}
    done, total = 0, len(regions)
    out.parent.mkdir(parents=True, exist_ok=True)
    with staging_folder(out.parent) as staging:
        for split, members in splits.items():
            rng = np.random.default_rng([seed, SPLITS.index(split)])
            counts[split] = _write_split(task, split, members, staging, rng)
            done += len(members)
            if progress:
                progress(done, total)
        summary = {
            "task": task,
            "size": size,
            "region": side,
            "seed": seed,
            "source": str(photos_dir) if photos_dir else "scikit-image",
            "photos": [p.name for p in photos],
            "layout": "unpaired" if task == "gray2color" else "aligned",
            "counts": counts,
        }
        if task == "sr4x":
            summary["degradation"] = {
                "scale": degradation.SCALE,
                "noise_sigma": degradation.NOISE_SIGMA,
                "jpeg_quality": degradation.JPEG_QUALITY,
            }
        (staging / "dataset.json").write_text(json.dumps(summary, indent=2) + "\n")
        if out.exists():
            out.rmdir()
        staging.rename(out)
    return summary


def _write_split(task: Task, split: str, members: list[Region], root: Path, rng: np.random.Generator) -> dict:
    if task == "gray2color":
        # Colour regions alternate between the domains; grayscale photos can only be A.
        color = [r for r in members if r.photo.is_color]
        gray_sources = [r for r in members if not r.photo.is_color] + color[1::2]
        color_targets = color[0::2] or color
        (root / f"{split}A").mkdir()
        (root / f"{split}B").mkdir()
        for region in gray_sources:
            region.image.convert("L").convert("RGB").save(root / f"{split}A" / f"{region.name}.png")
        for region in color_targets:
            region.image.save(root / f"{split}B" / f"{region.name}.png")
        return {"A": len(gray_sources), "B": len(color_targets)}
    (root / split).mkdir()
    for region in members:
        a = edge_map(region.image) if task == "edges2photo" else degradation.degrade(region.image, rng)
        side_by_side(a, region.image).save(root / split / f"{region.name}.png")
    return {"pairs": len(members)}

"""Unlabelled photographs of the input domain as a dataset: the teacher's outputs become their targets.

Photos are dealt whole into `train`, `train2` (search), `val` and `test`, so no photo's crops cross splits,
and stored with their short side at most MAX_SCALE x `size`: training crops come from photos rescaled so
their short side is between `size` and that (the scales people send), and held-out photos are judged whole
with their short side at `size`.
"""

import json
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from ganc.atomic import staging_folder

from .dataset import Preprocess, TranslationDataset
from .folders import SUMMARY, DataError, list_images, read_summary
from .sample import SPLITS, deal_splits

LAYOUT = "photos"
MAX_SCALE = 2
MIN_PHOTOS = len(SPLITS)  # one for each split, at least


def build_photo_dataset(
    photos_dir: Path, out: Path, *, size: int, seed: int = 0, progress: Callable[[int, int], None] | None = None
) -> dict:
    """Deal the photos of `photos_dir` into the splits of a new dataset in `out`; return its summary."""
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out} already exists and is not empty")
    paths = check_photo_folder(photos_dir, size)
    splits = deal_splits(paths, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    with staging_folder(out.parent) as staging:
        done = 0
        for split, members in splits.items():
            (staging / split).mkdir()
            for path in members:
                _store(path, staging / split / f"{path.stem}.png", MAX_SCALE * size)
                done += 1
                if progress:
                    progress(done, len(paths))
        summary = {
            "layout": LAYOUT,
            "size": size,
            "max_short_side": MAX_SCALE * size,
            "source": str(photos_dir),
            "seed": seed,
            "splits": {split: sorted(p.name for p in members) for split, members in splits.items()},
        }
        (staging / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        if out.exists():
            out.rmdir()
        staging.rename(out)
    return summary


def check_photo_folder(photos_dir: Path, size: int) -> list[Path]:
    """The photos of `photos_dir`, all readable and at least `size` on their short side, enough for every split."""
    paths = list_images(photos_dir)
    sizes = _readable_sizes(paths)
    small = [f"{path.name} ({w}x{h})" for path, (w, h) in sizes.items() if min(w, h) < size]
    if small:
        raise DataError(f"{len(small)} photos have a short side below {size}px: {'; '.join(small[:5])}")
    if len(paths) < MIN_PHOTOS:
        raise DataError(f"{photos_dir} holds {len(paths)} photos; {', '.join(SPLITS)} need {MIN_PHOTOS}")
    return paths


def training_preprocess(root: Path, crop_size: int, load_size: int | None) -> Preprocess:
    """How a training split of the dataset at `root` is read: random crops, flips and (unlabelled photos) scales."""
    summary = read_summary(root)
    if summary.get("layout") == LAYOUT:
        scales = (summary["size"], summary["max_short_side"])
        return Preprocess(short_side=scales, crop_size=crop_size, flip=True)
    return Preprocess(load_size=load_size, crop_size=crop_size, flip=True)


def judging_preprocess(root: Path, multiple: int) -> Preprocess:
    """How a held-out split of the dataset at `root` is read: whole images (unlabelled photos at their `size`)."""
    summary = read_summary(root)
    if summary.get("layout") == LAYOUT:
        return Preprocess(short_side=(summary["size"], summary["size"]), multiple=multiple)
    return Preprocess(multiple=multiple)


def judged_split(root: Path | str, split: str, multiple: int) -> TranslationDataset:
    """A held-out split of the dataset at `root`, read as every variant is judged."""
    return TranslationDataset(Path(root), split, judging_preprocess(Path(root), multiple))


def _readable_sizes(paths: list[Path]) -> dict[Path, tuple[int, int]]:
    sizes, unreadable = {}, []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.verify()
                sizes[path] = image.size
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
            unreadable.append(f"{path.name} ({str(error).splitlines()[0] if str(error) else type(error).__name__})")
    if unreadable and not sizes:
        raise DataError(f"{len(unreadable)} files and not one readable photograph: {'; '.join(unreadable[:5])}")
    if unreadable:
        raise DataError(f"{len(unreadable)} unreadable photos: {'; '.join(unreadable[:5])}")
    return sizes


def _store(path: Path, target: Path, max_short_side: int) -> None:
    with Image.open(path) as image:
        rgb = ImageOps.exif_transpose(image).convert("RGB")  # as the camera held it
    scale = max_short_side / min(rgb.size)
    if scale < 1:
        rgb = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.LANCZOS)
    rgb.save(target)

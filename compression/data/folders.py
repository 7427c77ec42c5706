"""Find a split of a dataset on disk, in the formats people already have, and check its files.

A split named `train` may be laid out as
- aligned (pix2pix):  ROOT/train/*.png, each image A and B side by side (A left);
- paired folders:     ROOT/train/A/* and ROOT/train/B/*, matching file names;
- unpaired (CycleGAN): ROOT/trainA/* and ROOT/trainB/*;
- unlabelled photos:  ROOT/train/* plain photographs of the input domain, the teacher's outputs their targets
                      (marked by `"layout": "photos"` in ROOT/dataset.json, see unlabelled.py).
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
Layout = Literal["aligned", "paired", "unpaired", "photos"]
SUMMARY = "dataset.json"  # what built a dataset (a sample set, unlabelled photos) says of it


class DataError(ValueError):
    """A dataset that cannot be used as it is; the message names the folder or files."""


@dataclass(frozen=True)
class SplitFiles:
    """The image files of one split. For aligned splits `a` holds the side-by-side images, `b` is empty."""

    layout: Layout
    a: tuple[Path, ...]
    b: tuple[Path, ...]


def list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"folder {folder} does not exist")
    images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DataError(f"folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return images


def find_split(root: Path, split: str) -> SplitFiles:
    """The files of `split` under `root`, in whichever layout is there."""
    if not root.is_dir():
        raise DataError(f"dataset folder {root} does not exist")
    if read_summary(root).get("layout") == "photos":
        if not (root / split).is_dir():
            raise DataError(f"no split {split!r} in {root}: expected {root / split}/ (unlabelled photos)")
        return SplitFiles("photos", tuple(list_images(root / split)), ())
    if (root / f"{split}A").is_dir() or (root / f"{split}B").is_dir():
        return SplitFiles("unpaired", tuple(list_images(root / f"{split}A")), tuple(list_images(root / f"{split}B")))
    folder = root / split
    if (folder / "A").is_dir() or (folder / "B").is_dir():
        a, b = list_images(folder / "A"), list_images(folder / "B")
        names_a, names_b = {p.stem for p in a}, {p.stem for p in b}
        if names_a != names_b:
            unmatched = sorted(names_a ^ names_b)
            shown = ", ".join(unmatched[:5]) + (" ..." if len(unmatched) > 5 else "")
            raise DataError(f"unmatched pairs in {folder}: {len(unmatched)} names in only one of A/ and B/: {shown}")
        by_name = {p.stem: p for p in b}
        return SplitFiles("paired", tuple(a), tuple(by_name[p.stem] for p in a))
    if folder.is_dir():
        return SplitFiles("aligned", tuple(list_images(folder)), ())
    raise DataError(
        f"no split {split!r} in {root}: expected {root / split}/ (aligned A|B images), "
        f"{root / split}/A and B/ (paired), or {root}/{split}A and {split}B/ (unpaired)"
    )


def read_summary(root: Path) -> dict:
    """The dataset.json of a dataset ganc built ({} for one made elsewhere)."""
    path = root / SUMMARY
    return json.loads(path.read_text()) if path.is_file() else {}


def check_images(files: SplitFiles, min_size: int) -> None:
    """Open every image's header: refuse unreadable ones and ones smaller than `min_size`, naming them."""
    unreadable, small = [], []
    for path in (*files.a, *files.b):
        try:
            with Image.open(path) as image:
                image.verify()
                width, height = image.size
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
            unreadable.append(f"{path} ({str(error).splitlines()[0] if str(error) else type(error).__name__})")
            continue
        if files.layout == "aligned":
            width //= 2
        if min(width, height) < min_size:
            small.append(f"{path} ({width}x{height})")
    if unreadable:
        raise DataError(f"{len(unreadable)} unreadable images: {'; '.join(unreadable[:5])}")
    if small:
        raise DataError(f"{len(small)} images smaller than the {min_size}px crop: {'; '.join(small[:5])}")

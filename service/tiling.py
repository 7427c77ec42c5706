"""Large images run in tiles of one fixed size, overlapping, their seams blended.

A generator's activations grow with the image (the teacher needs about 4 GB per activation on 16 MP), so an
image larger than a tile is cut into `tile` x `tile` tiles that overlap by `overlap` pixels, each tile runs on
its own, and each output pixel is the weighted mean of the tiles that cover it: the weight falls linearly to
almost nothing across the overlap, so no seam is a hard edge. Memory per inference is then that of one tile,
whatever the image's size, and the warm sessions and latency estimates at the tile's size apply.

A generator with InstanceNorm normalises each tile with that tile's statistics, and answers a tile differently
from the image it came from (a style family's colours change from tile to tile). So the tiles of a variant whose
card says `tile_statistics: image` share one set of statistics, taken by the model from a downscaled copy of the
whole image in a first pass (`statistics_copy`); the copy is kept to `GANC_STATISTICS_SIZE` squared pixels, so
memory stays bounded whatever the image's size. docs/tiling.md has the measurements behind the choice.
"""

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Tile:
    top: int
    left: int
    height: int
    width: int

    @property
    def pixels(self) -> int:
        return self.height * self.width

    def region(self) -> tuple[slice, slice]:
        return slice(self.top, self.top + self.height), slice(self.left, self.left + self.width)


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along one side: at most `tile - overlap` apart, the first at 0, the last flush with the end."""
    if length <= tile:
        return [0]
    count = -(-(length - tile) // (tile - overlap)) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def plan_tiles(height: int, width: int, tile: int, overlap: int) -> list[Tile]:
    """The tiles of a `height` x `width` image: one, the whole image, when it fits in a tile.

    `tile` and both sides must be multiples of the generator's size multiple; so then is every tile's.
    """
    rows, cols = min(tile, height), min(tile, width)
    return [
        Tile(top, left, rows, cols) for top in _starts(height, rows, overlap) for left in _starts(width, cols, overlap)
    ]


def _ramp(length: int, overlap: int) -> np.ndarray:
    """1 inside, falling linearly towards both ends across `overlap` pixels (never to 0: a border pixel that one
    tile alone covers keeps its value)."""
    distance = np.minimum(np.arange(length), np.arange(length)[::-1]) + 1
    return np.clip(distance / (overlap + 1), 1.0 / (overlap + 1), 1.0).astype(np.float32)


class Blender:
    """Accumulates tile outputs [1, C, h, w] into the image's output [1, C, height, width]."""

    def __init__(self, channels: int, height: int, width: int, overlap: int) -> None:
        self.total = np.zeros((1, channels, height, width), np.float32)
        self.weight = np.zeros((height, width), np.float32)
        self.overlap = overlap

    def add(self, tile: Tile, output: np.ndarray) -> None:
        rows, cols = tile.region()
        mask = np.outer(_ramp(tile.height, self.overlap), _ramp(tile.width, self.overlap))
        self.total[0, :, rows, cols] += output[0] * mask
        self.weight[rows, cols] += mask

    def result(self) -> np.ndarray:
        return self.total / self.weight


def statistics_shape(height: int, width: int, max_pixels: int, multiple: int) -> tuple[int, int]:
    """The copy's height and width: the image's aspect within `max_pixels`, multiples of `multiple`; the image's
    own size when it fits."""
    if height * width <= max_pixels:
        return height, width
    scale = (max_pixels / (height * width)) ** 0.5
    short, long = sorted(max(multiple, int(side * scale) // multiple * multiple) for side in (height, width))
    long = min(long, max_pixels // short // multiple * multiple)  # a side kept at `multiple` leaves less to the other
    return (short, long) if height <= width else (long, short)


def statistics_copy(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """[1, C, H, W] downscaled to `height` x `width` (each output pixel the mean of the pixels it covers)."""
    if (height, width) == x.shape[2:]:
        return x
    channels = [np.asarray(Image.fromarray(c).resize((width, height), Image.BOX)) for c in x[0]]
    return np.stack(channels)[None]

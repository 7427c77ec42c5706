import itertools

import numpy as np
import pytest

from service.tiling import Blender, plan_tiles, statistics_copy, statistics_shape


@pytest.mark.parametrize("height, width", [(64, 64), (700, 1100), (256, 1500), (100, 40), (520, 512)])
def test_tiles_cover_the_image_within_its_bounds(height, width):
    tiles = plan_tiles(height, width, 256, 32)
    covered = np.zeros((height, width), int)
    for tile in tiles:
        assert tile.top + tile.height <= height and tile.left + tile.width <= width
        assert (tile.height, tile.width) == (min(256, height), min(256, width))  # one size for every tile
        covered[tile.region()] += 1
    assert covered.min() >= 1
    if height <= 256 and width <= 256:
        assert len(tiles) == 1


def test_neighbouring_tiles_share_at_least_the_overlap():
    tops = sorted({tile.top for tile in plan_tiles(1000, 256, 256, 32)})
    assert tops[0] == 0 and tops[-1] == 1000 - 256
    assert all(b - a <= 256 - 32 for a, b in itertools.pairwise(tops))


def test_blending_tiles_of_the_same_picture_gives_it_back():
    picture = np.random.default_rng(0).uniform(-1, 1, (1, 3, 700, 1100)).astype(np.float32)
    blender = Blender(3, 700, 1100, 32)
    for tile in plan_tiles(700, 1100, 256, 32):
        rows, cols = tile.region()
        blender.add(tile, picture[:, :, rows, cols])
    assert np.abs(blender.result() - picture).max() < 1e-5


@pytest.mark.parametrize(
    "height, width, shape",
    [
        (600, 800, (600, 800)),
        (1536, 2048, (664, 884)),
        (4, 1_000_000, (4, 147456)),
        (1_000_000, 4, (147456, 4)),
        (3000, 4000, (664, 884)),
    ],
)
def test_the_statistics_copy_keeps_the_aspect_within_its_pixels(height, width, shape):
    assert statistics_shape(height, width, 768 * 768, 4) == shape
    copy_height, copy_width = shape
    assert shape == (height, width) or copy_height * copy_width <= 768 * 768
    assert copy_height % 4 == copy_width % 4 == 0


def test_the_statistics_copy_averages_what_each_pixel_covers():
    picture = np.random.default_rng(0).uniform(-1, 1, (1, 3, 64, 96)).astype(np.float32)
    copy = statistics_copy(picture, 32, 48)
    assert copy.shape == (1, 3, 32, 48) and copy.dtype == np.float32
    expected = picture.reshape(1, 3, 32, 2, 48, 2).mean(axis=(3, 5))
    assert np.abs(copy - expected).max() < 1e-5
    assert statistics_copy(picture, 64, 96) is picture

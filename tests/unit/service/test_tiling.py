import itertools

import numpy as np
import pytest

from service.tiling import Blender, plan_tiles


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

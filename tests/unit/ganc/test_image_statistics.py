"""The two forms of a generator for tiles that share the whole image's statistics, run in onnxruntime."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from ganc.card import INPUT_NAME, OUTPUT_NAME, STATISTICS_INPUT, STATISTICS_OUTPUT
from ganc.repository.image_statistics import (
    normalisation_layers,
    statistics_form,
    statistics_length,
    tile_form,
)
from tests.support import identity_onnx


@pytest.fixture(scope="module")
def half_onnx(tmp_path_factory):
    """The tiny generator with half-precision weights: its norm layers run in fp16 behind casts."""
    import torch

    from compression.export import export_onnx
    from compression.models import ModelSpec

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("onnx") / "half.onnx"
    export_onnx(ModelSpec("sub_mobile_resnet", {"config": "8_8_8_8_8_8_8_8", "n_blocks": 3}).build(), path, fp16=True)
    return path


def forms(path):
    graph = onnx.load(path)
    whole = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    statistics = statistics_form(graph, STATISTICS_OUTPUT).SerializeToString()
    tiles = tile_form(graph, STATISTICS_INPUT).SerializeToString()
    return whole, *(ort.InferenceSession(f, providers=["CPUExecutionProvider"]) for f in (statistics, tiles))


def image(height=48, width=64, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (1, 3, height, width)).astype(np.float32)


@pytest.mark.parametrize("model", ["tiny_onnx", "half_onnx"])
def test_an_image_given_its_own_statistics_gets_its_own_answer(model, request):
    path = request.getfixturevalue(model)
    whole, statistics, tiles = forms(path)
    x = image()
    stats = statistics.run([STATISTICS_OUTPUT], {INPUT_NAME: x})[0]
    assert stats.shape == (1, statistics_length(onnx.load(path)))
    expected = whole.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    given = tiles.run([OUTPUT_NAME], {INPUT_NAME: x, STATISTICS_INPUT: stats})[0]
    assert np.abs(given - expected).max() < (1e-4 if model == "tiny_onnx" else 1e-2)


def test_a_tile_given_the_whole_image_statistics_answers_as_the_whole_image_does(tiny_onnx):
    whole, statistics, tiles = forms(tiny_onnx)
    x = image(64, 128)
    x[:, :, :, 64:] = x[:, :, :, 64:] * 0.2 + 0.7  # a bright, flat right half: its own statistics differ
    stats = statistics.run([STATISTICS_OUTPUT], {INPUT_NAME: x})[0]
    expected = whole.run([OUTPUT_NAME], {INPUT_NAME: x})[0][:, :, 16:48, 80:112]
    tile = np.ascontiguousarray(x[:, :, :, 64:])
    shared = tiles.run([OUTPUT_NAME], {INPUT_NAME: tile, STATISTICS_INPUT: stats})[0][:, :, 16:48, 16:48]
    own = whole.run([OUTPUT_NAME], {INPUT_NAME: tile})[0][:, :, 16:48, 16:48]
    assert np.abs(shared - expected).mean() < 0.1 * np.abs(own - expected).mean()


def test_a_constant_image_gets_a_finite_answer(tiny_onnx):
    _, statistics, tiles = forms(tiny_onnx)
    x = np.full((1, 3, 32, 32), 0.5, np.float32)
    stats = statistics.run([STATISTICS_OUTPUT], {INPUT_NAME: x})[0]
    out = tiles.run([OUTPUT_NAME], {INPUT_NAME: x, STATISTICS_INPUT: stats})[0]
    assert np.isfinite(stats).all() and np.isfinite(out).all()


def test_a_graph_without_norm_layers_has_no_statistics(tmp_path):
    assert normalisation_layers(onnx.load(identity_onnx(tmp_path / "identity.onnx"))) == []

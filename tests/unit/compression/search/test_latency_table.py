import random

import pytest
import torch

from compression.models import ChannelConfig, SubMobileResnetGenerator, SuperMobileResnetGenerator, get_choice_set
from compression.search.latency import LatencyTarget
from compression.search.latency_table import (
    LatencyModel,
    calibrate,
    covering_configs,
    layer_keys,
    measure_layer_table,
    network_layers,
)


def _widths(key: str) -> list[int]:
    return [int(w) for w in key.split()[1].split(">")]


@pytest.mark.parametrize("config", ["8_16_24_32_8_16_24_32", "32_8_16_24_24_8_32_16"])
def test_a_network_cut_into_its_layers_computes_what_it_computes(config):
    torch.manual_seed(0)
    network = SubMobileResnetGenerator(ChannelConfig.parse(config), n_blocks=6).eval()
    layers = network_layers(network)
    keys = layer_keys(ChannelConfig.parse(config), 6)
    assert len(layers) == len(keys) == 6 + 6
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        y = x
        for (layer, channels, scale), key in zip(layers, keys):
            assert y.shape[1] == channels and y.shape[-1] == 32 * scale
            # each key names its input width first (the stem, whose input is the photo, its output width)
            assert _widths(key)[0] == (layer(y).shape[1] if key.startswith("stem") else channels)
            y = layer(y)
        assert torch.allclose(y, network(x))
    assert [scale for _, _, scale in layers] == [1, 1, 0.5] + [0.25] * 6 + [0.25, 0.5, 1]
    head = layers[-1][0]
    assert head.size_multiple == 4  # exported alone, its thin convolution folds as it does in the network


def test_head_keys_name_its_input_width():
    keys = layer_keys(ChannelConfig.parse("8_16_24_32_8_16_24_32"), 3)
    assert keys[0] == "stem 8" and keys[-1] == "head 32"
    assert keys[1:3] == ("down1 8>32", "down2 32>96")
    assert keys[3:6] == ("block 96>128", "block 96>32", "block 96>64")


@pytest.mark.parametrize("name", ["channels-16", "channels-32-8"])
def test_a_few_configs_hold_every_layer_of_the_choice_set(name):
    choice_set = get_choice_set(name)
    covering = covering_configs(choice_set)
    held = {key for config in covering for key in layer_keys(config, 9)}
    if choice_set.size <= 256:
        every = {key for config in choice_set.all_configs() for key in layer_keys(config, 9)}
    else:
        rng = random.Random(0)
        every = {key for _ in range(3000) for key in layer_keys(choice_set.sample(rng), 9)}
    assert every <= held
    assert len(covering) <= 2 * max(len(options) for options in choice_set.choices) ** 2


def test_the_model_is_fitted_on_whole_networks_and_predicts_from_the_table():
    choice_set = get_choice_set("channels-16")
    keys = {key for config in choice_set.all_configs() for key in layer_keys(config, 3)}
    table = {key: 0.1 + sum(_widths(key)) / 100 for key in keys}
    configs = [choice_set.smallest, choice_set.largest, ChannelConfig.parse("16_8_16_8_16_8_16_8")]
    truth = LatencyModel(3.0, 1.5, table, 3, 0.0)
    model = LatencyModel.fit(table, 3, configs, [truth.predict(c) for c in configs])
    assert model.intercept == pytest.approx(3.0) and model.scale == pytest.approx(1.5)
    assert model.fit_error_pct < 0.01
    other = ChannelConfig.parse("8_16_8_16_8_16_8_16")
    assert model.predict(other) == pytest.approx(truth.predict(other))
    with pytest.raises(ValueError, match="at least 2"):
        LatencyModel.fit(table, 3, configs[:1], [1.0])


def test_one_slow_large_network_does_not_set_the_scale_for_the_rest(monkeypatch):
    # The 2026-12-07 sr4x job: each network's sum of table entries, and its time measured whole (the largest
    # calibration network 35% above its sum; the ladder measured after the search within 5% of its sums).
    sums = {"smallest": 17.19, "largest": 68.71, "random": 36.68, "rung1": 23.62, "rung2": 31.74, "rung3": 43.36}
    monkeypatch.setattr(LatencyModel, "layers_ms", lambda self, config: sums[config])
    model = LatencyModel.fit({}, 9, ["smallest", "largest", "random"], [17.776, 92.868, 33.268])
    assert model.scale == pytest.approx(1.04, abs=0.01)  # least squares of the errors in ms made it 1.24
    for rung, measured_ms in {"rung1": 22.57, "rung2": 32.29, "rung3": 42.14}.items():
        assert abs(model.predict(rung) - measured_ms) / measured_ms < 0.1  # it was 22-30% above them


def test_calibration_measures_every_layer_and_the_whole_networks_it_fits_on():
    torch.manual_seed(0)
    choice_set = get_choice_set("channels-16")
    supernet = SuperMobileResnetGenerator(ngf=16, n_blocks=3, choice_set=choice_set).eval()
    target = LatencyTarget(size=32, repeats=1)
    table = measure_layer_table(supernet, choice_set, target)
    assert set(table) == {key for config in choice_set.all_configs() for key in layer_keys(config, 3)}
    assert all(ms > 0 for ms in table.values())
    model, measured = calibrate(supernet, choice_set, target, 4, random.Random(0))
    assert len(measured) == 4 and {str(choice_set.smallest), str(choice_set.largest)} <= set(measured)
    assert set(model.table) == set(table) and model.scale >= 0
    assert model.predict(choice_set.largest) > 0

"""The search's latency predictor: a table of every distinct layer measured alone, scaled on whole sub-networks.

A sub-network is a chain of layers (stem, two down-sampling convolutions, the residual blocks, two
up-sampling layers, the head), and across a choice set the distinct ones are few (88 for `channels-32-8`):
each is exported alone and measured on the target at the resolution it runs at inside the network, which
takes a fraction of what exporting and measuring whole sub-networks takes. A sub-network's latency is then
intercept + scale x the sum of its layers' entries, the two fitted by non-negative least squares of the relative
errors on a few whole sub-networks measured on the target (the smallest, the largest and some at random); they
absorb what layers alone do not show (the graph's own overhead, the residual output, layout changes between
layers). Relative, because a budget feels 10% over at 30 ms as at 55, and because in absolute errors the largest,
slowest sub-network decides the scale alone: the 2026-12-07 sr4x search fitted 1.24 to one largest network measured
35% above its table, and predicted its ladder 22-30% above what it then measured (the relative fit: 2-9%).
"""

import functools
import random
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import nnls
from torch import nn

from ..export import export_onnx
from ..models import ChannelConfig, ChoiceSet, SuperMobileResnetGenerator
from ..models.resnet import ResnetLayout
from ..progress import Progress, no_progress
from .latency import LatencyTarget, measure_models_ms, measure_onnx_ms

# Which config entries each layer's shape depends on (see channel_config.py's positions).
LAYER_ENTRIES = ((0, 1), (1, 2), (2, 3), (2, 4), (2, 5), (2, 6), (6, 7))
TRACE_SIDE = 32  # a small input that finds each layer's channels and scale in the network
LAYER_REPEATS = 3  # runs per round for a layer alone


@functools.lru_cache(maxsize=65536)
def layer_keys(config: ChannelConfig, n_blocks: int) -> tuple[str, ...]:
    """The sub-network's layers in the order the image flows, each named by its kind and widths."""
    (down1, trunk), (up1, up2) = config.down, config.up
    return (
        f"stem {config.stem}",
        f"down1 {config.stem}>{down1}",
        f"down2 {down1}>{trunk}",
        *(f"block {trunk}>{inner}" for inner in config.block_inner(n_blocks)),
        f"up1 {trunk}>{up1}",
        f"up2 {up1}>{up2}",
        f"head {up2}",
    )


@dataclass
class LatencyModel:
    """latency_ms = intercept + scale x the sum of the sub-network's layers in `table` (ms each, alone)."""

    intercept: float
    scale: float
    table: dict[str, float]
    n_blocks: int
    fit_error_pct: float  # mean absolute relative error on the whole sub-networks it was fitted on

    def layers_ms(self, config: ChannelConfig) -> float:
        return sum(self.table[key] for key in layer_keys(config, self.n_blocks))

    def predict(self, config: ChannelConfig) -> float:
        return self.intercept + self.scale * self.layers_ms(config)

    @classmethod
    def fit(
        cls, table: dict[str, float], n_blocks: int, configs: list[ChannelConfig], measured_ms: list[float]
    ) -> "LatencyModel":
        if len(configs) < 2:
            raise ValueError("scaling a latency table needs at least 2 measured sub-networks")
        unscaled = cls(0.0, 1.0, table, n_blocks, 0.0)
        design = np.array([[1.0, unscaled.layers_ms(c)] for c in configs])
        target = np.array(measured_ms)
        (intercept, scale), _ = nnls(design / target[:, None], np.ones(len(target)))
        error = float(np.mean(np.abs(design @ [intercept, scale] - target) / target) * 100)
        return cls(float(intercept), float(scale), table, n_blocks, round(error, 2))


def calibrate(
    supernet: SuperMobileResnetGenerator,
    choice_set: ChoiceSet,
    target: LatencyTarget,
    samples: int,
    rng: random.Random,
    progress: Progress = no_progress,
) -> tuple[LatencyModel, dict[str, float]]:
    """The table of `choice_set`'s layers, scaled on `samples` whole sub-networks (the smallest, the largest and
    the rest at random); also returns those sub-networks' measurements."""
    progress("calibrate", 0, 2, f"{target.name}: measuring every layer of {choice_set.name} alone")
    table = measure_layer_table(supernet, choice_set, target)
    wanted = {str(c): c for c in (choice_set.smallest, choice_set.largest)}
    for _ in range(100 * samples):
        if len(wanted) >= min(samples, choice_set.size):
            break
        sample = choice_set.sample(rng)
        wanted[str(sample)] = sample
    progress("calibrate", 1, 2, f"{target.name}: {len(table)} layers; measuring {len(wanted)} sub-networks")
    configs = list(wanted.values())
    measured = measure_models_ms([supernet.extract(c) for c in configs], target)
    model = LatencyModel.fit(table, len(supernet.blocks), configs, measured)
    progress("calibrate", 2, 2, f"{target.name}: fitted within {model.fit_error_pct:.1f}%")
    return model, {str(c): round(ms, 3) for c, ms in zip(configs, measured)}


def measure_layer_table(
    supernet: SuperMobileResnetGenerator, choice_set: ChoiceSet, target: LatencyTarget
) -> dict[str, float]:
    """Every distinct layer of `choice_set`'s sub-networks, exported alone and measured on `target` at the
    resolution and width it has in a `target.size` x `target.size` network."""
    layers: dict[str, tuple[nn.Module, tuple[int, ...]]] = {}
    for config in covering_configs(choice_set):
        network = supernet.extract(config).eval()
        keys = layer_keys(config, len(supernet.blocks))
        for key, (layer, channels, scale) in zip(keys, network_layers(network), strict=True):
            side = round(target.size * scale)
            layers.setdefault(key, (layer, (1, channels, side, side)))
    with tempfile.TemporaryDirectory() as scratch:
        paths, shapes = [], []
        for index, (layer, shape) in enumerate(layers.values()):
            paths.append(Path(scratch) / f"layer{index}.onnx")
            export_onnx(layer, paths[-1], channels_in=shape[1])
            shapes.append(shape)
        # A layer's noise averages out over the dozen layers of each prediction: fewer runs than a whole network.
        measured = measure_onnx_ms(paths, replace(target, repeats=LAYER_REPEATS), shapes)
    return {key: round(ms, 4) for key, ms in zip(layers, measured)}


def network_layers(network: ResnetLayout) -> list[tuple[nn.Module, int, float]]:
    """The network cut into its layers (each a module that exports alone, with the size multiple its input
    keeps inside the network), with each one's input channels and input scale relative to the network's."""
    groups: list[list[nn.Module]] = []
    for part in (network.encoder, network.blocks, network.decoder):
        current: list[nn.Module] = []
        for module in part:
            current.append(module)
            if part is network.blocks or isinstance(module, nn.ReLU):
                groups.append(current)
                current = []
        if current:
            groups.append(current)
    layers = []
    x = torch.zeros(1, network.encoder[1].in_channels, TRACE_SIDE, TRACE_SIDE)
    with torch.no_grad():
        for group in groups:
            layer = nn.Sequential(*group)
            scale = x.shape[-1] / TRACE_SIDE
            layer.size_multiple = max(1, round(network.size_multiple * scale))  # export folds a thin head as whole
            layers.append((layer, x.shape[1], scale))
            x = layer(x)
    return layers


def covering_configs(choice_set: ChoiceSet) -> list[ChannelConfig]:
    """Few configs that hold every layer of the choice set: every pair of widths of each LAYER_ENTRIES pair
    appears in one of them (greedily packed, deterministic)."""
    choices = choice_set.choices
    wanted = [((a, va), (b, vb)) for a, b in LAYER_ENTRIES for va in choices[a] for vb in choices[b]]
    configs = []
    while wanted:
        chosen: dict[int, int] = {}
        for (a, va), (b, vb) in wanted:
            if chosen.get(a, va) == va and chosen.get(b, vb) == vb:
                chosen[a], chosen[b] = va, vb
        config = ChannelConfig(tuple(chosen.get(i, options[0]) for i, options in enumerate(choices)))
        configs.append(config)
        wanted = [(x, y) for x, y in wanted if not (config.channels[x[0]] == x[1] and config.channels[y[0]] == y[1])]
    return configs

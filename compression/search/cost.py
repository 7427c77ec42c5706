"""Closed-form cost of a mobile-ResNet sub-network, fast enough to score thousands of configs.

The layer shapes follow SubMobileResnetGenerator exactly (tests check the totals against the
MAC counters), split into the categories whose speed differs on real hardware: dense convolutions,
depthwise and pointwise convolutions, transposed convolutions, and the activations every layer
writes (memory traffic, which dominates depthwise layers).
"""

from dataclasses import dataclass

from ..models import ChannelConfig

INPUT_CHANNELS = 3
OUTPUT_CHANNELS = 3


@dataclass(frozen=True)
class SubnetCost:
    dense: int  # real MACs of stem, down-sampling and head convolutions
    depthwise: int
    pointwise: int
    transposed: int  # real MACs of the up-sampling layers
    activations: int  # elements written by convolutions (norm and ReLU pass over the same)
    macs_paper: int  # the paper's convention (transposed convolutions counted at output size)

    @property
    def macs_real(self) -> int:
        return self.dense + self.depthwise + self.pointwise + self.transposed


def subnet_cost(config: ChannelConfig, n_blocks: int, height: int, width: int | None = None) -> SubnetCost:
    width = width or height
    full, half, quarter = height * width, (height // 2) * (width // 2), (height // 4) * (width // 4)
    stem, (down1, trunk), (up1, up2) = config.stem, config.down, config.up
    dense = full * stem * INPUT_CHANNELS * 49 + half * down1 * stem * 9 + quarter * trunk * down1 * 9
    dense += full * OUTPUT_CHANNELS * up2 * 49
    depthwise = pointwise = 0
    activations = full * stem + half * down1 + quarter * trunk
    for inner in config.block_inner(n_blocks):
        depthwise += quarter * 9 * (trunk + inner)
        pointwise += quarter * 2 * trunk * inner
        activations += quarter * 2 * (trunk + inner)
    transposed = quarter * trunk * up1 * 9 + half * up1 * up2 * 9
    activations += half * up1 + full * up2 + full * OUTPUT_CHANNELS
    paper = dense + depthwise + pointwise + half * trunk * up1 * 9 + full * up1 * up2 * 9
    return SubnetCost(dense, depthwise, pointwise, transposed, activations, paper)

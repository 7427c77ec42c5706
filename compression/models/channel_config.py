"""The channel-config strings of GAN Compression's ResNet students (`c0_c1_..._c7`).

They mean exactly what the reference implementation's strings mean, so configs published with
the paper (horse2zebra's `16_16_32_16_32_32_16_16`) build the same network here. Entry i is a
base width that the network multiplies by `WIDTH_MULTIPLIERS[i]`:

    c0      stem convolution (7x7)                     x1
    c1      first down-sampling convolution            x2
    c2      second down-sampling convolution: trunk    x4
    c3..c5  inner width of residual blocks, one entry per third of the blocks   x4
    c6      first up-sampling convolution              x2
    c7      second up-sampling convolution             x1
"""

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass

WIDTH_MULTIPLIERS = (1, 2, 4, 4, 4, 4, 2, 1)
N_ENTRIES = len(WIDTH_MULTIPLIERS)


class ChannelConfigError(ValueError):
    """A channel config that no network can have."""


@dataclass(frozen=True)
class ChannelConfig:
    """Eight base widths; see the module docstring for their positions."""

    channels: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.channels) != N_ENTRIES:
            raise ChannelConfigError(f"a channel config has {N_ENTRIES} entries (c0_..._c7), got {len(self.channels)}")
        for width in self.channels:
            if isinstance(width, bool) or not isinstance(width, int) or width <= 0:
                raise ChannelConfigError(f"channel widths must be positive integers, got {width!r}")

    @classmethod
    def parse(cls, text: str) -> "ChannelConfig":
        parts = text.strip().split("_")
        widths = []
        for part in parts:
            if not part.isdigit():
                raise ChannelConfigError(f"bad channel config {text!r}: {part!r} is not a positive integer")
            widths.append(int(part))
        return cls(tuple(widths))

    @classmethod
    def uniform(cls, width: int) -> "ChannelConfig":
        return cls((width,) * N_ENTRIES)

    def __str__(self) -> str:
        return "_".join(str(c) for c in self.channels)

    @property
    def stem(self) -> int:
        return self.channels[0]

    @property
    def down(self) -> tuple[int, int]:
        return self.channels[1] * 2, self.channels[2] * 4

    @property
    def trunk(self) -> int:
        return self.channels[2] * 4

    @property
    def block_groups(self) -> tuple[int, int, int]:
        return self.channels[3] * 4, self.channels[4] * 4, self.channels[5] * 4

    @property
    def up(self) -> tuple[int, int]:
        return self.channels[6] * 2, self.channels[7]

    def block_inner(self, n_blocks: int) -> list[int]:
        """The inner width of every residual block: each third of the blocks shares one entry."""
        return [self.block_groups[block_group(i, n_blocks)] for i in range(n_blocks)]


def block_group(index: int, n_blocks: int) -> int:
    """Which third of the residual blocks block `index` belongs to."""
    return min(index * 3 // n_blocks, 2)


@dataclass(frozen=True)
class ChoiceSet:
    """The widths a supernet may take at each of the eight positions."""

    name: str
    choices: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if len(self.choices) != N_ENTRIES:
            raise ChannelConfigError(f"a choice set has {N_ENTRIES} positions, got {len(self.choices)}")

    @property
    def largest(self) -> ChannelConfig:
        return ChannelConfig(tuple(max(options) for options in self.choices))

    @property
    def smallest(self) -> ChannelConfig:
        return ChannelConfig(tuple(min(options) for options in self.choices))

    @property
    def size(self) -> int:
        total = 1
        for options in self.choices:
            total *= len(options)
        return total

    def contains(self, config: ChannelConfig) -> bool:
        return all(width in options for width, options in zip(config.channels, self.choices))

    def check(self, config: ChannelConfig) -> None:
        for position, (width, options) in enumerate(zip(config.channels, self.choices)):
            if width not in options:
                allowed = ", ".join(str(o) for o in options)
                raise ChannelConfigError(
                    f"width {width} at position c{position} is not in choice set {self.name!r} ({allowed})"
                )

    def sample(self, rng: random.Random) -> ChannelConfig:
        return ChannelConfig(tuple(rng.choice(options) for options in self.choices))

    def all_configs(self) -> Iterator[ChannelConfig]:
        """Every sub-network of the set, the last position varying fastest."""
        return (ChannelConfig(widths) for widths in itertools.product(*self.choices))


def _repeat(options: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    return (options,) * N_ENTRIES


# The reference implementation's choice sets, under the same names, and ganc's own.
CHOICE_SETS: dict[str, ChoiceSet] = {
    choice_set.name: choice_set
    for choice_set in (
        ChoiceSet(
            "channels-48",
            (
                (48, 32),
                (48, 32),
                (48, 40, 32),
                (48, 40, 32),
                (48, 40, 32),
                (48, 40, 32),
                (48, 32, 24, 16),
                (48, 32, 24, 16),
            ),
        ),
        ChoiceSet("channels-32", _repeat((32, 24, 16))),
        ChoiceSet("channels-64-cyclegan", _repeat((64, 48, 32, 24, 16))),
        ChoiceSet("channels-64-pix2pix", _repeat((64, 56, 48, 40, 32, 24, 16))),
        # ganc's own: a small supernet for small teachers (tests, quick trials), and one that reaches
        # down to 8 channels, where latency-aware search on a CPU finds its fastest students.
        ChoiceSet("channels-16", _repeat((16, 8))),
        ChoiceSet("channels-32-8", _repeat((32, 24, 16, 8))),
    )
}


TRUNK_SUFFIX = "-trunk-"  # `<set>-trunk-<c2>`: the set with its trunk entry fixed (a teacher's own trunk width)


def get_choice_set(name: str) -> ChoiceSet:
    """A registered choice set, or one with its trunk fixed: `channels-32-8-trunk-64` is channels-32-8 whose
    sub-networks all keep c2 = 64, the trunk of an ngf-64 teacher, so that its blocks can take the teacher's
    own trunk features (`part_inputs: teacher`)."""
    base, fixed, trunk = name.partition(TRUNK_SUFFIX)
    if fixed:
        if not trunk.isdigit() or int(trunk) <= 0:
            raise ChannelConfigError(f"bad choice set {name!r}: {trunk!r} after {TRUNK_SUFFIX!r} is not a width")
        choices = get_choice_set(base).choices
        return ChoiceSet(name, (*choices[:2], (int(trunk),), *choices[3:]))
    try:
        return CHOICE_SETS[name]
    except KeyError:
        known = ", ".join(sorted(CHOICE_SETS))
        raise ChannelConfigError(
            f"unknown choice set {name!r}; known: {known}, each also as <name>{TRUNK_SUFFIX}<c2>"
        ) from None

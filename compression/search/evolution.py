"""The reference implementation's evolutionary search for the best sub-network under one budget."""

import functools
import random
from collections.abc import Callable, Iterator

from ganc.spec import SearchSpec

from ..models import ChannelConfig, ChoiceSet

MAX_TRIES = 1000  # draws allowed to find a child that fits the budget


class Evolution:
    """Keep the best parents of each generation; fill the rest with mutated and crossed-over children.

    Only sub-networks that `fits` accepts enter the population; `score` ranks them (higher is better).
    """

    def __init__(
        self, choice_set: ChoiceSet, spec: SearchSpec, rng: random.Random, fits: Callable[[ChannelConfig], bool]
    ) -> None:
        self.choice_set, self.spec, self.rng, self.fits = choice_set, spec, rng, fits
        self.population: list[ChannelConfig] = []

    def generations(self, score: Callable[[ChannelConfig], float]) -> Iterator[int]:
        """Evolve `population` for the spec's iterations, yielding the number of each finished generation."""
        spec = self.spec
        self.population = [c for _ in range(spec.population_size) if (c := self._sample(self._random))]
        if not self.population:
            return
        n_parents = max(1, round(spec.parent_ratio * spec.population_size))
        n_mutations = round(spec.mutation_ratio * spec.population_size)
        for iteration in range(spec.iterations):
            parents = sorted(self.population, key=score, reverse=True)[:n_parents]
            mutant = functools.partial(self._mutant, parents)
            children = [c for _ in range(n_mutations) if (c := self._sample(mutant))]
            crossed = functools.partial(self._crossed, parents)
            while len(parents) + len(children) < spec.population_size:
                child = self._sample(crossed)
                if child is None:
                    break
                children.append(child)
            self.population = parents + children
            yield iteration + 1

    def _sample(self, make: Callable[[], ChannelConfig]) -> ChannelConfig | None:
        """The first of MAX_TRIES draws of `make` that fits the budget, or None."""
        for _ in range(MAX_TRIES):
            candidate = make()
            if self.fits(candidate):
                return candidate
        return None

    def _random(self) -> ChannelConfig:
        return self.choice_set.sample(self.rng)

    def _mutant(self, parents: list[ChannelConfig]) -> ChannelConfig:
        parent = self.rng.choice(parents)
        widths = zip(parent.channels, self.choice_set.choices)
        return ChannelConfig(
            tuple(self.rng.choice(options) if self.rng.random() < self.spec.mutate_prob else w for w, options in widths)
        )

    def _crossed(self, parents: list[ChannelConfig]) -> ChannelConfig:
        a, b = self.rng.choice(parents), self.rng.choice(parents)
        return ChannelConfig(tuple(self.rng.choice(pair) for pair in zip(a.channels, b.channels)))

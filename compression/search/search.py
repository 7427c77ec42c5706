"""Search a trained supernet for the best sub-networks under MACs or measured-latency budgets.

Candidates are scored on the `train2` split (PSNR against the target for paired tasks, against the
teacher for unpaired ones). Small spaces are searched exhaustively; large ones by the reference's
evolutionary search, once per budget, sharing one cache of evaluated configs. Every evaluated
candidate, the Pareto front and the chosen ladder are written as JSON, with a plot.
"""

import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from torch import nn

from ganc.card import MACS_SIZE

from ..metrics import evaluate_generator
from ..metrics.quality import teacher_outputs
from ..models import ChannelConfig, ChoiceSet, SuperMobileResnetGenerator
from ..progress import Progress, no_progress
from .cost import SubnetCost, subnet_cost
from .latency import LatencyModel, LatencyTarget, measure_model_ms

Pairs = list


class SearchError(ValueError):
    """A search that cannot give what was asked (budgets nobody meets, a ladder larger than the front)."""


@dataclass
class SearchConfig:
    """Budgets (one variant per budget), the latency target, and the search algorithm's settings."""

    macs_budgets: list[float] = field(default_factory=list)
    latency_budgets_ms: list[float] = field(default_factory=list)
    target: LatencyTarget = field(default_factory=LatencyTarget)
    method: Literal["auto", "exhaustive", "evolution"] = "auto"
    exhaustive_limit: int = 256
    calibration_samples: int = 16
    # the reference implementation's evolution defaults
    population_size: int = 100
    iterations: int = 500
    mutate_prob: float = 0.2
    mutation_ratio: float = 0.5
    parent_ratio: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        if bool(self.macs_budgets) == bool(self.latency_budgets_ms):
            raise SearchError("give either MACs budgets or latency budgets (one variant per budget)")
        if any(b <= 0 for b in [*self.macs_budgets, *self.latency_budgets_ms]):
            raise SearchError("budgets must be positive")

    @property
    def budgets(self) -> list[float]:
        return sorted(self.macs_budgets or self.latency_budgets_ms)

    @property
    def budget_kind(self) -> str:
        return "macs" if self.macs_budgets else "latency_ms"


@dataclass
class Candidate:
    config: str
    macs: int
    macs_real: int
    latency_predicted_ms: float
    quality: dict[str, float]
    score: float
    latency_measured_ms: float | None = None

    def cost(self, kind: str) -> float:
        return self.macs if kind == "macs" else self.latency_predicted_ms


@dataclass
class SearchResult:
    ladder: list[Candidate]
    front: list[Candidate]
    candidates: list[Candidate]
    latency_model: LatencyModel
    teacher: dict[str, float]


def smallest_config(choice_set: ChoiceSet) -> ChannelConfig:
    return ChannelConfig(tuple(min(options) for options in choice_set.choices))


def check_budgets_reachable(
    choice_set: ChoiceSet, n_blocks: int, config: SearchConfig, smallest_latency_ms: float | None = None
) -> None:
    """Refuse budgets that not even the smallest sub-network meets, before any expensive work."""
    smallest = smallest_config(choice_set)
    if config.budget_kind == "macs":
        floor = subnet_cost(smallest, n_blocks, MACS_SIZE).macs_paper
        unit = "MACs"
    else:
        if smallest_latency_ms is None:
            raise ValueError("latency budgets need the smallest sub-network's measured latency")
        floor, unit = smallest_latency_ms, "ms"
    if config.budgets[0] < floor:
        raise SearchError(
            f"no sub-network of {choice_set.name!r} can meet the budget of {config.budgets[0]:g} {unit}: "
            f"the smallest ({smallest}) needs {floor:.4g} {unit}"
        )
    if len(config.budgets) > choice_set.size:
        raise SearchError(f"{len(config.budgets)} budgets but the choice set has only {choice_set.size} sub-networks")


def run_search(
    supernet: SuperMobileResnetGenerator,
    choice_set: ChoiceSet,
    pairs: Pairs,
    teacher: nn.Module,
    paired: bool,
    config: SearchConfig,
    out_dir: Path,
    progress: Progress = no_progress,
) -> SearchResult:
    config.target.check_available()
    out_dir.mkdir(parents=True, exist_ok=True)
    n_blocks = len(supernet.blocks)
    supernet.eval()
    rng = random.Random(config.seed)

    model_path = out_dir / "latency_model.json"
    if model_path.is_file():  # a resumed search keeps its calibration, so cached predictions stay consistent
        latency_model = LatencyModel(**{k: v for k, v in json.loads(model_path.read_text()).items() if k != "target"})
    else:
        latency_model = _calibrate(supernet, choice_set, config, rng, progress)
        model_path.write_text(json.dumps({"target": config.target.name, **asdict(latency_model)}, indent=2))
    smallest = _cost(smallest_config(choice_set), n_blocks, config)
    check_budgets_reachable(choice_set, n_blocks, config, latency_model.predict(smallest))

    cache: dict[str, Candidate] = _load_cache(out_dir / "candidates.json")
    metric = "psnr" if paired else "psnr_teacher"
    references = teacher_outputs(teacher, pairs)

    def evaluate(channel_config: ChannelConfig) -> Candidate:
        key = str(channel_config)
        if key not in cache:
            supernet.set_config(channel_config)
            quality = evaluate_generator(supernet, pairs, references, paired)
            cost, macs = _cost(channel_config, n_blocks, config), subnet_cost(channel_config, n_blocks, MACS_SIZE)
            cache[key] = Candidate(key, macs.macs_paper, macs.macs_real, round(latency_model.predict(cost), 3),
                                   {k: round(v, 4) for k, v in quality.items()}, quality[metric])  # fmt: skip
            if len(cache) % 10 == 0:
                _save(out_dir / "candidates.json", list(cache.values()))
        return cache[key]

    kind = config.budget_kind
    if config.method == "exhaustive" or (config.method == "auto" and choice_set.size <= config.exhaustive_limit):
        everything = _enumerate(choice_set)
        for done, channel_config in enumerate(everything, 1):
            evaluate(channel_config)
            progress("search", done, len(everything), f"{len(cache)} evaluated")
    else:
        total = len(config.budgets) * config.iterations
        for index, budget in enumerate(config.budgets):

            def fits(channel_config: ChannelConfig, budget: float = budget) -> bool:
                if kind == "macs":
                    return subnet_cost(channel_config, n_blocks, MACS_SIZE).macs_paper <= budget
                return latency_model.predict(_cost(channel_config, n_blocks, config)) <= budget

            def report(iteration: int, index: int = index, budget: float = budget) -> None:
                message = f"budget {budget:g}: {len(cache)} evaluated"
                progress("search", index * config.iterations + iteration, total, message)

            _evolve(choice_set, fits, evaluate, config, rng, report)
    candidates = list(cache.values())
    _save(out_dir / "candidates.json", candidates)

    front = pareto_front(candidates, kind)
    ladder = choose_ladder(candidates, config.budgets, kind)
    for candidate in ladder:
        subnet = supernet.extract(ChannelConfig.parse(candidate.config))
        candidate.latency_measured_ms = round(measure_model_ms(subnet, config.target), 3)
    teacher_summary = _teacher_summary(teacher, pairs, paired, config.target)
    _save(out_dir / "front.json", front)
    _save(out_dir / "ladder.json", ladder)
    (out_dir / "teacher.json").write_text(json.dumps(teacher_summary, indent=2))
    from .plot import plot_search

    plot_search(candidates, ladder, teacher_summary, metric, out_dir / "pareto.png", config.target.name)
    return SearchResult(ladder, front, candidates, latency_model, teacher_summary)


def pareto_front(candidates: list[Candidate], kind: str) -> list[Candidate]:
    """Candidates that no other beats on both cost (lower) and score (higher), cheapest first."""
    front, best = [], float("-inf")
    for candidate in sorted(candidates, key=lambda c: (c.cost(kind), -c.score)):
        if candidate.score > best:
            front.append(candidate)
            best = candidate.score
    return front


def choose_ladder(candidates: list[Candidate], budgets: list[float], kind: str) -> list[Candidate]:
    """For each budget, the best-scoring candidate within it; refuse a ladder with repeats."""
    ladder = []
    for budget in budgets:
        fitting = [c for c in candidates if c.cost(kind) <= budget]
        if not fitting:
            raise SearchError(f"no evaluated sub-network fits the budget {budget:g}")
        ladder.append(max(fitting, key=lambda c: (c.score, -c.cost(kind))))
    configs = [c.config for c in ladder]
    if len(set(configs)) < len(configs):
        raise SearchError(
            f"the ladder asks for {len(budgets)} variants but the front offers only {len(set(configs))} distinct ones "
            f"within these budgets ({', '.join(f'{b:g}' for b in budgets)}); widen the budgets or use fewer"
        )
    return ladder


def _cost(channel_config: ChannelConfig, n_blocks: int, config: SearchConfig) -> SubnetCost:
    return subnet_cost(channel_config, n_blocks, config.target.size)


def _enumerate(choice_set: ChoiceSet) -> list[ChannelConfig]:
    configs = [()]
    for options in choice_set.choices:
        configs = [(*prefix, width) for prefix in configs for width in options]
    return [ChannelConfig(c) for c in configs]


def _calibrate(
    supernet: SuperMobileResnetGenerator,
    choice_set: ChoiceSet,
    config: SearchConfig,
    rng: random.Random,
    progress: Progress,
) -> LatencyModel:
    samples = {
        str(smallest_config(choice_set)): smallest_config(choice_set),
        str(choice_set.largest): choice_set.largest,
    }
    attempts = 0
    while (
        len(samples) < min(config.calibration_samples, choice_set.size) and attempts < 100 * config.calibration_samples
    ):
        sample = choice_set.sample(rng)
        samples[str(sample)] = sample
        attempts += 1
    costs, measured = [], []
    for done, channel_config in enumerate(samples.values(), 1):
        costs.append(_cost(channel_config, len(supernet.blocks), config))
        measured.append(measure_model_ms(supernet.extract(channel_config), config.target))
        progress("calibrate", done, len(samples), f"{config.target.name}: {measured[-1]:.1f} ms")
    return LatencyModel.fit(costs, measured)


def _evolve(
    choice_set: ChoiceSet,
    fits: Callable[[ChannelConfig], bool],
    evaluate: Callable[[ChannelConfig], Candidate],
    config: SearchConfig,
    rng: random.Random,
    report: Callable[[int], None],
) -> None:
    """The reference's evolution: keep the best parents, add mutated and crossed-over children."""
    max_tries = 1000

    def sample(make: Callable[[], ChannelConfig]) -> ChannelConfig | None:
        for _ in range(max_tries):
            candidate = make()
            if fits(candidate):
                return candidate
        return None

    def mutate(parent: ChannelConfig) -> ChannelConfig:
        return ChannelConfig(tuple(
            rng.choice(options) if rng.random() < config.mutate_prob else width
            for width, options in zip(parent.channels, choice_set.choices)
        ))  # fmt: skip

    def cross(a: ChannelConfig, b: ChannelConfig) -> ChannelConfig:
        return ChannelConfig(tuple(rng.choice(pair) for pair in zip(a.channels, b.channels)))

    population = [c for _ in range(config.population_size) if (c := sample(lambda: choice_set.sample(rng)))]
    if not population:
        return
    n_parents = max(1, round(config.parent_ratio * config.population_size))
    n_mutations = round(config.mutation_ratio * config.population_size)
    for iteration in range(config.iterations):
        ranked = sorted(population, key=lambda c: evaluate(c).score, reverse=True)
        parents = ranked[:n_parents]

        def mutant(parents: list[ChannelConfig] = parents) -> ChannelConfig:
            return mutate(rng.choice(parents))

        def crossed(parents: list[ChannelConfig] = parents) -> ChannelConfig:
            return cross(rng.choice(parents), rng.choice(parents))

        children = [c for _ in range(n_mutations) if (c := sample(mutant))]
        while len(parents) + len(children) < config.population_size:
            child = sample(crossed)
            if child is None:
                break
            children.append(child)
        population = parents + children
        report(iteration + 1)
    for candidate in population:
        evaluate(candidate)


def _teacher_summary(teacher: nn.Module, pairs: Pairs, paired: bool, target: LatencyTarget) -> dict[str, float]:
    from ..metrics import count_macs

    quality = evaluate_generator(teacher, pairs, None, paired) if paired else {}
    counts = count_macs(teacher, MACS_SIZE)
    return {
        "macs": counts.macs,
        "macs_real": counts.macs_real,
        "latency_measured_ms": round(measure_model_ms(teacher, target), 3),
        "score": quality.get("psnr", float("nan")),
        **{k: round(v, 4) for k, v in quality.items()},
    }


def _save(path: Path, candidates: list[Candidate]) -> None:
    path.write_text(json.dumps([asdict(c) for c in candidates], indent=2) + "\n")


def _load_cache(path: Path) -> dict[str, Candidate]:
    """Candidates a previous, interrupted search already evaluated (a resumed search skips them)."""
    if not path.is_file():
        return {}
    return {c["config"]: Candidate(**c) for c in json.loads(path.read_text())}

"""Search a trained supernet for the best sub-networks under MACs or measured-latency budgets.

Candidates are scored on the `train2` split (PSNR against the target for paired tasks, against the
teacher for unpaired ones). Small spaces are searched exhaustively; large ones by the reference's
evolutionary search, once per budget, sharing one cache of evaluated configs. Every evaluated
candidate, the Pareto front and the chosen ladder are written as JSON, with a plot.
"""

import functools
import json
import random
import statistics
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from ganc.atomic import write_text_atomically
from ganc.card import MACS_SIZE
from ganc.spec import Precision, SearchSpec

from ..device import device_of
from ..metrics import count_macs, psnr
from ..metrics.quality import generate, teacher_outputs
from ..models import ChannelConfig, ChoiceSet, SuperMobileResnetGenerator
from ..precision import autocast
from ..progress import Progress, no_progress
from .candidates import SearchCandidate, SearchError, choose_ladder, pareto_front
from .cost import subnet_cost
from .evolution import Evolution
from .latency import LatencyTarget, latency_target, measure_model_ms, measure_models_ms
from .latency_table import LatencyModel, calibrate
from .plot import plot_search

Pairs = list[tuple[str, torch.Tensor, torch.Tensor]]
SAVE_EVERY = 10  # evaluated candidates between saves of candidates.json (what a resumed search reuses)
FINALISTS = 5  # each budget's best screened candidates, scored on every image before the ladder is chosen


@dataclass
class SearchResult:
    ladder: list[SearchCandidate]
    front: list[SearchCandidate]
    candidates: list[SearchCandidate]
    latency_model: LatencyModel
    teacher: dict[str, float]


class Stopwatch:
    """Wall time per named part, for timing.json."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def part(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 2)


class Judge:
    """How sub-networks are scored: on `pairs`, against the target (paired tasks) or the teacher's outputs.
    By PSNR alone, what the search ranks by: SSIM and the input's own scores, for hundreds of candidates,
    took longer than running them (the cards of the chosen ones carry every score). With `precision` bf16 the
    candidates run under bfloat16 autocast; the teacher's references stay fp32."""

    def __init__(
        self,
        pairs: Pairs,
        teacher: nn.Module,
        paired: bool,
        precision: Precision = "fp32",
        references: list[torch.Tensor] | None = None,
    ) -> None:
        self.pairs, self.teacher, self.paired, self.precision = pairs, teacher, paired, precision
        self.references = references if references is not None else teacher_outputs(teacher, pairs)
        self.metric = "psnr" if paired else "psnr_teacher"

    def on_first(self, count: int | None) -> "Judge":
        """The same judge on its first `count` pairs only (itself when that is all of them)."""
        if count is None or count >= len(self.pairs):
            return self
        return Judge(self.pairs[:count], self.teacher, self.paired, self.precision, self.references[:count])

    def quality(self, model: nn.Module) -> dict[str, float]:
        with autocast(self.precision, device_of(model)):
            outputs = [output.float() for output in generate(model, [a for _name, a, _b in self.pairs])]
        against = {"psnr_teacher": self.references}
        if self.paired:
            against["psnr"] = [b for _name, _a, b in self.pairs]
        return {k: statistics.fmean(map(psnr, outputs, targets)) for k, targets in against.items()}

    def teacher_summary(self, target: LatencyTarget) -> dict[str, float]:
        """The teacher's cost and (paired tasks) PSNR, for scale in the search's picture; its latency is the
        better of two single runs after one warm-up: one run of a teacher is long enough to time alone."""
        counts = count_macs(self.teacher, MACS_SIZE)
        teacher_ms = measure_model_ms(self.teacher, replace(target, repeats=1, rounds=2, warmup=1))
        summary = {
            "macs": counts.macs,
            "macs_real": counts.macs_real,
            "latency_measured_ms": round(teacher_ms, 3),
            "score": float("nan"),
        }
        if self.paired:
            summary["score"] = summary["psnr"] = round(
                statistics.fmean(psnr(r, b) for r, (_name, _a, b) in zip(self.references, self.pairs)), 4
            )
        return summary


def check_budgets_reachable(
    choice_set: ChoiceSet, n_blocks: int, spec: SearchSpec, smallest_latency_ms: float | None = None
) -> None:
    """Refuse budgets that not even the smallest sub-network meets, before any expensive work."""
    smallest = choice_set.smallest
    if spec.budget_kind == "macs":
        floor, unit = subnet_cost(smallest, n_blocks, MACS_SIZE).macs_paper, "MACs"
    elif smallest_latency_ms is None:
        raise ValueError("latency budgets need the smallest sub-network's measured latency")
    else:
        floor, unit = smallest_latency_ms, "ms"
    if spec.budgets[0] < floor:
        raise SearchError(
            f"no sub-network of {choice_set.name!r} can meet the budget of {spec.budgets[0]:g} {unit}: "
            f"the smallest ({smallest}) needs {floor:.4g} {unit}"
        )
    if len(spec.budgets) > choice_set.size:
        raise SearchError(f"{len(spec.budgets)} budgets but the choice set has only {choice_set.size} sub-networks")


class Evaluator:
    """Scores sub-networks of the supernet once each, keeping every result (and on disk, for a resumed search)."""

    def __init__(
        self, supernet: SuperMobileResnetGenerator, judge: Judge, latency_model: LatencyModel, path: Path
    ) -> None:
        self.supernet, self.judge, self.latency_model, self.path = supernet, judge, latency_model, path
        self.n_blocks = len(supernet.blocks)
        self.cache: dict[str, SearchCandidate] = _load_candidates(path)

    def predicted_ms(self, config: ChannelConfig) -> float:
        return self.latency_model.predict(config)

    def cost(self, config: ChannelConfig, kind: str) -> float:
        if kind == "macs":
            return subnet_cost(config, self.n_blocks, MACS_SIZE).macs_paper
        return self.predicted_ms(config)

    def fits(self, kind: str, budget: float, config: ChannelConfig) -> bool:
        return self.cost(config, kind) <= budget

    def evaluate(self, config: ChannelConfig) -> SearchCandidate:
        key = str(config)
        if key not in self.cache:
            quality = self.quality(config, self.judge)
            macs = subnet_cost(config, self.n_blocks, MACS_SIZE)
            self.cache[key] = SearchCandidate(
                config=key,
                macs=macs.macs_paper,
                macs_real=macs.macs_real,
                latency_predicted_ms=round(self.predicted_ms(config), 3),
                quality={k: round(v, 4) for k, v in quality.items()},
                score=quality[self.judge.metric],
            )
            if len(self.cache) % SAVE_EVERY == 0:
                self.save()
        return self.cache[key]

    def score(self, config: ChannelConfig) -> float:
        return self.evaluate(config).score

    def quality(self, config: ChannelConfig, judge: Judge) -> dict[str, float]:
        self.supernet.set_config(config)
        return judge.quality(self.supernet)

    def finalists(self, spec: SearchSpec, judge: Judge) -> list[SearchCandidate]:
        """Each budget's FINALISTS best candidates, and its FINALISTS best of those that need more than the next
        smaller budget (where choose_ladder looks when the best is a smaller budget's), scored again by `judge`
        (on every image, where the candidates were screened on the first few)."""
        kind = spec.budget_kind
        rescored: dict[str, SearchCandidate] = {}
        for lower, budget in zip([0.0, *spec.budgets], spec.budgets):
            fitting = sorted((c for c in self.cache.values() if c.cost(kind) <= budget), key=lambda c: -c.score)
            using_the_room = [c for c in fitting if c.cost(kind) > lower]
            for candidate in fitting[:FINALISTS] + using_the_room[:FINALISTS]:
                if candidate.config not in rescored:
                    quality = self.quality(ChannelConfig.parse(candidate.config), judge)
                    rounded = {k: round(v, 4) for k, v in quality.items()}
                    rescored[candidate.config] = replace(candidate, quality=rounded, score=quality[judge.metric])
        return list(rescored.values())

    def save(self) -> list[SearchCandidate]:
        candidates = list(self.cache.values())
        _save(self.path, candidates)
        return candidates


def run_search(
    supernet: SuperMobileResnetGenerator,
    choice_set: ChoiceSet,
    judge: Judge,
    spec: SearchSpec,
    out_dir: Path,
    *,
    seed: int = 0,
    progress: Progress = no_progress,
) -> SearchResult:
    target = latency_target(spec)
    target.check_available()
    out_dir.mkdir(parents=True, exist_ok=True)
    supernet.eval()
    rng = random.Random(seed)
    stopwatch = Stopwatch()

    # Predict latency from a table of layers, scaled on measured sub-networks; refuse budgets nothing can meet.
    with stopwatch.part("calibration"):
        latency_model = _latency_model(supernet, choice_set, spec, rng, out_dir=out_dir, progress=progress)
    screening = judge.on_first(spec.screen_images)
    evaluator = Evaluator(supernet, screening, latency_model, out_dir / "candidates.json")
    check_budgets_reachable(choice_set, len(supernet.blocks), spec, evaluator.predicted_ms(choice_set.smallest))

    # Score sub-networks: every one in a small space, the evolution's picks under each budget otherwise.
    with stopwatch.part("candidates"):
        if spec.method == "exhaustive" or (spec.method == "auto" and choice_set.size <= spec.exhaustive_limit):
            _search_everything(choice_set, evaluator, progress)
        else:
            _search_by_evolution(choice_set, evaluator, spec, rng, progress)
        candidates = evaluator.save()

    # Per budget, the best candidate within it (among the best few scored on every image, if screened), measured
    # for real; the teacher for scale.
    if screening is judge:
        ladder = choose_ladder(candidates, spec.budgets, spec.budget_kind)
    else:
        with stopwatch.part("finalists"):
            finalists = evaluator.finalists(spec, judge)
        _save(out_dir / "finalists.json", finalists)
        ladder = choose_ladder(finalists, spec.budgets, spec.budget_kind)
    with stopwatch.part("ladder_latency"):
        subnets = [supernet.extract(ChannelConfig.parse(candidate.config)) for candidate in ladder]
        for candidate, measured_ms in zip(ladder, measure_models_ms(subnets, target)):
            candidate.latency_measured_ms = round(measured_ms, 3)
    with stopwatch.part("teacher"):
        teacher = judge.teacher_summary(target)
    front = pareto_front(candidates, spec.budget_kind)

    # What the search found, as JSON and as a picture (every candidate as it was ranked, the ladder among them).
    _save(out_dir / "front.json", front)
    _save(out_dir / "ladder.json", ladder)
    write_text_atomically(out_dir / "teacher.json", json.dumps(teacher, indent=2))
    ranked = [replace(evaluator.cache[c.config], latency_measured_ms=c.latency_measured_ms) for c in ladder]
    metric = judge.metric if screening is judge else f"{judge.metric}, first {len(screening.pairs)} images"
    with stopwatch.part("plot"):
        plot_search(candidates, ranked, teacher, out_dir / "pareto.png", metric=metric, target=target.name)
    timing = {"seconds": stopwatch.seconds, "evaluated": len(candidates)}
    write_text_atomically(out_dir / "timing.json", json.dumps(timing, indent=2) + "\n")
    return SearchResult(ladder, front, candidates, latency_model, teacher)


def _latency_model(
    supernet: SuperMobileResnetGenerator,
    choice_set: ChoiceSet,
    spec: SearchSpec,
    rng: random.Random,
    *,
    out_dir: Path,
    progress: Progress,
) -> LatencyModel:
    """Measure the layer table and the sub-networks that scale it; a resumed search keeps its first calibration,
    so the predictions cached with its candidates stay consistent."""
    path = out_dir / "latency_model.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if "model" in saved:
            return LatencyModel(**saved["model"])
        # An earlier predictor's calibration: the candidates it predicted for do not compare with this one's.
        (out_dir / "candidates.json").unlink(missing_ok=True)
    target = latency_target(spec)
    model, measured = calibrate(supernet, choice_set, target, spec.calibration_samples, rng, progress)
    write_text_atomically(
        path, json.dumps({"target": target.name, "measured_ms": measured, "model": asdict(model)}, indent=2)
    )
    return model


def _search_everything(choice_set: ChoiceSet, evaluator: Evaluator, progress: Progress) -> None:
    everything = list(choice_set.all_configs())
    for done, config in enumerate(everything, 1):
        evaluator.evaluate(config)
        progress("search", done, len(everything), f"{len(evaluator.cache)} evaluated")


def _search_by_evolution(
    choice_set: ChoiceSet, evaluator: Evaluator, spec: SearchSpec, rng: random.Random, progress: Progress
) -> None:
    total = len(spec.budgets) * spec.iterations
    for index, budget in enumerate(spec.budgets):
        evolution = Evolution(choice_set, spec, rng, functools.partial(evaluator.fits, spec.budget_kind, budget))
        for generation in evolution.generations(evaluator.score):
            message = f"budget {budget:g}: {len(evaluator.cache)} evaluated"
            progress("search", index * spec.iterations + generation, total, message)
        for config in evolution.population:
            evaluator.evaluate(config)


def _save(path: Path, candidates: list[SearchCandidate]) -> None:
    write_text_atomically(path, json.dumps([asdict(c) for c in candidates], indent=2) + "\n")


def _load_candidates(path: Path) -> dict[str, SearchCandidate]:
    """Candidates a previous, interrupted search already evaluated (a resumed search skips them)."""
    if not path.is_file():
        return {}
    return {c["config"]: SearchCandidate(**c) for c in json.loads(path.read_text())}

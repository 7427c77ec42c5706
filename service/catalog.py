"""The catalog: what the model repository holds, loaded on which backends, with live estimates.

It reads the repository at start and then every few seconds; a newer published version is loaded
beside the old one and swapped in, so requests in flight finish on the version they started with.
A variant that fails to load is reported (in /v1/models and the log) and skipped; the rest serve.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ganc.card import VariantCard
from ganc.repository import CardCache, Problem, read_index

from . import metrics
from .backends import Backend, BackendError
from .estimates import LatencyEstimates
from .images import padded_side

log = logging.getLogger("ganc.catalog")


@dataclass
class ServedVariant:
    card: VariantCard
    version: int
    onnx_path: Path
    backends: set[str] = field(default_factory=set)

    @property
    def model(self) -> str:
        return self.card.model_name

    @property
    def quality(self) -> float:
        """The router's quality score: PSNR on the family's evaluation split (against the teacher if no target)."""
        q = self.card.quality
        return q.get("psnr", q.get("psnr_teacher", 0.0))


class Catalog:
    def __init__(
        self,
        repository: Path,
        backends: dict[str, Backend],
        estimates: LatencyEstimates,
        warmup_runs: int,
        warmup_size: int,
    ) -> None:
        self.repository, self.backends, self.estimates = repository, backends, estimates
        self.warmup_runs, self.warmup_size = warmup_runs, warmup_size
        self.families: dict[str, dict[str, ServedVariant]] = {}
        self.problems: dict[str, Problem] = {}  # "<model>@<backend>" -> why it does not serve there
        self.index_problems: list[Problem] = []
        self.cards = CardCache()

    def variants(self, family: str) -> dict[str, ServedVariant]:
        return self.families.get(family, {})

    def ready(self) -> bool:
        """Every family has at least one variant loaded somewhere."""
        return bool(self.families) and all(any(v.backends for v in f.values()) for f in self.families.values())

    async def refresh(self) -> None:
        index = await asyncio.to_thread(read_index, self.repository, self.cards)
        for problem in set(index.problems) - set(self.index_problems):
            log.warning("cannot read %s", problem)
        self.index_problems = index.problems
        for entry in index.latest():
            family, name = entry.card.family, entry.card.variant
            current = self.families.get(family, {}).get(name)
            if current is not None and current.version >= entry.version and self._complete(current):
                continue
            variant = ServedVariant(entry.card, entry.version, entry.onnx_path)
            if current is not None and current.version == entry.version:
                variant.backends = set(current.backends)
            await self._load(variant)
            # A new version that loads nowhere does not replace an old one that serves.
            if variant.backends or current is None or not current.backends:
                self.families.setdefault(family, {})[name] = variant
            metrics.MACS.labels(family, name).set(entry.card.macs)
            metrics.MACS_REAL.labels(family, name).set(entry.card.macs_real)
            metrics.PARAMS.labels(family, name).set(entry.card.params)
        for backend in self.backends.values():
            await backend.refresh()

    def _complete(self, variant: ServedVariant) -> bool:
        return variant.backends >= set(self.backends)

    async def _load(self, variant: ServedVariant) -> None:
        for name, backend in self.backends.items():
            if name in variant.backends:
                continue
            try:
                image_statistics = variant.card.tile_statistics == "image"
                await backend.load(variant.model, variant.version, variant.onnx_path, image_statistics)
                if not backend.ready(variant.model):
                    continue
                await self._warm_up(variant, backend)
            except (BackendError, OSError, ValueError) as error:
                # The public line names the variant and the backend; why (paths, the runtime's words) goes to the log.
                problem = Problem(f"{variant.model} v{variant.version} on {name}", "cannot be served", str(error))
                if self.problems.get(f"{variant.model}@{name}") != problem:
                    log.warning("cannot serve %s", problem)
                self.problems[f"{variant.model}@{name}"] = problem
                continue
            self.problems.pop(f"{variant.model}@{name}", None)
            variant.backends.add(name)
            log.info("serving %s v%d on %s", variant.model, variant.version, name)

    async def _warm_up(self, variant: ServedVariant, backend: Backend) -> None:
        """Seed the latency estimates at two sizes (overhead and slope), and let the backend allocate."""
        for side in (
            padded_side(self.warmup_size // 4, variant.card.size_multiple),
            padded_side(self.warmup_size, variant.card.size_multiple),
        ):
            x = np.zeros((1, variant.card.channels_in, side, side), np.float32)
            await backend.infer(variant.model, x)
            for _ in range(self.warmup_runs):
                inference = await backend.infer(variant.model, x)
                self.estimates.record(variant.model, backend.name, side * side, inference.service_ms)

    async def watch(self, poll_s: float) -> None:
        while True:
            await asyncio.sleep(poll_s)
            try:
                await self.refresh()
            except Exception:  # a broken repository must not stop the gateway from serving what it has
                log.exception("catalog refresh failed")

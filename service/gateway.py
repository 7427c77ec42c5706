"""Serving one translation: decode, route, infer (retrying once elsewhere on failure), encode, measure."""

import asyncio
import contextlib
import dataclasses
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from starlette.concurrency import run_in_threadpool

from ganc.card import VariantCard
from ganc.settings import Settings

from . import images, metrics
from .backends import Backend, BackendError, InputError
from .catalog import Catalog
from .estimates import ALONE, POST, PRE, LatencyEstimates, Work
from .health import BackendHealth
from .routing import Decision, RouteCandidate, ranked, remeasuring_first
from .tiling import Blender, Tile, plan_tiles, statistics_copy, statistics_shape

UNMEASURED_MS = 1e9  # a candidate never measured is tried last
# What a request holds per pixel at its peak: the RGB image (3 bytes), its float tensor (12, and a padded copy),
# the model's float output (12), the answer's RGB and its encoding.
DECODED_BYTES_PER_PIXEL = 40
FLOAT_BYTES_PER_PIXEL = 12  # an RGB float32 tensor: the statistics pass's copy of a tiled image
TIGHT_BUDGET_MEMORY_S = 30.0  # how long a tight budget keeps long requests off the shared backends


class GatewayError(Exception):
    """A request the gateway cannot serve: HTTP status, a sentence, and optional headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers or {}


@dataclass
class Translation:
    body: bytes
    media_type: str
    headers: dict[str, str]


class Gateway:
    def __init__(self, settings: Settings, catalog: Catalog, backends: dict[str, Backend], estimates: LatencyEstimates):
        self.settings, self.catalog, self.backends, self.estimates = settings, catalog, backends, estimates
        self.health = {name: BackendHealth(settings.probe_backoff_s, settings.probe_backoff_max_s) for name in backends}
        self.in_flight = 0
        self.decoded_bytes = 0
        self.recent_budgets: dict[str, deque[tuple[float, float]]] = {}
        self.probes: set[asyncio.Task] = set()  # the loop holds tasks weakly: these are kept until done
        for backend in backends.values():
            metrics.BACKEND_UP.labels(backend.name, backend.hardware).set(1)

    def candidates(self, family: str, work: Work, variant: str | None) -> list[RouteCandidate]:
        variants = self.catalog.variants(family)
        if not variants:
            raise GatewayError(404, f"no family {family!r}; GET /v1/models lists them")
        if variant is not None and variant not in variants:
            raise GatewayError(
                404, f"family {family!r} has no variant {variant!r}; it has {', '.join(sorted(variants))}"
            )
        out = []
        for name, v in variants.items():
            if variant is not None and name != variant:
                continue
            its_work = _work_of(v.card, work)
            for backend_name in v.backends:
                backend = self.backends[backend_name]
                if its_work.statistics_pixels and not backend.shares_statistics(v.model):
                    continue  # its tiles would not answer as the whole image does
                predicted = self.estimates.predict_ms(v.model, backend_name, its_work, backend.concurrency)
                service = self.estimates.work_ms(v.model, backend_name, its_work)
                alone = self.estimates.work_ms(v.model, backend_name, its_work, ALONE)
                out.append(
                    RouteCandidate(
                        name,
                        backend_name,
                        v.quality,
                        predicted if predicted is not None else UNMEASURED_MS,
                        self.health[backend_name].healthy,
                        service if service is not None else UNMEASURED_MS,
                        alone if alone is not None else UNMEASURED_MS,
                    )
                )
        return out

    @contextlib.contextmanager
    def admitted(self, family: str) -> Iterator[None]:
        """Admission, before the request's body is read: past GANC_MAX_IN_FLIGHT requests, 429."""
        if self.in_flight >= self.settings.max_in_flight:
            raise GatewayError(
                429, f"more than {self.settings.max_in_flight} requests in flight; retry shortly", {"Retry-After": "1"}
            )
        self.in_flight += 1
        in_flight = metrics.IN_FLIGHT.labels(family if self.catalog.variants(family) else metrics.UNKNOWN_FAMILY)
        in_flight.inc()
        try:
            yield
        finally:
            self.in_flight -= 1
            in_flight.dec()

    @contextlib.contextmanager
    def holding_decoded(self, pixels: int) -> Iterator[None]:
        """Admission by memory, once the image's header is read: the images in flight together stay within
        GANC_MAX_DECODED_MB once decoded, with the copy whose statistics their tiles share (a lone image is always
        let in: GANC_MAX_PIXELS bounds it)."""
        pixels = min(pixels, self.settings.max_pixels)
        need = pixels * DECODED_BYTES_PER_PIXEL
        if pixels > self.settings.tile_size**2:
            need += min(pixels, self.settings.statistics_size**2) * FLOAT_BYTES_PER_PIXEL
        limit = self.settings.max_decoded_mb * 2**20
        if self.decoded_bytes and self.decoded_bytes + need > limit:
            raise GatewayError(
                429,
                f"the images in flight would take more than {self.settings.max_decoded_mb:g} MB; retry shortly",
                {"Retry-After": "1"},
            )
        self.decoded_bytes += need
        try:
            yield
        finally:
            self.decoded_bytes -= need

    async def translate(
        self, family: str, data: bytes, budget_ms: float | None, variant: str | None, fmt: str
    ) -> Translation:
        with self.holding_decoded(images.declared_pixels(data)):
            return await self._translate(family, data, budget_ms, variant, fmt)

    async def _translate(
        self, family: str, data: bytes, budget_ms: float | None, variant: str | None, fmt: str
    ) -> Translation:
        start = time.perf_counter()
        if fmt not in images.FORMATS:
            raise GatewayError(400, f"unknown output format {fmt!r}: use png, jpeg or webp")
        if not self.catalog.variants(family):
            raise GatewayError(404, f"no family {family!r}; GET /v1/models lists them")
        multiple = max(v.card.size_multiple for v in self.catalog.variants(family).values())
        prepared = await run_in_threadpool(images.decode_and_prepare, data, self.settings.max_pixels, multiple)
        height, width = prepared.tensor.shape[2:]
        pixels = height * width
        pre_ms = (time.perf_counter() - start) * 1e3
        self.estimates.record_overhead(PRE, pixels, pre_ms)
        self._probe_due_backends()
        tiles = self._plan(family, height, width, multiple)
        copy_shape = statistics_shape(height, width, self.settings.statistics_size**2, multiple)
        work = Work(tiles[0].pixels, len(tiles), pixels, copy_shape[0] * copy_shape[1] if len(tiles) > 1 else 0)
        candidates = self.candidates(family, work, variant)
        cap_ms = self.settings.max_latency_ms - pre_ms
        max_service_ms = self._protect_tight_budgets(family, budget_ms, pixels, candidates)
        if budget_ms is None:
            order = self._remeasuring_first(family, ranked(candidates, None, cap_ms=cap_ms), cap_ms)
        else:
            order = ranked(candidates, budget_ms - pre_ms, max_service_ms)
        if not order:
            raise GatewayError(503, f"no backend can serve {family!r} right now", {"Retry-After": "2"})
        fastest = min(c.service_ms for c in candidates if c.healthy)
        if UNMEASURED_MS > fastest > cap_ms:
            cap_s = self.settings.max_latency_ms / 1e3
            raise GatewayError(
                413,
                f"an image of {prepared.width}x{prepared.height} would take about {fastest / 1e3:.0f} s even on the "
                f"fastest variant, past the server's cap of {cap_s:.0f} s: send a smaller image",
            )
        # A failing backend gets one retry on the next candidate, not a cascade.
        for attempt, decision in enumerate(order[:2]):
            # An inference longer than the tight budgets' slack keeps to one core, leaving the others to them.
            spread = max_service_ms is None or decision.candidate.service_ms <= max_service_ms
            try:
                output, model_ms, service_ms = await self._infer(
                    family, decision, prepared.tensor, tiles, work, copy_shape, spread
                )
                break
            except InputError as error:  # this request's doing: the backend stays up
                raise GatewayError(422, f"{decision.variant} cannot translate this image: {error}") from None
            except BackendError:
                self._mark_down(decision.backend)
                if attempt == 1 or len(order) == 1:
                    raise GatewayError(503, f"every backend failed to serve {family!r}", {"Retry-After": "2"}) from None
                metrics.RETRIES.labels(decision.backend).inc()
        post_start = time.perf_counter()
        body = await run_in_threadpool(images.finish_and_encode, output, prepared, fmt)
        end = time.perf_counter()
        post_ms = (end - post_start) * 1e3
        self.estimates.record_overhead(POST, pixels, post_ms)
        total_ms = (end - start) * 1e3
        shown = prepared.height * prepared.width  # the image's own pixels, not the padded tensor's
        headers = self._account(family, decision, budget_ms, total_ms=total_ms, model_ms=model_ms, pixels=shown)
        # Where the time went, for browsers' developer tools and curious clients.
        timings = {"decode": pre_ms, "wait": max(0.0, model_ms - service_ms), "model": service_ms, "encode": post_ms}
        headers["Server-Timing"] = ", ".join(f"{name};dur={ms:.2f}" for name, ms in timings.items())
        return Translation(body, images.MEDIA_TYPES[fmt], headers)

    def _plan(self, family: str, height: int, width: int, multiple: int) -> list[Tile]:
        """The tiles of an image. Where the family's tiles would share a copy's statistics, an image no larger than
        the copy runs whole: the same memory as the copy's pass, one inference instead of two and more, and
        exactly the whole image's answer."""
        shares = all(v.card.tile_statistics == "image" for v in self.catalog.variants(family).values())
        if shares and height * width <= self.settings.statistics_size**2:
            return [Tile(0, 0, height, width)]
        tile = max(multiple, self.settings.tile_size // multiple * multiple)
        return plan_tiles(height, width, tile, self.settings.tile_overlap)

    def _protect_tight_budgets(
        self, family: str, budget_ms: float | None, pixels: int, candidates: list[RouteCandidate]
    ) -> float | None:
        """The longest service time that still lets the tightest budget asked for lately (`budget_ms` among them)
        be met behind it; None when no budget needs protecting."""
        now = time.monotonic()
        recent = self.recent_budgets.setdefault(family, deque())
        if budget_ms is not None:
            recent.append((now, budget_ms))
        while recent and recent[0][0] < now - TIGHT_BUDGET_MEMORY_S:
            recent.popleft()
        healthy = [c.alone_ms for c in candidates if c.healthy]
        if not healthy:
            return None
        overhead = self.estimates.overhead_ms(PRE, pixels) + self.estimates.overhead_ms(POST, pixels)
        # What the fastest variant needs with the cores to itself: its tail under load would call a budget it
        # meets alone unmeetable, and stop protecting it just when the load makes it miss.
        floor = overhead + min(healthy)
        meetable = [b for _, b in recent if b > floor]  # a budget nothing can meet is not worth protecting
        return min(meetable) - floor if meetable else None

    async def _infer(
        self,
        family: str,
        decision: Decision,
        x: np.ndarray,
        tiles: list[Tile],
        work: Work,
        copy_shape: tuple[int, int],
        spread: bool,
    ) -> tuple:
        """The output, the time from submission to answer, and the model's own service time (ms): one inference
        of the whole image, or one per tile, blended (after one of the copy whose statistics they share, where
        the variant's card says so); `spread`: it may use every core when it runs alone."""
        backend = self.backends[decision.backend]
        served = self.catalog.variants(family)[decision.variant]
        model, work = served.model, _work_of(served.card, work)
        ticket = self.estimates.begin(decision.backend, self.estimates.work_ms(model, decision.backend, work, 0.5) or 0)
        start, service_ms = time.perf_counter(), 0.0
        try:
            if len(tiles) == 1:
                output, service_ms = await backend.infer(model, x, spread)
                self.estimates.record(model, decision.backend, tiles[0].pixels, service_ms)
            else:
                statistics = None
                if work.statistics_pixels:
                    copy = await run_in_threadpool(statistics_copy, x, *copy_shape)
                    statistics, service_ms = await backend.statistics(model, copy, spread)
                    self.estimates.record(model, decision.backend, work.statistics_pixels, service_ms)
                blender = Blender(x.shape[1], x.shape[2], x.shape[3], self.settings.tile_overlap)
                for tile in tiles:
                    rows, cols = tile.region()
                    part, part_ms = await backend.infer(
                        model, np.ascontiguousarray(x[:, :, rows, cols]), spread, statistics
                    )
                    self.estimates.record(model, decision.backend, tile.pixels, part_ms)
                    blender.add(tile, part)
                    service_ms += part_ms
                output = blender.result()
        finally:
            self.estimates.end(ticket)
        return output, (time.perf_counter() - start) * 1e3, service_ms

    def _account(
        self, family: str, decision: Decision, budget_ms, *, total_ms: float, model_ms: float, pixels: int
    ) -> dict:
        labels = (family, decision.variant, decision.backend, self.backends[decision.backend].hardware)
        metrics.REQUEST_LATENCY.labels(*labels).observe(total_ms / 1e3)
        metrics.INFERENCE_LATENCY.labels(*labels).observe(model_ms / 1e3)
        metrics.REQUESTS.labels(*labels, "200").inc()
        metrics.PIXELS.labels(*labels).inc(pixels)
        metrics.DECISIONS.labels(family, decision.variant, decision.backend, decision.reason).inc()
        headers = {
            "X-Ganc-Variant": decision.variant,
            "X-Ganc-Version": str(self.catalog.variants(family)[decision.variant].version),
            "X-Ganc-Backend": decision.backend,
            "X-Ganc-Latency-Ms": f"{total_ms:.2f}",
        }
        if budget_ms is not None:
            met = total_ms <= budget_ms
            metrics.BUDGET_REQUESTS.labels(*labels).inc()
            if not met:
                metrics.BUDGET_MISSES.labels(*labels).inc()
            headers["X-Ganc-Budget-Met"] = "true" if met else "false"
            if decision.reason == "fastest_miss":
                headers["X-Ganc-Budget-Note"] = "no variant was predicted to fit the budget; the fastest served"
        return headers

    def _remeasuring_first(self, family: str, order: list[Decision], cap_ms: float) -> list[Decision]:
        variants = self.catalog.variants(family)

        def stale(c: RouteCandidate) -> bool:
            model = variants[c.variant].model
            return c.predicted_ms <= cap_ms and self.estimates.stale(model, c.backend, self.settings.remeasure_s)

        order = remeasuring_first(order, stale)
        if order and order[0].reason == "remeasure":
            self.estimates.remeasuring(variants[order[0].variant].model, order[0].backend)
        return order

    def _mark_down(self, name: str) -> None:
        self.health[name].failed()
        metrics.BACKEND_UP.labels(name, self.backends[name].hardware).set(0)

    def _probe_due_backends(self) -> None:
        for name, health in self.health.items():
            if health.due():
                health.next_probe = float("inf")  # one probe at a time
                probe = asyncio.get_running_loop().create_task(self._probe(name))
                self.probes.add(probe)
                probe.add_done_callback(self.probes.discard)

    async def check_backends(self) -> None:
        """At start-up: a backend that does not answer is listed as down from the start, and probed."""
        for name, backend in self.backends.items():
            if not await backend.healthy():
                self._mark_down(name)

    async def close(self) -> None:
        """Cancel the probes still running, and wait for them to end."""
        for probe in list(self.probes):
            probe.cancel()
        await asyncio.gather(*self.probes, return_exceptions=True)

    async def _probe(self, name: str) -> None:
        recovered = False
        try:
            recovered = await self.backends[name].healthy()
        finally:  # whatever happens, the next probe is scheduled
            if recovered:
                self.health[name].recovered()
                metrics.BACKEND_UP.labels(name, self.backends[name].hardware).set(1)
            else:
                self.health[name].failed()


def _work_of(card: VariantCard, work: Work) -> Work:
    """`work` as this variant does it: the copy's statistics pass only where its tiles share them."""
    return work if card.tile_statistics == "image" else dataclasses.replace(work, statistics_pixels=0)

"""Live latency estimates per (variant, backend, size bucket), the gateway's own overhead, and the work in flight.

Each key keeps a window of recent service times (measured where the backend runs the model, not
counting its queue); the tail estimate is the window's p95, and its low quantile ALONE what the
model takes with the cores to itself. Buckets are powers of two of the padded pixel count. A
bucket with no samples is interpolated (or extrapolated) linearly in pixels from the two nearest
measured buckets, which keeps a backend's fixed overhead from being scaled with the image; with
one measured bucket it is scaled by the pixel ratio.

The gateway's overhead around the model (decoding and preparing before, cropping and encoding after)
is estimated the same way, so that predictions are of the latency the client sees.

Work in flight: every request admitted to a backend registers its expected service time. A new
request waits for the remaining work ahead of it, spread over the backend's concurrency.
Not thread-safe by itself: the gateway updates it from the event loop only.
"""

import itertools
import math
import time
from collections import deque
from dataclasses import dataclass, field

WINDOW = 64
TAIL = 0.95
ALONE = 0.1  # a service time the model reaches when nothing else runs beside it
PRE, POST = "(decode)", "(encode)"  # the gateway's overhead before and after the model
GATEWAY = "gateway"


def size_bucket(pixels: int) -> int:
    return max(0, math.ceil(math.log2(max(pixels, 1))))


def percentile(values: list[float], q: float, presorted: bool = False) -> float:
    ordered = values if presorted else sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass(frozen=True)
class Work:
    """What a request asks of a backend: `calls` inferences of `pixels_per_call` each (tiles), for an image
    of `image_pixels` (what decoding and encoding cost), after one inference of `statistics_pixels` (the copy
    whose statistics the tiles share; 0 for none)."""

    pixels_per_call: int
    calls: int
    image_pixels: int
    statistics_pixels: int = 0


@dataclass
class _Admitted:
    backend: str
    expected_ms: float
    started: float


@dataclass
class LatencyEstimates:
    window: int = WINDOW
    samples: dict[tuple[str, str], dict[int, deque]] = field(default_factory=dict)
    work: dict[int, _Admitted] = field(default_factory=dict)
    measured_at: dict[tuple[str, str], float] = field(default_factory=dict)  # monotonic, or when a remeasure went
    _sorted: dict[tuple[str, str, int], list[float]] = field(default_factory=dict)
    _tickets: itertools.count = field(default_factory=itertools.count)

    def record(self, variant: str, backend: str, pixels: int, ms: float) -> None:
        bucket = size_bucket(pixels)
        buckets = self.samples.setdefault((variant, backend), {})
        buckets.setdefault(bucket, deque(maxlen=self.window)).append(ms)
        self._sorted.pop((variant, backend, bucket), None)
        self.measured_at[(variant, backend)] = time.monotonic()

    def stale(self, variant: str, backend: str, after_s: float) -> bool:
        """Whether `variant` on `backend` was measured (or sent a request to be) more than `after_s` ago."""
        return time.monotonic() - self.measured_at.get((variant, backend), -math.inf) > after_s

    def remeasuring(self, variant: str, backend: str) -> None:
        """A request went to measure `variant` on `backend` again: not stale while it runs."""
        self.measured_at[(variant, backend)] = time.monotonic()

    def record_overhead(self, stage: str, pixels: int, ms: float) -> None:
        """`stage` is PRE or POST: the gateway's own time before or after the model."""
        self.record(stage, GATEWAY, pixels, ms)

    def _quantile(self, variant: str, backend: str, bucket: int, q: float) -> float:
        key = (variant, backend, bucket)
        ordered = self._sorted.get(key)
        if ordered is None:  # sorted once per new sample, not once per request and candidate
            ordered = self._sorted[key] = sorted(self.samples[(variant, backend)][bucket])
        return percentile(ordered, q, presorted=True)

    def service_ms(self, variant: str, backend: str, pixels: int, q: float = TAIL) -> float | None:
        """The q-quantile of recent service times at this size, or None when nothing was ever measured."""
        buckets = self.samples.get((variant, backend))
        if not buckets:
            return None
        bucket = size_bucket(pixels)
        if bucket in buckets:
            return self._quantile(variant, backend, bucket, q)
        known = {b: self._quantile(variant, backend, b, q) for b in buckets}
        nearest = sorted(known, key=lambda b: (abs(b - bucket), b))[:2]
        if len(nearest) == 1:
            return known[nearest[0]] * 2.0 ** (bucket - nearest[0])
        (b1, b2) = sorted(nearest)
        slope = (known[b2] - known[b1]) / (2.0**b2 - 2.0**b1)
        return max(known[b1] + slope * (2.0**bucket - 2.0**b1), min(known.values()) * 0.5)

    def overhead_ms(self, stage: str, pixels: int) -> float:
        return self.service_ms(stage, GATEWAY, pixels) or 0.0

    def begin(self, backend: str, expected_ms: float) -> int:
        """Register a request's work on `backend`; returns the ticket that `end` takes."""
        ticket = next(self._tickets)
        self.work[ticket] = _Admitted(backend, expected_ms, time.monotonic())
        return ticket

    def end(self, ticket: int) -> None:
        self.work.pop(ticket, None)

    def wait_ms(self, backend: str, concurrency: int) -> float:
        """Expected wait for a request admitted now: the work ahead of it beyond the backend's concurrency.

        The oldest `concurrency` requests are taken as running since they were admitted (their
        remaining time shrinks as they run); later ones wait in the queue with all of their work.
        """
        ahead = sorted((w for w in self.work.values() if w.backend == backend), key=lambda w: w.started)
        if len(ahead) < concurrency:
            return 0.0
        now = time.monotonic()
        running = sum(max(w.expected_ms - (now - w.started) * 1e3, 0.0) for w in ahead[:concurrency])
        queued = sum(w.expected_ms for w in ahead[concurrency:])
        return (running + queued) / concurrency

    def work_ms(self, variant: str, backend: str, work: Work, q: float = TAIL) -> float | None:
        """The q-quantile service time of all of `work`'s inferences, or None when nothing was ever measured."""
        per_call = self.service_ms(variant, backend, work.pixels_per_call, q)
        if per_call is None:
            return None
        # The statistics form is the generator up to its last norm: timed as the whole one at the copy's size.
        first = self.service_ms(variant, backend, work.statistics_pixels, q) if work.statistics_pixels else 0.0
        return first + work.calls * per_call

    def predict_ms(self, variant: str, backend: str, work: Work, concurrency: int) -> float | None:
        """From now until the answer is encoded: the wait, the tail service time of every call, and the encoding."""
        service = self.work_ms(variant, backend, work)
        if service is None:
            return None
        return self.wait_ms(backend, concurrency) + service + self.overhead_ms(POST, work.image_pixels)

    def percentiles(self, variant: str, backend: str) -> dict[str, float]:
        values = [ms for window in self.samples.get((variant, backend), {}).values() for ms in window]
        if not values:
            return {}
        return {"p50_ms": round(percentile(values, 0.5), 3), "p95_ms": round(percentile(values, 0.95), 3)}

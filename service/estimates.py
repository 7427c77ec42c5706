"""Live latency estimates per (variant, backend, size bucket), and the queueing delay of requests in flight.

Each key keeps a window of recent service times; the tail estimate is the window's p95. Buckets are
powers of two of the padded pixel count. A bucket with no samples is interpolated (or extrapolated)
linearly in pixels from the two nearest measured buckets, which keeps a backend's fixed overhead
from being scaled with the image; with one measured bucket it is scaled by the pixel ratio.
Requests in flight on a backend add their expected service time divided by the backend's concurrency.
Not thread-safe by itself: the gateway updates it from the event loop only.
"""

import math
from collections import defaultdict, deque
from dataclasses import dataclass, field

WINDOW = 64
TAIL = 0.95


def size_bucket(pixels: int) -> int:
    return max(0, math.ceil(math.log2(max(pixels, 1))))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


@dataclass
class LatencyEstimates:
    window: int = WINDOW
    samples: dict[tuple[str, str, int], deque] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def record(self, variant: str, backend: str, pixels: int, ms: float) -> None:
        key = (variant, backend, size_bucket(pixels))
        self.samples.setdefault(key, deque(maxlen=self.window)).append(ms)

    def service_ms(self, variant: str, backend: str, pixels: int, q: float = TAIL) -> float | None:
        """The q-quantile of recent service times at this size, or None when nothing was ever measured."""
        bucket = size_bucket(pixels)
        known = {
            b: percentile(list(s), q) for (v, be, b), s in self.samples.items() if v == variant and be == backend and s
        }
        if not known:
            return None
        if bucket in known:
            return known[bucket]
        nearest = sorted(known, key=lambda b: (abs(b - bucket), b))[:2]
        if len(nearest) == 1:
            return known[nearest[0]] * 2.0 ** (bucket - nearest[0])
        (b1, b2) = sorted(nearest)
        slope = (known[b2] - known[b1]) / (2.0**b2 - 2.0**b1)
        return max(known[b1] + slope * (2.0**bucket - 2.0**b1), min(known.values()) * 0.5)

    def predict_ms(self, variant: str, backend: str, pixels: int, concurrency: int) -> float | None:
        """Tail service time plus the wait behind requests already in flight on the backend."""
        tail = self.service_ms(variant, backend, pixels)
        if tail is None:
            return None
        median = self.service_ms(variant, backend, pixels, 0.5) or tail
        waiting = max(0, self.in_flight[backend] - concurrency + 1)
        return tail + waiting * median / max(1, concurrency)

    def percentiles(self, variant: str, backend: str) -> dict[str, float]:
        values = [ms for (v, be, _b), s in self.samples.items() if v == variant and be == backend for ms in s]
        if not values:
            return {}
        return {"p50_ms": round(percentile(values, 0.5), 3), "p95_ms": round(percentile(values, 0.95), 3)}

"""Backend health: a backend that fails is marked down and probed again with exponential backoff."""

import time
from dataclasses import dataclass, field


@dataclass
class BackendHealth:
    backoff_s: float
    backoff_max_s: float
    healthy: bool = True
    failures: int = 0
    next_probe: float = 0.0
    clock: object = field(default=time.monotonic, repr=False)

    def failed(self) -> None:
        self.healthy = False
        self.failures += 1
        wait = min(self.backoff_max_s, self.backoff_s * 2 ** (self.failures - 1))
        self.next_probe = self.clock() + wait

    def recovered(self) -> None:
        self.healthy, self.failures, self.next_probe = True, 0, 0.0

    def due(self) -> bool:
        return not self.healthy and self.clock() >= self.next_probe

from service.health import BackendHealth


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_failed_backend_is_probed_again_with_exponential_backoff():
    clock = Clock()
    health = BackendHealth(backoff_s=1.0, backoff_max_s=5.0, clock=clock)
    assert health.healthy and not health.due()
    waits = []
    for _ in range(5):
        health.failed()
        waits.append(health.next_probe - clock.now)
    assert waits == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert not health.due()
    clock.now += 5.0
    assert health.due()
    health.recovered()
    assert health.healthy and health.failures == 0 and not health.due()

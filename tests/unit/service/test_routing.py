from service.estimates import LatencyEstimates, size_bucket
from service.routing import Candidate, choose, ranked

TEACHER = Candidate("teacher", "cpu", quality=30.0, predicted_ms=700)
MEDIUM = Candidate("student-32", "cpu", quality=29.6, predicted_ms=90)
SMALL = Candidate("student-8", "cpu", quality=29.0, predicted_ms=25)
GPU_TEACHER = Candidate("teacher", "triton", quality=30.0, predicted_ms=40)


def test_router_picks_best_quality_without_a_budget():
    decision = choose([SMALL, TEACHER, MEDIUM], None)
    assert decision.variant == "teacher" and decision.reason == "best_quality" and decision.budget_met is None


def test_router_picks_the_best_quality_that_fits_the_budget():
    decision = choose([SMALL, TEACHER, MEDIUM], 100)
    assert decision.variant == "student-32" and decision.reason == "fits_budget" and decision.budget_met


def test_router_prefers_the_faster_backend_at_equal_quality():
    decision = choose([TEACHER, GPU_TEACHER, MEDIUM], 1000)
    assert (decision.variant, decision.backend) == ("teacher", "triton")


def test_router_picks_fastest_when_nothing_fits():
    decision = choose([SMALL, TEACHER, MEDIUM], 10)
    assert decision.variant == "student-8" and decision.reason == "fastest_miss" and decision.budget_met is False


def test_router_ignores_unhealthy_candidates_and_gives_up_when_none_is_left():
    down = Candidate("teacher", "triton", 30.0, 40, healthy=False)
    assert choose([down, MEDIUM], 50).variant == "student-32"
    assert choose([down], None) is None


def test_ranked_gives_the_retry_order():
    order = [(d.variant, d.backend) for d in ranked([SMALL, TEACHER, MEDIUM, GPU_TEACHER], 100)]
    assert order == [("teacher", "triton"), ("student-32", "cpu"), ("student-8", "cpu"), ("teacher", "cpu")]


def test_estimates_track_the_tail_scale_by_size_and_add_queueing():
    estimates = LatencyEstimates()
    assert estimates.predict_ms("v", "cpu", 256 * 256, concurrency=1) is None
    for ms in [10.0] * 19 + [30.0]:
        estimates.record("v", "cpu", 256 * 256, ms)
    assert estimates.service_ms("v", "cpu", 256 * 256) == 10.0
    assert estimates.service_ms("v", "cpu", 256 * 256, 0.99) == 30.0
    assert estimates.service_ms("v", "cpu", 512 * 512) == 40.0  # one measured bucket: scaled by the pixel ratio
    estimates.in_flight["cpu"] = 3
    assert estimates.predict_ms("v", "cpu", 256 * 256, concurrency=1) == 10.0 + 3 * 10.0
    assert estimates.predict_ms("v", "cpu", 256 * 256, concurrency=4) == 10.0
    assert estimates.percentiles("v", "cpu") == {"p50_ms": 10.0, "p95_ms": 10.0}
    assert size_bucket(256 * 256) == 16


def test_estimates_interpolate_between_measured_sizes_keeping_the_overhead():
    estimates = LatencyEstimates()
    estimates.record("v", "triton", 2**10, 5.0)  # 5 ms of overhead at a tiny size
    estimates.record("v", "triton", 2**16, 11.3)
    assert abs(estimates.service_ms("v", "triton", 2**14) - (5.0 + 6.3 * (2**14 - 2**10) / (2**16 - 2**10))) < 1e-9
    assert estimates.service_ms("v", "triton", 2**12) < 2 * 5.0  # not 4x the tiny size's time

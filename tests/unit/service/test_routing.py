from service.estimates import POST, LatencyEstimates, Work, size_bucket
from service.routing import RouteCandidate, choose, ranked, remeasuring_first

TEACHER = RouteCandidate("teacher", "cpu", quality=30.0, predicted_ms=700, service_ms=690)
MEDIUM = RouteCandidate("student-32", "cpu", quality=29.6, predicted_ms=90, service_ms=80)
SMALL = RouteCandidate("student-8", "cpu", quality=29.0, predicted_ms=25, service_ms=20)
GPU_TEACHER = RouteCandidate("teacher", "triton", quality=30.0, predicted_ms=40, service_ms=30)
WHOLE_256 = Work(pixels_per_call=256 * 256, calls=1, image_pixels=256 * 256)


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
    down = RouteCandidate("teacher", "triton", 30.0, 40, healthy=False)
    assert choose([down, MEDIUM], 50).variant == "student-32"
    assert choose([down], None) is None


def test_ranked_gives_the_retry_order():
    order = [(d.variant, d.backend) for d in ranked([SMALL, TEACHER, MEDIUM, GPU_TEACHER], 100)]
    assert order == [("teacher", "triton"), ("student-32", "cpu"), ("student-8", "cpu"), ("teacher", "cpu")]


def test_router_keeps_long_requests_off_a_backend_that_tighter_budgets_share():
    # 1000 ms fits the teacher, but a 100 ms request arriving behind it would wait ~690 ms.
    decision = choose([SMALL, TEACHER, MEDIUM], 1000, max_service_ms=75)
    assert decision.variant == "student-8" and decision.reason == "fits_budget"
    assert choose([SMALL, TEACHER, MEDIUM], 1000, max_service_ms=85).variant == "student-32"
    # When nothing is short enough, the shortest that fits the request's own budget serves it.
    assert choose([TEACHER, MEDIUM], 1000, max_service_ms=5).variant == "student-32"
    # Without a budget the request asks for the best quality, and gets it.
    assert choose([SMALL, TEACHER, MEDIUM], None, max_service_ms=75).variant == "teacher"


def test_estimates_track_the_tail_and_scale_by_size():
    estimates = LatencyEstimates()
    assert estimates.predict_ms("v", "cpu", WHOLE_256, concurrency=1) is None
    for ms in [10.0] * 19 + [30.0]:
        estimates.record("v", "cpu", 256 * 256, ms)
    assert estimates.service_ms("v", "cpu", 256 * 256) == 10.0
    assert estimates.service_ms("v", "cpu", 256 * 256, 0.99) == 30.0
    assert estimates.service_ms("v", "cpu", 512 * 512) == 40.0  # one measured bucket: scaled by the pixel ratio
    assert estimates.predict_ms("v", "cpu", WHOLE_256, concurrency=1) == 10.0
    estimates.record_overhead(POST, 256 * 256, 2.0)
    assert estimates.predict_ms("v", "cpu", WHOLE_256, concurrency=1) == 12.0  # the encoding counts too
    assert estimates.percentiles("v", "cpu") == {"p50_ms": 10.0, "p95_ms": 10.0}
    assert size_bucket(256 * 256) == 16


def test_estimates_add_the_work_in_flight_ahead_of_a_request():
    estimates = LatencyEstimates()
    estimates.record("v", "cpu", 256 * 256, 10.0)
    long = estimates.begin("cpu", 600.0)
    assert estimates.wait_ms("cpu", concurrency=2) == 0.0  # a second slot is free
    assert 590.0 < estimates.wait_ms("cpu", concurrency=1) <= 600.0
    estimates.begin("cpu", 50.0)
    estimates.begin("triton", 1000.0)
    assert 640.0 < estimates.predict_ms("v", "cpu", WHOLE_256, concurrency=1) <= 660.0
    assert sum(w.backend == "cpu" for w in estimates.work.values()) == 2
    estimates.end(long)
    assert estimates.wait_ms("cpu", concurrency=1) <= 50.0
    estimates.work[next(iter(estimates.work))].started -= 1.0  # the 50 ms request has overrun its estimate
    assert estimates.wait_ms("cpu", concurrency=1) == 0.0


def test_an_image_in_tiles_is_predicted_from_its_tiles():
    estimates = LatencyEstimates()
    estimates.record("v", "cpu", 512 * 512, 100.0)
    estimates.record_overhead(POST, 2048 * 1536, 30.0)
    twelve_tiles = Work(pixels_per_call=512 * 512, calls=12, image_pixels=2048 * 1536)
    assert estimates.predict_ms("v", "cpu", twelve_tiles, concurrency=1) == 12 * 100.0 + 30.0


def test_tiles_that_share_a_copys_statistics_are_predicted_with_the_copys_pass():
    estimates = LatencyEstimates()
    estimates.record("v", "cpu", 512 * 512, 100.0)
    estimates.record("v", "cpu", 768 * 576, 220.0)
    twelve_tiles = Work(512 * 512, calls=12, image_pixels=2048 * 1536, statistics_pixels=768 * 576)
    assert estimates.work_ms("v", "cpu", twelve_tiles) == 220.0 + 12 * 100.0
    assert estimates.predict_ms("v", "cpu", twelve_tiles, concurrency=1) == 220.0 + 12 * 100.0


def test_estimates_interpolate_between_measured_sizes_keeping_the_overhead():
    estimates = LatencyEstimates()
    estimates.record("v", "triton", 2**10, 5.0)  # 5 ms of overhead at a tiny size
    estimates.record("v", "triton", 2**16, 11.3)
    assert abs(estimates.service_ms("v", "triton", 2**14) - (5.0 + 6.3 * (2**14 - 2**10) / (2**16 - 2**10))) < 1e-9
    assert estimates.service_ms("v", "triton", 2**12) < 2 * 5.0  # not 4x the tiny size's time


def test_without_a_budget_the_best_variant_within_the_servers_cap():
    assert choose([SMALL, TEACHER, MEDIUM], None, cap_ms=500).variant == "student-32"
    over = choose([SMALL, TEACHER, MEDIUM], None, cap_ms=10)
    assert over.variant == "student-8" and over.reason == "fastest_over_cap" and over.budget_met is None


def test_a_request_without_a_budget_goes_to_the_same_variant_where_its_estimate_went_stale():
    order = ranked([TEACHER, GPU_TEACHER, MEDIUM], None)
    assert [d.backend for d in order[:2]] == ["triton", "cpu"]
    remeasured = remeasuring_first(order, lambda c: c.backend == "cpu")
    assert [(d.variant, d.backend, d.reason) for d in remeasured[:2]] == [
        ("teacher", "cpu", "remeasure"),
        ("teacher", "triton", "best_quality"),
    ]
    assert len(remeasured) == len(order)
    assert remeasuring_first(order, lambda c: False) == order
    # Another variant is another quality: never taken to remeasure. Nor is a request with a budget moved.
    assert remeasuring_first(order, lambda c: c.variant == "student-32") == order
    budgeted = ranked([TEACHER, GPU_TEACHER, MEDIUM], 1000)
    assert remeasuring_first(budgeted, lambda c: True) == budgeted


def test_an_estimate_is_stale_when_nothing_measured_it_for_a_while():
    estimates = LatencyEstimates()
    assert estimates.stale("m", "cpu", 60.0)  # never measured
    estimates.record("m", "cpu", 64 * 64, 5.0)
    assert not estimates.stale("m", "cpu", 60.0) and estimates.stale("m", "cpu", -1.0)
    estimates.remeasuring("m", "triton")  # a request went to measure it: not stale while it runs
    assert not estimates.stale("m", "triton", 60.0)

import json
import random

import pytest
import torch

from compression.export import export_onnx
from compression.metrics import count_macs, evaluate_generator
from compression.models import ChannelConfig, SuperMobileResnetGenerator, build_model, get_choice_set
from compression.progress import no_progress
from compression.search import (
    Judge,
    LatencyTarget,
    SearchCandidate,
    SearchError,
    TargetUnavailableError,
    check_budgets_reachable,
    choose_ladder,
    pareto_front,
    subnet_cost,
)
from compression.search.search import Evaluator, _latency_model
from ganc.spec import SearchSpec


@pytest.mark.parametrize("config", ["16_16_32_16_32_32_16_16", "8_16_24_32_40_48_56_64", "48_32_40_40_32_48_16_24"])
def test_closed_form_cost_equals_the_counters(config):
    counted = count_macs(build_model("sub_mobile_resnet", config=config), 128)
    cost = subnet_cost(ChannelConfig.parse(config), 9, 128)
    assert cost.macs_paper == counted.macs
    assert cost.macs_real == counted.macs_real


def _candidate(config, macs, score, latency=1.0):
    return SearchCandidate(config, macs, macs, latency, {"psnr": score}, score)


def test_pareto_front_keeps_only_undominated_candidates():
    candidates = [
        _candidate("a", 1, 20.0),
        _candidate("b", 2, 19.0),
        _candidate("c", 3, 21.0),
        _candidate("d", 3, 20.5),
    ]
    assert [c.config for c in pareto_front(candidates, "macs")] == ["a", "c"]


def test_ladder_takes_the_best_within_each_budget():
    candidates = [_candidate("a", 1, 20.0), _candidate("b", 2, 19.0), _candidate("c", 3, 21.0)]
    assert [c.config for c in choose_ladder(candidates, [1.5, 3.5], "macs")] == ["a", "c"]


def test_a_budget_whose_best_is_a_smaller_budgets_variant_takes_the_best_of_its_own_room():
    candidates = [_candidate("a", 1, 20.0), _candidate("b", 2, 19.0), _candidate("c", 2.2, 18.0)]
    assert [c.config for c in choose_ladder(candidates, [1.5, 2.5], "macs")] == ["a", "b"]
    with pytest.raises(SearchError, match="more than 1.5 and at most 1.8"):
        choose_ladder(candidates, [1.5, 1.8], "macs")
    with pytest.raises(SearchError, match="no evaluated sub-network fits"):
        choose_ladder(candidates, [0.5], "macs")


def test_budgets_that_nothing_meets_are_refused_before_any_work():
    choice_set = get_choice_set("channels-32")
    with pytest.raises(SearchError, match="smallest .* needs"):
        check_budgets_reachable(choice_set, 9, SearchSpec(macs_budgets=[1e8]))
    with pytest.raises(SearchError, match="smallest .* needs 12 ms"):
        check_budgets_reachable(choice_set, 9, SearchSpec(latency_budgets_ms=[5]), smallest_latency_ms=12.0)
    check_budgets_reachable(choice_set, 9, SearchSpec(macs_budgets=[2e9, 5e9]))


def test_a_target_that_is_not_here_is_refused():
    with pytest.raises(TargetUnavailableError, match="onnxruntime-cuda"):
        LatencyTarget(device="cuda").check_available()
    LatencyTarget(device="cpu").check_available()


@pytest.mark.parametrize("paired", [True, False])
def test_the_judge_scores_as_the_full_evaluation_does(paired):
    torch.manual_seed(0)
    teacher = build_model("resnet", ngf=8, n_blocks=3)
    student = build_model("mobile_resnet", ngf=8, n_blocks=3)
    pairs = [(f"p{i}", torch.rand(3, 32, 32) * 2 - 1, torch.rand(3, 32, 32) * 2 - 1) for i in range(5)]
    judge = Judge(pairs, teacher, paired)
    full = evaluate_generator(student, pairs, teacher, paired)
    scores = judge.quality(student)
    assert set(scores) == ({"psnr", "psnr_teacher"} if paired else {"psnr_teacher"})
    assert all(scores[k] == pytest.approx(full[k], abs=1e-9) for k in scores)
    summary = judge.teacher_summary(LatencyTarget(size=32))
    assert summary["latency_measured_ms"] > 0 and summary["macs"] == count_macs(teacher, 256).macs
    if paired:
        assert summary["score"] == pytest.approx(evaluate_generator(teacher, pairs)["psnr"], abs=1e-4)


def test_a_screening_judge_scores_the_first_images_against_the_same_references():
    torch.manual_seed(0)
    teacher = build_model("resnet", ngf=8, n_blocks=3)
    student = build_model("mobile_resnet", ngf=8, n_blocks=3)
    pairs = [(f"p{i}", torch.rand(3, 32, 32) * 2 - 1, torch.rand(3, 32, 32) * 2 - 1) for i in range(4)]
    judge = Judge(pairs, teacher, True)
    screening = judge.on_first(2)
    assert screening.references is not judge.references and len(screening.references) == 2
    assert screening.quality(student) == Judge(pairs[:2], teacher, True).quality(student)
    assert judge.on_first(None) is judge and judge.on_first(4) is judge


def test_finalists_are_each_budgets_best_and_its_best_that_need_more_than_the_budget_below(tmp_path):
    torch.manual_seed(0)
    choice_set = get_choice_set("channels-16")
    supernet = SuperMobileResnetGenerator(ngf=16, n_blocks=3, choice_set=choice_set).eval()
    teacher = build_model("resnet", ngf=8, n_blocks=3)
    pairs = [(f"p{i}", torch.rand(3, 32, 32) * 2 - 1, torch.rand(3, 32, 32) * 2 - 1) for i in range(3)]
    judge = Judge(pairs, teacher, True)
    evaluator = Evaluator(supernet, judge.on_first(1), None, tmp_path / "candidates.json")
    configs = list(choice_set.all_configs())[:14]
    for i, config in enumerate(configs):  # the screening ranks every cheap candidate above every costly one
        cost = i + 1 if i < 7 else i + 4
        evaluator.cache[str(config)] = SearchCandidate(
            str(config), cost, cost, float(cost), {"psnr": 50.0 - i}, 50.0 - i
        )
    spec = SearchSpec(macs_budgets=[8, 20], eval_images=3, screen_images=1)
    finalists = {c.config: c for c in evaluator.finalists(spec, judge)}
    assert set(finalists) == {str(configs[i]) for i in (0, 1, 2, 3, 4, 7, 8, 9, 10, 11)}
    supernet.set_config(configs[8])
    assert finalists[str(configs[8])].score == judge.quality(supernet)["psnr"]  # scored again, on all 3 images


def test_a_bf16_judge_runs_candidates_in_bf16_against_fp32_references():
    torch.manual_seed(0)
    teacher = build_model("resnet", ngf=8, n_blocks=3)
    student = build_model("mobile_resnet", ngf=8, n_blocks=3)
    pairs = [(f"p{i}", torch.rand(3, 32, 32) * 2 - 1, torch.rand(3, 32, 32) * 2 - 1) for i in range(3)]
    fp32, bf16 = Judge(pairs, teacher, True), Judge(pairs, teacher, True, "bf16")
    assert all(torch.equal(a, b) for a, b in zip(fp32.references, bf16.references))
    exact, rounded = fp32.quality(student), bf16.quality(student)
    assert rounded["psnr_teacher"] != exact["psnr_teacher"]
    assert all(rounded[k] == pytest.approx(exact[k], abs=0.5) for k in exact)


def test_measuring_sessions_do_not_spin_while_others_are_timed(tmp_path):
    export_onnx(build_model("mobile_resnet", ngf=8, n_blocks=3), tmp_path / "model.onnx")
    options = LatencyTarget(size=32).session(tmp_path / "model.onnx").get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == 2


def test_a_search_resumed_from_an_earlier_predictors_calibration_calibrates_and_evaluates_again(tmp_path):
    choice_set = get_choice_set("channels-16")
    supernet = SuperMobileResnetGenerator(ngf=16, n_blocks=3, choice_set=choice_set).eval()
    (tmp_path / "latency_model.json").write_text('{"intercept": 1.0, "coefficients": [0.1], "fit_error_pct": 2.0}')
    (tmp_path / "candidates.json").write_text("[]")
    spec = SearchSpec(latency_budgets_ms=[1000], size=32, calibration_samples=2)
    model = _latency_model(supernet, choice_set, spec, random.Random(0), out_dir=tmp_path, progress=no_progress)
    assert model.table and not (tmp_path / "candidates.json").exists()
    assert json.loads((tmp_path / "latency_model.json").read_text())["model"]["table"] == model.table

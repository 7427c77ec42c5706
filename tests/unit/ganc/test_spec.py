import pytest

from ganc.settings import Settings
from ganc.spec import SpecError, confine_to_roots, parse_spec, within_limits

GOOD = {"family": "sr4x", "task": "sr4x", "dataset": {"sample": "sr4x", "size": 64}, "search": {"macs_budgets": [2e9]}}


def test_a_good_spec_gets_the_reference_defaults():
    spec = parse_spec(GOOD)
    assert spec.search.population_size == 100 and spec.search.iterations == 500
    assert spec.search.mutate_prob == 0.2 and spec.search.parent_ratio == 0.25 and spec.search.mutation_ratio == 0.5
    assert spec.supernet.path == "fast" and spec.finetune.steps == 0


@pytest.mark.parametrize(
    "change, field",
    [
        ({"colour": "red"}, "colour"),
        ({"family": "../x"}, "family"),
        ({"teacher": {"steps": 0}}, "teacher.steps"),
        ({"teacher": {"n_blocks": 4}}, "teacher.n_blocks"),
        ({"teacher": {"lr": "fast"}}, "teacher.lr"),
        ({"dataset": {"sample": "sr4x", "path": "/data"}}, "dataset"),
        ({"dataset": {"sample": "horses"}}, "dataset.sample"),
        ({"search": {}}, "search"),
        ({"search": {"macs_budgets": [-1]}}, "search"),
        ({"search": {"macs_budgets": [1e9], "latency_budgets_ms": [10]}}, "either"),
        ({"teacher": {"arch": "unet"}}, "teacher.arch"),
        ({"search": {"macs_budgets": [1e9], "target": "tpu"}}, "search.target"),
        ({"supernet": {"path": "slow"}}, "supernet.path"),
        ({"supernet": {"student_init": "copied"}}, "supernet.student_init"),
        ({"search": {"macs_budgets": [1e9], "eval_images": 4, "screen_images": 4}}, "fewer than eval_images"),
        ({"soft_time_limit_s": 60, "time_limit_s": 30}, "soft_time_limit_s must be below"),
        ({"time_limit_s": 0}, "time_limit_s"),
        ({"teacher": {"lr": float("inf")}}, "teacher.lr"),
        ({"teacher": {"lr": 5}}, "teacher.lr"),
        ({"supernet": {"lambda_gan": float("nan")}}, "supernet.lambda_gan"),
        ({"search": {"macs_budgets": [float("nan")]}}, "search.macs_budgets"),
        ({"search": {"latency_budgets_ms": [float("inf")]}}, "search.latency_budgets_ms"),
        ({"seed": 2**40}, "seed"),
        ({"min_agreement_db": float("inf")}, "min_agreement_db"),
        ({"device": "gpu"}, "device"),
        ({"device": "cuda:x"}, "device"),
        ({"data_workers": -1}, "data_workers"),
        ({"finetune": {"steps": [100, 200]}}, "finetune.steps: 2 numbers for 1 search budgets"),
        ({"finetune": {"steps": [-1]}}, "finetune.steps"),
        ({"supernet": {"max_minutes": 0}}, "supernet.max_minutes"),
        ({"finetune": {"max_minutes": float("inf")}}, "finetune.max_minutes"),
    ],
)
def test_bad_specs_name_the_field(change, field):
    with pytest.raises(SpecError, match=f"spec: .*{field}"):
        parse_spec({**GOOD, **change})


def test_fine_tuning_steps_are_given_for_every_variant_or_per_budget_in_the_order_written():
    every = parse_spec({**GOOD, "search": {"macs_budgets": [6e9, 3e9]}, "finetune": {"steps": 500}})
    assert every.finetune_steps() == [500, 500]
    per_budget = {"search": {"macs_budgets": [6.5e9, 2.8e9, 4.5e9]}, "finetune": {"steps": [1500, 3000, 0]}}
    spec = parse_spec({**GOOD, **per_budget})
    assert spec.finetune_steps() == [3000, 0, 1500]  # the ladder's order: smallest budget first
    assert spec.finetune.for_variant(3000).steps == 3000 and spec.finetune.for_variant(3000).lr == spec.finetune.lr


def test_a_stages_time_limit_reaches_the_runs_it_trains():
    limited = {"supernet": {"max_minutes": 25}, "finetune": {"steps": [3000, 1500], "max_minutes": 75}}
    spec = parse_spec({**GOOD, "search": {"macs_budgets": [2e9, 4e9]}, **limited})
    assert spec.supernet.training().max_minutes == 25
    assert {spec.finetune.for_variant(steps).max_minutes for steps in spec.finetune_steps()} == {75}
    assert parse_spec(GOOD).supernet.training().max_minutes is None  # none unless asked: every step


@pytest.mark.parametrize("name", ["sr4x", "edges2photo", "vintage"])
def test_committed_specs_are_valid(name):
    from pathlib import Path

    from ganc.cli.compress import load_spec_file

    spec = load_spec_file(Path(__file__).parents[3] / "deploy" / "specs" / f"{name}.yaml")
    assert spec.family == name


def test_data_paths_are_resolved_inside_the_roots_and_refused_outside(tmp_path, monkeypatch):
    (tmp_path / "data" / "photos").mkdir(parents=True)
    (tmp_path / "data" / "link").symlink_to(tmp_path)
    monkeypatch.chdir(tmp_path)
    spec = parse_spec({**GOOD, "dataset": {"sample": "sr4x", "photos": "data/photos"}})
    confined = confine_to_roots(spec, [tmp_path / "data"])
    assert confined.dataset.photos == tmp_path / "data" / "photos"  # absolute, for workers anywhere
    for escape in ("data/../elsewhere", "data/link/elsewhere", "/etc"):
        spec = parse_spec({**GOOD, "dataset": {"sample": "sr4x", "photos": escape}})
        with pytest.raises(SpecError, match="dataset.photos: .* is outside the data roots"):
            confine_to_roots(spec, [tmp_path / "data"])
    assert confine_to_roots(parse_spec(GOOD), []) == parse_spec(GOOD)  # a sample set reads no path


def test_a_data_path_in_a_symlink_loop_is_refused_naming_the_field(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a").symlink_to(tmp_path / "data" / "b")
    (tmp_path / "data" / "b").symlink_to(tmp_path / "data" / "a")
    monkeypatch.chdir(tmp_path)
    spec = parse_spec({**GOOD, "dataset": {"sample": "sr4x", "photos": "data/a/photos"}})
    with pytest.raises(SpecError, match="dataset.photos: data/a/photos cannot be resolved"):
        confine_to_roots(spec, [tmp_path / "data"])


def test_a_server_takes_jobs_within_its_limits_only():
    settings = Settings(spec_max_steps=5000, spec_max_width=64, visibility_timeout_s=7200, job_time_limit_s=3600)
    assert within_limits(parse_spec(GOOD), settings).time_limit_s == 3600  # a job always has a time limit
    huge = {**GOOD, "teacher": {"steps": 10**12, "ngf": 100000}, "time_limit_s": 10**6}
    with pytest.raises(SpecError) as refused:
        within_limits(parse_spec(huge), settings)
    message = str(refused.value)
    assert "teacher.steps: 1000000000000 is above this server's limit of 5000 (GANC_SPEC_MAX_STEPS)" in message
    assert "teacher.ngf" in message and "GANC_VISIBILITY_TIMEOUT_S" in message


@pytest.mark.parametrize(
    "change, refusal",
    [
        ({"teacher": {"n_blocks": 3_000_000}}, "teacher.n_blocks: 3000000 is above this server's limit of 64"),
        ({"search": {"macs_budgets": [1e9], "threads": 100_000}}, "search.threads: 100000 is above"),
        ({"search": {"macs_budgets": [1e9], "exhaustive_limit": 10**9}}, "search.exhaustive_limit"),
        ({"search": {"macs_budgets": [1e9], "calibration_samples": 10**6}}, "search.calibration_samples"),
        ({"int8": {"calibration_images": 10**6}}, "int8.calibration_images"),
        ({"search": {"macs_budgets": [1e9 * k for k in range(1, 40)]}}, "search budgets (one variant each): 39"),
        ({"task": "x" * 10_000_000}, "task: 10000000 characters, above this server's limit of 1024"),
        ({"supernet": {"lambda_distill": 1e30}}, "supernet.lambda_distill"),
        ({"teacher": {"every": 10**12}}, "teacher.every"),
        (
            {"search": {"macs_budgets": [1e9, 2e9]}, "finetune": {"steps": [10, 10**12]}},
            "finetune.steps: 1000000000000 is",
        ),
    ],
)
def test_every_field_is_bounded_by_the_servers_limits(change, refusal):
    with pytest.raises(SpecError, match=refusal.replace("(", r"\(").replace(")", r"\)")):
        within_limits(parse_spec({**GOOD, **change}), Settings())


def test_fields_each_within_range_are_refused_when_together_they_pass_a_workers_memory():
    # Every field within its own limit (batch 256, crop 4096): 51 GB of images alone, far more in activations.
    huge = {**GOOD, "dataset": {"sample": "sr4x", "size": 4096}, "teacher": {"batch_size": 256}}
    with pytest.raises(
        SpecError, match=r"teacher.batch_size: 256 images of 4096 px would need about .* MB on a worker"
    ):
        within_limits(parse_spec(huge), Settings())
    assert within_limits(parse_spec(GOOD), Settings(worker_memory_mb=1000))  # 64 px, batch 4: tens of MB
    with pytest.raises(SpecError, match="GANC_WORKER_MEMORY_MB"):
        within_limits(parse_spec({**GOOD, "dataset": {"sample": "sr4x", "size": 512}}), Settings(worker_memory_mb=100))

import copy
import csv
import dataclasses
import json
import shutil

import pytest
import torch

from compression.checkpoint import load_checkpoint, load_generator
from compression.data import build_sample_dataset
from compression.models import ModelSpec, SuperMobileResnetGenerator, get_choice_set
from compression.models.resnet import ResnetGenerator
from compression.models.weight_transfer import transfer_by_l1
from compression.training import (
    DataConfig,
    DistillRun,
    TeacherRun,
    load_teacher,
    train_distill,
    train_distill_side_by_side,
    train_teacher,
)
from compression.training.data import open_splits
from compression.training.distill import DistillTrainer
from compression.training.losses import distillation_loss, reconstruction_loss
from compression.training.time_limit import DECISION_FILE, REPLAN_STEPS, TIMED_STEPS, UNTIMED_STEPS, TimeLimit
from ganc.spec import TeacherSpec, TrainingSpec


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    build_sample_dataset("sr4x", 32, root / "sr4x")
    build_sample_dataset("gray2color", 32, root / "g2c")
    return root


def _training(steps, every=None, batch_size=2, **kwargs):
    return TrainingSpec(steps=steps, batch_size=batch_size, every=every or steps, **kwargs)


def _teacher_run(out, dataset, steps=20, every=None, model="pix2pix", residual=False, precision="fp32"):
    teacher = TeacherSpec(
        model=model,
        ngf=8,
        n_blocks=3,
        ndf=8,
        residual=residual,
        steps=steps,
        batch_size=2,
        every=every or steps,
        precision=precision,
    )
    return TeacherRun(out=out, data=DataConfig(dataset=dataset, val_limit=4), teacher=teacher)


@pytest.fixture(scope="module")
def teacher_run(datasets, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "teacher"
    train_teacher(_teacher_run(out, datasets / "sr4x", steps=40))
    return out


def _column(path, name):
    with open(path) as handle:
        return [float(row[name]) for row in csv.DictReader(handle)]


def test_pix2pix_teacher_learns_and_writes_its_run(teacher_run):
    l1 = _column(teacher_run / "train_log.csv", "g_l1")
    assert len(l1) == 40
    assert sum(l1[-10:]) < sum(l1[:10])
    assert (teacher_run / "val_log.csv").read_text().startswith("step,psnr,ssim")
    assert list((teacher_run / "samples").iterdir())
    spec, _generator = load_generator(teacher_run)
    assert spec.arch == "resnet" and spec.options["residual"] is False
    assert load_checkpoint(teacher_run)["kind"] == "pix2pix"


def test_resume_reproduces_an_uninterrupted_run_bit_for_bit(datasets, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train_teacher(_teacher_run(straight, datasets / "sr4x", steps=12, every=6, residual=True))
    shutil.copytree(straight, resumed)
    (resumed / "checkpoints" / "step_0000012.pt").unlink()  # as if killed after step 6
    train_teacher(_teacher_run(resumed, datasets / "sr4x", steps=12, every=6, residual=True), resume=True)
    a = load_checkpoint(straight)["training"]
    b = load_checkpoint(resumed)["training"]
    for name in ("G", "D"):
        for key, value in a["modules"][name].items():
            assert torch.equal(value, b["modules"][name][key]), key
    assert a["optimizers"]["G"]["state"][0]["exp_avg"].equal(b["optimizers"]["G"]["state"][0]["exp_avg"])
    assert (straight / "train_log.csv").read_text() == (resumed / "train_log.csv").read_text()


def test_bf16_steps_compute_in_bfloat16_and_keep_fp32_weights(datasets, tmp_path):
    runs = {}
    for precision in ("fp32", "bf16"):
        train_teacher(
            _teacher_run(tmp_path / precision, datasets / "sr4x", steps=6, residual=True, precision=precision)
        )
        runs[precision] = _column(tmp_path / precision / "train_log.csv", "d_real")
    first_fp32, first_bf16 = runs["fp32"][0], runs["bf16"][0]
    assert first_fp32 != first_bf16  # the same seed, weights and batch: only the arithmetic differs
    assert first_bf16 == pytest.approx(first_fp32, rel=0.05)
    weights = load_checkpoint(tmp_path / "bf16")["training"]["modules"]["G"]
    assert {value.dtype for value in weights.values() if value.is_floating_point()} == {torch.float32}


def test_a_finished_run_is_not_overwritten(teacher_run, datasets):
    with pytest.raises(ValueError, match="already holds a run"):
        train_teacher(_teacher_run(teacher_run, datasets / "sr4x"))


def test_cyclegan_teacher_trains_on_unpaired_data(datasets, tmp_path):
    metrics = train_teacher(_teacher_run(tmp_path / "cg", datasets / "g2c", steps=6, model="cyclegan"))
    assert "cycle_psnr" in metrics
    payload = load_checkpoint(tmp_path / "cg")
    assert payload["kind"] == "cyclegan" and set(payload["training"]["modules"]) == {"G", "F", "D", "D_A"}
    assert len(payload["training"]["extra"]["B"]["images"]) == 6 * 2  # the pool kept every fake so far


def test_models_and_data_must_agree(datasets, tmp_path):
    with pytest.raises(ValueError, match="cyclegan needs an unpaired dataset"):
        train_teacher(_teacher_run(tmp_path / "x", datasets / "sr4x", model="cyclegan"))
    with pytest.raises(ValueError, match="pix2pix needs paired data"):
        train_teacher(_teacher_run(tmp_path / "y", datasets / "g2c"))


def _distill_run(out, teacher, student="mobile", steps=8, ngf=8, lr=2e-4, **kwargs):
    return DistillRun(
        out=out,
        data=DataConfig(val_limit=2),
        teacher=teacher,
        student=student,
        ngf=ngf,
        training=_training(steps, lr=lr),
        **kwargs,
    )


def test_distillation_taps_sit_after_downsampling_and_every_block(teacher_run, tmp_path):
    teacher = load_teacher(teacher_run)
    config = _distill_run(tmp_path / "s", teacher_run)
    train, val = open_splits(DataConfig(dataset=teacher.dataset), 4)
    trainer = DistillTrainer(config, teacher, train, val)
    student = trainer.modules["G"]
    x = torch.rand(1, 3, 32, 32)
    _, teacher_taps = teacher.generator.forward_with_taps(x)
    _, student_taps = student.forward_with_taps(x)
    taps = 1 + len(teacher.generator.blocks)
    assert len(teacher_taps) == len(student_taps) == len(trainer.modules["mappings"]) == taps
    assert [t.shape for t in teacher_taps] == [(1, 32, 8, 8)] * taps  # trunk of ngf 8, after two stride-2 layers
    assert [t.shape for t in student_taps] == [(1, 32, 8, 8)] * taps
    for tap, mapping in zip(student_taps, trainer.modules["mappings"]):
        assert mapping(tap).shape == teacher_taps[0].shape


def test_a_student_started_from_its_teacher_maps_its_trunk_back_onto_the_channels_it_took(teacher_run, tmp_path):
    teacher = load_teacher(teacher_run)
    train, val = open_splits(DataConfig(dataset=teacher.dataset), 4)
    trainer = DistillTrainer(_distill_run(tmp_path / "s", teacher_run, ngf=4), teacher, train, val)
    mappings = trainer.modules["mappings"]
    taken = transfer_by_l1(teacher.generator, ModelSpec("mobile_resnet", {"ngf": 4, "n_blocks": 3}).build()).trunk
    for mapping in mappings:
        weight = mapping.weight[:, :, 0, 0]  # [teacher's trunk, student's trunk]
        assert set(weight.unique().tolist()) == {0.0, 1.0} and torch.equal(weight.sum(0), torch.ones(16))
        assert torch.equal(weight.argmax(0), taken) and not mapping.bias.any()


def test_distilled_student_and_supernet_learn_from_the_teacher(teacher_run, tmp_path):
    metrics = train_distill(_distill_run(tmp_path / "student", teacher_run, steps=24, lr=2e-3))
    assert {"psnr", "psnr_teacher", "ssim_teacher"} <= set(metrics)
    distill = _column(tmp_path / "student" / "train_log.csv", "distill")
    assert sum(distill[-6:]) < sum(distill[:6])
    config = _distill_run(tmp_path / "super", teacher_run, student="supernet", choices="channels-32")
    metrics = train_distill(config)
    assert {"largest_psnr", "smallest_psnr_teacher"} <= set(metrics)
    _, supernet = load_generator(tmp_path / "super")
    assert isinstance(supernet, SuperMobileResnetGenerator)


def test_original_path_starts_the_supernet_from_the_distilled_student(teacher_run, tmp_path):
    student = tmp_path / "student"
    train_distill(_distill_run(student, teacher_run, ngf=32, steps=2))
    config = _distill_run(
        tmp_path / "super", teacher_run, student="supernet", choices="channels-32", init_from=student, steps=1
    )
    train_distill(config)
    with pytest.raises(Exception, match="does not match the supernet"):
        train_distill(
            _distill_run(
                tmp_path / "bad", teacher_run, student="supernet", choices="channels-48", init_from=student, steps=1
            )
        )


def test_supernet_sampling_covers_the_choice_set(teacher_run, tmp_path):
    teacher = load_teacher(teacher_run)
    config = _distill_run(tmp_path / "s", teacher_run, student="supernet", choices="channels-32", steps=30)
    config = config.model_copy(update={"training": _training(30, batch_size=1)})
    train, _val = open_splits(DataConfig(dataset=teacher.dataset), 4)
    trainer = DistillTrainer(config, teacher, train, None)
    seen = [set() for _ in range(8)]
    for step in range(30):
        trainer.train_step(step, trainer.inputs(step))
        for position, width in enumerate(trainer.modules["G"].active_config.channels):
            seen[position].add(width)
    choices = get_choice_set("channels-32").choices
    assert seen == [set(c) for c in choices]


@pytest.mark.parametrize("reconstruction", ["l1", "l1+ssim"])
def test_the_student_learns_by_the_reconstruction_loss_its_run_names(teacher_run, tmp_path, reconstruction):
    teacher = load_teacher(teacher_run)
    train, _val = open_splits(DataConfig(dataset=teacher.dataset), 4)
    config = _distill_run(tmp_path / "s", teacher_run, lambda_gan=0.0, reconstruction=reconstruction)
    trainer = DistillTrainer(config, teacher, train, None)
    student, mappings = trainer.modules["G"], trainer.modules["mappings"]
    parameters = [*student.parameters(), *mappings.parameters()]
    a, b = trainer.inputs(0)
    with torch.no_grad():
        _, teacher_taps = teacher.generator.forward_with_taps(a)
    out, taps = student.forward_with_taps(a)
    loss = trainer.lambda_recon * reconstruction_loss(reconstruction, out, b) + trainer.lambda_distill * (
        distillation_loss(taps, teacher_taps, mappings)
    )
    expected = torch.autograd.grad(loss, parameters, allow_unused=True)
    captured = {}
    trainer.optimizers["G"].step = lambda: captured.update(grads=[p.grad.clone() for p in parameters])
    trainer.train_step(0, trainer.inputs(0))
    for got, want in zip(captured["grads"], expected, strict=True):
        assert want is None or torch.allclose(got, want, atol=1e-6)


def test_unpaired_distillation_learns_from_the_teachers_outputs(datasets, tmp_path):
    cyclegan = tmp_path / "cg"
    train_teacher(_teacher_run(cyclegan, datasets / "g2c", steps=2, model="cyclegan"))
    teacher = load_teacher(cyclegan)
    config = _distill_run(tmp_path / "s", cyclegan)
    train, val = open_splits(DataConfig(dataset=teacher.dataset), 4)
    trainer = DistillTrainer(config, teacher, train, val)
    assert trainer.lambda_recon == 10.0 and trainer.lambda_distill == 0.1
    b, teacher_out = torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8)
    assert trainer.reconstruction_target(b, teacher_out) is teacher_out
    metrics = train_distill(_distill_run(tmp_path / "run", cyclegan, steps=2))
    assert "psnr_teacher" in metrics and "psnr" not in metrics


def test_without_the_adversarial_term_no_discriminator_trains(teacher_run, tmp_path):
    train_distill(_distill_run(tmp_path / "s", teacher_run, steps=2, lambda_gan=0.0, lambda_distill=2.0))
    assert _column(tmp_path / "s" / "train_log.csv", "d") == [0.0, 0.0]
    assert set(load_checkpoint(tmp_path / "s")["training"]["optimizers"]) == {"G"}


def _same_weights(a: torch.nn.Module, b: dict) -> bool:
    return all(torch.equal(v, b[k]) for k, v in a.state_dict().items())


def test_the_discriminator_starts_as_the_reference_starts_it_on_each_path(teacher_run, tmp_path):
    teacher = load_teacher(teacher_run)
    train, val = open_splits(DataConfig(dataset=teacher.dataset), 4)
    teachers_d = teacher.discriminator["state_dict"]

    def trainer(config):
        return DistillTrainer(config, teacher, train, val)

    mobile = trainer(_distill_run(tmp_path / "m", teacher_run, ngf=32))
    assert _same_weights(mobile.modules["D"], teachers_d)  # the original path's first stage: the teacher's
    fast = trainer(_distill_run(tmp_path / "f", teacher_run, student="supernet", choices="channels-32"))
    assert not _same_weights(fast.modules["D"], teachers_d)  # the fast path: a fresh one
    student = tmp_path / "student"
    train_distill(_distill_run(student, teacher_run, ngf=32, steps=2))
    students_d = load_checkpoint(student)["discriminator"]["state_dict"]
    assert not _same_weights(mobile.modules["D"], students_d)  # it trained on
    after = trainer(
        _distill_run(tmp_path / "s", teacher_run, student="supernet", choices="channels-32", init_from=student)
    )
    assert _same_weights(after.modules["D"], students_d)  # the supernet: the mobile student's


def test_a_mobile_student_starts_fresh_or_from_the_teachers_channels(teacher_run, tmp_path):
    teacher = load_teacher(teacher_run)
    train, val = open_splits(DataConfig(dataset=teacher.dataset), 4)
    stem = teacher.generator.encoder[1].weight
    kept = stem.abs().sum((1, 2, 3)).topk(4).indices
    config = _distill_run(tmp_path / "f", teacher_run, ngf=4, student_init="fresh")
    fresh = DistillTrainer(config, teacher, train, val).modules["G"]
    assert not torch.equal(fresh.encoder[1].weight, stem[kept])
    started = DistillTrainer(_distill_run(tmp_path / "t", teacher_run, ngf=4), teacher, train, val).modules["G"]
    assert torch.equal(started.encoder[1].weight, stem[kept])
    assert torch.equal(started.decoder[-2].bias, teacher.generator.decoder[-2].bias)  # the head keeps all 3


def test_paired_distillation_uses_hinge_and_pseudo_pairs_least_squares(teacher_run, datasets, tmp_path):
    teacher = load_teacher(teacher_run)
    train, val = open_splits(DataConfig(dataset=teacher.dataset), 4)
    assert DistillTrainer(_distill_run(tmp_path / "p", teacher_run), teacher, train, val).gan_loss.mode == "hinge"
    assert TeacherSpec().gan_mode == "hinge" and TeacherSpec(model="cyclegan").gan_mode == "lsgan"
    cyclegan = tmp_path / "cg"
    train_teacher(_teacher_run(cyclegan, datasets / "g2c", steps=1, model="cyclegan"))
    unpaired = load_teacher(cyclegan)
    train, val = open_splits(DataConfig(dataset=unpaired.dataset), 4)
    assert DistillTrainer(_distill_run(tmp_path / "u", cyclegan), unpaired, train, val).gan_loss.mode == "lsgan"


def test_students_keep_their_pix2pix_teachers_weight_on_reconstruction_unless_given_one(teacher_run, tmp_path):
    teacher = load_teacher(teacher_run)
    assert teacher.lambda_l1 == TeacherSpec().lambda_l1
    train, val = open_splits(DataConfig(dataset=teacher.dataset), 4)
    heavier = dataclasses.replace(teacher, lambda_l1=250.0)
    assert DistillTrainer(_distill_run(tmp_path / "a", teacher_run), heavier, train, val).lambda_recon == 250.0
    given = _distill_run(tmp_path / "b", teacher_run).model_copy(update={"lambda_recon": 7.0})
    assert DistillTrainer(given, heavier, train, val).lambda_recon == 7.0


def test_the_students_adversarial_loss_is_judged_by_the_discriminator_before_its_step(teacher_run, tmp_path):
    teacher = load_teacher(teacher_run)
    train, val = open_splits(DataConfig(dataset=teacher.dataset), 4)
    trainer = DistillTrainer(_distill_run(tmp_path / "s", teacher_run), teacher, train, val)
    d_before = {k: v.clone() for k, v in trainer.modules["D"].state_dict().items()}
    g_before = {k: v.clone() for k, v in trainer.modules["G"].state_dict().items()}
    a, _b = train.batch(0, trainer.training.batch_size, trainer.seed)
    logged = trainer.train_step(0, trainer.inputs(0))
    assert not _same_weights(trainer.modules["D"], d_before)  # the discriminator did step
    judge, student = copy.deepcopy(trainer.modules["D"]), copy.deepcopy(trainer.modules["G"])
    judge.load_state_dict(d_before)
    student.load_state_dict(g_before)
    with torch.no_grad():
        expected = trainer.gan_loss(judge(torch.cat([a, student(a)], 1)), True, for_discriminator=False)
    assert logged["g_gan"] == pytest.approx(expected.item(), rel=1e-5)


def test_sandwich_sampling_accumulates_the_largest_the_smallest_and_two_random_sub_networks(teacher_run, tmp_path):
    teacher = load_teacher(teacher_run)
    train, _val = open_splits(DataConfig(dataset=teacher.dataset), 4)
    config = _distill_run(
        tmp_path / "s", teacher_run, student="supernet", choices="channels-32", sampling="sandwich", lambda_gan=0.0
    )
    trainer = DistillTrainer(config, teacher, train, None)
    choice_set = get_choice_set("channels-32")
    configs = trainer._step_configs(0)
    assert configs[:2] == [choice_set.largest, choice_set.smallest] and len(configs) == 4
    student, mappings = trainer.modules["G"], trainer.modules["mappings"]
    parameters = [*student.parameters(), *mappings.parameters()]
    a, b = train.batch(0, trainer.training.batch_size, trainer.seed)
    with torch.no_grad():
        _, teacher_taps = teacher.generator.forward_with_taps(a)
    expected = [torch.zeros_like(p) for p in parameters]
    for sub in configs:  # each sub-network's own gradient, by hand
        student.set_config(sub)
        out, taps = student.forward_with_taps(a)
        loss = trainer.lambda_recon * torch.nn.functional.l1_loss(out, b) + trainer.lambda_distill * (
            distillation_loss(taps, teacher_taps, mappings)
        )
        for total, grad in zip(expected, torch.autograd.grad(loss, parameters, allow_unused=True)):
            if grad is not None:
                total += grad / len(configs)
    captured = {}
    trainer.optimizers["G"].step = lambda: captured.update(grads=[p.grad.clone() for p in parameters])
    trainer.train_step(0, trainer.inputs(0))
    for got, want in zip(captured["grads"], expected):
        assert torch.allclose(got, want, atol=1e-6)


def test_parts_given_the_teachers_inputs_each_learn_their_piece_of_the_teacher(teacher_run, tmp_path):
    teacher = load_teacher(teacher_run)
    train, val = open_splits(DataConfig(dataset=teacher.dataset), 4)
    run = _distill_run(tmp_path / "s", teacher_run, steps=30, lr=2e-3, part_inputs="teacher", lambda_gan=0)
    trainer = DistillTrainer(run, teacher, train, val)
    student = trainer.modules["G"]
    a, b, _teacher_out, taps = trainer.labelled(trainer.inputs(0))
    before = copy.deepcopy(student)
    with torch.no_grad():
        parts = [before.encoder(a), *(block(tap) for block, tap in zip(before.blocks, taps))]
        expected_distill = sum(torch.nn.functional.mse_loss(p, t).item() for p, t in zip(parts, taps))
        expected_recon = torch.nn.functional.l1_loss(before.decode(a, taps[-1]), b).item()
    losses = trainer.train_step(0, trainer.inputs(0))
    assert losses["distill"] == pytest.approx(expected_distill, rel=1e-5)
    assert losses["recon"] == pytest.approx(expected_recon, rel=1e-5)
    train_distill(run)
    distill = _column(tmp_path / "s" / "train_log.csv", "distill")
    assert sum(distill[-6:]) < 0.8 * sum(distill[:6])


def test_parts_given_the_teachers_inputs_need_the_teachers_trunk(teacher_run, tmp_path):
    with pytest.raises(ValueError, match=r"take the teacher's trunk of 32 channels, but its trunk has \[16\]"):
        train_distill(_distill_run(tmp_path / "m", teacher_run, ngf=4, part_inputs="teacher"))
    with pytest.raises(ValueError, match=r"trunk of 32 channels, but its trunk has \[32, 64\].*channels-16-trunk-8"):
        train_distill(
            _distill_run(tmp_path / "s", teacher_run, student="supernet", choices="channels-16", part_inputs="teacher")
        )
    train_distill(
        _distill_run(
            tmp_path / "ok",
            teacher_run,
            student="supernet",
            choices="channels-16-trunk-8",
            part_inputs="teacher",
            steps=2,
        )
    )
    with pytest.raises(ValueError, match="fine-tuning runs the sub-network end to end"):
        _distill_run(
            tmp_path / "f",
            teacher_run,
            student="subnet",
            config="8_8_8_8_8_8_8_8",
            init_from=tmp_path / "ok",
            part_inputs="teacher",
        )
    with pytest.raises(ValueError, match="lambda_distill > 0"):
        _distill_run(tmp_path / "z", teacher_run, part_inputs="teacher", lambda_distill=0)


def test_a_resumed_run_drops_the_log_rows_past_its_checkpoint_and_a_row_a_crash_left_half_written(tmp_path):
    from compression.training.run import RunFolder

    run = RunFolder(tmp_path)
    for step in (10, 20, 30):
        run.append_log("train_log.csv", step, {"loss": 0.5})
    with open(tmp_path / "train_log.csv", "a") as handle:
        handle.write("4")  # a crash in the middle of the next row
    run.truncate_logs(20)
    rows = list(csv.DictReader((tmp_path / "train_log.csv").read_text().splitlines()))
    assert [row["step"] for row in rows] == ["10", "20"]
    run.append_log("train_log.csv", 30, {"loss": 0.25})
    assert (tmp_path / "train_log.csv").read_text().splitlines()[-1] == "30,0.25"


def test_students_fine_tuned_side_by_side_are_each_what_it_would_be_alone_and_labelled_once(
    teacher_run, tmp_path, monkeypatch
):
    supernet = tmp_path / "super"
    train_distill(_distill_run(supernet, teacher_run, student="supernet", choices="channels-16", steps=2))
    choice_set = get_choice_set("channels-16")
    configs, steps = [str(choice_set.smallest), str(choice_set.largest)], [4, 2]

    def runs(folder):
        return [
            _distill_run(
                tmp_path / folder / c, teacher_run, student="subnet", config=c, init_from=supernet, steps=n
            ).model_copy(update={"training": _training(n, every=2)})
            for c, n in zip(configs, steps)
        ]

    for run in runs("alone"):
        train_distill(run)
    labelled = []
    label = ResnetGenerator.forward_with_taps
    monkeypatch.setattr(ResnetGenerator, "forward_with_taps", lambda self, x: labelled.append(len(x)) or label(self, x))
    together = runs("together")
    train_distill_side_by_side(together, [False, False])
    assert len(labelled) == max(steps)  # the teacher labels each step once, for both students
    for config in configs:
        alone, side_by_side = tmp_path / "alone" / config, tmp_path / "together" / config
        a, b = load_checkpoint(alone)["training"], load_checkpoint(side_by_side)["training"]
        assert a["step"] == b["step"] == steps[configs.index(config)]
        for key, value in a["modules"]["G"].items():
            assert torch.equal(value, b["modules"]["G"][key]), key
        assert (alone / "train_log.csv").read_text() == (side_by_side / "train_log.csv").read_text()
    # Resumed with one run done and the other killed before its first checkpoint: each goes on from where it was.
    shutil.copytree(tmp_path / "together", tmp_path / "resumed")
    for checkpoint in (tmp_path / "resumed" / configs[0] / "checkpoints").iterdir():
        checkpoint.unlink()
    train_distill_side_by_side(runs("resumed"), [True, True])
    resumed = load_checkpoint(tmp_path / "resumed" / configs[0])["training"]["modules"]["G"]
    alone = load_checkpoint(tmp_path / "alone" / configs[0])["training"]["modules"]["G"]
    assert all(torch.equal(value, resumed[key]) for key, value in alone.items())
    log = "train_log.csv"
    assert (tmp_path / "resumed" / configs[0] / log).read_text() == (tmp_path / "alone" / configs[0] / log).read_text()
    with pytest.raises(ValueError, match="share their teacher, data, seed, batch size and precision"):
        train_distill_side_by_side([*runs("seeds")[:1], runs("seeds")[1].model_copy(update={"seed": 1})], [False] * 2)


# -- training held to max_minutes ----------------------------------------------------------------------------
DONE = UNTIMED_STEPS + TIMED_STEPS  # steps taken when the first decision is made


def timed(limit: TimeLimit, per_run: list[float], shared: float, steps: int = TIMED_STEPS) -> bool:
    """`limit` after `steps` more timed steps, each run's own step taking `per_run` seconds and the step `shared`
    more; whether a decision is then due."""
    due = False
    start = limit.first + UNTIMED_STEPS + limit.times.steps
    for step in range(start, start + steps):
        for index, seconds in enumerate(per_run):
            limit.run_step(step, index, seconds)
        due = limit.step_done(step, sum(per_run) + shared)
        limit.began -= sum(per_run) + shared  # as if that time had passed
    return due


def decided(max_minutes: float, written: list[int], looks: list[float] | None = None) -> list[int]:
    """The first decision for runs of 0.2 and 0.1 s a step (the first also labels), 0.04 s more to make inputs."""
    limit = TimeLimit(max_minutes, written, [50] * len(written), 0)
    limit.look_seconds = looks
    assert timed(limit, [0.2, 0.1], 0.04)
    return limit.decide(DONE)


def test_runs_keep_the_steps_that_fit_what_is_left_each_in_proportion_to_its_own():
    # Written: 200 and 100 steps: 58 s in all.
    assert decided(1.0, [200, 100]) == [200, 100]  # 60 s: all of them fit
    # 24 s, of which the timed steps spent 0.34 s each: what is left, with the steps taken (0.34 s each) already
    # paid for, buys the same share of each run.
    share = (24 - TIMED_STEPS * 0.34 + DONE * 0.34) / 58
    kept = decided(0.4, [200, 100])
    assert [abs(n - expected) <= 1 for n, expected in zip(kept, (200 * share, 100 * share))] == [True, True]
    # A look (evaluation and samples) of 2 s every 50 steps costs each run 0.04 s more a step: fewer fit.
    assert all(fewer < steps for fewer, steps in zip(decided(0.4, [200, 100], [2.0, 2.0]), kept))
    # Never below twice the steps taken (the schedule so far is then unchanged), never above as written.
    assert decided(0.001, [200, 100]) == [2 * DONE, 2 * DONE]
    assert decided(0.001, [200, 30]) == [2 * DONE, 30]


def test_the_steps_are_decided_again_as_the_machine_slows_until_no_run_can_change():
    limit = TimeLimit(4.0, [4000, 2000], [1000, 1000], first=40)  # 1160 s as written, 240 s to spend
    assert not timed(limit, [0.2, 0.1], 0.04, TIMED_STEPS - 1) and timed(limit, [0.2, 0.1], 0.04, 1)
    limit.steps = limit.decide(40 + DONE)
    first = list(limit.steps)
    assert first[0] < 4000 and not timed(limit, [0.2, 0.1], 0.04, REPLAN_STEPS - 1)
    assert timed(limit, [0.2, 0.1], 0.04, 1)  # 50 steps on at the same speed: decided again, as before
    assert [abs(n - m) <= 1 for n, m in zip(limit.decide(40 + DONE + REPLAN_STEPS), first)] == [True, True]
    assert timed(limit, [0.4, 0.2], 0.08, REPLAN_STEPS)  # 50 more at half the speed: fewer steps fit
    limit.steps = limit.decide(40 + DONE + 2 * REPLAN_STEPS)
    assert all(later < earlier for later, earlier in zip(limit.steps, first))
    # Once every run is past the half of its steps, nothing is timed or decided any more.
    past_half = TimeLimit(1.0, [60, 40], [1000, 1000], 0)
    past_half.steps = [60, 40]
    assert not past_half.timing(30) and past_half.timing(28)
    assert TimeLimit(None, [100], [50], 0).timing(DONE) is False  # no limit: nothing to decide


def _weights(run):
    return load_checkpoint(run)["training"]["modules"]["G"]


def test_a_run_shortened_by_its_time_limit_is_the_run_written_that_short_and_resumes_to_it(datasets, tmp_path):
    dataset = datasets / "sr4x"
    short = 2 * DONE  # what no time at all leaves: twice the steps taken when it decides
    limited = _teacher_run(tmp_path / "limited", dataset, steps=60, every=DONE)
    limited = limited.model_copy(update={"teacher": limited.teacher.model_copy(update={"max_minutes": 1e-4})})
    train_teacher(limited)
    train_teacher(_teacher_run(tmp_path / "written", dataset, steps=short, every=DONE))
    a, b = _weights(tmp_path / "limited"), _weights(tmp_path / "written")
    assert all(torch.equal(value, b[key]) for key, value in a.items())
    log = "train_log.csv"
    assert (tmp_path / "limited" / log).read_text() == (tmp_path / "written" / log).read_text()
    decision = json.loads((tmp_path / "limited" / DECISION_FILE).read_text())
    assert decision["steps_written"] == 60 and decision["steps"] == short and decision["seconds_per_step"] > 0
    assert json.loads((tmp_path / "limited" / "config.json").read_text())["teacher"]["steps"] == short

    # Killed after its first checkpoint and resumed as written (60 steps): it ends at the steps decided.
    shutil.copytree(tmp_path / "limited", tmp_path / "resumed")
    (tmp_path / "resumed" / "checkpoints" / f"step_{short:07d}.pt").unlink()
    train_teacher(limited.model_copy(update={"out": tmp_path / "resumed"}), resume=True)
    assert load_checkpoint(tmp_path / "resumed")["training"]["step"] == short
    c = _weights(tmp_path / "resumed")
    assert all(torch.equal(value, c[key]) for key, value in a.items())

"""A teacher made elsewhere and a folder of unlabelled photos: the teacher labels them, the pipeline compresses it."""

import copy
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F
from typer.testing import CliRunner

from compression.data import (
    DataError,
    TranslationDataset,
    build_photo_dataset,
    judging_preprocess,
    training_preprocess,
    with_short_side,
)
from compression.data.made import MadeInputs, MixSettings
from compression.data.sample import skimage_photos
from compression.export.gate import QualityGateError, judge_students
from compression.pipeline import Pipeline, run_pipeline
from compression.training import DistillRun, load_teacher
from compression.training.data import DataConfig, open_splits
from compression.training.distill import DistillTrainer
from ganc.cli.main import app
from ganc.repository import read_index
from ganc.spec import SpecError, TrainingSpec, parse_spec
from tests.support.foreign_generators import JunyanzResnetGenerator, VintagifyGenerator, junyanz_norm, randomised


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for photo in skimage_photos()[:8]:
        photo.image.save(folder / f"{photo.name}.jpg")
    return folder


@pytest.fixture(scope="module")
def foreign_teacher(tmp_path_factory):
    path = tmp_path_factory.mktemp("teacher") / "G_A2B_epoch33.pth"
    torch.manual_seed(0)
    torch.save(randomised(VintagifyGenerator(ngf=8, n_blocks=3)).state_dict(), path)
    return path


def test_photos_are_dealt_whole_into_the_splits_and_judged_at_their_size(photos, tmp_path):
    summary = build_photo_dataset(photos, tmp_path / "d", size=64, seed=1)
    dealt = [name for split in summary["splits"].values() for name in split]
    assert sorted(dealt) == sorted(p.name for p in photos.iterdir()) and all(summary["splits"].values())
    stored = [Image.open(p) for p in (tmp_path / "d").rglob("*.png")]
    assert len(stored) == 8 and max(min(image.size) for image in stored) == 128
    val = TranslationDataset(tmp_path / "d", "val", judging_preprocess(tmp_path / "d", 4))
    for _name, a, b in val.eval_pairs():
        assert min(a.shape[1:]) == 64 and torch.equal(a, b) and not val.has_targets


def made_inputs(root, mix=MixSettings(), **options):
    train = TranslationDataset(root, "train", training_preprocess(root, 32, None))
    return MadeInputs(train.files.a, size=48, crop_size=options.pop("crop_size", 48), mix=mix, **options)


def test_made_inputs_are_a_pure_function_of_seed_and_step(photos, tmp_path):
    build_photo_dataset(photos, tmp_path / "d", size=48)
    made = made_inputs(tmp_path / "d")
    a = made.batch(5, 3, seed=1)
    assert a.shape == (3, 3, 48, 48) and a.dtype == torch.float32 and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, made_inputs(tmp_path / "d").batch(5, 3, seed=1))
    assert not torch.equal(a, made.batch(6, 3, seed=1)) and not torch.equal(a, made.batch(5, 3, seed=2))
    distinct = made_inputs(tmp_path / "d", distinct=4)
    assert torch.equal(distinct.batch(0, 4, seed=1), distinct.batch(1, 4, seed=1))


def test_a_made_input_of_one_photo_is_a_crop_covering_most_of_it(photos, tmp_path):
    build_photo_dataset(photos, tmp_path / "d", size=48)
    made = made_inputs(tmp_path / "d", MixSettings(blended=0, pasted=0, channel_gain=0, saturation=0), crop_size=44)
    assert made.sides == (48, 60)
    image = ((made.batch(0, 1, seed=0)[0] + 1) * 127.5).round()
    found = []
    for photo in made.photos:
        for side in range(48, 61):
            scaled = torch.from_numpy(np.asarray(with_short_side(photo, side), dtype=np.float32)).permute(2, 0, 1)
            for candidate in (scaled, scaled.flip(-1)):
                windows = candidate.unfold(1, 44, 1).unfold(2, 44, 1)  # [3, y, x, 44, 44]
                distance = (windows - image[:, None, None]).abs().amax(dim=(0, 3, 4))
                if distance.min() < 1:
                    found.append(side)
    assert found  # a 44-px crop of a photo brought to a short side of 48-60 px covers most of it


def test_the_student_learns_the_teachers_answer_to_exactly_the_input_it_sees(photos, foreign_teacher, tmp_path):
    build_photo_dataset(photos, tmp_path / "d", size=32)
    run = DistillRun(
        out=tmp_path / "run",
        data=DataConfig(dataset=tmp_path / "d"),
        teacher=foreign_teacher,
        student="mobile",
        ngf=4,
        training=TrainingSpec(steps=1, batch_size=2),
        lambda_gan=0,
        lambda_distill=0,
    )
    teacher = load_teacher(foreign_teacher)
    train, val = open_splits(run.data, teacher.generator.size_multiple)
    trainer = DistillTrainer(run, teacher, train, val)
    a = trainer.made.batch(0, 2, seed=0)
    student = copy.deepcopy(trainer.modules["G"])
    with torch.no_grad():
        expected = F.l1_loss(student(a), teacher.generator(a)).item()
    assert trainer.train_step(0, trainer.inputs(0))["recon"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: (d / "x.jpg").write_bytes(b"not a photo"), "not one readable photograph"),
        (lambda d: Image.new("RGB", (40, 30)).save(d / "small.png"), "short side below 64px"),
        (lambda d: Image.new("RGB", (80, 80)).save(d / "one.png"), "need 4"),
    ],
)
def test_bad_photo_folders_are_refused_before_any_work(tmp_path, make, message):
    (tmp_path / "in").mkdir()
    make(tmp_path / "in")
    with pytest.raises(DataError, match=message):
        build_photo_dataset(tmp_path / "in", tmp_path / "d", size=64)
    assert not (tmp_path / "d").exists() and [p.name for p in tmp_path.iterdir()] == ["in"]


def spec(photos, checkpoint, **changes) -> dict:
    base = {
        "family": "aged",
        "task": "vintage",
        "dataset": {"photos": str(photos), "size": 32},
        "teacher": {"checkpoint": str(checkpoint)},
        "supernet": {"choices": "channels-16", "steps": 4, "batch_size": 2, "every": 2},
        "search": {"macs_budgets": [1e12], "method": "evolution", "population_size": 4, "iterations": 1},
        "finetune": {"steps": 2, "batch_size": 2, "every": 2},
    }
    return {**base, **changes}


def test_a_foreign_teacher_is_compressed_on_unlabelled_photos(photos, foreign_teacher, tmp_path):
    result = run_pipeline(parse_spec(spec(photos, foreign_teacher)), tmp_path / "work", tmp_path / "repo", "job")
    assert (tmp_path / "work" / "teacher" / "imported.pt").is_file()  # converted once
    cards = {v.card.variant: v.card for v in read_index(tmp_path / "repo").versions}
    assert set(cards) == set(result["published"]) and len(cards) == 2 and result["held_back"] == {}
    for card in cards.values():
        assert card.quality_against == "teacher" and set(card.quality) == {"psnr_teacher", "ssim_teacher"}
    assert cards["teacher"].quality["psnr_teacher"] == 100.0  # the teacher agrees with itself
    student = next(c for name, c in cards.items() if name != "teacher")
    assert student.quality["psnr_teacher"] < 100.0 and student.teacher == "aged--teacher"
    # Students normalise as their teacher does: its instance norms have a scale and shift, so theirs do.
    assert student.architecture_options["norm"] == "instance_affine"
    gate = json.loads((tmp_path / "work" / "export" / "done.json").read_text())["gate"]
    assert gate[student.variant]["passed"] and gate[student.variant]["score_db"] > gate[student.variant]["floor_db"]
    run = json.loads((tmp_path / "work" / "supernet" / "run" / "config.json").read_text())
    assert run["data"]["dataset"].endswith("data/dataset")


def test_a_teacher_imported_by_ganc_import_is_taken_as_it_is(photos, foreign_teacher, tmp_path):
    imported = tmp_path / "vintagify.pt"
    result = CliRunner().invoke(app, ["import", "--format", "vintagify", str(foreign_teacher), "--out", str(imported)])
    assert result.exit_code == 0, result.output
    pipeline = Pipeline(parse_spec(spec(photos, imported)), tmp_path / "work", tmp_path / "repo", "job")
    assert pipeline.teacher("unused") == {"checkpoint": str(imported)}
    assert not (tmp_path / "work" / "teacher" / "imported.pt").exists()
    assert load_teacher(imported).kind == "imported"


def test_blocks_that_learn_from_the_teachers_inputs_do_not_start_as_the_identity(photos, foreign_teacher, tmp_path):
    build_photo_dataset(photos, tmp_path / "d", size=32)
    teacher = load_teacher(foreign_teacher)  # affine instance norms: students' blocks end in a norm with a scale
    train, val = open_splits(DataConfig(dataset=tmp_path / "d"), 4)
    scales = {}
    for part_inputs in ("own", "teacher"):
        run = DistillRun(
            out=tmp_path / part_inputs,
            data=DataConfig(dataset=tmp_path / "d"),
            teacher=foreign_teacher,
            student="mobile",
            config="8_8_8_8_8_8_8_8",
            training=TrainingSpec(steps=1, batch_size=2),
            part_inputs=part_inputs,
        )
        student = DistillTrainer(run, teacher, train, val).modules["G"]
        scales[part_inputs] = {float(v) for block in student.blocks for v in block.project_norm.weight.detach()}
    # End to end a block starts as the identity, passing the teacher's trunk on; learning from the teacher's trunk
    # it need not, and at zero none of its other weights would learn.
    assert scales == {"own": {0.0}, "teacher": {1.0}}


def test_a_supernet_whose_parts_learn_from_the_teachers_inputs_is_joined_by_fine_tuning(
    photos, foreign_teacher, tmp_path
):
    supernet = {"choices": "channels-16-trunk-8", "part_inputs": "teacher", "steps": 4, "batch_size": 2, "every": 2}
    result = run_pipeline(
        parse_spec(spec(photos, foreign_teacher, supernet=supernet)), tmp_path / "work", tmp_path / "repo", "job"
    )
    student = next(name for name in result["published"] if name != "teacher")
    assert student.split("_")[2] == "8"  # the teacher's trunk: c2 = its ngf
    configs = {
        stage: json.loads(path.read_text())["part_inputs"]
        for stage, path in (
            ("supernet", tmp_path / "work" / "supernet" / "run" / "config.json"),
            ("finetune", next((tmp_path / "work" / "finetune").glob("*/config.json"))),
        )
    }
    assert configs == {"supernet": "teacher", "finetune": "own"}


def test_students_no_closer_to_the_teacher_than_the_photo_are_not_published(photos, foreign_teacher, tmp_path):
    # Residual students start as the unchanged photo and, after a few steps, are no closer to this random teacher.
    residual_students = {"checkpoint": str(foreign_teacher), "residual": True}
    with pytest.raises(QualityGateError, match=r"student-\S+ [0-9.]+ dB, -[0-9.]+ dB .*: no closer than doing nothing"):
        run_pipeline(
            parse_spec(spec(photos, foreign_teacher, teacher=residual_students)),
            tmp_path / "work",
            tmp_path / "repo",
            "job",
        )
    assert json.loads((tmp_path / "work" / "supernet" / "run" / "config.json").read_text())["residual"] is True
    assert read_index(tmp_path / "repo").versions == []  # nothing published, the teacher neither


def test_a_student_below_the_specs_minimum_is_held_back_and_the_record_says_by_how_much():
    verdicts = judge_students({"student-a": 21.5, "student-b": 24.0}, floor_db=21.0, min_agreement_db=23.0)
    assert verdicts["student-b"].passed and not verdicts["student-a"].passed
    assert (
        verdicts["student-a"].reason == "21.50 dB, +0.50 dB against the unchanged input: 1.50 dB below min_agreement_db"
    )
    assert verdicts["student-a"].as_record()["passed"] is False
    with pytest.raises(QualityGateError, match="student-a 21.00 dB, \\+0.00 dB .*no closer than doing nothing"):
        judge_students({"student-a": 21.0}, floor_db=21.0, min_agreement_db=None)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"teacher": {}}, "unlabelled: give teacher.checkpoint"),
        ({"dataset": {"photos": "x", "path": "y"}}, "not several"),
        ({"dataset": {"photos": "x", "size": 64, "crop_size": 128}}, "must not exceed"),
        ({"dataset": {"photos": "x", "size": 64, "crop_size": 44}}, "covers too little of a photo judged at 64 px"),
    ],
)
def test_specs_on_unlabelled_photos_need_a_teacher_to_label_them(photos, foreign_teacher, change, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(spec(photos, foreign_teacher, **change))


def unreadable(folder):
    (folder / "teacher.pth").write_bytes(b"\x00" * 100)
    return {"checkpoint": str(folder / "teacher.pth")}


def gray_to_color(folder):
    torch.save(JunyanzResnetGenerator(1, 3, 8, junyanz_norm("instance"), False, 3).state_dict(), folder / "g.pth")
    return {"checkpoint": str(folder / "g.pth"), "residual": True}


@pytest.mark.parametrize(
    "teacher, message",
    [(unreadable, "unreadable"), (gray_to_color, "residual students add their output to their input")],
)
def test_a_teacher_that_cannot_be_used_is_refused_in_one_line_before_any_work(photos, tmp_path, teacher, message):
    (tmp_path / "spec.json").write_text(json.dumps(spec(photos, "unused", teacher=teacher(tmp_path))))
    result = CliRunner().invoke(
        app,
        ["compress", str(tmp_path / "spec.json"), "--work-dir", str(tmp_path / "w"), "--repo", str(tmp_path / "repo")],
    )
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr and not (tmp_path / "repo").exists() and not (tmp_path / "w" / "supernet").exists()


def test_a_photo_folder_that_cannot_be_used_is_refused_in_one_line_before_any_work(foreign_teacher, tmp_path):
    (tmp_path / "photos").mkdir()
    for index in range(4):
        Image.new("RGB", (48, 20)).save(tmp_path / "photos" / f"{index}.png")  # below the 32 px the spec judges at
    (tmp_path / "spec.json").write_text(json.dumps(spec(tmp_path / "photos", foreign_teacher)))
    result = CliRunner().invoke(
        app,
        ["compress", str(tmp_path / "spec.json"), "--work-dir", str(tmp_path / "w"), "--repo", str(tmp_path / "repo")],
    )
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "short side below 32px" in result.stderr and not (tmp_path / "repo").exists()


def test_a_pseudo_pair_spec_trains_by_the_recipe_unless_it_says_otherwise(photos, foreign_teacher):
    recipe = parse_spec(spec(photos, foreign_teacher))
    assert (recipe.supernet.lr, recipe.supernet.beta1, recipe.supernet.lambda_gan) == (1e-3, 0.9, 0.0)
    assert recipe.supernet.reconstruction == "l1+ssim"
    assert (recipe.finetune.lr, recipe.finetune.beta1) == (5e-4, 0.9)
    told = spec(photos, foreign_teacher)
    told["supernet"] = {**told["supernet"], "lr": 3e-4, "lambda_gan": 1.0}
    assert (parse_spec(told).supernet.lr, parse_spec(told).supernet.lambda_gan) == (3e-4, 1.0)
    paired = parse_spec({**spec(photos, foreign_teacher), "dataset": {"sample": "sr4x", "size": 32}})
    assert (paired.supernet.lr, paired.supernet.beta1, paired.supernet.lambda_gan) == (2e-4, 0.5, 1.0)
    assert paired.supernet.reconstruction == "l1"
    unnamed = parse_spec({**spec(photos, foreign_teacher), "dataset": {"sample": "sr4x", "size": 32}, "supernet": {}})
    assert (unnamed.supernet.part_inputs, unnamed.supernet.choices) == ("own", "channels-48")


def test_a_pseudo_pair_spec_naming_no_choice_set_learns_part_by_part_on_the_trunk_of_an_ngf_64_teacher(
    photos, foreign_teacher, tmp_path
):
    unnamed = spec(photos, foreign_teacher, supernet={"steps": 4})
    recipe = parse_spec(unnamed).supernet
    assert (recipe.part_inputs, recipe.choices, recipe.lr) == ("teacher", "channels-32-8-trunk-64", 2e-3)
    for named in ({"choices": "channels-16"}, {"part_inputs": "own"}):
        told = parse_spec(spec(photos, foreign_teacher, supernet={"steps": 4, **named})).supernet
        assert (told.part_inputs, told.lr) == ("own", 1e-3)
    # This teacher is ngf 8: its trunk is not the default's, which is refused in one line, naming the set to use.
    (tmp_path / "spec.json").write_text(json.dumps(unnamed))
    result = CliRunner().invoke(
        app,
        ["compress", str(tmp_path / "spec.json"), "--work-dir", str(tmp_path / "w"), "--repo", str(tmp_path / "repo")],
    )
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "use `channels-32-8-trunk-8`, or `part_inputs: own`" in result.stderr
    assert not (tmp_path / "repo").exists() and not (tmp_path / "w" / "supernet").exists()

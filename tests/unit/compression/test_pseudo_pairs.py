"""A teacher made elsewhere and a folder of unlabelled photos: the teacher labels them, the pipeline compresses it."""

import json

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from compression.data import (
    DataError,
    TranslationDataset,
    build_photo_dataset,
    judging_preprocess,
    training_preprocess,
)
from compression.data.sample import skimage_photos
from compression.models import ModelSpec
from compression.pipeline import run_pipeline
from compression.training.pseudo_pairs import PseudoPairs
from ganc.cli.main import app
from ganc.repository import read_index
from ganc.spec import SpecError, parse_spec
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


class CountingTeacher(torch.nn.Module):
    """A small ResNet teacher that counts the photos it labels."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.generator = ModelSpec("resnet", {"ngf": 8, "n_blocks": 3}).build().eval()
        self.size_multiple, self.calls = self.generator.size_multiple, 0

    def forward_with_taps(self, x):
        self.calls += 1
        return self.generator.forward_with_taps(x)


def pseudo_pairs(root, teacher, checkpoint, crop=32):
    train = TranslationDataset(root, "train", training_preprocess(root, crop, None))
    side_range = train.preprocess.short_side
    return PseudoPairs(train, teacher, checkpoint, side_range=side_range, crop_size=crop, with_taps=True)


def test_the_teacher_labels_each_photo_once_per_scale_and_crops_cut_photo_labels_and_features_alike(
    photos, foreign_teacher, tmp_path
):
    build_photo_dataset(photos, tmp_path / "d", size=48)
    teacher = CountingTeacher()
    pairs = pseudo_pairs(tmp_path / "d", teacher, foreign_teacher)
    assert teacher.calls == len(pairs.data) * len(pairs.sides) and pairs.sides == [48, 60, 72, 84, 96]
    a, out, taps = pairs.batch(5, 3, seed=1)
    again = pairs.batch(5, 3, seed=1)
    assert torch.equal(a, again[0]) and torch.equal(out, again[1]) and not torch.equal(a, pairs.batch(6, 3, 1)[0])
    assert a.shape == out.shape == (3, 3, 32, 32) and [t.shape for t in taps] == [(3, 32, 8, 8)] * 4
    # Each crop is the teacher's output on the whole photo, cut where the photo was cut (or flipped with it).
    for photo, label, features in zip(a, out, zip(*taps)):
        found = False
        for scales in pairs.labels:
            for labelled in scales:
                whole, whole_taps = teacher.generator.forward_with_taps(labelled.photo.unsqueeze(0))
                for flip in (False, True):
                    source = labelled.photo.flip(-1) if flip else labelled.photo
                    for y in range(0, source.shape[1] - 31, 4):
                        for x in range(0, source.shape[2] - 31, 4):
                            if torch.equal(source[:, y : y + 32, x : x + 32], photo):
                                expected = whole[0].flip(-1) if flip else whole[0]
                                assert torch.allclose(expected[:, y : y + 32, x : x + 32], label, atol=2e-3)
                                tap = whole_taps[2][0].flip(-1) if flip else whole_taps[2][0]
                                cut = tap[:, y // 4 : y // 4 + 8, x // 4 : x // 4 + 8]
                                assert torch.allclose(cut, features[2], atol=1e-2 * float(cut.detach().abs().max()))
                                found = True
        assert found
    # A later stage reads the labels back instead of running the teacher again.
    later = CountingTeacher()
    assert torch.equal(pseudo_pairs(tmp_path / "d", later, foreign_teacher).batch(5, 3, 1)[1], out)
    assert later.calls == 0


def test_labels_of_another_teacher_are_not_reused(photos, foreign_teacher, tmp_path):
    build_photo_dataset(photos, tmp_path / "d", size=48)
    pseudo_pairs(tmp_path / "d", CountingTeacher(), foreign_teacher)
    other = tmp_path / "other.pth"
    other.write_bytes(foreign_teacher.read_bytes() + b"changed")
    teacher = CountingTeacher()
    pseudo_pairs(tmp_path / "d", teacher, other)
    assert teacher.calls > 0


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
    residual_students = {"checkpoint": str(foreign_teacher), "residual": True}
    result = run_pipeline(
        parse_spec(spec(photos, foreign_teacher, teacher=residual_students)),
        tmp_path / "work",
        tmp_path / "repo",
        "job",
    )
    assert (tmp_path / "work" / "teacher" / "imported.pt").is_file()  # converted once
    cards = {v.card.variant: v.card for v in read_index(tmp_path / "repo").versions}
    assert set(cards) == set(result["published"]) and len(cards) == 2
    for card in cards.values():
        assert card.quality_against == "teacher" and set(card.quality) == {"psnr_teacher", "ssim_teacher"}
    assert cards["teacher"].quality["psnr_teacher"] == 100.0  # the teacher agrees with itself
    student = next(c for name, c in cards.items() if name != "teacher")
    assert student.quality["psnr_teacher"] < 100.0 and student.teacher == "aged--teacher"
    assert student.architecture_options["residual"] is True and "residual" not in cards["teacher"].architecture_options
    run = json.loads((tmp_path / "work" / "supernet" / "run" / "config.json").read_text())
    assert run["data"]["dataset"].endswith("data/dataset")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"teacher": {}}, "unlabelled: give teacher.checkpoint"),
        ({"dataset": {"photos": "x", "path": "y"}}, "not several"),
        ({"dataset": {"photos": "x", "size": 64, "crop_size": 128}}, "must not exceed"),
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

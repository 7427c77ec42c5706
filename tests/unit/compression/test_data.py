import json

import numpy as np
import pytest
import torch
from PIL import Image

from compression.data import DataError, Preprocess, TranslationDataset, build_sample_dataset, find_split


def _image(path, size=(40, 40), value=None):
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    array = (
        rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        if value is None
        else np.full((size[1], size[0], 3), value, np.uint8)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def aligned(tmp_path):
    for i in range(5):
        _image(tmp_path / "train" / f"{i}.png", (80, 40))
    return tmp_path


def test_reads_the_three_layouts(tmp_path):
    for i in range(3):
        _image(tmp_path / "train" / f"{i}.png", (80, 40))
        _image(tmp_path / "val" / "A" / f"{i}.png")
        _image(tmp_path / "val" / "B" / f"{i}.jpg")
        _image(tmp_path / "testA" / f"{i}.png")
        _image(tmp_path / "testB" / f"x{i}.png")
    assert find_split(tmp_path, "train").layout == "aligned"
    paired = find_split(tmp_path, "val")
    assert paired.layout == "paired" and [p.stem for p in paired.a] == [p.stem for p in paired.b]
    assert find_split(tmp_path, "test").layout == "unpaired"


def test_aligned_images_split_into_a_and_b(aligned):
    dataset = TranslationDataset(aligned, "train", Preprocess())
    a, b = dataset.pair(0, np.random.default_rng(0))
    assert a.shape == b.shape == (3, 40, 40)
    both = np.asarray(Image.open(dataset.files.a[0]), dtype=np.float32) / 127.5 - 1
    assert torch.allclose(a, torch.from_numpy(both[:, :40]).permute(2, 0, 1))
    assert torch.allclose(b, torch.from_numpy(both[:, 40:]).permute(2, 0, 1))


def test_batches_are_seeded_deterministic_and_in_range(aligned):
    dataset = TranslationDataset(aligned, "train", Preprocess(load_size=48, crop_size=32, flip=True))
    a1, b1 = dataset.batch(step=3, batch_size=4, seed=7)
    a2, b2 = dataset.batch(step=3, batch_size=4, seed=7)
    a3, _ = dataset.batch(step=4, batch_size=4, seed=7)
    assert a1.shape == (4, 3, 32, 32)
    assert torch.equal(a1, a2) and torch.equal(b1, b2)
    assert not torch.equal(a1, a3)
    assert a1.min() >= -1 and a1.max() <= 1


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda root: None, "no split 'train'"),
        (lambda root: (root / "train").mkdir(parents=True), "holds no images"),
        (
            lambda root: (root / "train" / "A").mkdir(parents=True) or _image(root / "train" / "B" / "x.png"),
            "holds no images",
        ),
        (
            lambda root: [_image(root / "train" / "A" / "one.png"), _image(root / "train" / "B" / "two.png")],
            "unmatched pairs in .*train: 2 names in only one of A/ and B/: one, two",
        ),
        (
            lambda root: (
                _image(root / "train" / "ok.png", (80, 40)) and (root / "train" / "bad.png").write_bytes(b"no")
            ),
            "unreadable images: .*bad.png",
        ),
        (lambda root: _image(root / "train" / "small.png", (40, 20)), "smaller than the 32px crop: .*small.png"),
    ],
)
def test_bad_data_is_refused_with_the_files_named(tmp_path, setup, message):
    root = tmp_path / "data"
    root.mkdir()
    setup(root)
    with pytest.raises(DataError, match=message):
        TranslationDataset(root, "train", Preprocess(crop_size=32))


def test_missing_dataset_folder_is_named(tmp_path):
    with pytest.raises(DataError, match="dataset folder .*absent does not exist"):
        TranslationDataset(tmp_path / "absent", "train", Preprocess())


def test_truncated_png_is_refused(tmp_path):
    path = _image(tmp_path / "train" / "cut.png", (80, 40))
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(DataError, match="cut.png"):
        TranslationDataset(tmp_path, "train", Preprocess())


def test_missing_split_names_the_layouts(tmp_path):
    _image(tmp_path / "train" / "0.png", (80, 40))
    with pytest.raises(DataError, match="no split 'val'"):
        find_split(tmp_path, "val")


def test_an_image_that_breaks_during_training_is_skipped_and_counted(aligned, caplog):
    dataset = TranslationDataset(aligned, "train", Preprocess(crop_size=32))
    dataset.files.a[2].write_bytes(b"broken after the check")
    for step in range(3):
        a, _ = dataset.batch(step, batch_size=5, seed=0)
        assert a.shape[0] == 5
    assert dataset.skipped == [dataset.files.a[2]]
    assert "skipped corrupt image" in caplog.text


@pytest.fixture(scope="module")
def sr4x(tmp_path_factory):
    out = tmp_path_factory.mktemp("sets") / "sr4x"
    build_sample_dataset("sr4x", 32, out, seed=3)
    return out


def test_sample_splits_come_from_disjoint_regions(sr4x):
    summary = json.loads((sr4x / "dataset.json").read_text())
    names = {split: {p.stem for p in (sr4x / split).iterdir()} for split in ("train", "train2", "val", "test")}
    assert all(names.values())
    for first in names:
        for second in names:
            if first < second:
                assert not names[first] & names[second]
    assert sum(len(n) for n in names.values()) == sum(c["pairs"] for c in summary["counts"].values())
    # region names encode the photo and grid cell: a cell lives in exactly one split
    assert len(set().union(*names.values())) == sum(len(n) for n in names.values())


def test_sr4x_inputs_are_degraded_targets(sr4x):
    dataset = TranslationDataset(sr4x, "val", Preprocess())
    a, b = dataset.pair(0, np.random.default_rng(0))
    assert a.shape == b.shape == (3, 64, 64)
    error = (a - b).abs().mean().item()
    assert 0.005 < error < 0.3


def test_sample_sets_are_reproducible(sr4x, tmp_path):
    again = tmp_path / "again"
    build_sample_dataset("sr4x", 32, again, seed=3)
    first = sorted((sr4x / "test").iterdir())[0]
    assert (again / "test" / first.name).read_bytes() == first.read_bytes()


def test_gray2color_is_unpaired_gray_to_colour(tmp_path):
    out = tmp_path / "g2c"
    build_sample_dataset("gray2color", 32, out)
    files = find_split(out, "train")
    assert files.layout == "unpaired"
    gray = np.asarray(Image.open(files.a[0]), dtype=np.int16)
    assert np.array_equal(gray[..., 0], gray[..., 1])
    assert {p.stem for p in files.a}.isdisjoint({p.stem for p in files.b})


def test_edges2photo_inputs_are_line_drawings(tmp_path):
    out = tmp_path / "e2p"
    build_sample_dataset("edges2photo", 32, out)
    a, _ = TranslationDataset(out, "train", Preprocess()).pair(0, np.random.default_rng(0))
    values = set(np.unique(a.numpy()).tolist())
    assert values <= {-1.0, 1.0}


def test_a_folder_of_photos_becomes_a_dataset(tmp_path):
    for i in range(3):
        _image(tmp_path / "photos" / f"p{i}.jpg", (200, 150))
    summary = build_sample_dataset("sr4x", 32, tmp_path / "mine", photos_dir=tmp_path / "photos")
    assert summary["source"].endswith("photos") and sum(c["pairs"] for c in summary["counts"].values()) == 18


def test_photos_larger_than_usual_are_halved_to_a_usual_size_first(tmp_path):
    _image(tmp_path / "photos" / "wallpaper.png", (2100, 1040))  # halved twice: 525 x 260, 2 x 1 regions
    _image(tmp_path / "photos" / "photo.png", (1024, 512))  # as it is: 4 x 2 regions
    summary = build_sample_dataset("sr4x", 128, tmp_path / "mine", photos_dir=tmp_path / "photos")
    names = [p.stem for split in ("train", "train2", "val", "test") for p in (tmp_path / "mine" / split).iterdir()]
    assert sum(c["pairs"] for c in summary["counts"].values()) == len(names) == 2 * 1 + 4 * 2
    assert sum(n.startswith("wallpaper_") for n in names) == 2 * 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"task": "pix2pix"}, "unknown task"),
        ({"size": 30}, "multiple of 4"),
        ({"photos_dir": "missing"}, "does not exist"),
        ({"photos_dir": "tiny"}, "only 0 usable"),
    ],
)
def test_sample_builder_refuses_bad_requests_and_writes_nothing(tmp_path, kwargs, message):
    _image(tmp_path / "tiny" / "small.png", (20, 20))
    args = {"task": "sr4x", "size": 32, "out": tmp_path / "out", **kwargs}
    if "photos_dir" in args:
        args["photos_dir"] = tmp_path / args["photos_dir"]
    with pytest.raises(DataError, match=message):
        build_sample_dataset(**args)
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]

import pytest
import torch

from compression.checkpoint import CheckpointError, load_checkpoint, load_generator, save_checkpoint
from compression.models import ModelSpec


def test_checkpoint_rebuilds_the_same_generator(tmp_path):
    spec = ModelSpec("sub_mobile_resnet", {"config": "8_8_8_8_8_8_8_8", "n_blocks": 3})
    model = spec.build().eval()
    path = tmp_path / "g.pt"
    save_checkpoint(path, spec, model, step=7)
    loaded_spec, loaded = load_generator(path)
    assert loaded_spec == spec
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(loaded(x), model(x))
    assert load_checkpoint(path)["step"] == 7
    assert [p.name for p in tmp_path.iterdir()] == ["g.pt"]


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_generator(tmp_path / "absent.pt")


def test_corrupt_checkpoint_is_refused(tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="unreadable"):
        load_generator(path)


def test_truncated_checkpoint_is_refused(tmp_path):
    spec = ModelSpec("resnet", {"ngf": 8, "n_blocks": 3})
    path = tmp_path / "g.pt"
    save_checkpoint(path, spec, spec.build())
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="unreadable"):
        load_generator(path)


def test_foreign_file_is_refused(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a ganc checkpoint"):
        load_generator(path)


def test_weights_that_do_not_fit_the_architecture_are_refused(tmp_path):
    path = tmp_path / "g.pt"
    save_checkpoint(path, ModelSpec("resnet", {"ngf": 8, "n_blocks": 3}), ModelSpec("resnet", {"ngf": 16}).build())
    with pytest.raises(CheckpointError, match="does not fit resnet"):
        load_generator(path)

"""Generators made elsewhere import into ganc's own and compute the same outputs.

The foreign architectures (tests/support/foreign_generators.py, written from their published definitions) get random
non-trivial weights, are saved as those projects save them, imported, and compared.
"""

import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from compression.checkpoint import load_generator
from compression.foreign import ForeignCheckpointError, import_generator
from ganc.cli.main import app
from tests.support.foreign_generators import (
    JunyanzResnetGenerator,
    JunyanzUnetGenerator,
    VintagifyGenerator,
    junyanz_norm,
    randomised,
)


def imported_matches(tmp_path, model: nn.Module, size: int, saved=None) -> dict:
    path = tmp_path / "latest_net_G.pth"
    torch.save(saved if saved is not None else model.state_dict(), path)
    imported = import_generator(path)
    x = torch.rand(2, model_input_nc(model), size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        difference = (imported.model(x) - model(x)).abs().max().item()
    assert difference < 1e-5, difference
    return {"format": imported.format, **imported.spec.options}


def model_input_nc(model: nn.Module) -> int:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d)).in_channels


@pytest.mark.parametrize("n_blocks", [6, 9])
@pytest.mark.parametrize("norm", ["instance", "batch"])
@pytest.mark.parametrize("dropout", [False, True])
def test_pytorch_cyclegan_resnet_generators_import_exactly(tmp_path, n_blocks, norm, dropout):
    model = randomised(JunyanzResnetGenerator(3, 3, 8, junyanz_norm(norm), dropout, n_blocks))
    options = imported_matches(tmp_path, model, 32)
    assert options == {
        "format": "pytorch-cyclegan",
        "input_nc": 3,
        "output_nc": 3,
        "ngf": 8,
        "n_blocks": n_blocks,
        "norm": norm,
    }


@pytest.mark.parametrize("num_downs, size", [(7, 128), (8, 256)])
@pytest.mark.parametrize("norm", ["instance", "batch"])
@pytest.mark.parametrize("dropout", [False, True])
def test_pytorch_cyclegan_unet_generators_import_exactly(tmp_path, num_downs, size, norm, dropout):
    model = randomised(JunyanzUnetGenerator(3, 3, num_downs, 4, junyanz_norm(norm), dropout))
    options = imported_matches(tmp_path, model, size)
    assert options == {
        "format": "pytorch-cyclegan",
        "input_nc": 3,
        "output_nc": 3,
        "ngf": 4,
        "num_downs": num_downs,
        "norm": norm,
    }


def test_vintagify_generators_import_exactly(tmp_path):
    model = randomised(VintagifyGenerator(ngf=8, n_blocks=9))
    assert imported_matches(tmp_path, model, 32)["norm"] == "instance_affine"


def test_checkpoints_as_people_save_them_import_too(tmp_path):
    model = randomised(JunyanzResnetGenerator(1, 3, 8, junyanz_norm("instance"), False, 6))
    state = model.state_dict()
    from_data_parallel = {f"module.{key}": value for key, value in state.items()}
    imported_matches(tmp_path, model, 32, saved={"state_dict": from_data_parallel})
    # PyTorch before 0.4 saved running statistics for InstanceNorm, which never uses them.
    old = {**state, "model.2.running_mean": torch.zeros(8), "model.2.running_var": torch.ones(8)}
    assert imported_matches(tmp_path, model, 32, saved=old)["input_nc"] == 1


def test_the_imported_vintagify_teacher_costs_what_the_paper_says(tmp_path):
    torch.save(VintagifyGenerator().state_dict(), tmp_path / "G_A2B_epoch33.pth")
    runner = CliRunner()
    imported = runner.invoke(app, ["import", str(tmp_path / "G_A2B_epoch33.pth"), "--out", str(tmp_path / "t.pt")])
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout)["format"] == "vintagify"
    result = runner.invoke(app, ["macs", "--checkpoint", str(tmp_path / "t.pt"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["params"] == 11_388_675 and round(report["macs"] / 1e9, 1) == 56.8
    spec, _ = load_generator(tmp_path / "t.pt")
    assert spec.options["norm"] == "instance_affine"


def _bad(tmp_path, kind: str):
    path = tmp_path / "bad.pth"
    good = JunyanzResnetGenerator(3, 3, 8, junyanz_norm("instance"), False, 6).state_dict()
    if kind == "truncated":
        torch.save(good, path)
        path.write_bytes(path.read_bytes()[:2000])
    elif kind == "whole model":
        torch.save(nn.Linear(2, 2), path)
    elif kind == "unknown keys":
        torch.save(nn.Sequential(nn.Linear(2, 2)).state_dict(), path)
    elif kind == "wrong shape":
        torch.save({**good, "model.4.weight": torch.zeros(16, 9, 3, 3)}, path)
    elif kind == "missing key":
        torch.save({k: v for k, v in good.items() if k != "model.13.conv_block.5.bias"}, path)
    elif kind == "extra key":
        torch.save({**good, "model.13.conv_block.9.weight": torch.zeros(1)}, path)
    return path


@pytest.mark.parametrize(
    "kind, message",
    [
        ("truncated", "unreadable: not a PyTorch file, or truncated"),
        ("whole model", "save its state_dict()"),
        ("unknown keys", "key '0.weight' fits no generator layout"),
        ("wrong shape", "model.4.weight has shape [16, 9, 3, 3]; a ResnetGenerator needs [16, 8, 3, 3]"),
        ("missing key", "key 'model.13.conv_block.5.bias' is missing"),
        ("extra key", "key 'model.13.conv_block.9.weight' has no place"),
    ],
)
def test_checkpoints_that_fit_no_layout_get_one_line_and_nothing_is_written(tmp_path, kind, message):
    result = CliRunner().invoke(app, ["import", str(_bad(tmp_path, kind)), "--out", str(tmp_path / "t.pt")])
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "t.pt").exists()
    with pytest.raises(ForeignCheckpointError, match="is a pytorch-cyclegan checkpoint, not vintagify"):
        torch.save(JunyanzResnetGenerator(3, 3, 8, junyanz_norm("batch"), False, 6).state_dict(), tmp_path / "g.pth")
        import_generator(tmp_path / "g.pth", "vintagify")

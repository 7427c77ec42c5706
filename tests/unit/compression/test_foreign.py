"""Generators made elsewhere import into ganc's own and compute the same outputs.

The foreign architectures are written here from their published definitions (junyanz/pytorch-CycleGAN-and-pix2pix's
`models/networks.py`, vintagify's `generator.py`), given random non-trivial weights, saved as those projects save them,
imported, and compared.
"""

import functools
import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from compression.checkpoint import load_generator
from compression.foreign import ForeignCheckpointError, import_generator
from ganc.cli.main import app


def junyanz_norm(kind: str):
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)


class JunyanzResnetBlock(nn.Module):
    def __init__(self, dim, norm_layer, use_dropout, use_bias):
        super().__init__()
        block = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias), norm_layer(dim), nn.ReLU(True)]
        if use_dropout:
            block += [nn.Dropout(0.5)]
        block += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias), norm_layer(dim)]
        self.conv_block = nn.Sequential(*block)

    def forward(self, x):
        return x + self.conv_block(x)


class JunyanzResnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, ngf, norm_layer, use_dropout, n_blocks):
        super().__init__()
        use_bias = norm_layer.func == nn.InstanceNorm2d
        model = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=use_bias), norm_layer(ngf), nn.ReLU(True)]
        for i in range(2):
            mult = 2**i
            model += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=use_bias),
                norm_layer(ngf * mult * 2),
                nn.ReLU(True),
            ]
        model += [JunyanzResnetBlock(ngf * 4, norm_layer, use_dropout, use_bias) for _ in range(n_blocks)]
        for i in range(2):
            mult = 2 ** (2 - i)
            model += [
                nn.ConvTranspose2d(
                    ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=use_bias
                ),
                norm_layer(ngf * mult // 2),
                nn.ReLU(True),
            ]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


class JunyanzUnetBlock(nn.Module):
    def __init__(
        self,
        outer_nc,
        inner_nc,
        input_nc=None,
        submodule=None,
        outermost=False,
        innermost=False,
        norm_layer=None,
        use_dropout=False,
    ):
        super().__init__()
        self.outermost = outermost
        use_bias = norm_layer.func == nn.InstanceNorm2d
        input_nc = input_nc or outer_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=use_bias)
        downrelu, downnorm = nn.LeakyReLU(0.2, True), norm_layer(inner_nc)
        uprelu, upnorm = nn.ReLU(True), norm_layer(outer_nc)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm]
            model += [nn.Dropout(0.5)] if use_dropout else []
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class JunyanzUnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, num_downs, ngf, norm_layer, use_dropout):
        super().__init__()
        block = JunyanzUnetBlock(ngf * 8, ngf * 8, norm_layer=norm_layer, innermost=True)
        for _ in range(num_downs - 5):
            block = JunyanzUnetBlock(ngf * 8, ngf * 8, submodule=block, norm_layer=norm_layer, use_dropout=use_dropout)
        for outer in (4, 2, 1):
            block = JunyanzUnetBlock(ngf * outer, ngf * outer * 2, submodule=block, norm_layer=norm_layer)
        self.model = JunyanzUnetBlock(output_nc, ngf, input_nc, block, outermost=True, norm_layer=norm_layer)

    def forward(self, x):
        return self.model(x)


class VintagifyResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3),
            nn.InstanceNorm2d(dim, affine=True),
            nn.ReLU(),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3),
            nn.InstanceNorm2d(dim, affine=True),
        )

    def forward(self, x):
        return x + self.block(x)


class VintagifyGenerator(nn.Module):
    def __init__(self, input_nc=3, output_nc=3, ngf=64, n_blocks=9):
        super().__init__()
        model = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), nn.InstanceNorm2d(ngf, affine=True), nn.ReLU()]
        features = ngf
        for _ in range(2):
            model += [
                nn.Conv2d(features, features * 2, 3, 2, 1),
                nn.InstanceNorm2d(features * 2, affine=True),
                nn.ReLU(),
            ]
            features *= 2
        model += [VintagifyResnetBlock(features) for _ in range(n_blocks)]
        for _ in range(2):
            model += [
                nn.ConvTranspose2d(features, features // 2, 3, 2, 1, output_padding=1),
                nn.InstanceNorm2d(features // 2, affine=True),
                nn.ReLU(),
            ]
            features //= 2
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


def randomised(model: nn.Module) -> nn.Module:
    """Non-trivial weights everywhere, norms and running statistics included, in eval mode."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                noise = torch.randn(tensor.shape, generator=generator)
                tensor.copy_(noise.abs() + 0.5 if name.endswith(("running_var", "norm.weight")) else noise * 0.1)
    return model.eval()


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

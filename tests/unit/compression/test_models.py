import random
from pathlib import Path

import pytest
import torch

from compression.metrics import count_macs
from compression.models import (
    CHOICE_SETS,
    ChannelConfig,
    ChannelConfigError,
    ModelSpec,
    SubMobileResnetGenerator,
    UnknownModelError,
    build_model,
    extract_subnet,
    get_choice_set,
    list_models,
)
from ganc.repository import read_index

TINY_GENERATORS = {
    "resnet": {"ngf": 8, "n_blocks": 3},
    "mobile_resnet": {"ngf": 8, "n_blocks": 3},
    "super_mobile_resnet": {"ngf": 16, "n_blocks": 3},
    "sub_mobile_resnet": {"config": "8_8_16_8_16_8_8_8", "n_blocks": 3},
    "unet": {"ngf": 8, "num_downs": 5},
}


def test_every_registered_model_has_a_tiny_configuration_here():
    assert set(list_models()) == {*TINY_GENERATORS, "nlayer_discriminator"}


@pytest.mark.parametrize("arch", sorted(TINY_GENERATORS))
@pytest.mark.parametrize("residual", [False, True])
def test_generator_builds_runs_and_learns(arch, residual):
    torch.manual_seed(0)
    model = build_model(arch, residual=residual, **TINY_GENERATORS[arch])
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = model(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()
    assert y.abs().max() <= 1
    y.mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("arch", sorted(TINY_GENERATORS))
def test_residual_generator_starts_as_the_identity(arch):
    model = build_model(arch, residual=True, **TINY_GENERATORS[arch])
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(model(x), x)


@pytest.mark.parametrize("arch", [*sorted(TINY_GENERATORS), "nlayer_discriminator"])
def test_fresh_networks_start_from_the_references_normal_weights(arch):
    torch.manual_seed(0)
    model = build_model(arch, **TINY_GENERATORS.get(arch, {"norm": "batch"}))
    convolutions = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)]
    weights = torch.cat([m.weight.detach().flatten() for m in convolutions])
    assert abs(float(weights.mean())) < 2e-3 and float(weights.std()) == pytest.approx(0.02, rel=0.05)
    assert all(m.bias is None or not m.bias.any() for m in convolutions)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all((m.weight - 1).abs().max() < 0.2 and not m.bias.any() for m in norms)


def test_residual_needs_matching_channels():
    with pytest.raises(ValueError, match="residual"):
        build_model("resnet", ngf=8, output_nc=1, residual=True)


def test_teacher_matches_the_paper():
    report = count_macs(build_model("resnet", ngf=64, n_blocks=9), 256)
    assert report.params == 11_378_179
    assert abs(report.macs - 56.8e9) / 56.8e9 < 0.001


def test_published_horse2zebra_config_matches_the_reference():
    report = count_macs(build_model("sub_mobile_resnet", config="16_16_32_16_32_32_16_16"), 256)
    assert abs(report.macs - 2.55e9) / 2.55e9 < 0.02


def test_channel_config_positions_set_the_layer_widths():
    model = SubMobileResnetGenerator(ChannelConfig.parse("8_16_24_32_40_48_56_64"), n_blocks=9)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)]
    assert convs[0].out_channels == 8  # stem, x1
    assert convs[1].out_channels == 32  # first down-sampling, x2
    assert convs[2].out_channels == 96  # trunk, x4
    inner = [block.expand.conv[2].out_channels for block in model.blocks]
    assert inner == [128] * 3 + [160] * 3 + [192] * 3
    ups = [m.out_channels for m in model.decoder if isinstance(m, torch.nn.ConvTranspose2d)]
    assert ups == [112, 64]


@pytest.mark.parametrize(
    "text, message",
    [
        ("16_16_32", "8 entries"),
        ("16_16_32_16_32_32_16_16_8", "8 entries"),
        ("16_0_32_16_32_32_16_16", "positive"),
        ("16_-8_32_16_32_32_16_16", "not a positive integer"),
        ("16_8.5_32_16_32_32_16_16", "not a positive integer"),
        ("16_x_32_16_32_32_16_16", "not a positive integer"),
    ],
)
def test_bad_channel_configs_are_refused(text, message):
    with pytest.raises(ChannelConfigError, match=message):
        ChannelConfig.parse(text)


def test_channel_config_round_trips():
    assert str(ChannelConfig.parse("16_16_32_16_32_32_16_16")) == "16_16_32_16_32_32_16_16"


@pytest.mark.parametrize("seed, norm", [(seed, norm) for seed in range(2) for norm in ("instance", "instance_affine")])
def test_extracted_subnet_equals_the_supernet_with_that_config(seed, norm):
    torch.manual_seed(seed)
    supernet = build_model("super_mobile_resnet", ngf=16, n_blocks=3, norm=norm)
    for p in supernet.parameters():  # non-trivial biases too
        torch.nn.init.normal_(p, 0, 0.2)
    supernet.eval()
    config = ChannelConfig(tuple(random.Random(seed).choice((8, 16)) for _ in range(8)))
    supernet.set_config(config)
    x = torch.rand(2, 3, 32, 40) * 2 - 1
    with torch.no_grad():
        expected = supernet(x)
        actual = supernet.extract(config)(x)
    assert actual.shape == expected.shape
    assert (actual - expected).abs().max() <= 1e-5


@pytest.mark.parametrize("norm", ["instance", "instance_affine"])
def test_extract_subnet_gives_a_spec_that_rebuilds_it(norm):
    spec = ModelSpec("super_mobile_resnet", {"ngf": 16, "n_blocks": 3, "residual": True, "norm": norm})
    supernet = spec.build()
    sub_spec, sub = extract_subnet(spec, supernet, ChannelConfig.uniform(8))
    expected = {"config": "8_8_8_8_8_8_8_8", "n_blocks": 3, "residual": True, "norm": norm}
    assert sub_spec == ModelSpec("sub_mobile_resnet", expected)
    rebuilt = sub_spec.build()
    rebuilt.load_state_dict(sub.state_dict())
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(rebuilt.eval()(x), sub(x), atol=1e-6)


def test_supernet_refuses_widths_outside_its_choice_set():
    supernet = build_model("super_mobile_resnet", choices="channels-48", n_blocks=3)
    with pytest.raises(ChannelConfigError, match="c0 is not in choice set 'channels-48'"):
        supernet.set_config(ChannelConfig.uniform(40))
    with pytest.raises(ChannelConfigError, match="exceeds"):
        supernet.set_config(ChannelConfig.uniform(64))


def test_reference_choice_sets_are_present():
    assert {"channels-48", "channels-32", "channels-64-pix2pix", "channels-64-cyclegan"} <= set(CHOICE_SETS)
    assert CHOICE_SETS["channels-48"].largest == ChannelConfig.uniform(48)


def test_a_choice_set_with_its_trunk_fixed_keeps_every_sub_network_at_that_trunk():
    fixed = get_choice_set("channels-32-8-trunk-64")
    base = get_choice_set("channels-32-8")
    assert fixed.choices[2] == (64,) and fixed.choices[:2] + fixed.choices[3:] == base.choices[:2] + base.choices[3:]
    assert fixed.largest.trunk == fixed.smallest.trunk == 256 and fixed.size == base.size // 4
    with pytest.raises(ChannelConfigError, match="'x' after '-trunk-' is not a width"):
        get_choice_set("channels-32-8-trunk-x")
    with pytest.raises(ChannelConfigError, match="unknown choice set 'nope'"):
        get_choice_set("nope-trunk-8")


def test_unet_needs_inputs_of_its_size_multiple():
    model = build_model("unet", ngf=8, num_downs=5)
    assert model.size_multiple == 32
    assert build_model("resnet", ngf=8).size_multiple == 4


def test_patchgan_scores_patches():
    discriminator = build_model("nlayer_discriminator", input_nc=6, ndf=8)
    scores = discriminator(torch.rand(2, 6, 64, 64))
    assert scores.shape == (2, 1, 6, 6)


def test_factory_refuses_unknown_names_and_options():
    with pytest.raises(UnknownModelError, match="unknown architecture 'nope'"):
        build_model("nope")
    with pytest.raises(ValueError, match="unknown options for architecture 'resnet': config"):
        build_model("resnet", config="8_8_8_8_8_8_8_8")
    with pytest.raises(ValueError, match="ngf must be a positive integer"):
        build_model("resnet", ngf=0)
    with pytest.raises(ValueError, match="multiple of 3"):
        build_model("mobile_resnet", n_blocks=4)


def test_every_shipped_card_still_describes_its_model():
    """What the generators grew for foreign checkpoints changed no published model's cost."""
    index = read_index(Path(__file__).parents[3] / "model_repository")
    assert index.versions and not index.problems
    for entry in index.latest():
        card = entry.card
        counts = count_macs(ModelSpec(card.architecture, card.architecture_options).build(), 256, card.channels_in)
        assert (counts.macs, counts.macs_real, counts.params) == (card.macs, card.macs_real, card.params), card.variant


@pytest.mark.parametrize("arch", ["resnet", "sub_mobile_resnet"])
def test_a_generator_normalised_after_its_stem_is_blind_to_brightness_and_contrast(arch):
    # Why plain students suit such a teacher: its answer to a x + b is its answer to x, which a residual student
    # (output = x + correction) cannot be.
    torch.manual_seed(0)
    options = {"ngf": 8, "n_blocks": 3} if arch == "resnet" else {"config": "8_8_8_8_8_8_8_8", "n_blocks": 3}
    model, residual = (build_model(arch, norm="instance_affine", residual=r, **options).eval() for r in (False, True))
    for layer in [*model.modules(), *residual.modules()]:  # weights of a trained scale: features well above eps
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.normal_(layer.weight, 0, 0.5)
    x = torch.rand(1, 3, 32, 32) * 0.8 - 0.4
    with torch.no_grad():
        assert torch.allclose(model(0.5 * x + 0.2), model(x), atol=1e-3)
        assert not torch.allclose(residual(0.5 * x + 0.2), residual(x), atol=1e-2)

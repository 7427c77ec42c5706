import pytest
import torch
from torch import nn

from compression.models import MobileResnetGenerator
from compression.models.layers import norm_layer_for
from compression.models.resnet import ResnetGenerator
from compression.models.weight_transfer import transfer_by_l1


def _embed(narrow, wide, seed: int = 0) -> None:
    """Make `wide` compute what `narrow` computes: each layer's narrow channels sit at random places among
    zero channels (what channel selection by L1 norm must find again)."""
    generator = torch.Generator().manual_seed(seed)

    def place(width: int, wide_width: int) -> torch.Tensor:
        return torch.arange(width) if width == wide_width else torch.randperm(wide_width, generator=generator)[:width]

    def put(into: nn.Module, layer: nn.Module, inputs: torch.Tensor, outputs: torch.Tensor) -> None:
        if isinstance(layer, nn.ConvTranspose2d):
            into.weight[inputs[:, None], outputs] = layer.weight
        elif layer.groups > 1:  # depthwise: channel for channel
            into.weight[inputs] = layer.weight
        else:
            into.weight[outputs[:, None], inputs] = layer.weight
        if layer.bias is not None:
            into.bias[outputs] = layer.bias

    with torch.no_grad():
        for tensor in wide.parameters():
            tensor.zero_()
        index = torch.arange(3)
        for into, layer in zip(_convs(wide.encoder), _convs(narrow.encoder)):
            outputs = place(layer.out_channels, into.out_channels)
            put(into, layer, index, outputs)
            index = outputs
        trunk = index
        for into, block in zip(wide.blocks, narrow.blocks):
            into_convs, convs = _convs(into.modules()), _convs(block.modules())
            if len(convs) == 2:  # a ResNet block: trunk -> inner -> trunk
                inner = place(convs[0].out_channels, into_convs[0].out_channels)
                put(into_convs[0], convs[0], trunk, inner)
                put(into_convs[1], convs[1], inner, trunk)
            else:  # a mobile block: depthwise, pointwise, depthwise, pointwise
                inner = place(convs[1].out_channels, into_convs[1].out_channels)
                put(into_convs[0], convs[0], trunk, trunk)
                put(into_convs[1], convs[1], trunk, inner)
                put(into_convs[2], convs[2], inner, inner)
                put(into_convs[3], convs[3], inner, trunk)
        for into, layer in zip(_convs(wide.decoder), _convs(narrow.decoder)):
            outputs = place(layer.out_channels, into.out_channels)
            put(into, layer, index, outputs)
            index = outputs


def _convs(modules) -> list[nn.Module]:
    return [m for m in modules if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


@pytest.mark.parametrize("kind", ["resnet", "mobile"])
def test_a_narrow_generator_hidden_in_a_wide_one_is_found_again(kind):
    torch.manual_seed(0)
    build = ResnetGenerator if kind == "resnet" else MobileResnetGenerator
    narrow, wide, target = build(ngf=4, n_blocks=3), build(ngf=8, n_blocks=3), build(ngf=4, n_blocks=3)
    for layer in narrow.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) and layer.bias is not None:
            nn.init.normal_(layer.bias, 0, 0.1)
    _embed(narrow, wide)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(wide(x), narrow(x), atol=1e-5)  # the embedding itself is right
        copied = transfer_by_l1(wide, target).copied
        assert torch.allclose(target(x), narrow(x), atol=1e-5)
    assert len(copied) == 6 + 3  # stem, 2 down, 2 up, head; every block


def test_a_mobile_student_takes_a_resnet_teachers_outer_layers_and_keeps_its_fresh_blocks():
    torch.manual_seed(0)
    teacher, student = ResnetGenerator(ngf=8, n_blocks=3), MobileResnetGenerator(ngf=4, n_blocks=3)
    blocks_before = {k: v.clone() for k, v in student.blocks.state_dict().items()}
    with torch.no_grad():
        copied = transfer_by_l1(teacher, student).copied
    assert copied == ["encoder.1", "encoder.4", "encoder.7", "decoder.0", "decoder.3", "decoder.7"]
    assert all(torch.equal(v, student.blocks.state_dict()[k]) for k, v in blocks_before.items())
    stem = teacher.encoder[1].weight
    kept = stem.abs().sum((1, 2, 3)).topk(4).indices
    assert torch.equal(student.encoder[1].weight, stem[kept])
    head = teacher.decoder[7].weight
    assert student.decoder[7].weight.shape == (3, 4, 7, 7)
    assert set(student.decoder[7].weight.abs().sum((0, 2, 3)).tolist()) <= set(head.abs().sum((0, 2, 3)).tolist())


def test_a_student_wider_than_the_teacher_takes_all_its_channels_and_keeps_the_rest_fresh():
    torch.manual_seed(0)
    teacher, student = ResnetGenerator(ngf=4, n_blocks=3), MobileResnetGenerator(ngf=8, n_blocks=3)
    fresh = student.encoder[1].weight.clone()
    with torch.no_grad():
        transfer_by_l1(teacher, student)
    stem = student.encoder[1].weight
    assert torch.equal(stem[:4], teacher.encoder[1].weight) and torch.equal(stem[4:], fresh[4:])
    down = student.encoder[4].weight  # all 8 of the teacher's outputs, over its 4 stem channels
    assert torch.equal(down[:8, :4], teacher.encoder[4].weight)


def test_generators_of_different_layouts_are_refused():
    with pytest.raises(ValueError, match="as many blocks"):
        transfer_by_l1(ResnetGenerator(ngf=8, n_blocks=3), MobileResnetGenerator(ngf=4, n_blocks=6))
    with pytest.raises(ValueError, match="ResNet-layout"):
        transfer_by_l1(ResnetGenerator(ngf=8, n_blocks=3), nn.Sequential(nn.Conv2d(3, 3, 1)))  # type: ignore[arg-type]


def test_affine_norms_take_the_scales_and_shifts_of_the_channels_they_follow():
    torch.manual_seed(0)
    teacher = ResnetGenerator(ngf=8, n_blocks=3, norm_layer=norm_layer_for("instance_affine"))
    student = MobileResnetGenerator(ngf=4, n_blocks=3, norm_layer=norm_layer_for("instance_affine"))
    for module in teacher.modules():
        if isinstance(module, nn.InstanceNorm2d):
            nn.init.normal_(module.weight)
            nn.init.normal_(module.bias)
    with torch.no_grad():
        transfer = transfer_by_l1(teacher, student)
    stem_kept = teacher.encoder[1].weight.abs().sum((1, 2, 3)).topk(4).indices
    assert torch.equal(student.encoder[2].weight, teacher.encoder[2].weight[stem_kept])
    assert torch.equal(student.encoder[2].bias, teacher.encoder[2].bias[stem_kept])
    assert transfer.trunk.shape == (16,) and len(set(transfer.trunk.tolist())) == 16
    assert torch.equal(student.encoder[8].weight, teacher.encoder[8].weight[transfer.trunk])


def test_a_fresh_block_with_an_affine_norm_starts_as_the_identity():
    student = MobileResnetGenerator(ngf=4, n_blocks=3, norm_layer=norm_layer_for("instance_affine"))
    h = torch.randn(2, 16, 8, 8)
    assert torch.equal(student.blocks(h), h)

"""The PatchGAN discriminator of pix2pix (Isola et al., CVPR 2017): one real/fake score per patch."""

import torch
from torch import nn

from .layers import NormLayer, NormName, check_positive, norm_layer_for, reference_init, uses_bias
from .registry import register_model


class NLayerDiscriminator(nn.Module):
    """`n_layers` stride-2 4x4 convolutions (widths ndf x 1, 2, 4, 8 at most), then two stride-1 ones."""

    def __init__(
        self,
        input_nc: int = 6,
        ndf: int = 64,
        n_layers: int = 3,
        norm_layer: NormLayer | None = None,
        bias: bool = False,
    ) -> None:
        super().__init__()
        norm_layer = norm_layer or norm_layer_for("batch")
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for n in range(1, n_layers + 1):
            next_width = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(width, next_width, 4, stride=stride, padding=1, bias=bias),
                norm_layer(next_width),
                nn.LeakyReLU(0.2, True),
            ]
            width = next_width
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        reference_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


@register_model("nlayer_discriminator")
def nlayer_discriminator(
    input_nc: int = 6, ndf: int = 64, n_layers: int = 3, norm: NormName = "batch"
) -> NLayerDiscriminator:
    check_positive(input_nc=input_nc, ndf=ndf, n_layers=n_layers)
    return NLayerDiscriminator(input_nc, ndf, n_layers, norm_layer_for(norm), uses_bias(norm))

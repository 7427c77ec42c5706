"""Losses of pix2pix, CycleGAN and GAN Compression's distillation, the students' reconstruction, and CycleGAN's
image pool."""

import random

import torch
from torch import nn
from torch.nn import functional as F

from ganc.spec import GanMode, Reconstruction


class GANLoss(nn.Module):
    """The adversarial loss for real/fake score maps, in one of three formulations."""

    def __init__(self, mode: GanMode = "lsgan") -> None:
        super().__init__()
        if mode not in ("lsgan", "hinge", "vanilla"):
            raise ValueError(f"unknown gan mode {mode!r}; expected lsgan, hinge or vanilla")
        self.mode = mode

    def forward(self, scores: torch.Tensor, target_is_real: bool, for_discriminator: bool = True) -> torch.Tensor:
        if self.mode == "lsgan":
            return F.mse_loss(scores, torch.full_like(scores, float(target_is_real)))
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(scores, torch.full_like(scores, float(target_is_real)))
        if not for_discriminator:  # hinge, generator side
            return -scores.mean()
        return F.relu(1 - scores).mean() if target_is_real else F.relu(1 + scores).mean()


class ImagePool:
    """CycleGAN's history of generated images: the discriminator sees old fakes half of the time."""

    def __init__(self, size: int = 50) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor, rng: random.Random) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif rng.random() < 0.5:
                slot = rng.randrange(self.size)
                out.append(self.images[slot].to(images.device, copy=True))  # a resumed pool was loaded on the CPU
                self.images[slot] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict:
        return {"images": list(self.images)}

    def load_state_dict(self, state: dict) -> None:
        self.images = list(state["images"])


def distillation_loss(
    student_taps: list[torch.Tensor], teacher_taps: list[torch.Tensor], mappings: nn.ModuleList
) -> torch.Tensor:
    """Sum over taps of the MSE between the mapped student features and the teacher's."""
    return sum(
        (F.mse_loss(mapping(s), t) for s, t, mapping in zip(student_taps, teacher_taps, mappings, strict=True)),
        torch.zeros(()),
    )


def reconstruction_loss(kind: Reconstruction, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """How far a student's output is from its target: L1, or L1 + (1 - SSIM) (measured 1.4 dB closer to the teacher
    for pseudo pairs at equal steps: docs/method.md)."""
    loss = F.l1_loss(output, target)
    return loss + 1 - ssim(output, target) if kind == "l1+ssim" else loss


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of images in [-1, 1] (Gaussian window of 11, sigma 1.5, per channel), differentiable. In fp32
    outside autocast: its variances are differences of close numbers, which under bfloat16 went negative and took
    a student to NaN."""
    with torch.autocast(x.device.type, enabled=False):
        x, y = (x.float() + 1) / 2, (y.float() + 1) / 2
        side = min(11, *x.shape[-2:])
        taps = torch.exp(-((torch.arange(side, dtype=x.dtype, device=x.device) - (side - 1) / 2) ** 2) / 4.5)
        window = (taps[:, None] * taps[None, :] / taps.sum() ** 2).expand(x.shape[1], 1, side, side)

        def blur(t: torch.Tensor) -> torch.Tensor:
            return F.conv2d(t, window, groups=x.shape[1])

        mx, my = blur(x), blur(y)
        vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
        c1, c2 = 0.01**2, 0.03**2
        return (((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean()

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from compression.training.losses import reconstruction_loss, ssim


def _images(seed: int, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 3, size, size, generator=generator) * 2 - 1
    return x, (x + 0.3 * torch.randn(x.shape, generator=generator)).clamp(-1, 1)


def test_ssim_is_one_for_equal_images_and_agrees_with_scikit_image():
    x, y = _images(0)
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-5)
    theirs = np.mean(
        [
            structural_similarity(
                ((a + 1) / 2).permute(1, 2, 0).double().numpy(),
                ((b + 1) / 2).permute(1, 2, 0).double().numpy(),
                channel_axis=-1,
                data_range=1.0,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
            )
            for a, b in zip(x, y)
        ]
    )
    assert 0.05 < ssim(x, y).item() < 0.95
    assert ssim(x, y).item() == pytest.approx(theirs, abs=0.01)


def test_ssim_stays_finite_and_in_fp32_under_bfloat16_autocast_and_on_images_smaller_than_its_window():
    x, y = _images(1, size=8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = ssim(x.bfloat16(), y.bfloat16())
    assert value.dtype == torch.float32 and torch.isfinite(value)
    assert value.item() == pytest.approx(ssim(x, y).item(), abs=0.02)


def test_reconstruction_loss_is_l1_or_l1_plus_one_minus_ssim_and_its_gradient_moves_toward_the_target():
    x, y = _images(2)
    l1 = torch.nn.functional.l1_loss(x, y)
    assert reconstruction_loss("l1", x, y).item() == pytest.approx(l1.item())
    assert reconstruction_loss("l1+ssim", x, y).item() == pytest.approx((l1 + 1 - ssim(x, y)).item())
    out = x.clone().requires_grad_(True)
    reconstruction_loss("l1+ssim", out, y).backward()
    moved = (out - 0.05 * out.grad / out.grad.abs().max()).detach()
    assert reconstruction_loss("l1+ssim", moved, y) < reconstruction_loss("l1+ssim", x, y)

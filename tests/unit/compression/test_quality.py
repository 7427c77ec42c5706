import math

import numpy as np
import pytest
import torch

from compression.metrics import FidUnavailableError, fid, fid_unavailable_reason, frechet_distance, psnr, ssim
from compression.metrics.quality import PSNR_CAP_DB


def test_psnr_of_a_known_error():
    target = torch.zeros(3, 16, 16)
    output = target.clone()
    output[0, 0, 0] = 2 / 255 * 10  # one pixel off by 10 levels (127.5 -> 138 after rounding)
    expected = 10 * math.log10(255**2 / ((10**2) / (3 * 16 * 16)))
    assert psnr(output, target) == pytest.approx(expected, abs=0.5)
    assert psnr(target, target) == PSNR_CAP_DB


def test_ssim_is_one_for_identical_images_and_lower_otherwise():
    image = torch.rand(3, 32, 32) * 2 - 1
    assert ssim(image, image) == pytest.approx(1.0)
    assert ssim(image, torch.rand(3, 32, 32) * 2 - 1) < 0.5


def test_frechet_distance_of_gaussians():
    sigma = np.eye(4)
    assert frechet_distance(np.zeros(4), sigma, np.zeros(4), sigma) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(np.zeros(4), sigma, np.full(4, 2.0), sigma) == pytest.approx(16.0, abs=1e-6)
    assert frechet_distance(np.zeros(4), sigma, np.zeros(4), 4 * sigma) == pytest.approx(4.0, abs=1e-6)


def test_fid_says_clearly_when_it_is_unavailable(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    reason = fid_unavailable_reason()
    assert reason is not None and reason.startswith("FID unavailable")
    with pytest.raises(FidUnavailableError, match="FID unavailable"):
        fid(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8))

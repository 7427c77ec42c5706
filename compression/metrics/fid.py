"""Fréchet Inception Distance with pytorch-fid's InceptionV3, only where its weights are already local.

ganc never downloads weights: FID is available when the `pytorch_fid` package imports and its
weights file sits in torch hub's checkpoint folder. Otherwise `fid_unavailable_reason()` says why.
"""

from pathlib import Path

import numpy as np
import torch
from scipy import linalg

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"


class FidUnavailableError(RuntimeError):
    """FID cannot be computed on this machine."""


def weights_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def fid_unavailable_reason() -> str | None:
    """None when FID can be computed; otherwise a sentence saying what is missing."""
    try:
        import pytorch_fid  # noqa: F401
    except ImportError:
        return "FID unavailable: the pytorch-fid package is not installed"
    if not weights_path().is_file():
        return f"FID unavailable: InceptionV3 weights not found at {weights_path()} (ganc never downloads them)"
    return None


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2))."""
    covmean, _ = linalg.sqrtm(sigma1 @ sigma2, disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid(images_a: torch.Tensor, images_b: torch.Tensor) -> float:
    """FID between two batches of [N, 3, H, W] images in [-1, 1]."""
    reason = fid_unavailable_reason()
    if reason:
        raise FidUnavailableError(reason)
    from pytorch_fid.inception import InceptionV3

    model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()

    def features(images: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return model((images + 1) / 2)[0].squeeze(-1).squeeze(-1).numpy()

    fa, fb = features(images_a), features(images_b)
    return frechet_distance(fa.mean(0), np.cov(fa, rowvar=False), fb.mean(0), np.cov(fb, rowvar=False))

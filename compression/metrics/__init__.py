"""Model metrics: MACs and parameters, image quality (PSNR, SSIM), and FID where its weights exist."""

from .fid import FidUnavailableError, fid, fid_unavailable_reason, frechet_distance
from .macs import MacsReport, count_macs
from .quality import evaluate_generator, psnr, ssim

__all__ = [
    "FidUnavailableError",
    "MacsReport",
    "count_macs",
    "evaluate_generator",
    "fid",
    "fid_unavailable_reason",
    "frechet_distance",
    "psnr",
    "ssim",
]

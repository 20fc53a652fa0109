"""Image quality metrics: PSNR, SSIM (equal to scikit-image's), the IDM protocol's scores, FID."""

from .fid import FIDUnavailableError, FrechetDistance, FrechetInceptionDistance, frechet_distance
from .protocol import protocol_scores
from .psnr import PSNR_IDENTICAL, psnr
from .ssim import ssim

__all__ = [
    "PSNR_IDENTICAL",
    "FIDUnavailableError",
    "FrechetDistance",
    "FrechetInceptionDistance",
    "frechet_distance",
    "protocol_scores",
    "psnr",
    "ssim",
]

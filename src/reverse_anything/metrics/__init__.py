"""Image quality metrics: PSNR, SSIM (equal to scikit-image's), the IDM protocol's scores, FID."""

from .fid import (
    FIDInceptionV3,
    FIDUnavailableError,
    FrechetDistance,
    FrechetInceptionDistance,
    fid_from_features,
    frechet_distance,
    load_fid_inception,
)
from .protocol import protocol_scores
from .psnr import PSNR_IDENTICAL, psnr
from .ssim import ssim

__all__ = [
    "PSNR_IDENTICAL",
    "FIDInceptionV3",
    "FIDUnavailableError",
    "FrechetDistance",
    "FrechetInceptionDistance",
    "fid_from_features",
    "frechet_distance",
    "load_fid_inception",
    "protocol_scores",
    "psnr",
    "ssim",
]

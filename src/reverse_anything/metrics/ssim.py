"""Structural similarity, equal to scikit-image's ``structural_similarity``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import as_float64_pair

K1, K2 = 0.01, 0.03
UNIFORM_WINDOW = 7
GAUSSIAN_SIGMA = 1.5
GAUSSIAN_TRUNCATE = 3.5  # scikit-image's choice: an 11-tap window for sigma 1.5


def _window_1d(gaussian: bool, device: torch.device) -> torch.Tensor:
    """The separable averaging window scikit-image uses (scipy's uniform or Gaussian filter)."""
    if not gaussian:
        return torch.full(
            (UNIFORM_WINDOW,), 1.0 / UNIFORM_WINDOW, dtype=torch.float64, device=device
        )
    radius = int(GAUSSIAN_TRUNCATE * GAUSSIAN_SIGMA + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device)
    weights = torch.exp(-0.5 * (offsets / GAUSSIAN_SIGMA) ** 2)
    return weights / weights.sum()


def _filter_valid(stack: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Local weighted means over the positions where the window fits entirely.

    scikit-image filters with reflected borders and then crops ``(win - 1) // 2`` pixels from
    every side before averaging; a 'valid' convolution gives exactly the kept values.
    """
    taps = window.numel()
    planes = stack.reshape(-1, 1, *stack.shape[-2:])
    planes = F.conv2d(planes, window.view(1, 1, taps, 1))
    planes = F.conv2d(planes, window.view(1, 1, 1, taps))
    return planes.reshape(*stack.shape[:-2], *planes.shape[-2:])


def ssim(
    x: torch.Tensor, ref: torch.Tensor, data_range: float, gaussian: bool = False
) -> torch.Tensor:
    """SSIM of each image of an ``(N, C, H, W)`` batch against ``ref``; returns ``(N,)`` float64.

    With ``gaussian=False`` this equals ``skimage.metrics.structural_similarity`` with its defaults
    (7x7 uniform window, K1=0.01, K2=0.03, sample covariance); with ``gaussian=True`` it equals
    ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False`` (Wang et al. 2004). Several
    channels are averaged, as scikit-image does with ``channel_axis``. Computed in float64.
    """
    x64, ref64 = as_float64_pair(x, ref, data_range)
    window = _window_1d(gaussian, x64.device)
    taps = window.numel()
    height, width = x64.shape[-2:]
    if min(height, width) < taps:
        raise ValueError(
            f"SSIM needs images of at least {taps}x{taps} pixels, got {width}x{height}"
        )

    moments = _filter_valid(
        torch.stack((x64, ref64, x64 * x64, ref64 * ref64, x64 * ref64)), window
    )
    mean_x, mean_ref, mean_xx, mean_refref, mean_xref = moments.unbind(0)
    # Unbiased local (co)variances for the uniform window, as scikit-image's default.
    cov_norm = taps * taps / (taps * taps - 1.0) if not gaussian else 1.0
    var_x = cov_norm * (mean_xx - mean_x * mean_x)
    var_ref = cov_norm * (mean_refref - mean_ref * mean_ref)
    cov = cov_norm * (mean_xref - mean_x * mean_ref)

    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    numerator = (2 * mean_x * mean_ref + c1) * (2 * cov + c2)
    denominator = (mean_x.square() + mean_ref.square() + c1) * (var_x + var_ref + c2)
    return (numerator / denominator).mean(dim=(1, 2, 3))

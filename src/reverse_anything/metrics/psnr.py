"""Peak signal-to-noise ratio."""

from __future__ import annotations

import torch

from ._checks import as_float64_pair

# The published IDM protocol scores a perfect reconstruction (mse = 0) as 100 dB, not infinity,
# so means over a data set stay finite.
PSNR_IDENTICAL = 100.0


def psnr(x: torch.Tensor, ref: torch.Tensor, data_range: float) -> torch.Tensor:
    """PSNR in dB of each image of an ``(N, C, H, W)`` batch against ``ref``: ``(N,)`` float64.

    ``data_range`` (the peak value, e.g. 1.0 or 255) is required on purpose: guessing it from
    the dtype is a classic source of wrong tables. The MSE is taken over all channels and pixels,
    as ``skimage.metrics.peak_signal_noise_ratio`` does; identical images give 100.0.
    """
    x64, ref64 = as_float64_pair(x, ref, data_range)
    mse = (x64 - ref64).square().mean(dim=(1, 2, 3))
    scores = 10 * torch.log10(data_range**2 / mse)
    return torch.where(mse == 0, torch.full_like(scores, PSNR_IDENTICAL), scores)

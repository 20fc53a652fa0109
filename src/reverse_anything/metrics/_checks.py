"""Input checks shared by the full-reference metrics."""

from __future__ import annotations

import math

import torch


def as_float64_pair(
    x: torch.Tensor, ref: torch.Tensor, data_range: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate two ``(N, C, H, W)`` batches and a data range; return both in float64.

    Metrics are computed in float64 so they agree with scikit-image to ~1e-12 whatever the
    working dtype of the model.
    """
    if x.ndim != 4 or ref.ndim != 4:
        raise ValueError(
            f"metrics need (N, C, H, W) batches; got {tuple(x.shape)} and {tuple(ref.shape)}"
        )
    if x.shape != ref.shape:
        raise ValueError(
            f"image and reference shapes differ: {tuple(x.shape)} vs {tuple(ref.shape)}"
        )
    if (
        isinstance(data_range, bool)
        or not isinstance(data_range, (int, float))
        or not (math.isfinite(data_range) and data_range > 0)
    ):
        raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")
    x64 = x.detach().to(torch.float64)
    ref64 = ref.detach().to(device=x.device, dtype=torch.float64)
    if not (torch.isfinite(x64).all() and torch.isfinite(ref64).all()):
        raise ValueError("metric inputs contain NaN or infinite values")
    return x64, ref64

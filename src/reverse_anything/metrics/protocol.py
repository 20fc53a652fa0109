"""Scores exactly as the published IDM evaluation protocol computes them (idm-method.md §3.6)."""

from __future__ import annotations

import numpy as np
import torch

from .psnr import psnr
from .ssim import ssim

PROTOCOL_MAX = 255.0
CHANNELS = ("y", "rgb")


def protocol_scores(
    restored: torch.Tensor, truth_uint8: np.ndarray, channel: str
) -> dict[str, float]:
    """PSNR and SSIM of one restored image against its uint8 ground truth, as the protocol does.

    The output is clamped to [0, 1] and multiplied by 255 *without rounding*, then compared with
    the uint8 truth at MAX = 255 (PSNR, 100 when identical) and with scikit-image's default SSIM
    (7x7 uniform window, data_range 255).

    ``channel="y"``: ``restored`` is ``(1, H, W)`` or ``(H, W)`` Y in [0, 1], ``truth_uint8`` is the
    ``(H, W)`` uint8 Y (see :func:`~reverse_anything.data.rgb_uint8_to_y_uint8`).
    ``channel="rgb"``: ``restored`` is ``(3, H, W)`` and ``truth_uint8`` ``(H, W, 3)``; the PSNR's
    MSE runs over all channels and the SSIM is the mean over channels, both as scikit-image does.
    """
    if channel not in CHANNELS:
        raise ValueError(f"channel must be 'y' or 'rgb', got {channel!r}")
    truth_uint8 = np.asarray(truth_uint8)
    if truth_uint8.dtype != np.uint8:
        raise ValueError(f"ground truth must be uint8, got {truth_uint8.dtype}")
    if channel == "y":
        if restored.ndim == 2:
            restored = restored.unsqueeze(0)
        expected = (1, *truth_uint8.shape)
        truth = torch.from_numpy(truth_uint8).unsqueeze(0)
        if truth_uint8.ndim != 2:
            raise ValueError(f"Y ground truth must be (H, W), got {truth_uint8.shape}")
    else:
        if truth_uint8.ndim != 3 or truth_uint8.shape[-1] != 3:
            raise ValueError(f"RGB ground truth must be (H, W, 3), got {truth_uint8.shape}")
        expected = (3, *truth_uint8.shape[:2])
        truth = torch.from_numpy(np.ascontiguousarray(truth_uint8.transpose(2, 0, 1)))
    if tuple(restored.shape) != expected:
        raise ValueError(f"restored image has shape {tuple(restored.shape)}, expected {expected}")

    output = restored.detach().to(torch.float64).clamp(0, 1).mul(PROTOCOL_MAX).unsqueeze(0)
    reference = truth.to(device=output.device, dtype=torch.float64).unsqueeze(0)
    return {
        "psnr": float(psnr(output, reference, PROTOCOL_MAX)[0]),
        "ssim": float(ssim(output, reference, PROTOCOL_MAX)[0]),
    }

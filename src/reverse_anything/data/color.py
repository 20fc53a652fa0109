"""Colour conversions of the published IDM protocol; grey models applied to colour images.

The protocol evaluates on the Y channel that OpenCV's ``COLOR_RGB2YCrCb`` produces: full-range
ITU-R BT.601 (Y in [0, 255], not MATLAB's 16-235 studio range). The float functions here use the
same coefficients as OpenCV's float path; :func:`rgb_uint8_to_y_uint8` reproduces OpenCV's 8-bit
fixed-point arithmetic bit for bit, because the protocol's ground truth is that uint8 Y.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

# Full-range BT.601 luma weights (OpenCV's float coefficients).
Y_WEIGHTS = (0.299, 0.587, 0.114)
# OpenCV's chroma scales, for [0, 1] images: Cr = (R - Y) * 0.713 + 1/2, Cb = (B - Y) * 0.564 + 1/2.
CR_SCALE = 0.713
CB_SCALE = 0.564
CHROMA_OFFSET = 0.5  # 128/255 in OpenCV's uint8 path, 0.5 in its float path

# OpenCV's uint8 path: weights scaled by 2**14 and rounded (they sum to exactly 2**14).
_Y_SHIFT = 14
_Y_WEIGHTS_FIXED = (4899, 9617, 1868)


def _check_rgb(rgb: torch.Tensor, name: str = "rgb") -> None:
    if not torch.is_floating_point(rgb):
        raise ValueError(f"{name} must be a float tensor, got {rgb.dtype}")
    if rgb.ndim < 3 or rgb.shape[-3] != 3:
        raise ValueError(f"{name} must have shape (..., 3, H, W), got {tuple(rgb.shape)}")


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """Full-range BT.601 luma of ``(..., 3, H, W)`` RGB in [0, 1]; returns ``(..., 1, H, W)``."""
    _check_rgb(rgb)
    red, green, blue = rgb.unbind(dim=-3)
    luma = Y_WEIGHTS[0] * red + Y_WEIGHTS[1] * green + Y_WEIGHTS[2] * blue
    return luma.unsqueeze(-3)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] to full-range YCbCr in [0, 1], channels ordered **Y, Cb, Cr**.

    Values equal OpenCV's float ``COLOR_RGB2YCrCb`` (which orders its output Y, Cr, Cb).
    """
    _check_rgb(rgb)
    red, _, blue = rgb.unbind(dim=-3)
    luma = rgb_to_y(rgb).squeeze(-3)
    cb = (blue - luma) * CB_SCALE + CHROMA_OFFSET
    cr = (red - luma) * CR_SCALE + CHROMA_OFFSET
    return torch.stack((luma, cb, cr), dim=-3)


def ycbcr_to_rgb(ycc: torch.Tensor) -> torch.Tensor:
    """Exact inverse of :func:`rgb_to_ycbcr` (channels Y, Cb, Cr).

    OpenCV's own inverse uses rounded coefficients (1.403, 0.714, 0.344, 1.773); this one inverts
    the forward transform exactly, so a round trip is lossless. The two differ by < 5e-4 (an eighth
    of an 8-bit level), which only matters for visualisation.
    """
    _check_rgb(ycc, "ycc")
    luma, cb, cr = ycc.unbind(dim=-3)
    red = luma + (cr - CHROMA_OFFSET) / CR_SCALE
    blue = luma + (cb - CHROMA_OFFSET) / CB_SCALE
    green = (luma - Y_WEIGHTS[0] * red - Y_WEIGHTS[2] * blue) / Y_WEIGHTS[1]
    return torch.stack((red, green, blue), dim=-3)


def rgb_uint8_to_y_uint8(rgb: np.ndarray) -> np.ndarray:
    """uint8 ``(..., 3)`` RGB to uint8 Y, bit for bit as OpenCV's ``COLOR_RGB2YCrCb`` channel 0.

    OpenCV rounds the weights to 14-bit fixed point and rounds half up; plain float rounding of
    ``0.299 R + 0.587 G + 0.114 B`` disagrees on about 0.2 % of colours, so the protocol's ground
    truth needs this exact arithmetic.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be uint8, got {rgb.dtype}")
    if rgb.ndim < 1 or rgb.shape[-1] != 3:
        raise ValueError(f"rgb must have shape (..., 3), got {rgb.shape}")
    wide = rgb.astype(np.int32)
    acc = (
        wide[..., 0] * _Y_WEIGHTS_FIXED[0]
        + wide[..., 1] * _Y_WEIGHTS_FIXED[1]
        + wide[..., 2] * _Y_WEIGHTS_FIXED[2]
        + (1 << (_Y_SHIFT - 1))
    )
    return (acc >> _Y_SHIFT).astype(np.uint8)


def per_channel(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Apply a one-channel ``fn`` to every channel of ``(N, C, H, W)`` ``x`` independently.

    The models are trained on grey images, so colour images are restored channel by channel: the
    channels are folded into the batch, ``(N*C, 1, H, W)``, and unfolded after. ``fn`` may change
    the trailing dimensions (e.g. an operator producing measurements) but must keep the batch and
    return one channel.
    """
    if x.ndim != 4:
        raise ValueError(f"per_channel needs (N, C, H, W), got shape {tuple(x.shape)}")
    batch, channels = x.shape[:2]
    out = fn(x.reshape(batch * channels, 1, *x.shape[2:]))
    if out.ndim < 2 or out.shape[0] != batch * channels or out.shape[1] != 1:
        raise ValueError(
            f"per_channel: fn must map (N*C, 1, ...) to (N*C, 1, ...), got {tuple(out.shape)}"
        )
    return out.reshape(batch, channels, *out.shape[2:])

"""``‖A‖₂`` of any operator by power iteration: what step sizes (TV) and data-term scales need."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .base import LinearPhysics

__all__ = ["operator_norm"]


def _default_device(op: LinearPhysics) -> torch.device:
    """Where the operator's data lives (CPU for operators without any)."""
    for tensor in (*op.buffers(), *op.parameters()):
        return tensor.device
    return torch.device("cpu")


@torch.no_grad()
def operator_norm(
    op: LinearPhysics,
    image_shape: Sequence[int],
    iters: int = 100,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> float:
    """Spectral norm ``‖A‖₂`` by power iteration on ``AᵀA`` (Rayleigh quotient of the last iterate).

    ``image_shape`` is ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)``. Power iteration converges
    from below at rate ``(σ₂/σ₁)²`` per step; raise ``iters`` when the top singular values are close.
    """
    shape = tuple(int(side) for side in image_shape)
    if len(shape) not in (2, 3, 4):
        raise ValueError(f"image_shape must be (H, W), (C, H, W) or (N, C, H, W), got {tuple(image_shape)}")
    shape = (1,) * (4 - len(shape)) + shape
    device = _default_device(op) if device is None else torch.device(device)
    x = torch.randn(shape, generator=generator, dtype=dtype, device=device)
    x = x / x.norm()
    rayleigh = 0.0
    for _ in range(iters):
        normal = op.A_adjoint(op.A(x))
        rayleigh = float(torch.vdot(x.flatten(), normal.flatten()))
        length = normal.norm()
        if length == 0:
            return 0.0
        x = normal / length
    return math.sqrt(max(rayleigh, 0.0))

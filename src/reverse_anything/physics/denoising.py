"""Denoising: the identity operator (all the difficulty is in the noise)."""
from __future__ import annotations

from typing import Any

from torch import Tensor

from .base import LinearPhysics

__all__ = ["Denoising"]


class Denoising(LinearPhysics):
    """``A = Aᵀ = A† = I``; works for any image size. ``A`` returns its input tensor itself.

    Example:
        >>> import torch
        >>> y = Denoising(noise_sigma=0.1)(torch.zeros(1, 1, 4, 4), generator=torch.Generator().manual_seed(0))
        >>> round(y.std().item(), 1)
        0.1
    """

    name = "denoising"

    def A(self, x: Tensor) -> Tensor:
        self.check_image(x)
        return x

    def A_adjoint(self, y: Tensor) -> Tensor:
        self.check_image(y)
        return y

    def A_dagger(self, y: Tensor) -> Tensor:
        self.check_image(y)
        return y

    def _constructor_kwargs(self) -> dict[str, Any]:
        return {}

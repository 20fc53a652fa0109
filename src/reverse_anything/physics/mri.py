"""Single-coil Cartesian MRI: orthonormal 2-D FFT, then keep some phase-encode lines (columns)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .base import LinearPhysics, as_operand, validate_image_size

__all__ = ["MRI", "phase_encode_lines"]


def phase_encode_lines(width: int, acceleration: float, pattern: str, center_fraction: float, seed: int) -> Tensor:
    """Sorted k-space column indices (unshifted FFT order, column 0 = DC) to keep.

    ``round(center_fraction·W)`` (at least 1) lowest frequencies are always kept. ``"random"``
    adds columns drawn from ``seed`` up to ``round(W / acceleration)`` in all; ``"equispaced"``
    adds every ``round(acceleration)``-th column counted from DC.
    """
    if pattern not in ("random", "equispaced"):
        raise ValueError(f"unknown MRI mask {pattern!r}; use 'random' or 'equispaced'")
    signed_frequency = torch.fft.fftfreq(width, d=1 / width).round().long()  # 0, 1, ..., -2, -1
    by_frequency = torch.argsort(signed_frequency.abs(), stable=True)  # DC, +1, -1, +2, ...
    n_center = max(1, round(center_fraction * width))
    keep = torch.zeros(width, dtype=torch.bool)
    keep[by_frequency[:n_center]] = True
    if pattern == "random":
        n_random = max(0, round(width / acceleration) - n_center)
        outside = torch.nonzero(~keep).flatten()
        order = torch.randperm(len(outside), generator=torch.Generator().manual_seed(seed))
        keep[outside[order[:n_random]]] = True
    else:
        keep |= signed_frequency % max(1, round(acceleration)) == 0
    return torch.nonzero(keep).flatten()


class MRI(LinearPhysics):
    """``y = M F x``: orthonormal FFT (``norm="ortho"``) of a real image, kept columns only.

    The complex k-space is stored as a real tensor with a trailing (real, imag) dim, shape
    ``(N, C, H, n_lines, 2)``, so ``A`` is real-linear and ``Aᵀ y = Re(F⁻¹ Mᵀ y)`` (zero filling)
    is its exact adjoint. ``n_lines`` follows ``acceleration`` (see :func:`phase_encode_lines`);
    ``lines`` holds the kept column indices in unshifted FFT order.

    Pseudo-inverse: for a real image, column k and its mirror -k carry the same information
    (Hermitian symmetry), so ``AᵀA = F⁻¹ D F`` with ``D = (M[k] + M[-k]) / 2`` per column. Where
    the mask is mirror-symmetric ``D`` is 0/1 and ``A† = Aᵀ``; a line kept without its mirror gets
    weight 1/2, which ``A† y = F⁻¹ D⁺ F Aᵀ y`` undoes. Exact either way.

    Example:
        >>> import torch
        >>> op = MRI((16, 16), acceleration=4)
        >>> op.A(torch.rand(1, 1, 16, 16)).shape
        torch.Size([1, 1, 16, 4, 2])
    """

    name = "mri"
    pattern_seeds = ("seed",)  # the mask only

    def __init__(
        self,
        image_size: Sequence[int],
        acceleration: float = 4,
        mask: str = "random",
        center_fraction: float = 0.08,
        seed: int = 0,
        noise_sigma: float = 0.0,
    ):
        super().__init__(noise_sigma)
        self.image_size = validate_image_size(image_size)
        acceleration = float(acceleration)
        if not (math.isfinite(acceleration) and acceleration >= 1):
            raise ValueError(f"MRI acceleration must be a finite number >= 1, got {acceleration}")
        if not 0 <= center_fraction <= 1:
            raise ValueError(f"center_fraction must be in [0, 1], got {center_fraction}")
        self.acceleration = acceleration
        self.mask = mask
        self.center_fraction = float(center_fraction)
        self.seed = int(seed)
        width = self.image_size[1]
        lines = phase_encode_lines(width, acceleration, mask, self.center_fraction, self.seed)
        kept = torch.zeros(width, dtype=torch.float64)
        kept[lines] = 1
        weight = (kept + kept[(-torch.arange(width)) % width]) / 2
        self._register_data("lines", lines)
        self._register_data("inverse_weight", torch.where(weight > 0, 1 / weight, torch.zeros_like(weight)))

    @property
    def measurement_shape(self) -> tuple[int, int, int]:
        return (self.image_size[0], len(self.lines), 2)

    def A(self, x: Tensor) -> Tensor:
        self.check_image(x)
        kspace = torch.fft.fft2(x, norm="ortho")
        return torch.view_as_real(kspace.index_select(-1, as_operand(self.lines, x)))

    def A_adjoint(self, y: Tensor) -> Tensor:
        self.check_measurement(y)
        measured = torch.view_as_complex(y.contiguous())
        kspace = measured.new_zeros(*y.shape[:2], *self.image_size)
        kspace = kspace.index_copy(-1, as_operand(self.lines, y), measured)
        return torch.fft.ifft2(kspace, norm="ortho").real

    def A_dagger(self, y: Tensor) -> Tensor:
        spectrum = torch.fft.fft2(self.A_adjoint(y), norm="ortho") * as_operand(self.inverse_weight, y)
        return torch.fft.ifft2(spectrum, norm="ortho").real

    def _constructor_kwargs(self) -> dict[str, Any]:
        return {
            "image_size": list(self.image_size),
            "acceleration": self.acceleration,
            "mask": self.mask,
            "center_fraction": self.center_fraction,
            "seed": self.seed,
        }

"""Geometric self-ensemble for restorers that see the operator only through ``A`` / ``Aᵀ`` / ``A†``.

A flipped or rotated image ``D_k x`` is measured by the same ``y`` through the operator ``A D_k⁻¹``.
Restoring that problem and turning the result back gives a second, slightly different estimate of
``x`` from the same measurement; the mean of several is better than one (EDSR's self-ensemble, Lim et
al. 2017), at their count times the cost, with nothing learned or tuned. The measurement is never
changed, so the mean stays an estimate from ``y`` alone.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..data.datasets import dihedral, dihedral_inverse
from ..physics import operator_family

__all__ = ["ENSEMBLE_SIZES", "DihedralView", "check_ensemble_size", "self_ensemble"]

# The first n elements of the dihedral group: identity; + a quarter turn; + all four turns; + their mirrors.
ENSEMBLE_SIZES = (1, 2, 4, 8)


def check_ensemble_size(copies: int) -> int:
    """``copies`` if it is one of :data:`ENSEMBLE_SIZES`, else a one-line ``ValueError``."""
    if type(copies) is not int or copies not in ENSEMBLE_SIZES:  # not a bool or a float that equals one
        raise ValueError(f"self-ensemble size must be one of {', '.join(map(str, ENSEMBLE_SIZES))}, got {copies!r}")
    return int(copies)


class DihedralView:
    """The operator ``A D_k⁻¹`` that measures the image ``D_k x`` (element ``k`` of the dihedral group) as ``A`` measures ``x``.

    ``D_k`` permutes pixels, so ``D_k⁻¹ = D_kᵀ`` and the view's adjoint and pseudo-inverse are exact:
    ``Aᵀ`` and ``A†`` of the operator, turned by ``D_k``. It keeps the operator's family and noise level,
    which a learned model reads; everything else about the operator stays hidden behind ``A``.
    """

    def __init__(self, op, k: int) -> None:
        dihedral(torch.zeros(1, 1), k)  # checks k
        self.op, self.k = op, k
        self.family = operator_family(op)
        self.noise_sigma = float(getattr(op, "noise_sigma", 0.0))

    def A(self, x: Tensor) -> Tensor:
        return self.op.A(dihedral_inverse(x, self.k))

    def A_adjoint(self, y: Tensor) -> Tensor:
        return dihedral(self.op.A_adjoint(y), self.k)

    def A_dagger(self, y: Tensor) -> Tensor:
        return dihedral(self.op.A_dagger(y), self.k)


def self_ensemble(restore: Callable[[object, Tensor], Tensor], op, y: Tensor, copies: int) -> Tensor:
    """The mean of ``restore(view, y)`` over the first ``copies`` dihedral views of ``op``, each turned back
    (``copies = 1``: ``restore(op, y)`` itself)."""
    if check_ensemble_size(copies) == 1:
        return restore(op, y)
    total = None
    for k in range(copies):
        estimate = dihedral_inverse(restore(DihedralView(op, k), y), k)
        total = estimate if total is None else total + estimate
    return total / copies

"""The three small updates every diffusion step for inverse problems is built from.

Kept as plain functions (k-diffusion style) so the IDM step, and the DDPM /
DDNM solvers of the baseline, read as the same algebra:

* :func:`predict_x0`: Tweedie / DDIM clean-image estimate from a noise estimate;
* :func:`data_consistency`: the range-null-space projection ``x - A†(A x - y)``
  (DDNM), relaxed for noisy measurements;
* :func:`ddim_renoise`: deterministic DDIM (eta = 0) move to the next level.

``alpha_bar`` arguments are tensors broadcastable to the image, e.g. ``(N, 1, 1, 1)``.
"""
from __future__ import annotations

from typing import Protocol

from torch import Tensor

__all__ = ["predict_x0", "ddim_renoise", "data_consistency", "HasPseudoInverse"]


class HasPseudoInverse(Protocol):
    def A(self, x: Tensor) -> Tensor: ...

    def A_dagger(self, y: Tensor) -> Tensor: ...


def predict_x0(x_t: Tensor, eps: Tensor, alpha_bar_t: Tensor) -> Tensor:
    """``x0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)`` (Ho et al. 2020, Eq. 15)."""
    return (x_t - (1.0 - alpha_bar_t).sqrt() * eps) / alpha_bar_t.sqrt()


def ddim_renoise(x0: Tensor, eps: Tensor, alpha_bar_prev: Tensor) -> Tensor:
    """Deterministic DDIM step (Song et al. 2021, Eq. 12 with eta = 0)."""
    return alpha_bar_prev.sqrt() * x0 + (1.0 - alpha_bar_prev).sqrt() * eps


def data_consistency(x0: Tensor, y: Tensor, physics: HasPseudoInverse, weight: float | Tensor = 1.0) -> Tensor:
    """Move ``x0`` towards ``{x : A x = y}``: ``x0 - weight * A†(A x0 - y)``.

    With ``weight = 1`` and an exact pseudo-inverse this is the projection of
    DDNM (Wang et al. 2023): the range-space part of ``x0`` is replaced by
    ``A†y``.  For noisy ``y`` a full projection copies the noise into the
    image, so callers pass ``weight < 1`` (DDNM+ style relaxation).
    """
    return x0 - weight * physics.A_dagger(physics.A(x0) - y)

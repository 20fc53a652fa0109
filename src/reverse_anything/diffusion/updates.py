"""The three small updates every diffusion step for inverse problems is built from.

Kept as plain functions (k-diffusion style) so the IDM step, and the DDPM /
DDNM solvers of the baseline, read as the same algebra:

* :func:`predict_x0`: Tweedie / DDIM clean-image estimate from a noise estimate;
* :func:`data_consistency`: the range-null-space projection ``x - A†(A x - y)``
  (DDNM), relaxed for noisy measurements;
* :func:`proximal_data_step`: its noise-aware counterpart, ``argmin ‖A x - y‖² + rho ‖x - x0‖²``
  (DPIR's data step), solved by :func:`conjugate_gradient` through ``A`` and ``Aᵀ`` only;
* :func:`ddim_renoise`: deterministic DDIM (eta = 0) move to the next level.

``alpha_bar`` arguments are tensors broadcastable to the image, e.g. ``(N, 1, 1, 1)``.
"""
from __future__ import annotations

from typing import Protocol

from torch import Tensor

__all__ = ["predict_x0", "ddim_renoise", "data_consistency", "proximal_data_step", "conjugate_gradient", "HasPseudoInverse"]


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


def conjugate_gradient(apply, rhs: Tensor, x: Tensor, iterations: int, tolerance: float = 1e-6) -> Tensor:
    """Solve ``apply(x) = rhs`` for a symmetric positive definite ``apply``, per image of the batch."""
    dims = tuple(range(1, rhs.ndim))
    r = rhs - apply(x)
    p = r.clone()
    rs = (r * r).sum(dims, keepdim=True)
    stop = tolerance**2 * (rhs * rhs).sum(dims, keepdim=True)
    for _ in range(iterations):
        if bool((rs <= stop).all()):
            break
        ap = apply(p)
        alpha = rs / (p * ap).sum(dims, keepdim=True).clamp_min(1e-30)
        x = x + alpha * p
        r = r - alpha * ap
        rs_new = (r * r).sum(dims, keepdim=True)
        p = r + (rs_new / rs.clamp_min(1e-30)) * p
        rs = rs_new
    return x


def proximal_data_step(x0: Tensor, y: Tensor, physics, rho: float | Tensor, iterations: int = 10) -> Tensor:
    """``argmin_x ‖A x - y‖² + rho ‖x - x0‖²``: pull ``x0`` towards the data as far as its noise allows.

    ``rho`` (a number or per image, broadcastable to ``x0``) is the noise-to-error ratio
    ``(sigma_y / sigma_x0)²``: ``rho -> 0`` is the projection onto ``{A x = y}``, a large ``rho``
    keeps ``x0``. Solved by conjugate gradient on ``(AᵀA + rho I) x = Aᵀy + rho x0`` from ``x0``,
    using only ``A`` and ``Aᵀ`` (so it works for any operator, and the blur's A† never amplifies
    the noise). Differentiable: autograd unrolls the iterations.
    """
    rhs = physics.A_adjoint(y) + rho * x0
    return conjugate_gradient(lambda v: physics.A_adjoint(physics.A(v)) + rho * v, rhs, x0, iterations)

"""Non-learned baselines: the pseudo-inverse and total-variation regularised least squares.

Both talk to the operator only through its three verbs (``A``, ``A_adjoint``,
``A_dagger``), so they work for every operator in :mod:`reverse_anything.physics`
and for any user object that provides those methods.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from ..physics import operator_family as family_of, operator_norm
from .base import Restorer

__all__ = [
    "LinearOperatorLike",
    "PinvRestorer",
    "TVRestorer",
    "TVDefaults",
    "TV_DEFAULTS",
    "TV_NOISY_DEFAULTS",
    "gradient",
    "gradient_adjoint",
    "pinv",
    "tv",
]


class LinearOperatorLike(Protocol):
    """What the classical solvers need from an operator (a structural type, no base class needed)."""

    def A(self, x: Tensor) -> Tensor: ...

    def A_adjoint(self, y: Tensor) -> Tensor: ...

    def A_dagger(self, y: Tensor) -> Tensor: ...


@dataclass(frozen=True)
class TVDefaults:
    """Default TV weight and iteration budget for one operator family."""

    weight: float
    iterations: int


# Tuned on training images only (train/cbsd432, never a test set): benchmarks/tune_tv.py has
# the script and the full grid. The weight multiplies TV against a data term normalised by
# ||A||^2 (see `tv`), so one scale fits operators as different as CT and inpainting. Noiseless
# problems want small weights; denoising (tuned at sigma 0.1) wants a large one, and noisy
# measurements in general want more than these defaults: pass `weight` for them.
TV_DEFAULTS: Mapping[str, TVDefaults] = MappingProxyType(
    {
        "cs": TVDefaults(weight=0.001, iterations=300),
        "inpainting": TVDefaults(weight=0.001, iterations=300),
        "denoising": TVDefaults(weight=0.1, iterations=300),
        "blur": TVDefaults(weight=0.0005, iterations=300),
        "sr": TVDefaults(weight=0.001, iterations=300),
        "mri": TVDefaults(weight=0.001, iterations=300),
        "ct": TVDefaults(weight=0.00005, iterations=300),
    }
)
FALLBACK_TV_DEFAULTS = TVDefaults(weight=0.001, iterations=300)  # other operators (matrix, user)
# Families whose measurements, when noisy (the operator's noise_sigma > 0), want a stronger weight than
# the noiseless tuning gave; tuned the same way (benchmarks/tune_tv.py, cs ratio 0.3 at noise 0.03:
# 30.45 dB against 29.54 at the noiseless 0.001; results/tuning/tune_tv_cs_noisy.json). Blur's entry
# above was already tuned with noise (0.01).
TV_NOISY_DEFAULTS: Mapping[str, TVDefaults] = MappingProxyType({"cs": TVDefaults(weight=0.01, iterations=300)})

# Solver constants from a development study of the objective reached in 150 iterations (CS,
# inpainting, SR, MRI, CT, blur; weights 0.002-0.03; summarised in benchmarks/tune_tv.py).
_NORM_ITERATIONS = 30  # power iterations for ||A||
_NORM_MARGIN = 1.05  # power iteration approaches ||A|| from below: allow 5 % in the steps
_STEP_SCALE_TIMES_WEIGHT = 0.1  # initial sqrt(tau/sigma) = 0.1 / weight
_BALANCE_PER_WEIGHT = 30.0  # target ||primal residual|| / ||dual residual|| = 30 * weight
_MIN_WEIGHT_SCALE = 1e-3  # weights below this (incl. 0) use this scale for the two constants


def pinv(op: LinearOperatorLike, y: Tensor) -> Tensor:
    """The pseudo-inverse baseline ``A† y``: the minimum-norm image consistent with ``y``."""
    return op.A_dagger(y)


class PinvRestorer(Restorer):
    """``A† y``; ``progress`` is accepted (every method takes it) but it is a single step."""

    name = "pinv"

    def __init__(self, progress: bool = False) -> None:
        self.progress = progress

    def __call__(self, op: LinearOperatorLike, y: Tensor) -> Tensor:
        return pinv(op, y)


class TVRestorer(Restorer):
    """TV-regularised least squares (:func:`tv`); ``None`` options take the per-operator tuned :data:`TV_DEFAULTS`."""

    name = "tv"

    def __init__(
        self,
        weight: float | None = None,
        iterations: int | None = None,
        tolerance: float = 1e-5,
        box: tuple[float, float] | None = (0.0, 1.0),
        progress: bool = False,
    ) -> None:
        self.weight, self.iterations, self.tolerance, self.box, self.progress = weight, iterations, tolerance, box, progress

    def __call__(self, op: LinearOperatorLike, y: Tensor) -> Tensor:
        return tv(op, y, weight=self.weight, iterations=self.iterations, tolerance=self.tolerance, box=self.box, progress=self.progress)


def gradient(x: Tensor) -> Tensor:
    """Forward differences of ``(N, C, H, W)`` images, ``(N, C, 2, H, W)``, zero on the last row/column.

    Zero at the far border (Neumann boundary) so a constant image has zero TV.
    """
    vertical = F.pad(torch.diff(x, dim=-2), (0, 0, 0, 1))
    horizontal = F.pad(torch.diff(x, dim=-1), (0, 1))
    return torch.stack((vertical, horizontal), dim=2)


def gradient_adjoint(g: Tensor) -> Tensor:
    """Exact adjoint of :func:`gradient` (minus the divergence), ``(N, C, 2, H, W) -> (N, C, H, W)``."""
    vertical, horizontal = g[:, :, 0], g[:, :, 1]
    from_vertical = -torch.diff(F.pad(vertical[..., :-1, :], (0, 0, 1, 1)), dim=-2)
    from_horizontal = -torch.diff(F.pad(horizontal[..., :, :-1], (1, 1)), dim=-1)
    return from_vertical + from_horizontal


def _project_to_pixelwise_ball(q: Tensor, radius: float) -> Tensor:
    """Project each pixel's gradient vector (dim 2) onto the Euclidean ball of ``radius``."""
    if radius == 0.0:
        return torch.zeros_like(q)
    # sqrt of the sum of squares: much faster on CPU than Tensor.norm over a middle dimension.
    magnitude = q.square().sum(dim=2, keepdim=True).sqrt_()
    return q / magnitude.div_(radius).clamp_(min=1.0)


def tv(
    op: LinearOperatorLike,
    y: Tensor,
    weight: float | None = None,
    iterations: int | None = None,
    tolerance: float = 1e-5,
    box: tuple[float, float] | None = (0.0, 1.0),
    x0: Tensor | None = None,
    operator_family: str | None = None,
    progress: bool = False,
) -> Tensor:
    """Isotropic-TV regularised least squares by an adaptive primal–dual (Chambolle–Pock) method.

    Minimises ``½‖A x − y‖² / ‖A‖² + weight · TV(x)`` over ``x`` in ``box``.
    The data term is divided by ``‖A‖²`` (estimated by power iteration) so that ``weight``
    means the same thing for operators whose scale differs by orders of magnitude (CT sums
    whole lines, inpainting keeps pixels); for ``‖A‖ = 1`` (CS, MRI, inpainting, denoising) it
    is the textbook form. TV is the sum over pixels and channels of the Euclidean norm of the
    forward-difference gradient (Neumann boundary), channel by channel like the operators.

    Only ``A`` and ``A_adjoint`` are used in the iterations (``A_dagger``, when the operator has
    one, gives the start point; else ``Aᵀy / ‖A‖²``), so any operator works, even one that is
    only the two functions. With ``K = [A/‖A‖; ∇]``, ``‖K‖² < 1.05² + 8`` and the
    steps keep ``τσ‖K‖² ≤ 1``. They start at ``√(τ/σ) = 0.1/weight`` (the dual variable of TV
    lives in a ball of radius ``weight``) and are rebalanced from the primal and dual
    residuals (Goldstein et al., "Adaptive primal-dual splitting methods for statistical
    learning and image processing", NeurIPS 2015), which made convergence uniform across
    operators and weights in the study behind benchmarks/tune_tv.py.

    Args:
        op: the operator (anything with ``A`` and ``A_adjoint``; ``A_dagger`` optional).
        y: measurements, as produced by ``op.A`` (plus noise).
        weight: TV weight; ``None`` takes the tuned default of the operator family (:data:`TV_NOISY_DEFAULTS`
            for a noisy measurement of a family listed there).
        iterations: maximum number of iterations; ``None`` takes the tuned default.
        tolerance: stop once ``‖x_k − x_{k−1}‖ / ‖x_k‖`` falls below it; 0 runs all iterations.
        box: pixel range enforced at every step, or ``None`` for no constraint.
        x0: start point; defaults to ``A† y`` (or ``Aᵀy / ‖A‖²``) clipped to ``box``.
        operator_family: key of ``TV_DEFAULTS`` to take defaults from; defaults to the
            operator's ``family`` (its registry ``name``, e.g. ``"cs"``; for a tiled operator
            the name of the operator it tiles), if it has one.
        progress: show a tqdm bar (on stderr) over the iterations.

    Returns:
        The restored images, same shape, device and dtype as ``A† y``.
    """
    family = operator_family if operator_family is not None else family_of(op)
    noisy = float(getattr(op, "noise_sigma", 0.0) or 0.0) > 0
    defaults = (TV_NOISY_DEFAULTS.get(family) if noisy else None) or TV_DEFAULTS.get(family, FALLBACK_TV_DEFAULTS)
    weight = defaults.weight if weight is None else float(weight)
    iterations = defaults.iterations if iterations is None else int(iterations)
    if not (math.isfinite(weight) and weight >= 0.0):
        raise ValueError(f"TV weight must be a finite number >= 0, got {weight}")
    if iterations < 1:
        raise ValueError(f"TV iterations must be >= 1, got {iterations}")
    if box is not None and not box[0] < box[1]:
        raise ValueError(f"TV box must be (low, high) with low < high, got {box}")

    def clip(image: Tensor) -> Tensor:
        return image if box is None else image.clamp(box[0], box[1])

    if x0 is not None:
        start = x0.clone()
    elif hasattr(op, "A_dagger"):
        start = op.A_dagger(y)
    else:  # an operator given only as (A, Aᵀ): scaled back-projection, rescaled below once ‖A‖ is known
        start = op.A_adjoint(y)
    seeded = torch.Generator(device=start.device).manual_seed(0)  # same steps, same result, every run
    norm_a = operator_norm(op, start.shape, iters=_NORM_ITERATIONS, generator=seeded, dtype=start.dtype, device=start.device)
    if x0 is None and not hasattr(op, "A_dagger") and norm_a > 0.0:
        start = start / norm_a**2  # one Landweber step from zero
    x = clip(start)
    if norm_a == 0.0:
        return x
    y_scaled = y / norm_a

    def forward_k(image: Tensor) -> tuple[Tensor, Tensor]:
        return op.A(image) / norm_a, gradient(image)

    def adjoint_k(dual_data: Tensor, dual_gradient: Tensor) -> Tensor:
        return op.A_adjoint(dual_data) / norm_a + gradient_adjoint(dual_gradient)

    scale = max(weight, _MIN_WEIGHT_SCALE)
    step_ratio = _STEP_SCALE_TIMES_WEIGHT / scale  # sqrt(τ/σ)
    # τσ‖K‖² ≤ 1 with ‖K‖² ≤ ‖A/‖A‖‖² + ‖∇‖² < margin² + 8 (power iteration can under-estimate).
    step_product = 1.0 / math.sqrt(_NORM_MARGIN**2 + 8.0)
    primal_step, dual_step = step_product * step_ratio, step_product / step_ratio
    balance = _BALANCE_PER_WEIGHT * scale
    adaptation = 0.5

    k_x = forward_k(x)
    dual = (torch.zeros_like(k_x[0]), torch.zeros_like(k_x[1]))
    kt_dual = torch.zeros_like(x)
    for index in tqdm(range(iterations), desc="tv", disable=not progress, leave=False):
        x_new = clip(x - primal_step * kt_dual)
        k_x_new = forward_k(x_new)
        # Dual step at K x̄ = 2 K x_new − K x (linearity saves an operator call): the prox of the
        # conjugate of ½‖z − y‖² in closed form, and of weight·‖g‖_{2,1} by projection.
        dual_new = (
            (dual[0] + dual_step * (2.0 * k_x_new[0] - k_x[0] - y_scaled)) / (1.0 + dual_step),
            _project_to_pixelwise_ball(dual[1] + dual_step * (2.0 * k_x_new[1] - k_x[1]), weight),
        )
        kt_dual_new = adjoint_k(*dual_new)
        primal_residual = (x - x_new) / primal_step - (kt_dual - kt_dual_new)
        dual_residual_squared = sum(
            ((old - new) / dual_step - (k_old - k_new)).square().sum()
            for old, new, k_old, k_new in zip(dual, dual_new, k_x, k_x_new)
        )
        primal_norm, dual_norm, change, size = torch.stack(
            (primal_residual.norm(), dual_residual_squared.sqrt(), (x - x_new).norm(), x_new.norm())
        ).tolist()
        x, k_x, dual, kt_dual = x_new, k_x_new, dual_new, kt_dual_new
        # The first step only moves the dual (Kᵀu starts at zero), so it never stops the loop.
        if index > 0 and change <= tolerance * max(size, 1e-12):
            break
        if primal_norm > 1.5 * balance * dual_norm:
            primal_step, dual_step = primal_step / (1.0 - adaptation), dual_step * (1.0 - adaptation)
            adaptation *= 0.95
        elif primal_norm < balance / 1.5 * dual_norm:
            primal_step, dual_step = primal_step * (1.0 - adaptation), dual_step / (1.0 - adaptation)
            adaptation *= 0.95
    return x

"""Plug-and-play on the DDPM prior: the prior as a Gaussian denoiser inside a half-quadratic splitting loop.

:func:`prior_denoise` is the prior used as a denoiser: one clean-image estimate at the signal
level whose noise matches ``sigma`` (Tweedie / the DDPM x0 prediction).  :func:`pnp` alternates
that denoiser, at a noise level falling geometrically from ``sigma_start`` to ``sigma_end``, with
a data step that talks to the operator only through ``A``, ``Aᵀ`` and ``A†``:

    z = D(x, sigma_k);   x = argmin_x ||A x - y||² + rho_k ||x - z||²,   rho_k = (data_sigma / sigma_k)²

(Zhang et al., DPIR, TPAMI 2021).  ``data_sigma = 0`` is the exact projection
``z - A†(A z - y)`` (right where ``A†`` is exact and the measurement is clean); otherwise the data
step is solved by conjugate gradients on ``(AᵀA + rho I) x = Aᵀy + rho z``, which needs no ``A†``.
The settings per operator family (:data:`PNP_DEFAULTS`) were tuned on held-out training images by
``benchmarks/tune_pnp.py``, never on a test set.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

import torch
from torch import Tensor

from ..data.datasets import NUM_DIHEDRAL, dihedral, dihedral_inverse
from ..diffusion.updates import data_consistency, predict_x0, proximal_data_step
from ..models.ddpm import from_model_range, to_model_range
from ..physics import operator_family
from .base import Restorer

__all__ = ["PNP_STARTS", "PnPSettings", "PNP_DEFAULTS", "prior_denoise", "pnp", "PnPRestorer", "DEFAULT_PNP_PRIOR"]


DEFAULT_PNP_PRIOR = "ddpm-wide"  # the shipped prior pnp runs on (the wider one denoises better: results/denoise/)
PNP_STARTS = ("pinv", "unbiased", "mean")
"""``pinv``: start at ``A†y``. ``unbiased``: ``A†y`` rescaled about mid-grey by ``n/m``, for random subsampling
operators (scrambled CS) whose ``A†A`` averages ``(m/n) I``, so ``A†y`` is the image shrunk by ``m/n`` plus noise.
``mean``: ``A†y`` with what the measurement does not see of a constant image, ``(I - A†A) 1``, filled with the mean
of what it sees (inpainting: the missing pixels at the kept pixels' mean). A denoiser reads the zeros of an
inpainting ``A†y`` as signal, and on a large smooth image 20 steps from ``sigma = 0.3`` never undo them."""


@dataclass(frozen=True)
class PnPSettings:
    """One PnP configuration: iterations, the denoiser's sigma schedule (``[0, 1]`` image units), the data step."""

    iterations: int = 20
    sigma_start: float = 0.3
    sigma_end: float = 0.01
    data_sigma: float = 0.0
    cg_iterations: int = 20
    start: str = "pinv"

    def __post_init__(self) -> None:
        if self.start not in PNP_STARTS:
            raise ValueError(f"start must be {' or '.join(PNP_STARTS)}, got {self.start!r}")
        if self.iterations < 1 or self.cg_iterations < 1:
            raise ValueError(f"iterations and cg_iterations must be >= 1, got {self.iterations}, {self.cg_iterations}")
        if not (0 < self.sigma_end <= self.sigma_start and math.isfinite(self.sigma_start)):
            raise ValueError(f"need 0 < sigma_end <= sigma_start, got {self.sigma_end}, {self.sigma_start}")
        if not (self.data_sigma >= 0 and math.isfinite(self.data_sigma)):
            raise ValueError(f"data_sigma must be a finite number >= 0, got {self.data_sigma}")

    def sigmas(self) -> list[float]:
        """The geometric sigma schedule, ``sigma_start`` to ``sigma_end`` in ``iterations`` values."""
        if self.iterations == 1:
            return [self.sigma_end]
        ratio = (self.sigma_end / self.sigma_start) ** (1 / (self.iterations - 1))
        return [self.sigma_start * ratio**k for k in range(self.iterations)]


# The best grid point per family of benchmarks/tune_pnp.py on held-out training images, prior ddpm-wide
# (results/pnp/tune_pnp.md; tests/solvers/test_pnp.py checks these against results/pnp/tune_pnp.json).
# CS needs 60 steps: at 20, 10 % scores 18.5 dB (24.7 with the unbiased start) against 27.1 at 60.
PNP_DEFAULTS: Mapping[str, PnPSettings] = MappingProxyType(
    {
        "cs": PnPSettings(iterations=60, sigma_start=0.3, data_sigma=0.0, start="unbiased"),
        "inpainting": PnPSettings(iterations=20, sigma_start=0.3, data_sigma=0.0, start="mean"),
        "blur": PnPSettings(iterations=20, sigma_start=1.0, data_sigma=0.01),
        "sr": PnPSettings(iterations=20, sigma_start=0.3, data_sigma=0.0),
        "mri": PnPSettings(iterations=20, sigma_start=0.3, data_sigma=0.0),
        # CT: tuned on the whole held-out images (60 angles); 80 steps 0.68 dB above 20, 0.21 above 40
        "ct": PnPSettings(iterations=80, sigma_start=0.3, data_sigma=0.01),
    }
)
# Operators no tuning covered (matrices, user operators): a relaxed data step, safe without an exact A†.
FALLBACK_PNP = PnPSettings(iterations=20, sigma_start=0.3, sigma_end=0.01, data_sigma=0.01)

# Operators whose A† is exact, so data_sigma = 0 may use the closed-form projection.
EXACT_PSEUDO_INVERSE = frozenset({"cs", "inpainting", "denoising", "sr", "mri"})


@torch.no_grad()
def prior_denoise(prior, noisy: Tensor, sigma: float | Tensor, self_ensemble: bool = False) -> Tensor:
    """The prior's clean estimate of ``noisy`` = image + N(0, sigma²) (``[0, 1]`` images, any channel count).

    In the prior's ``[-1, 1]`` range the noise std is ``2 sigma``; the DDPM input at signal level
    ``a`` is ``sqrt(a) x + sqrt(1 - a) eps``, so ``a = 1 / (1 + 4 sigma²)`` and ``x_t = sqrt(a) (2 noisy - 1)``.

    ``self_ensemble``: the mean of the estimates of the 8 flipped / rotated copies, each turned back
    (the geometric self-ensemble of EDSR, Lim et al. 2017): a better estimate for 8× the cost, since
    the prior is not exactly equivariant; nothing is learned or tuned.
    """
    if self_ensemble:
        copies = [dihedral_inverse(prior_denoise(prior, dihedral(noisy, k), sigma), k) for k in range(NUM_DIHEDRAL)]
        return torch.stack(copies).mean(dim=0)
    n, c = noisy.shape[:2]
    grey = noisy.reshape(n * c, 1, *noisy.shape[2:])
    sigma = torch.as_tensor(sigma, dtype=grey.dtype, device=grey.device)
    a = 1.0 / (1.0 + 4.0 * sigma**2)
    x_t = a.sqrt() * to_model_range(grey)
    x0 = predict_x0(x_t, prior(x_t, a.expand(grey.shape[0])), a)
    return from_model_range(x0).reshape(noisy.shape)


def _data_step(op, y: Tensor, z: Tensor, rho: float, settings: PnPSettings, exact: bool) -> Tensor:
    if rho == 0.0 and exact:
        return data_consistency(z, y, op)
    rho = max(rho, 1e-4)  # without an exact A† the projection is the limit of small rho
    return proximal_data_step(z, y, op, rho, settings.cg_iterations)


def _start(op, y: Tensor, start: str) -> Tensor:
    """The first iterate (see :data:`PNP_STARTS`); without an ``A†`` the operator's ``Aᵀy``."""
    if not hasattr(op, "A_dagger"):
        return op.A_adjoint(y)
    x = op.A_dagger(y)
    if start == "pinv":
        return x
    seen = op.A_dagger(op.A(torch.ones_like(x)))  # A†A 1: where (and how much) the measurement sees
    if start == "unbiased":
        return 0.5 + (x - 0.5 * seen) / (y[0].numel() / x[0].numel())
    level = x.sum(dim=(-2, -1), keepdim=True) / seen.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    return x + (1 - seen) * level


@torch.no_grad()
def pnp(op, y: Tensor, prior, settings: PnPSettings | None = None, progress: bool = False) -> Tensor:
    """Restore ``x`` from ``y = A x (+ noise)`` with the prior as the denoiser (see the module docstring)."""
    from tqdm import tqdm

    settings = settings or FALLBACK_PNP
    family = operator_family(op)
    exact = family in EXACT_PSEUDO_INVERSE and hasattr(op, "A_dagger")
    x = _start(op, y, settings.start)
    for sigma in tqdm(settings.sigmas(), desc="pnp", unit="step", disable=not progress, leave=False):
        z = prior_denoise(prior, x, sigma)
        x = _data_step(op, y, z, (settings.data_sigma / sigma) ** 2, settings, exact)
    return x


class PnPRestorer(Restorer):
    """``restore(op, y)`` by :func:`pnp` on a prior (shipped name or path); ``steps`` is the number of
    denoise + data steps; unset options take the operator family's tuned :data:`PNP_DEFAULTS`."""

    name = "pnp"

    def __init__(
        self,
        model: str = DEFAULT_PNP_PRIOR,
        steps: int | None = None,
        sigma_start: float | None = None,
        sigma_end: float | None = None,
        data_sigma: float | None = None,
        device: str | None = None,
        progress: bool = False,
    ) -> None:
        from ..models.checkpoint import load_ddpm

        given = dict(iterations=steps, sigma_start=sigma_start, sigma_end=sigma_end, data_sigma=data_sigma)
        self.overrides = {key: value for key, value in given.items() if value is not None}
        PnPSettings(**{**vars(FALLBACK_PNP), **self.overrides})  # refuse impossible options now, not at the first image
        self.model = load_ddpm(model, device=device or "cpu")
        self.model_name = model
        self.progress = progress

    def settings_for(self, op) -> PnPSettings:
        """The tuned settings of the operator's family, with the options given at construction on top."""
        family = operator_family(op)
        return replace(PNP_DEFAULTS.get(family, FALLBACK_PNP), **self.overrides)

    def __call__(self, op, y: Tensor) -> Tensor:
        params = next(self.model.parameters())
        if params.device != y.device or params.dtype != y.dtype:
            self.model.to(device=y.device, dtype=y.dtype)
        return pnp(op, y, self.model, self.settings_for(op), progress=self.progress)

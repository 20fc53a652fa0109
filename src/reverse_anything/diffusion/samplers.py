"""Samplers of the DDPM baseline: ancestral DDPM and DDIM-stepped DDNM, with data consistency.

k-diffusion style: each sampler is one short function of ``(model, x_T, alphas_cumprod, ...)``
and the caller draws ``x_T``.  ``model(x_t, alpha_bar_t) -> eps`` is any noise predictor
(``alpha_bar_t`` is an ``(N,)`` tensor), e.g. :class:`~reverse_anything.models.ddpm.DDPMNet`;
``alphas_cumprod`` is its ``(T,)`` training schedule.

Given an operator ``physics`` (anything with ``A`` and ``A_dagger``) and a measurement ``y``
in the model's data range, every step replaces the range-space part of the clean-image
estimate by ``A†y`` (DDNM, Wang et al. 2023: ``x0 <- x0 - A†(A x0 - y)``) before moving to the
next level, and the last step returns that projected estimate, so ``A x = y`` holds for the
output (exactly, for noiseless ``y`` and an exact pseudo-inverse).

Both samplers are the same walk down :func:`~.ddpm_schedules.spaced_timesteps`; they differ
in the move from level ``t`` to the next level ``s``:

* :func:`ddpm_sample` (Ho et al. 2020, Algorithm 2; DDNM's Algorithm 1) draws from the
  posterior ``q(x_s | x_t, x0)`` at the projected ``x0``;
* :func:`ddnm_sample` takes a DDIM step (Song et al. 2021, Eq. 12) with the network's ``eps``
  and stochasticity ``eta`` (0: deterministic; 1 without data consistency: the same as
  :func:`ddpm_sample`), as DDNM's released sampler does.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .ddpm_schedules import spaced_timesteps
from .updates import HasPseudoInverse, data_consistency, ddim_renoise, predict_x0

__all__ = ["EpsModel", "ddpm_sample", "ddnm_sample"]

EpsModel = Callable[[Tensor, Tensor], Tensor]

DDNM_STEPS = 100
DDNM_ETA = 0.85  # the DDNM paper's default


def _standard_normal(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Noise shaped like ``x``; drawn on the generator's device, so a CPU generator gives the same draws anywhere."""
    if generator is None:
        return torch.randn_like(x)
    return torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)


def _walk(
    model: EpsModel,
    x: Tensor,
    alphas_cumprod: Tensor,
    steps: int,
    physics: HasPseudoInverse | None,
    y: Tensor | None,
    eta: float,
    posterior: bool,
    generator: torch.Generator | None,
    progress: bool,
    clip_x0: tuple[float, float] | None,
) -> Tensor:
    """The loop both samplers share (see the module docstring for the step rule)."""
    if (physics is None) != (y is None):
        raise ValueError("data consistency needs both physics and y (or neither, for unconditional sampling)")
    if alphas_cumprod.ndim != 1:
        raise ValueError(f"alphas_cumprod must be a (T,) table, got shape {tuple(alphas_cumprod.shape)}")
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    levels = alphas_cumprod.detach().to("cpu", torch.float64).tolist()
    timesteps = spaced_timesteps(len(levels), steps).tolist()
    level = lambda value: torch.tensor(value, dtype=torch.float64, device=x.device)  # noqa: E731 - 0-dim: keeps x's dtype
    for index, t in enumerate(tqdm(timesteps, desc="sampling", unit="step", disable=not progress, leave=False)):
        a_t = levels[t]
        eps = model(x, torch.full((x.shape[0],), a_t, dtype=x.dtype, device=x.device))
        x0 = predict_x0(x, eps, level(a_t))
        if clip_x0 is not None:
            x0 = x0.clamp(*clip_x0)
        if physics is not None:
            x0 = data_consistency(x0, y, physics)
        if index == len(timesteps) - 1:
            return x0
        a_s = levels[timesteps[index + 1]]
        if posterior:  # the noise that x_t and the (projected) x0 imply: DDIM with it is q(x_s | x_t, x0)
            eps = (x - math.sqrt(a_t) * x0) / math.sqrt(1.0 - a_t)
        sigma = eta * math.sqrt((1.0 - a_s) / (1.0 - a_t) * (1.0 - a_t / a_s))
        kept = math.sqrt(max(1.0 - a_s - sigma**2, 0.0))
        # sqrt(a_s) x0 + kept * eps + sigma * z, written as a DDIM renoise with unit-variance noise
        mixed = (kept * eps + sigma * _standard_normal(x, generator)) / math.sqrt(1.0 - a_s) if sigma > 0 else eps
        x = ddim_renoise(x0, mixed, level(a_s))
    return x


def ddpm_sample(
    model: EpsModel,
    x_T: Tensor,
    alphas_cumprod: Tensor,
    physics: HasPseudoInverse | None = None,
    y: Tensor | None = None,
    steps: int | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
    clip_x0: tuple[float, float] | None = None,
) -> Tensor:
    """Ancestral DDPM sampling (Ho et al. 2020, Algorithm 2), DDNM-projected when ``physics, y`` are given.

    Each step draws ``x_s ~ q(x_s | x_t, x0)`` with ``x0`` the (projected) clean estimate;
    ``steps`` (default: all T) walks evenly spaced levels with the same posterior.
    ``clip_x0`` clamps the clean estimate to the data range before the projection, as Ho et
    al.'s sampler does. Noise comes from ``generator`` (any device) for reproducible runs.
    """
    steps = len(alphas_cumprod) if steps is None else steps
    return _walk(model, x_T, alphas_cumprod, steps, physics, y, 1.0, True, generator, progress, clip_x0)


def ddnm_sample(
    model: EpsModel,
    x_T: Tensor,
    alphas_cumprod: Tensor,
    physics: HasPseudoInverse | None = None,
    y: Tensor | None = None,
    steps: int = DDNM_STEPS,
    eta: float = DDNM_ETA,
    generator: torch.Generator | None = None,
    progress: bool = False,
    clip_x0: tuple[float, float] | None = None,
) -> Tensor:
    """DDNM (Wang et al. 2023): DDIM steps on ``steps`` evenly spaced levels with range-null-space projection.

    Move: ``x_s = sqrt(a_s) x0 + sqrt(1 - a_s - sigma^2) eps + sigma z`` with
    ``sigma = eta * sqrt((1 - a_s)/(1 - a_t) * (1 - a_t/a_s))`` (Song et al. 2021, Eq. 12/16).
    """
    return _walk(model, x_T, alphas_cumprod, steps, physics, y, eta, False, generator, progress, clip_x0)

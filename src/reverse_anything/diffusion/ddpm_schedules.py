"""The 1000-step noise schedules of the DDPM baseline, as small named functions.

Unlike IDM's few-step schedules (:mod:`.schedules`), these are the classic
long chains a DDPM prior is trained on:

* :func:`linear_beta_schedule`: Ho et al. 2020, ``beta`` linear from 1e-4 to
  0.02 over T = 1000 steps (diffusers' ``beta_schedule="linear"``).
* :func:`cosine_beta_schedule`: Nichol & Dhariwal 2021, Eq. 17,
  ``alpha_bar(t) = f(t) / f(0)``, ``f(t) = cos^2((t/T + s) / (1 + s) * pi/2)``,
  ``beta_t = 1 - alpha_bar(t) / alpha_bar(t - 1)`` clipped at 0.999
  (diffusers' ``beta_schedule="squaredcos_cap_v2"``).

Tables are float64 on the CPU and indexed by the 0-based step ``t = 0..T-1``
(step ``t`` of the papers' 1-based notation is index ``t - 1``); callers move
them to the image's device and dtype.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["linear_beta_schedule", "cosine_beta_schedule", "alphas_cumprod", "spaced_timesteps", "beta_schedule"]

BETA_SCHEDULES = ("linear", "cosine")


def _check_timesteps(timesteps: int) -> None:
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be a positive integer, got {timesteps!r}")


def linear_beta_schedule(timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """``beta_t`` evenly spaced from ``beta_start`` to ``beta_end`` (Ho et al. 2020, Sec. 4).

    The end points are kept for any ``timesteps`` (as diffusers does), not rescaled by 1000/T.
    """
    _check_timesteps(timesteps)
    if not 0 < beta_start <= beta_end < 1:
        raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {beta_start}, {beta_end}")
    return torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)


def cosine_beta_schedule(timesteps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """Betas of the cosine ``alpha_bar`` (Nichol & Dhariwal 2021, Eq. 17), clipped at ``max_beta``.

    The clip stops the last step from being a pure-noise step (``alpha_bar(T) = 0``, ``beta = 1``).
    """
    _check_timesteps(timesteps)
    if s < 0 or not 0 < max_beta < 1:
        raise ValueError(f"need s >= 0 and 0 < max_beta < 1, got s={s}, max_beta={max_beta}")
    t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2).square()
    alpha_bar = f / f[0]
    return (1.0 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)


def beta_schedule(name: str, timesteps: int = 1000) -> Tensor:
    """A schedule by name, ``linear`` or ``cosine`` (what model files store)."""
    if name == "linear":
        return linear_beta_schedule(timesteps)
    if name == "cosine":
        return cosine_beta_schedule(timesteps)
    raise ValueError(f"unknown DDPM beta schedule {name!r}; choose {' or '.join(BETA_SCHEDULES)}")


def alphas_cumprod(betas: Tensor) -> Tensor:
    """``alpha_bar_t = prod_{i <= t} (1 - beta_i)``, the signal level after step ``t``."""
    return torch.cumprod(1.0 - betas, dim=0)


def spaced_timesteps(timesteps: int, steps: int) -> Tensor:
    """``steps`` indices into a ``timesteps`` chain, evenly spaced, descending, from T-1 down to 0.

    Both ends are always included, so ``steps = timesteps`` is the full chain and a sampler
    starts from the noisiest level the model was trained on (DDIM's "uniform" skipping, with
    the rounding of ``numpy.linspace``-style spacing).
    """
    _check_timesteps(timesteps)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= timesteps:
        raise ValueError(f"steps must be an integer in 1..{timesteps}, got {steps!r}")
    return torch.linspace(timesteps - 1, 0, steps, dtype=torch.float64).round().long()

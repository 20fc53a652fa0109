"""Noise schedules for the few-step IDM sampler.

Every schedule maps the pseudo-inverse image ``A†y`` to a per-image table of
cumulative signal levels ``alpha_bar`` of shape ``(N, T + 1)`` with
``alpha_bar[:, 0] = 1`` (clean) and ``alpha_bar[:, T]`` the start level.  The
table is computed once per forward pass, *outside* the reversible chain, so its
parameters receive gradients through the recomputed steps and the step map
stays deterministic (exact reversal).

Three schedules share that interface (small config-like modules, in the
spirit of diffusers' schedulers):

* :class:`CosineSchedule`: the fixed base of Eq. 2,
  ``beta_t = (1 - cos(pi t / 2T)) / s``.
* :class:`AdaptiveSchedule`: Eq. 2 in full,
  ``beta_t = (1 - cos(pi t / 2T)) / s + lambda * Phi_t(A†y)`` with ``Phi`` a
  small CNN whose output is bounded by ``tanh``.
* :class:`GlobalLearnedSchedule`: the published IDM schedule, ``T`` learned
  per-step factors shared by all images (kept in (0, 1) by a sigmoid, which
  the published code does not do).

Why ``s > 1``: with ``s = 1`` and T = 3 the cosine base gives ``beta_T = 1``
and ``alpha_bar_T = 0``; the clean-image estimate divides by
``sqrt(alpha_bar_t)`` and would blow up.  We use ``s = 2`` by default and clip
every ``beta_t`` to ``[beta_min, beta_max]`` (0.75 by default).  At T = 3,
s = 2, lambda = 0.25 the worst case is ``alpha_bar_T >= 0.085``.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = [
    "cosine_betas",
    "alpha_bar_from_betas",
    "NoiseSchedule",
    "CosineSchedule",
    "AdaptiveSchedule",
    "GlobalLearnedSchedule",
    "build_schedule",
]


def cosine_betas(steps: int, s: float) -> Tensor:
    """The cosine base of Eq. 2: ``beta_t = (1 - cos(pi t / 2T)) / s`` for t = 1..T (float64)."""
    if steps < 1:
        raise ValueError(f"the number of steps must be >= 1, got {steps}")
    if s <= 0:
        raise ValueError(f"the schedule scale s must be > 0, got {s}")
    t = torch.arange(1, steps + 1, dtype=torch.float64)
    return (1.0 - torch.cos(math.pi * t / (2 * steps))) / s


def alpha_bar_from_betas(betas: Tensor) -> Tensor:
    """``alpha_bar`` table ``(..., T + 1)`` with a leading 1, from betas ``(..., T)``."""
    ones = torch.ones_like(betas[..., :1])
    return torch.cat([ones, torch.cumprod(1.0 - betas, dim=-1)], dim=-1)


class NoiseSchedule(nn.Module):
    """Base class: ``forward(x_init) -> alpha_bar`` of shape ``(N, T + 1)``."""

    kind: str = ""

    def __init__(self, steps: int, beta_min: float = 1e-4, beta_max: float = 0.75) -> None:
        super().__init__()
        if not 0 < beta_min < beta_max < 1:
            raise ValueError(f"need 0 < beta_min < beta_max < 1, got {beta_min}, {beta_max}")
        self.steps = steps
        self.beta_min = beta_min
        self.beta_max = beta_max

    def betas(self, x_init: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x_init: Tensor) -> Tensor:
        betas = self.betas(x_init).clamp(self.beta_min, self.beta_max)
        return alpha_bar_from_betas(betas)

    def config(self) -> dict:
        return {"kind": self.kind, "steps": self.steps, "beta_min": self.beta_min, "beta_max": self.beta_max}


class CosineSchedule(NoiseSchedule):
    """Fixed cosine base of Eq. 2, the same for every image."""

    kind = "cosine"

    def __init__(self, steps: int, s: float = 2.0, **bounds: float) -> None:
        super().__init__(steps, **bounds)
        self.s = s
        self.register_buffer("base", cosine_betas(steps, s), persistent=False)

    def betas(self, x_init: Tensor) -> Tensor:
        return self.base.to(x_init.dtype).expand(x_init.shape[0], -1)

    def config(self) -> dict:
        return {**super().config(), "s": self.s}


class MeasurementStatistic(nn.Module):
    """``Phi``: a small CNN reading ``A†y`` and returning one bounded value per step.

    It sees a 4x average-pooled copy of ``A†y`` (the schedule only needs global
    statistics: how noisy and how incomplete the start estimate is), so its
    cost is negligible beside the noise estimator.  Output in (-1, 1) by tanh,
    zero at initialisation (last layer zeroed) so training starts from the
    plain cosine schedule.
    """

    def __init__(self, steps: int, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(width, width, 3, padding=1, stride=2),
            nn.SiLU(),
        )
        self.head = nn.Linear(2 * width, steps)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x_init: Tensor) -> Tensor:
        grey = x_init.mean(dim=1, keepdim=True)
        pooled = nn.functional.avg_pool2d(grey, 4, ceil_mode=True) if min(grey.shape[-2:]) >= 4 else grey
        f = self.features(pooled)
        stats = torch.cat([f.mean(dim=(-2, -1)), f.std(dim=(-2, -1), unbiased=False)], dim=1)
        return torch.tanh(self.head(stats))


class AdaptiveSchedule(CosineSchedule):
    """Eq. 2: cosine base plus ``lambda * Phi(A†y)``, a learned measurement-adaptive term."""

    kind = "adaptive"

    def __init__(self, steps: int, s: float = 2.0, lam: float = 0.25, **bounds: float) -> None:
        super().__init__(steps, s, **bounds)
        if lam < 0:
            raise ValueError(f"lambda must be >= 0, got {lam}")
        self.lam = lam
        self.phi = MeasurementStatistic(steps)

    def betas(self, x_init: Tensor) -> Tensor:
        return super().betas(x_init) + self.lam * self.phi(x_init)

    def config(self) -> dict:
        return {**super().config(), "lam": self.lam}


class GlobalLearnedSchedule(NoiseSchedule):
    """The published IDM schedule: ``alpha_bar_t = prod_i alpha_i`` with learned ``alpha_i``.

    ``alpha_i = sigmoid(raw_i)``, initialised at 0.5 as published, kept in (0, 1).
    """

    kind = "global"

    def __init__(self, steps: int, **bounds: float) -> None:
        super().__init__(steps, **bounds)
        self.raw = nn.Parameter(torch.zeros(steps))

    def betas(self, x_init: Tensor) -> Tensor:
        return (1.0 - torch.sigmoid(self.raw)).to(x_init.dtype).expand(x_init.shape[0], -1)


def build_schedule(kind: str, steps: int, s: float = 2.0, lam: float = 0.25) -> NoiseSchedule:
    """Schedule by name: ``adaptive`` (Eq. 2), ``cosine`` (fixed base) or ``global`` (published IDM)."""
    if kind == "adaptive":
        return AdaptiveSchedule(steps, s=s, lam=lam)
    if kind == "cosine":
        return CosineSchedule(steps, s=s)
    if kind == "global":
        return GlobalLearnedSchedule(steps)
    raise ValueError(f"unknown schedule {kind!r}; choose adaptive, cosine or global")

"""Restorers on the DDPM baseline prior: ``ddpm`` (ancestral, 1000 steps) and ``ddnm`` (DDIM, 100 steps).

Both load a DDPM prior once (a shipped name or a ``.safetensors`` path written by
``reverse-anything train --method ddpm``) and return ``restore(op, y) -> x`` like every other
method. They talk to the operator only through ``A`` and ``A_dagger``, so any operator works.

The prior lives in ``[-1, 1]`` and the library's images in ``[0, 1]``; for a linear ``A`` the
measurement of the rescaled image is ``A(2x - 1) = 2y - A(1)``, so the samplers run in the
prior's range with that measurement and the result is mapped back. The projection is exact
(DDNM, not DDNM+): on noisy measurements it copies the noise into the range space.
Colour measurements are restored channel by channel (channels folded into the batch).
Runs are reproducible: the start noise and every step's noise come from a CPU generator
seeded with ``seed``, on any device.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor

from ..diffusion.ddpm_schedules import spaced_timesteps
from ..diffusion.samplers import DDNM_ETA, DDNM_STEPS, ddnm_sample, ddpm_sample
from ..models.ddpm import DDPMNet, from_model_range

__all__ = ["DEFAULT_PRIOR", "ddpm_restorer", "ddnm_restorer"]

DEFAULT_PRIOR = "ddpm"  # the shipped prior's name in weights/models.json
DATA_RANGE = (-1.0, 1.0)  # clean estimates are clamped to the prior's data range (Ho et al.)

Sampler = Callable[..., Tensor]


def _prior_restorer(model: str, device: str | None, sample: Sampler, steps: int | None, seed: int):
    """Load the prior once; ``sample(net, x_T, alphas_cumprod, steps=, physics=, y=, generator=, clip_x0=)`` restores."""
    from ..models.checkpoint import load_ddpm

    network: DDPMNet = load_ddpm(model, device=device or "cpu")
    schedule = network.alphas_cumprod
    steps = len(schedule) if steps is None else steps
    spaced_timesteps(len(schedule), steps)  # refuse a bad --steps now, not after the first image

    @torch.no_grad()
    def restore(op, y: Tensor) -> Tensor:
        params = next(network.parameters())
        if params.device != y.device or params.dtype != y.dtype:
            network.to(device=y.device, dtype=y.dtype)
        n, c = y.shape[:2]
        y_grey = y.reshape(n * c, 1, *y.shape[2:])
        shape = op.A_dagger(y_grey).shape
        y_prior = 2.0 * y_grey - op.A(torch.ones(shape, device=y.device, dtype=y.dtype))  # A(2x - 1)
        generator = torch.Generator().manual_seed(seed)
        x_T = torch.randn(shape, generator=generator, dtype=y.dtype).to(y.device)
        x = sample(network, x_T, schedule, steps=steps, physics=op, y=y_prior, generator=generator, clip_x0=DATA_RANGE)
        x = from_model_range(x)
        return x.reshape(n, c, *x.shape[2:])

    restore.model = network  # type: ignore[attr-defined]
    restore.model_name = model  # type: ignore[attr-defined]  # reported by the CLI
    return restore


def ddpm_restorer(model: str = DEFAULT_PRIOR, steps: int | None = None, seed: int = 0, device: str | None = None, progress: bool = False):
    """Ancestral DDPM with a DDNM projection at every step; ``steps`` defaults to the prior's T (1000)."""
    return _prior_restorer(model, device, functools.partial(ddpm_sample, progress=progress), steps, seed)


def ddnm_restorer(
    model: str = DEFAULT_PRIOR, steps: int = DDNM_STEPS, eta: float = DDNM_ETA, seed: int = 0, device: str | None = None, progress: bool = False
):
    """DDNM: DDIM steps (default 100, ``eta`` 0.85) with the range-null-space projection."""
    return _prior_restorer(model, device, functools.partial(ddnm_sample, eta=eta, progress=progress), steps, seed)

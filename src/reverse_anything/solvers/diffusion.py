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

from abc import abstractmethod

import torch
from torch import Tensor

from ..diffusion.ddpm_schedules import spaced_timesteps
from ..diffusion.samplers import DDNM_ETA, DDNM_STEPS, ddnm_sample, ddpm_sample
from ..models.ddpm import DDPMNet, from_model_range
from .base import Restorer

__all__ = ["DEFAULT_PRIOR", "DDPMRestorer", "DDNMRestorer"]

DEFAULT_PRIOR = "ddpm"  # the shipped prior's name in weights/models.json
DATA_RANGE = (-1.0, 1.0)  # clean estimates are clamped to the prior's data range (Ho et al.)


class PriorSamplerRestorer(Restorer):
    """Load a DDPM prior once; each call samples with :meth:`sample` and the range-null-space projection."""

    def __init__(self, model: str, steps: int | None, seed: int, device: str | None, progress: bool) -> None:
        from ..models.checkpoint import load_ddpm

        self.model: DDPMNet = load_ddpm(model, device=device or "cpu")
        self.model_name = model
        self.schedule = self.model.alphas_cumprod  # the training schedule the samplers walk
        self.steps = len(self.schedule) if steps is None else steps
        spaced_timesteps(len(self.schedule), self.steps)  # refuse a bad --steps now, not after the first image
        self.seed, self.progress = seed, progress

    @abstractmethod
    def sample(self, x_T: Tensor, physics, y: Tensor, generator: torch.Generator) -> Tensor:
        """The prior-range image from start noise ``x_T`` and the prior-range measurement ``y``."""

    @torch.no_grad()
    def __call__(self, op, y: Tensor) -> Tensor:
        network = self.model
        params = next(network.parameters())
        if params.device != y.device or params.dtype != y.dtype:
            network.to(device=y.device, dtype=y.dtype)
        n, c = y.shape[:2]
        y_grey = y.reshape(n * c, 1, *y.shape[2:])
        shape = op.A_dagger(y_grey).shape
        y_prior = 2.0 * y_grey - op.A(torch.ones(shape, device=y.device, dtype=y.dtype))  # A(2x - 1)
        generator = torch.Generator().manual_seed(self.seed)
        x_T = torch.randn(shape, generator=generator, dtype=y.dtype).to(y.device)
        x = from_model_range(self.sample(x_T, op, y_prior, generator))
        return x.reshape(n, c, *x.shape[2:])


class DDPMRestorer(PriorSamplerRestorer):
    """Ancestral DDPM with a DDNM projection at every step; ``steps`` defaults to the prior's T (1000)."""

    name = "ddpm"

    def __init__(self, model: str = DEFAULT_PRIOR, steps: int | None = None, seed: int = 0, device: str | None = None, progress: bool = False) -> None:
        super().__init__(model, steps, seed, device, progress)

    def sample(self, x_T: Tensor, physics, y: Tensor, generator: torch.Generator) -> Tensor:
        return ddpm_sample(self.model, x_T, self.schedule, steps=self.steps, physics=physics, y=y, generator=generator,
                           clip_x0=DATA_RANGE, progress=self.progress)


class DDNMRestorer(PriorSamplerRestorer):
    """DDNM: DDIM steps (default 100, ``eta`` 0.85) with the range-null-space projection."""

    name = "ddnm"

    def __init__(
        self, model: str = DEFAULT_PRIOR, steps: int = DDNM_STEPS, eta: float = DDNM_ETA, seed: int = 0, device: str | None = None, progress: bool = False
    ) -> None:
        super().__init__(model, steps, seed, device, progress)
        self.eta = eta

    def sample(self, x_T: Tensor, physics, y: Tensor, generator: torch.Generator) -> Tensor:
        return ddnm_sample(self.model, x_T, self.schedule, steps=self.steps, physics=physics, y=y, generator=generator,
                           clip_x0=DATA_RANGE, eta=self.eta, progress=self.progress)

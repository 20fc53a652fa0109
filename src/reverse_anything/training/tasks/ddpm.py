"""``--method ddpm`` (:class:`DDPMTask`): the baseline DDPM prior, Ho et al. 2020's Algorithm 1.

A uniform step ``t``, ``x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps``, mean-square error of the
predicted ``eps``; the prior that ``--init-prior`` later builds an IDM on.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...diffusion.ddpm_schedules import alphas_cumprod, beta_schedule
from ...metrics import psnr
from ...models.checkpoint import DDPM_FORMAT, save_ddpm
from ...models.ddpm import DDPMConfig, DDPMNet, deepened_weights, from_model_range, to_model_range
from ..config import TrainConfig
from .base import TrainingTask


class DDPMTask(TrainingTask):
    """Ho et al. 2020, Algorithm 1: noise the patches to a uniform random step, regress the noise (MSE).

    The step is drawn from the whole chain, or from the config's ``timestep_range`` when a
    fine-tune should spend its budget on the noise levels restorers use.
    Patches are mapped to the model's ``[-1, 1]``. Validation: PSNR of the one-shot clean
    estimate ``x0 = (x_t - sqrt(1 - a) eps) / sqrt(a)`` at 5.6 (Gaussian noise of sigma 25 / 255), 10, 40
    and 70 % of the chain, with fixed noise,
    so the numbers are comparable across iterations.
    """

    validation_fractions = (0.056, 0.1, 0.4, 0.7)  # of T: steps 56 (sigma 25 / 255), 100, 400, 700 of 1000
    model_format = DDPM_FORMAT
    model_kind = "DDPM prior"
    # depth: --init-from a prior with fewer blocks per scale deepens it (deepened_weights: new blocks start as identity)
    overridable_keys = frozenset({"depth"})

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.model_config = DDPMConfig.from_dict(self.config.model)  # with --init-from's architecture filled in
        self._alphas_cumprod = alphas_cumprod(beta_schedule(self.model_config.schedule, self.model_config.timesteps)).float()
        low, high = self.config.timestep_range or (0, self.model_config.timesteps)
        if high > self.model_config.timesteps:
            raise ValueError(f"timestep_range [{low}, {high}) runs past the prior's {self.model_config.timesteps} steps")
        self._draw_range = (int(low), int(high))

    def build_model(self) -> DDPMNet:
        return DDPMNet(self.model_config)

    def converted_initial_weights(self, tensors: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
        old_depth = tuple(self.init_architecture.get("depth", model.config.depth))
        return tensors if old_depth == tuple(model.config.depth) else deepened_weights(tensors, old_depth, model)  # type: ignore[arg-type]

    def _table(self, device: torch.device) -> Tensor:
        if self._alphas_cumprod.device != device:
            self._alphas_cumprod = self._alphas_cumprod.to(device)
        return self._alphas_cumprod

    def draw(self, x0: Tensor, generator: torch.Generator) -> dict[str, Any]:
        t = torch.randint(*self._draw_range, (x0.shape[0],), generator=generator)
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        return {"t": t.to(x0.device), "noise": noise}

    def loss(self, net: nn.Module, x0: Tensor, inputs: dict[str, Any]) -> Tensor:
        alpha_bar = self._table(x0.device)[inputs["t"]]
        a = alpha_bar.view(-1, 1, 1, 1)
        x_t = a.sqrt() * to_model_range(x0) + (1 - a).sqrt() * inputs["noise"]
        return (net(x_t, alpha_bar) - inputs["noise"]).square().mean()

    @torch.no_grad()
    def validate(self, model: nn.Module, images: list[Tensor], device: torch.device) -> dict[str, float]:
        model.eval()
        table = self._table(device)
        scores: dict[str, float] = {}
        for t in sorted({round(f * len(table)) for f in self.validation_fractions}):
            a = table[t]
            values = []
            for index, image in enumerate(images):
                x = image.unsqueeze(0).to(device)
                noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(10_000 + index)).to(device)
                x_t = a.sqrt() * to_model_range(x) + (1 - a).sqrt() * noise
                x0 = (x_t - (1 - a).sqrt() * model(x_t, a.expand(1))) / a.sqrt()
                values.append(psnr(from_model_range(x0).clamp(0, 1), x, data_range=1.0).item())
            scores[f"val_psnr@t{t}"] = sum(values) / max(1, len(values))
        model.train()
        return scores

    def export(self, model: nn.Module, stem: Path, training: dict) -> None:
        save_ddpm(model, stem, training=training)

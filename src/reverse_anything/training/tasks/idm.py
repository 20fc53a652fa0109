"""``--method idm`` (:class:`IDMTask`): Algorithm 1 of the IDM paper, optionally on a DDPM prior.

A CS ratio drawn from the model's range, a fresh permutation (so the model is not tied to one),
``y = A x0 + noise``, the whole T-step sampler run forward, L1 loss against the patch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...metrics import psnr
from ...models.checkpoint import MODEL_FORMAT, ModelFileError, load_ddpm, load_unique_state_dict, read_model_files, save_idm
from ...models.ddpm import DDPMNet
from ...models.from_prior import load_prior_weights, move_injectors, prior_idm_config
from ...models.idm import IDM, LEGACY_OPERATOR_KEYS, IDMConfig
from ...physics import CompressedSensing
from ...physics.compressed_sensing import BLOCK_SIZE
from ..config import TrainConfig
from .base import TrainingTask


def _model_config(config: TrainConfig) -> IDMConfig:
    ratios = config.ratios
    serves = {"operator": "cs", "ratio": {"min": min(ratios), "max": max(ratios)}, "block_size": BLOCK_SIZE, "scramble": True}
    return IDMConfig.from_dict({**config.model, "serves": serves, "extra": {"cs_seed": config.cs_seed}})


def _draw_ratio(config: TrainConfig, generator: torch.Generator) -> float:
    """A ratio drawn uniformly from the range on a 0.01 grid (so operators can be cached)."""
    lo, hi = min(config.ratios), max(config.ratios)
    return round(lo + (hi - lo) * torch.rand((), generator=generator).item(), 2) if hi > lo else lo


@torch.no_grad()
def validate_idm(model: IDM, images: list[Tensor], ratios: tuple[float, ...], cs_seed: int, device: torch.device) -> dict[str, float]:
    """Mean PSNR on the held-out crops at the low, middle and high ratio of the training range."""
    model.eval()
    lo, hi = min(ratios), max(ratios)
    scores: dict[str, float] = {}
    for ratio in sorted({lo, (lo + hi) / 2, hi}):
        values = []
        for index, image in enumerate(images):
            x = image.unsqueeze(0).to(device)
            physics = CompressedSensing(ratio, tuple(x.shape[-2:]), seed=cs_seed, perm_seed=10_000 + index).to(device)
            values.append(psnr(model(physics.A(x), physics).clamp(0, 1), x, data_range=1.0).item())
        scores[f"val_psnr@{ratio:g}"] = sum(values) / max(1, len(values))
    model.train()
    return scores


class IDMTask(TrainingTask):
    """Algorithm 1: CS measurements of the patches, the T-step IDM run end to end, L1 loss."""

    log_fields = ("ratio",)
    model_format = MODEL_FORMAT
    model_kind = "IDM"
    run_keys = frozenset({"memory_saving", "serves", "extra", *LEGACY_OPERATOR_KEYS})  # legacy: cards made before `serves`
    overridable_keys = frozenset({"injector"})  # weights move between the coupling slots (move_injectors)

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self._operators: dict[float, CompressedSensing] = {}  # the matrix depends on the ratio only; permutations are cheap
        self.prior: DDPMNet | None = None
        if self.config.init_prior:
            self.prior = load_ddpm(self.config.init_prior)
            self.config.model = prior_idm_config(self.prior, **self.config.model).to_dict()

    def load_initial_weights(self, model: nn.Module) -> None:
        if self.prior is not None:
            load_prior_weights(model, self.prior)  # type: ignore[arg-type]
            return
        _, tensors = read_model_files(self.config.init_from, self.model_format, self.model_kind)
        config: IDMConfig = model.config  # type: ignore[assignment]
        if config.backbone == "prior":  # the injectors may have moved (--init-from an "after" model, injector "before")
            tensors = move_injectors(tensors, self.init_architecture.get("injector", "before"), config.injector)
        try:
            load_unique_state_dict(model, tensors)
        except ModelFileError as error:
            raise ValueError(f"--init-from {self.config.init_from}: {error}") from None

    def build_model(self) -> IDM:
        return IDM(_model_config(self.config))

    def draw(self, x0: Tensor, generator: torch.Generator) -> dict[str, Any]:
        config = self.config
        ratio = _draw_ratio(config, generator)
        perm_seed = int(torch.randint(0, 2**31 - 1, (), generator=generator))
        if ratio not in self._operators:
            self._operators[ratio] = CompressedSensing(ratio, (config.patch_size,) * 2, seed=config.cs_seed).to(x0.device)
        physics = self._operators[ratio].with_permutation(perm_seed)
        y = physics.A(x0)
        if config.noise_sigma > 0:
            y = y + config.noise_sigma * torch.randn(y.shape, generator=generator).to(x0.device)
        return {"ratio": ratio, "physics": physics, "y": y}

    def loss(self, net: nn.Module, x0: Tensor, inputs: dict[str, Any]) -> Tensor:
        return (net(inputs["y"], inputs["physics"]) - x0).abs().mean()

    def validate(self, model: nn.Module, images: list[Tensor], device: torch.device) -> dict[str, float]:
        return validate_idm(model, images, self.config.ratios, self.config.cs_seed, device)  # type: ignore[arg-type]

    def export(self, model: nn.Module, stem: Path, training: dict) -> None:
        save_idm(model, stem, training=training)

    def log_values(self, inputs: dict[str, Any]) -> list[str]:
        return [f"{inputs['ratio']:.4f}"]

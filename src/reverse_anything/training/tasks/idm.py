"""``--method idm`` (:class:`IDMTask`): Algorithm 1 of the IDM paper, optionally on a DDPM prior, for any operator.

Each iteration draws an operator from the run's descriptions (``operators``; by default scrambled CS
at a ratio drawn from ``ratios``, a fresh permutation each time so the model is not tied to one),
measures ``y = A x0 + noise``, runs the whole T-step sampler forward, L1 loss against the patch.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...metrics import psnr
from ...models.checkpoint import MODEL_FORMAT, load_ddpm, save_idm
from ...models.ddpm import DDPMNet
from ...models.from_prior import load_prior_weights, move_injectors, prior_idm_config
from ...models.idm import IDM, LEGACY_OPERATOR_KEYS, IDMConfig
from ...models.step_count import matched_schedule_s, resample_steps
from ...physics import CompressedSensing
from ...physics.compressed_sensing import BLOCK_SIZE
from ..config import TrainConfig
from ..operator_draws import OperatorDraws, label_keys, served_description, setting_label, validation_operator, validation_settings
from .base import TrainingTask


def training_descriptions(config: TrainConfig) -> list[dict[str, Any]]:
    """The run's ``operators``, or (none given) scrambled CS over ``ratios`` on the ``cs_seed`` matrix."""
    if config.operators:
        return [dict(description) for description in config.operators]
    ratios = config.ratios
    return [{"operator": "cs", "ratio": {"min": min(ratios), "max": max(ratios)}, "block_size": BLOCK_SIZE,
             "scramble": True, "seed": config.cs_seed}]


def _model_config(config: TrainConfig) -> IDMConfig:
    # a CS run with its own noise_sigma (no operators) gives every measurement that noise: it serves any level
    served = [served_description(d, trained_noiseless=config.noise_sigma == 0) for d in training_descriptions(config)]
    extra = {} if config.operators else {"cs_seed": config.cs_seed}
    return IDMConfig.from_dict({**config.model, "serves": served[0] if len(served) == 1 else served, "extra": extra})


def _held_out_psnr(model: IDM, images: list[Tensor], operator_for: Callable[[tuple[int, int], int], object], device: torch.device) -> float:
    """Mean PSNR of ``model`` on the held-out crops, image ``index`` measured by ``operator_for(size, index)``
    with its noise seeded by the index."""
    values = []
    for index, image in enumerate(images):
        x = image.unsqueeze(0).to(device)
        physics = operator_for(tuple(x.shape[-2:]), index).to(device)
        y = physics(x, generator=torch.Generator(device).manual_seed(index))  # A x plus the operator's noise, if any
        values.append(psnr(model(y, physics).clamp(0, 1), x, data_range=1.0).item())
    return sum(values) / max(1, len(values))


@torch.no_grad()
def validate_idm(model: IDM, images: list[Tensor], ratios: tuple[float, ...], cs_seed: int, device: torch.device) -> dict[str, float]:
    """Mean PSNR on the held-out crops at the low, middle and high ratio of the training range (CS runs)."""
    model.eval()
    lo, hi = min(ratios), max(ratios)
    scores = {f"val_psnr@{ratio:g}": _held_out_psnr(model, images, lambda size, index, ratio=ratio: CompressedSensing(
        ratio, size, seed=cs_seed, perm_seed=10_000 + index), device) for ratio in sorted({lo, (lo + hi) / 2, hi})}
    model.train()
    return scores


@torch.no_grad()
def validate_operators(model: IDM, images: list[Tensor], descriptions: list[dict], device: torch.device) -> dict[str, float]:
    """Mean PSNR on the held-out crops for every description's validation settings (noise seeded per image)."""
    model.eval()
    scores: dict[str, float] = {}
    for description in descriptions:
        keys = label_keys(description, descriptions)
        for setting in validation_settings(description):
            scores[f"val_psnr@{setting_label(setting, keys)}"] = _held_out_psnr(
                model, images, lambda size, index, setting=setting: validation_operator(setting, size, index), device)
    model.train()
    return scores


class IDMTask(TrainingTask):
    """Algorithm 1: measurements of the patches by a drawn operator, the T-step IDM run end to end, L1 loss."""

    model_format = MODEL_FORMAT
    model_kind = "IDM"
    run_keys = frozenset({"memory_saving", "serves", "extra", *LEGACY_OPERATOR_KEYS})  # legacy: cards made before `serves`
    # injector: the weights move between the coupling slots (move_injectors); start: no weights depend on it;
    # steps: the per-step weights are resampled (resample_steps), to fine-tune a shorter, faster sampler,
    # and schedule_s (no weights depend on it) follows unless the run sets it (matched_schedule_s)
    overridable_keys = frozenset({"injector", "start", "steps", "schedule_s"})

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.descriptions = training_descriptions(self.config)
        self.log_fields = ("operator",) if self.config.operators else ("ratio",)
        self._draws = OperatorDraws(self.descriptions, self.config.patch_size)
        start = self.config.model.get("start", "pinv")
        if start == "unbiased" and any(d["operator"] != "cs" for d in self.descriptions):
            warnings.warn("start 'unbiased' divides A†y by m/n for every operator, which suits scrambled CS only; "
                          "set model.start to a mapping such as {\"cs\": \"unbiased\", \"default\": \"pinv\"}", stacklevel=2)
        self.prior: DDPMNet | None = None
        if self.config.init_prior:
            self.prior = load_ddpm(self.config.init_prior)
            self.config.model = prior_idm_config(self.prior, **self.config.model).to_dict()

    def _inherit_architecture(self, inherited: dict, requested: dict) -> dict:
        """Also: another ``steps`` than the ``--init-from`` model's takes the ``schedule_s`` that keeps its start level."""
        merged = super()._inherit_architecture(inherited, requested)
        old_steps, new_steps = inherited.get("steps"), merged.get("steps")
        if old_steps is not None and new_steps != old_steps and "schedule_s" not in requested:
            merged["schedule_s"] = matched_schedule_s(int(old_steps), float(inherited.get("schedule_s", IDMConfig.schedule_s)), int(new_steps))
        return merged

    def load_initial_weights(self, model: nn.Module) -> None:
        if self.prior is not None:
            load_prior_weights(model, self.prior)  # type: ignore[arg-type]
            return
        super().load_initial_weights(model)

    def converted_initial_weights(self, tensors: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
        config: IDMConfig = model.config  # type: ignore[assignment]
        if config.backbone == "prior":  # the injectors may have moved (--init-from an "after" model, injector "before")
            tensors = move_injectors(tensors, self.init_architecture.get("injector", "before"), config.injector)
        return resample_steps(tensors, int(self.init_architecture.get("steps", config.steps)), config.steps)

    def build_model(self) -> IDM:
        return IDM(_model_config(self.config))

    def draw(self, x0: Tensor, generator: torch.Generator) -> dict[str, Any]:
        physics, setting, label = self._draws.draw(generator, x0.device)
        if self.config.noise_sigma > 0:  # a CS run's own noise level: the operator carries it, so the model sees it
            physics = physics.with_noise(self.config.noise_sigma)
        y = physics.A(x0)
        if physics.noise_sigma > 0:
            y = y + physics.noise_sigma * torch.randn(y.shape, generator=generator).to(x0.device)
        return {"setting": setting, "label": label, "physics": physics, "y": y}

    def loss(self, net: nn.Module, x0: Tensor, inputs: dict[str, Any]) -> Tensor:
        return (net(inputs["y"], inputs["physics"]) - x0).abs().mean()

    def validate(self, model: nn.Module, images: list[Tensor], device: torch.device) -> dict[str, float]:
        if not self.config.operators:
            return validate_idm(model, images, self.config.ratios, self.config.cs_seed, device)  # type: ignore[arg-type]
        return validate_operators(model, images, self.descriptions, device)  # type: ignore[arg-type]

    def export(self, model: nn.Module, stem: Path, training: dict) -> None:
        save_idm(model, stem, training=training)

    def log_values(self, inputs: dict[str, Any]) -> list[str]:
        return [inputs["label"]] if self.config.operators else [f"{inputs['setting']['ratio']:.4f}"]

"""Invertible Diffusion Model: a T-step deterministic sampler trained as one network ``y -> x``.

Algorithm (``idm-method.md`` §2.2-2.6, our Eq. 2 schedule):

1. ``x_init = A†y``; ``alpha_bar = schedule(x_init)`` (per image, ``(N, T+1)``).
2. Two streams start at ``sqrt(alpha_bar_T) * [x_init, s * x_init]`` (learned ``s``, init 1).
3. For ``t = T .. 1`` a leapfrog coupling (level 1 of the dual reversibility)
   ``(x, h) -> ((1 - v_t) F_t(x) + v_t h, x)`` with the diffusion step
   ``F_t``: estimate the noise with the shared :class:`NoiseEstimator`, estimate
   ``x0``, make it consistent with ``y`` (``x0 - w_t A†(A x0 - y)``; for a noisy
   measurement the proximal step of :data:`NOISY_DATA_STEP`), re-noise with DDIM (eta = 0).
4. Output ``x + m * h`` (learned fusion ``m``, init 0).

The step chain is a :class:`ReversibleSequence`; so are the stages inside the
noise estimator, hence training memory is flat in T and in depth.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..diffusion.schedules import build_schedule
from ..diffusion.updates import data_consistency, ddim_renoise, predict_x0, proximal_data_step
from ..physics import operator_family
from ..reversible import LeapfrogCoupling, ReversibleSequence
from .config import JsonConfig
from .noise_estimator import INJECTOR_POSITIONS, NoiseEstimator, PriorNoiseEstimator
from .precision import autocast_for, check_precision
from .serves import check_description, refusal_for

__all__ = ["IDMConfig", "IDM", "BACKBONES", "refusal", "DiffusionStep", "IncompatibleMeasurementError"]


BACKBONES = ("split", "prior")
LEGACY_OPERATOR_KEYS = ("operator", "ratio_range", "block_size")  # before models described what they serve as `serves`
"""``split``: the CPU-sized reversible U-Net trained from scratch (couplings on channel halves, data in [0, 1]);
``prior``: a DDPM prior's U-Net made reversible (:class:`PriorNoiseEstimator`, data in the prior's [-1, 1])."""


STARTS = ("pinv", "unbiased")
"""Where the chain starts: ``sqrt(alpha_bar_T) * A†y`` (``pinv``, the published IDM), or ``A†y`` divided by
the measurement ratio ``m/n`` (``unbiased``: for random subsampling operators such as scrambled CS, whose
``A†A`` averages ``(m/n) I``, this undoes the shrinkage a denoiser would otherwise read as signal; wrong for
inpainting, SR, blur or MRI, whose ``A†y`` is already at full scale where it is known). A model for several
operators takes a mapping, e.g. ``{"cs": "unbiased", "default": "pinv"}`` (``default``: every other family)."""


NOISY_DATA_STEP_CG_ITERATIONS = 10
NOISY_DATA_STEP = """How a step uses a noisy measurement (the operator's ``noise_sigma`` > 0), set from sigma, nothing learned:
``x0 <- argmin ‖A x - y‖² + rho_t ‖x - x0‖²`` with ``rho_t = (sigma_y / sigma_t)²``, where ``sigma_y`` is the
measurement noise and ``sigma_t = sqrt((1 - a_t) / a_t)`` the noise level of step t's ``x0`` estimate (both in
the model's range); solved by 10 conjugate-gradient iterations through A and Aᵀ (DPIR's data step, Zhang et al.
2021). Early, noisy steps follow the data almost fully, late ones keep the estimate where the data is noisier
than it. A noiseless measurement keeps the exact projection, and a model with ``learn_consistency`` keeps its
learned relaxation ``x0 - w_t A†(A x0 - y)``."""


class IncompatibleMeasurementError(ValueError):
    """A model was asked to invert a measurement it was not trained for."""


@dataclass
class IDMConfig(JsonConfig):
    """Everything needed to rebuild an IDM (stored as JSON beside the weights)."""

    steps: int = 3
    channels: tuple[int, ...] = (32, 64, 128)
    depth: tuple[int, ...] = (2, 2, 2)
    embed_dim: int = 64
    schedule: str = "adaptive"
    schedule_s: float = 2.0
    schedule_lambda: float = 0.25
    memory_saving: bool = True
    learn_consistency: bool = False
    serves: dict | list = field(default_factory=dict)  # the measurements it was trained for (models/serves.py); {}: any
    backbone: str = "split"
    step_mixing: float = 0.5
    start: str | dict = "pinv"  # one of STARTS, or {family: start, "default": start}
    injector: str = "before"
    extra: dict = field(default_factory=dict)

    def start_for(self, family: str) -> str:
        """The start used for an operator family (``start`` itself, or its entry in the mapping)."""
        if isinstance(self.start, dict):
            return self.start.get(family, self.start.get("default", "pinv"))
        return self.start

    def __post_init__(self) -> None:
        """Refuse impossible settings here, so a bad config or model file fails with the reason, not deep in torch."""
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose {' or '.join(BACKBONES)}")
        if self.injector not in INJECTOR_POSITIONS:
            raise ValueError(f"unknown injector position {self.injector!r}; choose {' or '.join(INJECTOR_POSITIONS)}")
        starts = self.start.values() if isinstance(self.start, dict) else [self.start]
        if not starts or any(start not in STARTS for start in starts):
            raise ValueError(f"unknown start {self.start!r}; choose {' or '.join(STARTS)} (or a mapping family -> start)")
        if not 0.05 < self.step_mixing < 1:
            raise ValueError(f"step_mixing (the level-1 couplings' initial v) must lie in (0.05, 1), got {self.step_mixing}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not self.channels or len(self.channels) != len(self.depth):
            raise ValueError("channels and depth must be non-empty and of equal length")
        if self.backbone == "split" and (any(c < 2 or c % 2 for c in self.channels) or any(d < 1 for d in self.depth)):
            raise ValueError(f"channels must be even and >= 2 (couplings split them), depth >= 1; got {self.channels}, {self.depth}")
        if self.embed_dim < 1 or not self.schedule_s > 0 or not self.schedule_lambda >= 0:
            raise ValueError(f"need embed_dim >= 1, schedule_s > 0, schedule_lambda >= 0; got {self.embed_dim}, {self.schedule_s}, {self.schedule_lambda}")
        check_description(self.serves)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IDMConfig:
        """Also reads the cards written before ``serves`` (``operator`` / ``ratio_range`` / ``block_size``: scrambled CS)."""
        data = dict(data)
        legacy = {key: data.pop(key) for key in LEGACY_OPERATOR_KEYS if key in data}
        if legacy and "serves" not in data:
            serves: dict[str, Any] = {"operator": legacy.get("operator", "cs")}
            if serves["operator"] == "cs":
                if legacy.get("ratio_range") is not None:
                    low, high = legacy["ratio_range"]
                    serves["ratio"] = {"min": low, "max": high}
                if legacy.get("block_size") is not None:
                    serves["block_size"] = legacy["block_size"]
                serves["scramble"] = True
            data["serves"] = serves
        return super().from_dict(data)


def refusal(config: IDMConfig, physics: object) -> str | None:
    """Why a model of ``config`` cannot invert ``physics`` (one line), or ``None`` if it was trained for it.

    Generic: the model's ``serves`` description against the operator's ``config()``, so shipped models
    are matched to a measurement from their JSON cards alone.
    """
    return refusal_for(config.serves, physics, what="this IDM model")


def measurement_ratio(y: Tensor, x_init: Tensor) -> Tensor:
    """``m / n`` per image: how much of the image the measurement holds (told to the backbone)."""
    ratio = y[0].numel() / x_init[0].numel()
    return torch.full((x_init.shape[0],), min(ratio, 1.0), dtype=x_init.dtype, device=x_init.device)


class DiffusionStep(nn.Module):
    """``F_t``: one deterministic diffusion step with data consistency (shared backbone, own step index)."""

    def __init__(self, backbone: NoiseEstimator, t: int, learn_consistency: bool) -> None:
        super().__init__()
        self.backbone = backbone
        self.t = t
        # w_t = sigmoid(raw) starts at ~0.98: near the exact projection, free to relax for noisy y.
        self.consistency = nn.Parameter(torch.tensor(4.0)) if learn_consistency else None
        self.precision = "fp32"  # the noise estimator's arithmetic at inference (IDM.set_precision)

    def forward(self, x: Tensor, alpha_bar: Tensor, x_init: Tensor, y: Tensor, ratio: Tensor, physics, y_sigma: float = 0.0) -> Tensor:
        a_t = alpha_bar[:, self.t].view(-1, 1, 1, 1)
        a_prev = alpha_bar[:, self.t - 1].view(-1, 1, 1, 1)
        embedding = self.backbone.embedding(a_t.flatten(), ratio)
        with autocast_for(self.precision, x.device.type):
            eps = self.backbone(x, embedding, x_init, physics, self.t - 1)
        eps = eps.to(x.dtype)
        x0 = predict_x0(x, eps, a_t)
        if y_sigma > 0 and self.consistency is None:  # NOISY_DATA_STEP (a model that learned its relaxation keeps it)
            rho = y_sigma**2 * a_t / (1.0 - a_t).clamp_min(1e-8)
            x0 = proximal_data_step(x0, y, physics, rho, NOISY_DATA_STEP_CG_ITERATIONS)
        else:
            weight = 1.0 if self.consistency is None else torch.sigmoid(self.consistency)
            x0 = data_consistency(x0, y, physics, weight)
        return ddim_renoise(x0, eps, a_prev)


class IDM(nn.Module):
    """The end-to-end IDM network: ``forward(y, physics) -> x``, grey images ``(N, 1, H, W)``."""

    def __init__(self, config: IDMConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or IDMConfig()  # IDMConfig checked its values when it was made
        if config.backbone == "prior":
            backbone = PriorNoiseEstimator(config.channels, config.depth, config.steps, config.embed_dim, config.memory_saving, config.injector)
        else:
            backbone = NoiseEstimator(config.channels, config.depth, config.steps, config.embed_dim, config.memory_saving)
        self.schedule = build_schedule(config.schedule, config.steps, config.schedule_s, config.schedule_lambda)
        steps = [
            LeapfrogCoupling(DiffusionStep(backbone, t, config.learn_consistency), v_init=config.step_mixing)
            for t in range(config.steps, 0, -1)
        ]
        self.chain = ReversibleSequence(steps, memory_saving=config.memory_saving)
        self.help_scale = nn.Parameter(torch.tensor(1.0))
        self.merge_scale = nn.Parameter(torch.tensor(0.0))

    def set_precision(self, precision: str) -> None:
        """Run the shared noise estimator in ``precision`` (``fp32`` or ``bf16``; :mod:`.precision`) at
        inference; everything else stays float32.  Not saved with the model."""
        check_precision(precision)
        for module in self.modules():
            if isinstance(module, DiffusionStep):
                module.precision = precision

    def check_physics(self, physics: object) -> None:
        """Refuse operators the model was not trained for, with a one-line reason."""
        reason = refusal(self.config, physics)
        if reason is not None:
            raise IncompatibleMeasurementError(reason)

    def forward(self, y: Tensor, physics) -> Tensor:
        prior_range = self.config.backbone == "prior"
        if prior_range:  # the prior's [-1, 1]: A(2x - 1) = 2y - A(1) for a linear A
            y = 2.0 * y - physics.A(torch.ones_like(physics.A_dagger(y)))
        x_init = physics.A_dagger(y)
        if x_init.shape[1] != 1:
            raise ValueError(f"IDM models are grey: expected 1 channel, got {x_init.shape[1]} (restore colour per channel)")
        alpha_bar = self.schedule(x_init)
        ratio = measurement_ratio(y, x_init)
        start = alpha_bar[:, -1].sqrt().view(-1, 1, 1, 1) * x_init
        if self.config.start_for(operator_family(physics)) == "unbiased":
            start = start / ratio.view(-1, 1, 1, 1)
        state = torch.cat([start, self.help_scale * start], dim=1)
        if prior_range:  # a prior never saw a measurement ratio (it was trained at 1); the injectors bring y in
            ratio = torch.ones_like(ratio)
        y_sigma = float(getattr(physics, "noise_sigma", 0.0)) * (2.0 if prior_range else 1.0)  # [-1, 1] doubles it
        state = self.chain(state, alpha_bar, x_init, y, ratio, physics, y_sigma)
        x, h = state.chunk(2, dim=1)
        x = x + self.merge_scale * h
        return (x + 1.0) / 2.0 if prior_range else x

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

"""The settings of a training run (:class:`TrainConfig`), how they are read, and the LR schedule.

Kept apart from the loop so the CLI, the tasks and the checkpoint state can all depend on the
settings without depending on each other.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..models.config import JsonConfig
from ..physics.compressed_sensing import BLOCK_SIZE
from .operator_draws import check_training_operators

TRAINING_METHODS = ("idm", "ddpm")

# Tensor layouts training can run in; benchmarks/channels_last.py measures which is faster where.
MEMORY_FORMATS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


@dataclass
class TrainConfig(JsonConfig):
    """Training run settings; every field is also a ``reverse-anything train`` flag.

    ``method`` picks the model trained; ``ratios``, ``noise_sigma``, ``cs_seed`` and ``operators``
    concern ``idm`` only (``operators``: descriptions of the measurements to train on, see
    ``training/operator_draws.py``; empty: scrambled CS at ``ratios`` with matrix seed ``cs_seed``), and ``model`` holds the chosen model's config keys (IDMConfig / DDPMConfig).
    ``timestep_range`` concerns ``ddpm`` only: it focuses a prior's (fine-)tuning on the noise levels
    a restorer uses (the denoising benchmark's sigma = 25 / 255 is t = 56 of the linear 1000-step chain).
    ``init_from`` (a shipped name or a model path) fine-tunes that model: a fresh run starts
    from its weights, and its architecture fills every model key the run does not set.
    """

    method: str = "idm"
    data: str = ""  # a folder of training images; no default (configs/ name the project's ../shared/data/train)
    out: str = "runs/idm-cs"
    iterations: int = 2000
    batch_size: int = 8
    patch_size: int = 64
    lr: float = 3e-4
    lr_min: float = 1e-5
    warmup: int = 50
    ratios: tuple[float, ...] = (0.1, 0.5)
    noise_sigma: float = 0.0
    seed: int = 0
    cs_seed: int = 0
    operators: list = field(default_factory=list)
    amp: str = "none"
    device: str = "cpu"
    memory_format: str = "nchw"
    val_holdout: int = 6
    val_every: int = 200
    val_size: int = 128
    checkpoint_every: int = 100
    time_limit_minutes: float | None = None
    init_from: str | None = None
    init_prior: str | None = None
    ema: float = 0.0
    compile: bool = False
    timestep_range: tuple[int, int] | None = None  # ddpm: draw t in [low, high) only (default: the whole chain)
    model: dict = field(default_factory=dict)

    def validate(self) -> None:
        if self.method not in TRAINING_METHODS:
            raise ValueError(f"unknown training method {self.method!r}; choose {' or '.join(TRAINING_METHODS)}")
        if self.iterations < 1 or self.batch_size < 1:
            raise ValueError("iterations and batch size must be >= 1")
        if self.patch_size < BLOCK_SIZE or self.patch_size % BLOCK_SIZE:
            raise ValueError(f"patch size must be a multiple of {BLOCK_SIZE} (the CS block), got {self.patch_size}")
        if not self.ratios or not all(0 < r <= 1 for r in self.ratios) or len(self.ratios) > 2:
            raise ValueError(f"ratios must be one ratio or a (low, high) range inside (0, 1], got {self.ratios}")
        if self.noise_sigma < 0:
            raise ValueError(f"noise sigma must be >= 0, got {self.noise_sigma}")
        if self.amp not in {"none", "bf16", "fp16"}:
            raise ValueError(f"amp must be none, bf16 or fp16, got {self.amp}")
        if self.memory_format not in MEMORY_FORMATS:
            raise ValueError(f"memory format must be {' or '.join(MEMORY_FORMATS)}, got {self.memory_format!r}")
        if not (math.isfinite(self.lr) and self.lr > 0 and math.isfinite(self.lr_min) and self.lr_min >= 0):
            raise ValueError(f"need a finite learning rate lr > 0 and lr_min >= 0, got lr {self.lr}, lr_min {self.lr_min}")
        if self.warmup < 0 or self.val_holdout < 0:
            raise ValueError(f"warmup and val_holdout must be >= 0, got {self.warmup}, {self.val_holdout}")
        if self.val_every < 1 or self.checkpoint_every < 1:
            raise ValueError(f"val_every and checkpoint_every must be >= 1 iteration, got {self.val_every}, {self.checkpoint_every}")
        if self.val_size < BLOCK_SIZE:
            raise ValueError(f"val_size must be >= {BLOCK_SIZE} (crops are rounded down to the {BLOCK_SIZE}-pixel CS block), got {self.val_size}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"the EMA decay must lie in [0, 1) (0 = off), got {self.ema}")
        if self.init_prior and (self.method != "idm" or self.init_from):
            raise ValueError("--init-prior starts a new IDM from a DDPM prior: it needs --method idm and no --init-from")
        if self.time_limit_minutes is not None and not self.time_limit_minutes > 0:
            raise ValueError(f"the time limit must be > 0 minutes, got {self.time_limit_minutes}")
        if self.operators:
            if self.method != "idm":
                raise ValueError("operators (the measurements to train on) concern --method idm only")
            if self.noise_sigma > 0:
                raise ValueError("with operators, give each description its own noise_sigma (a value or a range), not the run's --noise-sigma")
            check_training_operators(self.operators, self.patch_size)
        if self.timestep_range is not None:
            if self.method != "ddpm":
                raise ValueError("timestep_range (the DDPM steps drawn in training) concerns --method ddpm only")
            if len(self.timestep_range) != 2 or not 0 <= self.timestep_range[0] < self.timestep_range[1]:
                raise ValueError(f"timestep_range is two steps, low < high, low >= 0; got {list(self.timestep_range)}")
        if not self.data:
            raise ValueError("no training data: pass --data FOLDER (or a 'data' key in --config)")


def load_train_config(path: str | Path | None, overrides: dict) -> TrainConfig:
    """A JSON config file (optional) with command-line overrides on top."""
    base: dict = {}
    if path is not None:
        try:
            base = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: cannot read training config ({error})") from None
        if not isinstance(base, dict):
            raise ValueError(f"{path}: a training config is a JSON object of settings, not a {type(base).__name__}")
    base.update({k: v for k, v in overrides.items() if v is not None})
    config = TrainConfig.from_dict(base)
    config.validate()
    return config


def learning_rate(config: TrainConfig, iteration: int) -> float:
    """Linear warm-up, then cosine decay to ``lr_min``."""
    if iteration < config.warmup:
        return config.lr * (iteration + 1) / config.warmup
    progress = (iteration - config.warmup) / max(1, config.iterations - config.warmup)
    return config.lr_min + 0.5 * (config.lr - config.lr_min) * (1 + math.cos(math.pi * min(progress, 1.0)))

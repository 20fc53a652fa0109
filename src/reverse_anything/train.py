"""Training: end-to-end IDM (Algorithm 1) and the DDPM baseline prior, on one CPU, one GPU, or
many processes via ``torchrun``.

One loop (:func:`run_training`) serves both; a :class:`TrainingTask` supplies what differs
(the model, one iteration's random draws and loss, validation, the exported model file):

* ``idm`` (:class:`IDMTask`): a CS ratio drawn from the model's range, a fresh permutation
  (so the model is not tied to one), ``y = A x0 + noise``, the whole T-step sampler run
  forward, L1 loss against the patch;
* ``ddpm`` (:class:`DDPMTask`): Ho et al.'s Algorithm 1, a uniform step ``t``, ``x_t =
  sqrt(a_t) x0 + sqrt(1 - a_t) eps``, mean-square error of the predicted ``eps``.

Both see random Y patches with dihedral augmentation and train with Adam, warm-up + cosine LR.

Everything a resumed run needs is in one safetensors file written atomically
(``OUT/checkpoint.safetensors``): weights, Adam state, iteration, the data
sampler's and the training generator's RNG states.  A resumed run therefore
reproduces an uninterrupted run of the same length bit for bit (on the same
machine and thread count).
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from tqdm import tqdm

from .atomic import atomic_output, atomic_write_text
from .data import RandomPatchSampler, list_image_files, read_image
from .diffusion.ddpm_schedules import alphas_cumprod, beta_schedule
from .metrics import psnr
from .models.checkpoint import (
    DDPM_FORMAT,
    MODEL_FORMAT,
    ModelFileError,
    load_ddpm,
    load_unique_state_dict,
    read_model_files,
    save_ddpm,
    save_idm,
    unique_state_dict,
)
from .models.config import JsonConfig
from .models.ddpm import DDPMConfig, DDPMNet, from_model_range, to_model_range
from .models.from_prior import load_prior_weights, move_injectors, prior_idm_config
from .models.idm import IDM, IDMConfig
from .physics import CompressedSensing
from .profiling import describe_hardware
from .ema import EMA
from .runtime import resolve_device, set_threads

__all__ = ["TrainConfig", "train", "load_train_config", "run_training", "TrainingTask", "IDMTask", "DDPMTask", "TRAINING_METHODS"]

TRAINING_METHODS = ("idm", "ddpm")



# Tensor layouts training can run in; benchmarks/channels_last.py measures which is faster where.
MEMORY_FORMATS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


@dataclass
class TrainConfig(JsonConfig):
    """Training run settings; every field is also a ``reverse-anything train`` flag.

    ``method`` picks the model trained; ``ratios``, ``noise_sigma`` and ``cs_seed`` concern
    ``idm`` only, and ``model`` holds the chosen model's config keys (IDMConfig / DDPMConfig).
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
    model: dict = field(default_factory=dict)

    def validate(self) -> None:
        if self.method not in TRAINING_METHODS:
            raise ValueError(f"unknown training method {self.method!r}; choose {' or '.join(TRAINING_METHODS)}")
        if self.iterations < 1 or self.batch_size < 1:
            raise ValueError("iterations and batch size must be >= 1")
        if self.patch_size < 32 or self.patch_size % 32:
            raise ValueError(f"patch size must be a multiple of 32 (the CS block), got {self.patch_size}")
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
        if self.val_size < 32:
            raise ValueError(f"val_size must be >= 32 (crops are rounded down to the 32-pixel CS block), got {self.val_size}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"the EMA decay must lie in [0, 1) (0 = off), got {self.ema}")
        if self.init_prior and (self.method != "idm" or self.init_from):
            raise ValueError("--init-prior starts a new IDM from a DDPM prior: it needs --method idm and no --init-from")
        if self.time_limit_minutes is not None and not self.time_limit_minutes > 0:
            raise ValueError(f"the time limit must be > 0 minutes, got {self.time_limit_minutes}")
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


def _model_config(config: TrainConfig) -> IDMConfig:
    ratios = config.ratios
    return IDMConfig.from_dict({**config.model, "operator": "cs", "ratio_range": (min(ratios), max(ratios)), "block_size": 32, "extra": {"cs_seed": config.cs_seed}})


def _draw_ratio(config: TrainConfig, generator: torch.Generator) -> float:
    """A ratio drawn uniformly from the range on a 0.01 grid (so operators can be cached)."""
    lo, hi = min(config.ratios), max(config.ratios)
    return round(lo + (hi - lo) * torch.rand((), generator=generator).item(), 2) if hi > lo else lo


class CheckpointState:
    """Flatten / restore model + optimiser + RNG into one safetensors file (no pickle)."""

    @staticmethod
    def save(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, iteration: int, sampler: dict, generator: Tensor, config: TrainConfig, ema: EMA | None = None) -> None:
        tensors = {f"model.{k}": v for k, v in unique_state_dict(model).items()}
        if ema is not None:
            tensors.update(ema.state_tensors())
        optim_state = optimizer.state_dict()
        for index, state in optim_state["state"].items():
            for key, value in state.items():
                tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
        tensors["rng.sampler"] = sampler["generator"].contiguous()
        tensors["rng.train"] = generator.contiguous()
        metadata = {
            "sampler": json.dumps({k: v for k, v in sampler.items() if k != "generator"}),
            "iteration": str(iteration),
            "param_groups": json.dumps(optim_state["param_groups"]),
            "config": json.dumps(config.to_dict()),
        }
        with atomic_output(path) as temporary:
            save_file(tensors, str(temporary), metadata=metadata)

    @staticmethod
    def load(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, ema: EMA | None = None) -> tuple[int, dict, Tensor]:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata()
        tensors = load_file(str(path))
        load_unique_state_dict(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": state, "param_groups": json.loads(metadata["param_groups"])})
        if ema is not None:
            ema.load_state_tensors(tensors)
        sampler = {**json.loads(metadata["sampler"]), "generator": tensors["rng.sampler"]}
        return int(metadata["iteration"]), sampler, tensors["rng.train"]


def _holdout_files(folder: Path, holdout: int) -> list[Path]:
    """The last ``holdout`` training files (sorted by path): validation only, never trained on."""
    files = list_image_files(folder, recursive=True)
    if holdout >= len(files):
        raise ValueError(f"{folder}: {len(files)} images cannot spare {holdout} for validation")
    return files[len(files) - holdout :] if holdout else []


def _validation_images(files: list[Path], size: int) -> list[Tensor]:
    """Centre crops (a multiple of the CS block) of the hold-out files, Y channel."""
    images = []
    for path in files:
        image = read_image(path, "y")
        h, w = image.shape[-2:]
        s = min(size, h, w) // 32 * 32
        top, left = (h - s) // 2, (w - s) // 2
        images.append(image[:, top : top + s, left : left + s])
    return images


@torch.no_grad()
def validate(model: IDM, images: list[Tensor], ratios: tuple[float, ...], cs_seed: int, device: torch.device) -> dict[str, float]:
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


@contextlib.contextmanager
def _distributed(device: str = "cpu") -> Iterator[tuple[int, int]]:
    """(rank, world size); under torchrun, a process group that this call opens and also closes.

    The backend follows the training device: nccl for ``cuda``, gloo for ``cpu``.

    Closing matters: a gloo group left open at interpreter exit, or destroyed while the
    peer is still finishing, can abort the process ("terminate called without an active
    exception"). A caller that opened the group itself keeps it.
    """
    opened = False
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1 and not dist.is_initialized():
        backend = "nccl" if device == "cuda" else "gloo"
        dist.init_process_group(backend)
        opened = True
    try:
        yield (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    finally:
        if opened:
            dist.destroy_process_group()


class TrainingTask(ABC):
    """What one training method adds to the shared loop: model, per-iteration draws and loss, validation, export.

    ``draw`` holds all of an iteration's randomness (from the run's seeded generator, so
    resume stays exact) and runs outside autocast; ``loss`` runs the network under autocast.
    ``log_fields`` name extra CSV columns, filled by :meth:`log_values`.
    """

    log_fields: tuple[str, ...] = ()
    model_format: str = ""  # the model file format this task writes (and fine-tunes from)
    model_kind: str = ""  # the model's name in messages
    run_keys: frozenset[str] = frozenset()  # model keys the run sets itself, never taken from --init-from
    overridable_keys: frozenset[str] = frozenset()  # inherited unless the run sets them (the task converts the weights)

    def __init__(self, config: TrainConfig) -> None:
        self.config = config = dataclasses.replace(config, model=dict(config.model))  # the caller's config stays as given
        self.init_training: dict = {}  # the training record of the --init-from model, if any
        self.init_architecture: dict = {}  # the --init-from model's config
        if config.init_from:
            document, _ = read_model_files(config.init_from, self.model_format, self.model_kind)
            self.init_training = document.get("training", {})
            config.model = self._inherit_architecture(document["config"], config.model)

    def _inherit_architecture(self, inherited: dict, requested: dict) -> dict:
        """``requested`` model keys on top of the ``--init-from`` model's; a key set to another value is an error
        (except ``overridable_keys``, which the task knows how to convert the weights for)."""
        plain = lambda value: json.loads(json.dumps(value))  # noqa: E731 - tuples and lists compare equal
        self.init_architecture = dict(inherited)
        for key, value in requested.items():
            if key in self.overridable_keys:
                continue
            if key in inherited and key not in self.run_keys and plain(value) != plain(inherited[key]):
                raise ValueError(
                    f"--init-from {self.config.init_from}: that model has {key} = {plain(inherited[key])}, "
                    f"this run asks for {plain(value)}; drop the setting to fine-tune it"
                )
        return {**{k: v for k, v in inherited.items() if k not in self.run_keys}, **requested}

    def load_initial_weights(self, model: nn.Module) -> None:
        """Start from the ``--init-from`` model's weights (a fresh run only: a checkpoint wins)."""
        _, tensors = read_model_files(self.config.init_from, self.model_format, self.model_kind)
        try:
            load_unique_state_dict(model, tensors)
        except ModelFileError as error:
            raise ValueError(f"--init-from {self.config.init_from}: {error}") from None

    @abstractmethod
    def build_model(self) -> nn.Module:
        """A fresh model (also called early, on the parent process, to validate the config)."""

    @abstractmethod
    def draw(self, x0: Tensor, generator: torch.Generator) -> dict[str, Any]:
        """The random inputs of one iteration for the clean patches ``x0`` (on the training device)."""

    @abstractmethod
    def loss(self, net: nn.Module, x0: Tensor, inputs: dict[str, Any]) -> Tensor:
        """The scalar training loss of one iteration."""

    @abstractmethod
    def validate(self, model: nn.Module, images: list[Tensor], device: torch.device) -> dict[str, float]:
        """Scores on the held-out crops, keyed ``val_psnr@...`` (shown on the progress bar)."""

    @abstractmethod
    def export(self, model: nn.Module, stem: Path, training: dict) -> None:
        """Write the trained model file pair ``stem.safetensors`` / ``stem.json``."""

    def log_values(self, inputs: dict[str, Any]) -> list[str]:
        return []


class IDMTask(TrainingTask):
    """Algorithm 1: CS measurements of the patches, the T-step IDM run end to end, L1 loss."""

    log_fields = ("ratio",)
    model_format = MODEL_FORMAT
    model_kind = "IDM"
    run_keys = frozenset({"memory_saving", "operator", "ratio_range", "block_size", "extra"})
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
        return validate(model, images, self.config.ratios, self.config.cs_seed, device)

    def export(self, model: nn.Module, stem: Path, training: dict) -> None:
        save_idm(model, stem, training=training)

    def log_values(self, inputs: dict[str, Any]) -> list[str]:
        return [f"{inputs['ratio']:.4f}"]


class DDPMTask(TrainingTask):
    """Ho et al. 2020, Algorithm 1: noise the patches to a uniform random step, regress the noise (MSE).

    Patches are mapped to the model's ``[-1, 1]``. Validation: PSNR of the one-shot clean
    estimate ``x0 = (x_t - sqrt(1 - a) eps) / sqrt(a)`` at 10, 40 and 70 % of the chain, with fixed noise,
    so the numbers are comparable across iterations.
    """

    validation_fractions = (0.1, 0.4, 0.7)  # of T: steps 100, 400, 700 of a 1000-step chain
    model_format = DDPM_FORMAT
    model_kind = "DDPM prior"

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.model_config = DDPMConfig.from_dict(config.model)
        self._alphas_cumprod = alphas_cumprod(beta_schedule(self.model_config.schedule, self.model_config.timesteps)).float()

    def build_model(self) -> DDPMNet:
        return DDPMNet(self.model_config)

    def _table(self, device: torch.device) -> Tensor:
        if self._alphas_cumprod.device != device:
            self._alphas_cumprod = self._alphas_cumprod.to(device)
        return self._alphas_cumprod

    def draw(self, x0: Tensor, generator: torch.Generator) -> dict[str, Any]:
        t = torch.randint(0, self.model_config.timesteps, (x0.shape[0],), generator=generator)
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


TASKS: Mapping[str, type[TrainingTask]] = MappingProxyType({"idm": IDMTask, "ddpm": DDPMTask})


def make_task(config: TrainConfig) -> TrainingTask:
    """The task for ``config.method``."""
    config.validate()
    return TASKS[config.method](config)


def _logged_seconds(log_path: Path) -> float:
    """Training time summed over every logged iteration (so resumed runs add up correctly)."""
    with open(log_path, newline="") as handle:
        return sum(float(row["seconds"]) for row in csv.DictReader(handle))


def _trim_log(log_path: Path, iteration: int) -> None:
    """Drop log rows past the checkpoint a run resumes from (an interruption can leave up to
    ``checkpoint_every - 1`` of them), so every iteration is logged once and times add up."""
    with open(log_path, newline="") as handle:
        rows = list(csv.reader(handle))
    kept = rows[:1] + [row for row in rows[1:] if row and int(row[0]) <= iteration]
    if len(kept) != len(rows):
        text = io.StringIO()
        csv.writer(text).writerows(kept)
        atomic_write_text(log_path, text.getvalue())


def train(config: TrainConfig, resume: bool = False, progress: bool = True, stop_after: int | None = None) -> Path:
    """Run (or resume) training of ``config.method``; returns the path stem of the exported model ``OUT/model``.

    ``stop_after`` ends this invocation after that many iterations (checkpointed), as an
    interruption would; ``--resume`` continues it.
    """
    return run_training(make_task(config), resume=resume, progress=progress, stop_after=stop_after)


def run_training(task: TrainingTask, resume: bool = False, progress: bool = True, stop_after: int | None = None) -> Path:
    """The shared loop: seeds, data, DDP, autocast, LR schedule, validation, CSV log, atomic checkpoints, export."""
    task.config.validate()
    with _distributed(task.config.device) as (rank, world):
        return _training_loop(task, rank, world, resume, progress, stop_after)


def _training_loop(task: TrainingTask, rank: int, world: int, resume: bool, progress: bool, stop_after: int | None) -> Path:
    config = task.config
    device = torch.device(config.device if config.device != "cuda" else f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    layout = MEMORY_FORMATS[config.memory_format]
    model = task.build_model().to(device, memory_format=layout)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    ema = EMA(model, config.ema) if config.ema else None
    holdout = _holdout_files(Path(config.data), config.val_holdout)
    sampler = RandomPatchSampler(
        config.data, config.patch_size, config.batch_size, seed=config.seed + 1000 * rank, progress=progress and rank == 0, exclude=holdout
    )
    generator = torch.Generator().manual_seed(config.seed + 7919 * (rank + 1))
    start = 0
    checkpoint_path = out / ("checkpoint.safetensors" if rank == 0 else f"checkpoint-rank{rank}.safetensors")
    if resume and checkpoint_path.is_file():
        start, sampler_state, generator_state = CheckpointState.load(checkpoint_path, model, optimizer, ema)
        sampler.load_state_dict(sampler_state)
        generator.set_state(generator_state)
    else:
        if resume and rank == 0:
            print(f"no checkpoint at {checkpoint_path}; starting from {config.init_from or 'scratch'}")
        if config.init_from or config.init_prior:
            task.load_initial_weights(model)
        if ema is not None:  # the average starts from the initial weights
            ema = EMA(model, config.ema)
    val_images = _validation_images(holdout, config.val_size) if rank == 0 else []
    start_scores = out / "validation_at_start.json"  # the model before any training (an --init-prior IDM is already a solver)
    if rank == 0 and val_images and start == 0:
        atomic_write_text(start_scores, json.dumps(task.validate(model, val_images, device)) + "\n")
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    if config.compile:
        net = torch.compile(net)
    log_path = out / "log.csv"
    fields = ["iteration", "loss", "lr", *task.log_fields, "seconds", "val"]
    if rank == 0 and (not resume or not log_path.exists()):
        with open(log_path, "w", newline="") as handle:
            csv.writer(handle).writerow(fields)
    elif rank == 0:
        _trim_log(log_path, start)
    autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")
    bar = tqdm(range(start, config.iterations), initial=start, total=config.iterations, disable=not progress or rank != 0, dynamic_ncols=True)
    began = time.monotonic()
    last_val: dict[str, float] = {}
    done = start
    for iteration in bar:
        tick = time.monotonic()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, iteration)
        x0 = sampler.next_batch().to(device, memory_format=layout)
        inputs = task.draw(x0, generator)
        with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
            loss = task.loss(net, x0, inputs)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if ema is not None:
            ema.update()
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"loss became {loss.item()} at iteration {iteration}; lower --lr or disable --amp")
        done = iteration + 1
        if rank == 0 and val_images and (done % config.val_every == 0 or done == config.iterations):
            with ema.swapped_in() if ema is not None else contextlib.nullcontext():
                last_val = task.validate(model, val_images, device)
        if rank == 0:
            with open(log_path, "a", newline="") as handle:
                csv.writer(handle).writerow([done, f"{loss.item():.6f}", f"{optimizer.param_groups[0]['lr']:.3g}", *task.log_values(inputs), f"{time.monotonic() - tick:.3f}", json.dumps(last_val) if last_val and done % config.val_every == 0 else ""])
            bar.set_postfix(loss=f"{loss.item():.4f}", **{k.replace("val_psnr", "psnr"): f"{v:.2f}" for k, v in last_val.items()})
        out_of_time = config.time_limit_minutes is not None and time.monotonic() - began > 60 * config.time_limit_minutes
        out_of_time = out_of_time or (stop_after is not None and done - start >= stop_after)
        if done % config.checkpoint_every == 0 or done == config.iterations or out_of_time:
            CheckpointState.save(checkpoint_path, model, optimizer, done, sampler.state_dict(), generator.get_state(), config, ema)
        if out_of_time:
            if rank == 0:
                print(f"stopped at iteration {done}; continue with --resume")
            break
    stem = out / "model"
    if rank == 0:
        info = {"iterations": done, "train_config": config.to_dict(), "world_size": world, "validation": last_val,
                "hardware": describe_hardware(device), "train_minutes": round(_logged_seconds(log_path) / 60, 1)}
        if start_scores.is_file():
            info["validation_at_start"] = json.loads(start_scores.read_text())
        if config.init_prior:
            prior_training = task.prior.training_info if isinstance(task, IDMTask) and task.prior is not None else {}  # type: ignore[union-attr]
            info["init_prior"] = {"model": config.init_prior, **{k: prior_training[k] for k in ("iterations", "train_minutes") if k in prior_training}}
        if config.init_from:
            info["init_from"] = {"model": config.init_from, **{k: task.init_training[k] for k in ("iterations", "train_minutes") if k in task.init_training}}
        with ema.swapped_in() if ema is not None else contextlib.nullcontext():
            task.export(model, stem, info)
    if dist.is_initialized():
        dist.barrier()
    return stem


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``reverse-anything train`` (each overrides the same key of ``--config``)."""
    parser.add_argument("--config", help="JSON file with TrainConfig keys; flags override it")
    parser.add_argument("--method", choices=list(TRAINING_METHODS), help="model to train: idm (default) or the ddpm baseline prior")
    parser.add_argument("--data", help="folder of training images (searched recursively); required unless --config names one")
    parser.add_argument("--out", help="run folder: checkpoint, log.csv, exported model.safetensors/json")
    parser.add_argument("--iterations", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--patch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--ratios", type=float, nargs="+", help="idm: one CS ratio, or a low and high ratio drawn uniformly")
    parser.add_argument("--noise-sigma", type=float, help="idm: std of Gaussian measurement noise during training")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--amp", choices=["none", "bf16", "fp16"])
    parser.add_argument("--device", choices=["cpu", "cuda"])
    parser.add_argument("--memory-format", choices=["nchw", "channels_last"],
                        help="tensor layout (default nchw); which is faster depends on the machine and the thread count: "
                        "benchmarks/channels_last.py measures it")
    parser.add_argument("--val-every", type=int)
    parser.add_argument("--checkpoint-every", type=int)
    parser.add_argument("--time-limit", type=float, dest="time_limit_minutes", help="stop (resumably) after this many minutes")
    parser.add_argument("--steps", type=int, help="idm: sampling steps T; ddpm: diffusion timesteps (default 1000)")
    parser.add_argument("--schedule", choices=["adaptive", "cosine", "global", "linear"],
                        help="idm: adaptive, cosine or global; ddpm: linear or cosine")
    parser.add_argument("--memory-saving", choices=["on", "off"], help="idm only")
    parser.add_argument("--channels", type=int, nargs="+")
    parser.add_argument("--depth", type=int, nargs="+")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.safetensors")
    parser.add_argument("--init-from", metavar="MODEL", help="fine-tune: start from this model (shipped name or path); its architecture is the default")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--init-prior", metavar="PRIOR", help="idm: build the IDM on this DDPM prior (shipped name or path) and start from its weights, injectors at zero")
    parser.add_argument("--ema", type=float, help="keep an exponential moving average of the weights with this decay (e.g. 0.999); validation and export use it")
    parser.add_argument("--compile", action="store_true", default=None, help="torch.compile the model (worth it on a GPU)")


def _model_overrides(args, method: str) -> dict:
    """The model flags as config keys of ``method``'s model (refusing flags it does not have)."""
    if method == "ddpm":
        if args.memory_saving is not None:
            raise ValueError("--memory-saving applies to --method idm only (the DDPM prior is not reversible)")
        model = {"timesteps": args.steps, "schedule": args.schedule, "channels": args.channels, "depth": args.depth}
    else:
        model = {"steps": args.steps, "schedule": args.schedule, "channels": args.channels, "depth": args.depth,
                 "memory_saving": None if args.memory_saving is None else args.memory_saving == "on"}
    return {k: v for k, v in model.items() if v is not None}


def train_from_args(args: argparse.Namespace) -> Path:
    """Build the TrainConfig from parsed flags and run :func:`train`."""
    set_threads(args.threads)
    keys = ["method", "data", "out", "iterations", "batch_size", "patch_size", "lr", "ratios", "noise_sigma", "seed", "amp", "device", "memory_format", "val_every", "checkpoint_every", "time_limit_minutes", "init_from", "init_prior", "ema", "compile"]
    overrides = {k: getattr(args, k, None) for k in keys}
    base = load_train_config(args.config, overrides)
    base.model = {**base.model, **_model_overrides(args, base.method)}
    resolve_device(base.device)
    task = make_task(base)
    task.build_model()  # fail early on bad model keys
    return run_training(task, resume=args.resume)


def main(argv: list[str] | None = None) -> int:
    """``python -m reverse_anything.train`` = ``reverse-anything train`` (same flags, same code)."""
    parser = argparse.ArgumentParser(prog="reverse-anything train", description=__doc__.splitlines()[0])
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    stem = train_from_args(args)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 writes the model
        print(f"exported {stem}.safetensors")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

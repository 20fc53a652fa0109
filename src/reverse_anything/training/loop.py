"""The one training loop every method shares (:func:`run_training`), cut into set-up, step, log, save and export.

Seeds, data, DDP, autocast, LR schedule, validation, CSV log, atomic checkpoints and the exported
model are the same for every :class:`~.tasks.TrainingTask`; this module holds them once.  The
order of every random draw is fixed here (model init, sampler, the task's ``draw``), which is
what makes a resumed run equal to an uninterrupted one.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from tqdm import tqdm

from ..atomic import atomic_write_text
from ..data import RandomPatchSampler
from ..ema import EMA
from ..profiling import describe_hardware
from .config import MEMORY_FORMATS, TrainConfig, learning_rate
from .distributed import distributed
from .log import append_row, last_validation, logged_seconds, open_log
from .state import CheckpointState
from .tasks import IDMTask, TrainingTask, make_task
from .validation import holdout_files, validation_images


def train(config: TrainConfig, resume: bool = False, progress: bool = True, stop_after: int | None = None) -> Path:
    """Run (or resume) training of ``config.method``; returns the path stem of the exported model ``OUT/model``.

    ``stop_after`` ends this invocation after that many iterations (checkpointed), as an
    interruption would; ``--resume`` continues it.
    """
    return run_training(make_task(config), resume=resume, progress=progress, stop_after=stop_after)


def run_training(task: TrainingTask, resume: bool = False, progress: bool = True, stop_after: int | None = None) -> Path:
    """The shared loop: seeds, data, DDP, autocast, LR schedule, validation, CSV log, atomic checkpoints, export."""
    task.config.validate()
    with distributed(task.config.device) as (rank, world):
        return _training_loop(task, rank, world, resume, progress, stop_after)


@dataclass
class _Run:
    """What one invocation of the loop holds, built once by :func:`_set_up`."""

    task: TrainingTask
    config: TrainConfig
    rank: int
    world: int
    device: torch.device
    layout: torch.memory_format
    out: Path
    model: nn.Module
    net: nn.Module  # the model as trained: DDP-wrapped and / or compiled
    optimizer: torch.optim.Optimizer
    ema: EMA | None
    sampler: RandomPatchSampler
    generator: torch.Generator
    checkpoint_path: Path
    start: int  # the iteration this invocation starts from (0, or the checkpoint's)
    val_images: list[Tensor]
    start_scores: Path  # validation of the model before any training
    log_path: Path
    autocast: torch.dtype | None
    scaler: torch.amp.GradScaler

    def averaged(self) -> contextlib.AbstractContextManager:
        """The EMA weights swapped into the model (validation and export use them), if the run keeps them."""
        return self.ema.swapped_in() if self.ema is not None else contextlib.nullcontext()


def _training_loop(task: TrainingTask, rank: int, world: int, resume: bool, progress: bool, stop_after: int | None) -> Path:
    run = _set_up(task, rank, world, resume, progress)
    config = run.config
    bar = tqdm(range(run.start, config.iterations), initial=run.start, total=config.iterations, disable=not progress or rank != 0, dynamic_ncols=True)
    began = time.monotonic()
    last_val = last_validation(run.log_path) if run.start else {}
    done = run.start
    for iteration in bar:
        tick = time.monotonic()
        loss, inputs = _step(run, iteration)
        done = iteration + 1
        if rank == 0 and run.val_images and _validates(config, done):
            with run.averaged():
                last_val = task.validate(run.model, run.val_images, run.device)
        if rank == 0:
            _log(run, bar, done, loss, inputs, tick, last_val)
        out_of_time = config.time_limit_minutes is not None and time.monotonic() - began > 60 * config.time_limit_minutes
        out_of_time = out_of_time or (stop_after is not None and done - run.start >= stop_after)
        if done % config.checkpoint_every == 0 or done == config.iterations or out_of_time:
            _save(run, done)
        if out_of_time:
            if rank == 0:
                print(f"stopped at iteration {done}; continue with --resume")
            break
    return _export(run, done, last_val)


def _set_up(task: TrainingTask, rank: int, world: int, resume: bool, progress: bool) -> _Run:
    """Seed, build model / optimiser / EMA / data, restore the checkpoint (or the initial weights), open the log."""
    config = task.config
    device = torch.device(config.device if config.device != "cuda" else f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    layout = MEMORY_FORMATS[config.memory_format]
    model = task.build_model().to(device, memory_format=layout)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    ema = EMA(model, config.ema) if config.ema else None
    holdout = holdout_files(Path(config.data), config.val_holdout)
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
    val_images = validation_images(holdout, config.val_size) if rank == 0 else []
    start_scores = out / "validation_at_start.json"  # the model before any training (an --init-prior IDM is already a solver)
    if rank == 0 and val_images and start == 0:
        atomic_write_text(start_scores, json.dumps(task.validate(model, val_images, device)) + "\n")
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    if config.compile:
        net = torch.compile(net)
    log_path = out / "log.csv"
    if rank == 0:
        open_log(log_path, ["iteration", "loss", "lr", *task.log_fields, "seconds", "val"], resume, start)
    autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")
    return _Run(task, config, rank, world, device, layout, out, model, net, optimizer, ema, sampler, generator,
                checkpoint_path, start, val_images, start_scores, log_path, autocast, scaler)


def _step(run: _Run, iteration: int) -> tuple[Tensor, dict[str, Any]]:
    """One iteration: LR, batch, the task's draws and loss (under autocast), backward, Adam, EMA; (loss, draws)."""
    for group in run.optimizer.param_groups:
        group["lr"] = learning_rate(run.config, iteration)
    x0 = run.sampler.next_batch().to(run.device, memory_format=run.layout)
    inputs = run.task.draw(x0, run.generator)
    with torch.autocast(run.device.type, dtype=run.autocast or torch.float32, enabled=run.autocast is not None):
        loss = run.task.loss(run.net, x0, inputs)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    if run.ema is not None:
        run.ema.update()
    if not math.isfinite(loss.item()):
        raise FloatingPointError(f"loss became {loss.item()} at iteration {iteration}; lower --lr or disable --amp")
    return loss, inputs


def _validates(config: TrainConfig, done: int) -> bool:
    """Validation runs every ``val_every`` iterations and after the last one (and the log records it then too)."""
    return done % config.val_every == 0 or done == config.iterations


def _log(run: _Run, bar: tqdm, done: int, loss: Tensor, inputs: dict[str, Any], tick: float, last_val: dict[str, float]) -> None:
    """The iteration's CSV row (rank 0) and the progress bar's numbers."""
    append_row(run.log_path, [done, f"{loss.item():.6f}", f"{run.optimizer.param_groups[0]['lr']:.3g}", *run.task.log_values(inputs), f"{time.monotonic() - tick:.3f}",
                              json.dumps(last_val) if last_val and _validates(run.config, done) else ""])
    bar.set_postfix(loss=f"{loss.item():.4f}", **{k.replace("val_psnr", "psnr"): f"{v:.2f}" for k, v in last_val.items()})


def _save(run: _Run, done: int) -> None:
    """The resumable state after ``done`` iterations (every rank its own file)."""
    CheckpointState.save(run.checkpoint_path, run.model, run.optimizer, done, run.sampler.state_dict(), run.generator.get_state(), run.config, run.ema)


def _export(run: _Run, done: int, last_val: dict[str, float]) -> Path:
    """Rank 0 writes ``OUT/model`` (EMA weights if kept) with its training record; every rank waits for it."""
    task, config = run.task, run.config
    stem = run.out / "model"
    if run.rank == 0:
        info = {"iterations": done, "train_config": config.to_dict(), "world_size": run.world, "validation": last_val,
                "hardware": describe_hardware(run.device), "train_minutes": round(logged_seconds(run.log_path) / 60, 1)}
        if run.start_scores.is_file():
            info["validation_at_start"] = json.loads(run.start_scores.read_text())
        if config.init_prior:
            prior_training = task.prior.training_info if isinstance(task, IDMTask) and task.prior is not None else {}  # type: ignore[union-attr]
            info["init_prior"] = {"model": config.init_prior, **{k: prior_training[k] for k in ("iterations", "train_minutes") if k in prior_training}}
        if config.init_from:
            info["init_from"] = {"model": config.init_from, **{k: task.init_training[k] for k in ("iterations", "train_minutes") if k in task.init_training}}
        with run.averaged():
            task.export(run.model, stem, info)
    if dist.is_initialized():
        dist.barrier()
    return stem

"""``train``: the flags of a training run (each overrides the same key of ``--config``), turned into a
:class:`~reverse_anything.training.TrainConfig` and run.

Under ``torchrun`` the same command runs in every process: ``torchrun --nproc_per_node N -m reverse_anything train ...``.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..runtime import resolve_device
from ..training import TRAINING_METHODS, load_train_config, make_task, run_training
from .common import add_threads_argument

__all__ = ["add_train_parser", "add_train_arguments", "train_from_args", "command_train"]


def add_train_parser(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train an IDM model (or the DDPM baseline prior) on a folder of images")
    add_train_arguments(train)
    train.set_defaults(run=command_train)


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
    parser.add_argument("--init-prior", metavar="PRIOR", help="idm: build the IDM on this DDPM prior (shipped name or path) and start from its weights, injectors at zero")
    parser.add_argument("--ema", type=float, help="keep an exponential moving average of the weights with this decay (e.g. 0.999); validation and export use it")
    parser.add_argument("--timestep-range", type=int, nargs=2, metavar=("LOW", "HIGH"),
                        help="ddpm: draw the diffusion step t in [LOW, HIGH) only, e.g. 0 250 to fine-tune a prior for restoration")
    parser.add_argument("--compile", action="store_true", default=None, help="torch.compile the model (worth it on a GPU)")
    add_threads_argument(parser)


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
    """Build the TrainConfig from parsed flags and run it (the thread count is set by the entry point)."""
    keys = ["method", "data", "out", "iterations", "batch_size", "patch_size", "lr", "ratios", "noise_sigma", "seed", "amp", "device", "memory_format", "val_every", "checkpoint_every", "time_limit_minutes", "init_from", "init_prior", "ema", "compile", "timestep_range"]
    overrides = {k: getattr(args, k, None) for k in keys}
    base = load_train_config(args.config, overrides)
    base.model = {**base.model, **_model_overrides(args, base.method)}
    resolve_device(base.device)
    task = make_task(base)
    task.build_model()  # fail early on bad model keys
    return run_training(task, resume=args.resume)


def command_train(args: argparse.Namespace) -> int:
    stem = train_from_args(args)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 writes the model, so only it says so
        print(f"exported {stem}.safetensors")
    return 0

"""``train``: a thin command over the training package."""
from __future__ import annotations

import argparse
import os

from ..training import add_train_arguments, train_from_args

__all__ = ["add_train_parser", "command_train"]


def add_train_parser(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train an IDM model (or the DDPM baseline prior) on a folder of images")
    add_train_arguments(train)
    train.set_defaults(run=command_train)


def command_train(args: argparse.Namespace) -> int:
    stem = train_from_args(args)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 writes the model, so only it says so
        print(f"exported {stem}.safetensors")
    return 0

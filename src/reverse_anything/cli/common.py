"""What every subcommand shares: the one-line error type, argument types, the method and thread flags,
and the checks made before any work so that a bad input never leaves a half-written output."""
from __future__ import annotations

import argparse
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import NoReturn

import torch
from torch import Tensor

from ..data import read_image
from ..evaluate import is_grey
from ..models.precision import PRECISIONS
from ..solvers import Restorer, available_methods, get_restorer
from ..solvers.ensemble import ENSEMBLE_SIZES

__all__ = ["PROG", "UsageError", "Parser", "positive_int", "add_method_arguments", "add_threads_argument", "restorer_from_args",
           "model_name", "channel_of", "check_output", "check_source", "check_not_overwriting", "read_input_image", "auto_channel"]

PROG = "reverse-anything"


class UsageError(ValueError):
    """A bad command line (reported in one line, like every other input error)."""


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing the usage block, so errors stay one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_method_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("method")
    group.add_argument("--method", choices=available_methods(), default="tv", help="restoration method (default tv)")
    group.add_argument("--tv-weight", type=float, help="tv: regularisation weight (default: tuned per operator)")
    group.add_argument("--tv-iterations", type=int, help="tv: maximum iterations (default: tuned per operator)")
    group.add_argument("--model", help="idm: shipped model name (cs: every CS ratio in 0.1..0.5, built on the wide DDPM prior; "
                       "cs-scratch: the earlier model trained from scratch) or a .safetensors path (default: the shipped model "
                       "that serves the operator); ddpm/ddnm/pnp: the prior (default: shipped 'ddpm' for ddpm/ddnm, 'ddpm-wide' for pnp)")
    group.add_argument("--zero-shot", action="store_true",
                       help="idm: run the --model named even on an operator it was not trained for (with a warning) instead of refusing")
    group.add_argument("--self-ensemble", type=int, choices=ENSEMBLE_SIZES, metavar="N",
                       help="idm: average the restorations of N flipped / rotated views of the measurement, N in 1, 2, 4, 8 "
                            "(N times the time, a few tenths of a dB better; default 1)")
    group.add_argument("--precision", choices=tuple(PRECISIONS),
                       help="idm: arithmetic of the noise estimator (default fp32); bf16 took about half the time on a CPU "
                            "with native bf16 (AVX512-BF16), within 0.02 dB (results/precision/)")
    group.add_argument("--steps", type=positive_int,
                       help="ddpm / ddnm / pnp: sampling or denoising steps (default 1000 / 100 / tuned per operator)")
    group.add_argument("--progress", action="store_true", help="progress bar for the method's iterations")
    group.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=positive_int,
                        help="torch CPU threads (default: torch's choice, or OMP_NUM_THREADS; on a machine other jobs share, 1 is often fastest)")


def restorer_from_args(args: argparse.Namespace) -> Restorer:
    """The restorer ``--method`` names, with only the method options the user gave (the rest are the method's own defaults)."""
    options = {"progress": args.progress}
    given = {"weight": args.tv_weight, "iterations": args.tv_iterations, "model": args.model, "steps": args.steps}
    options.update({key: value for key, value in given.items() if value is not None})
    if getattr(args, "zero_shot", False):
        options["zero_shot"] = True
    if getattr(args, "self_ensemble", None) is not None:
        options["self_ensemble"] = args.self_ensemble
    if getattr(args, "precision", None) is not None:
        options["precision"] = args.precision
    return get_restorer(args.method, **options)


def model_name(restorer: Restorer) -> str:
    """The model a learned method used (the one named, or the shipped one it picked), printed and recorded;
    "" for methods without one."""
    return getattr(restorer, "model_name", "")


def channel_of(image: Tensor) -> str:
    return "rgb" if image.shape[0] == 3 else "y"


def check_output(path: Path | None, suffixes: Collection[str]) -> None:
    """Fail before any work if an output could not be written (so no partial set of outputs)."""
    if path is None:
        return
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"{path}: unsupported suffix {path.suffix!r}; use one of {', '.join(sorted(suffixes))}")
    if not path.parent.is_dir():
        raise ValueError(f"{path}: directory {path.parent} does not exist")


def check_source(path: Path, flag: str, what: str) -> None:
    """A folder or a missing file given where one file is expected, said plainly."""
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; {flag} takes one {what} (to score a folder of images, use 'eval --data')")
    if not path.exists():
        raise UsageError(f"{flag} {path}: no such file")


def check_not_overwriting(source: Path, outputs: Sequence[Path | None], force: bool) -> None:
    """Never replace the user's input image with a result, unless asked to."""
    for output in outputs:
        if output is not None and not force and output.resolve() == source.resolve():
            raise UsageError(f"{output} is the input image: writing there would replace it (pick another path, or pass --force)")


def read_input_image(path: Path, channel: str) -> Tensor:
    """The image as ``(1, C, H, W)``; ``"y"`` is the protocol Y (exact 8-bit), ``"grey"`` float luma."""
    image = read_image(path, mode=channel)
    if not bool(torch.isfinite(image).all()):
        raise ValueError(f"{path}: image contains NaN or infinite values")
    return image[None]


def auto_channel(path: Path, channel: str | None) -> str:
    """``--channel`` as given, else colour for a colour image and Y for a grey one (a user expects colour back)."""
    if channel not in (None, "auto"):
        return channel
    return "y" if is_grey(read_image(path, mode="rgb")) else "rgb"

"""``measure`` (image -> measurement file) and ``restore`` (measurement file or image -> restored image)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

from ..data import IMAGE_SUFFIXES, quantize, write_image
from ..figures import describe_operator, labelled_grid
from ..measurement import MEASUREMENT_SUFFIXES, load_measurement, save_measurement
from ..metrics import protocol_scores
from ..runtime import resolve_device
from .common import (
    UsageError,
    add_method_arguments,
    add_threads_argument,
    auto_channel,
    channel_of,
    check_not_overwriting,
    check_output,
    check_source,
    model_name,
    read_input_image,
    restorer_from_args,
)
from .operators import OPERATOR_FLAGS, add_operator_arguments, operator_for_image

__all__ = ["add_measure_parser", "add_restore_parser", "command_measure", "command_restore"]

CHANNELS = ("auto", "y", "rgb", "grey")


def add_measure_parser(commands: argparse._SubParsersAction) -> None:
    measure = commands.add_parser("measure", help="image -> measurement file (.safetensors)")
    measure.add_argument("--input", type=Path, required=True, help="image file")
    measure.add_argument("--output", type=Path, required=True, help="measurement file, .safetensors")
    measure.add_argument("--channel", choices=CHANNELS, default="auto",
                         help="image channels to measure (default auto: rgb for a colour image, y for a grey one; "
                         "y is the published evaluation protocol)")
    add_operator_arguments(measure)
    add_threads_argument(measure)
    measure.set_defaults(run=command_measure)


def add_restore_parser(commands: argparse._SubParsersAction) -> None:
    restore = commands.add_parser("restore", help="measurement file or image -> restored image")
    source = restore.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, help="measurement file from 'measure'")
    source.add_argument("--image", type=Path, help="image to measure (with the operator flags) and restore")
    restore.add_argument("--output", type=Path, required=True, help="restored image (.png, .tif, ...)")
    restore.add_argument("--grid", type=Path, help="also write a before/after picture here")
    restore.add_argument("--channel", choices=CHANNELS, default="auto",
                         help="with --image: channels (default auto: rgb for a colour image, y for a grey one)")
    restore.add_argument("--force", action="store_true", help="allow --output (or --grid) to be the --image file itself")
    restore.add_argument("--bits", type=int, choices=(8, 16), default=8,
                         help="bits per sample of the restored image (16: .png or .tif only; default 8)")
    restore.add_argument("--quiet", action="store_true",
                         help="no progress bar (default: a bar over the method's iterations when stderr is a terminal)")
    add_method_arguments(restore)
    add_operator_arguments(restore)
    add_threads_argument(restore)
    restore.set_defaults(run=command_restore)


def command_measure(args: argparse.Namespace) -> int:
    check_source(args.input, "--input", "image")
    check_output(args.output, MEASUREMENT_SUFFIXES)
    args.channel = auto_channel(args.input, args.channel)
    x = read_input_image(args.input, args.channel)
    op = operator_for_image(args, (x.shape[-2], x.shape[-1]))
    y = op(x, generator=torch.Generator().manual_seed(args.noise_seed))
    save_measurement(args.output, y, op, x.shape[1:], args.channel, args.input.name)
    print(f"wrote {args.output}: y of shape {tuple(y.shape)} from {args.input.name} ({op.name})")
    return 0


def _check_restore_outputs(args: argparse.Namespace) -> None:
    """Everything about the outputs that can be wrong, found before any work."""
    check_source(args.input or args.image, "--input" if args.input else "--image", "measurement file" if args.input else "image")
    if args.image is not None:
        check_not_overwriting(args.image, [args.output, args.grid], args.force)
    check_output(args.output, IMAGE_SUFFIXES)
    check_output(args.grid, IMAGE_SUFFIXES)
    if args.grid is not None and Path(args.grid).resolve() == Path(args.output).resolve():
        raise UsageError(f"--grid and --output are the same file ({args.output}): the grid would replace the result")
    if args.bits == 16 and args.output.suffix.lower() not in (".png", ".tif", ".tiff"):
        raise UsageError(f"--bits 16 needs a .png or .tif output, not {args.output.name}")


def _check_no_operator_flags(args: argparse.Namespace) -> None:
    """A measurement file carries its operator; conflicting flags would be silently ignored."""
    given = [flag for flag in OPERATOR_FLAGS if getattr(args, flag.dest) is not None]
    if given or args.operator != "cs" or args.noise_sigma is not None or args.noise_seed != 0 or args.tile is not None:
        raise UsageError("operator flags do not apply with --input: the measurement file records its operator")
    if args.channel != "auto":
        raise UsageError("--channel does not apply with --input: the measurement file records its channel")


def command_restore(args: argparse.Namespace) -> int:
    _check_restore_outputs(args)
    args.progress = not args.quiet and (args.progress or sys.stderr.isatty())
    device = resolve_device(args.device)
    restorer = restorer_from_args(args)
    truth: Tensor | None = None
    if args.input is not None:
        _check_no_operator_flags(args)
        y, op, image_shape, _ = load_measurement(args.input)
    else:
        truth = read_input_image(args.image, auto_channel(args.image, args.channel))
        op = operator_for_image(args, (truth.shape[-2], truth.shape[-1]))
        y = op(truth, generator=torch.Generator().manual_seed(args.noise_seed))
        image_shape = tuple(truth.shape[1:])
    op, y = op.to(device), y.to(device)
    with torch.no_grad():
        start = time.perf_counter()
        restored = restorer(op, y)
        seconds = time.perf_counter() - start
        baseline = op.A_dagger(y) if args.grid is not None else None
    restored = restored.cpu()
    if tuple(restored.shape[1:]) != tuple(image_shape):
        raise ValueError(f"the restored image has shape {tuple(restored.shape[1:])}, expected {tuple(image_shape)}")
    model = model_name(restorer)
    scores = protocol_scores(restored[0], quantize(truth[0]), channel_of(truth[0])) if truth is not None else None
    grid = None
    if args.grid is not None:  # built before anything is written, so a failure leaves no files
        columns = [_panel_label("pinv (A^+ y)", baseline[0].cpu(), truth), _panel_label(args.method, restored[0], truth)]
        if truth is not None:
            columns.append(("ground truth", truth[0]))
        grid = labelled_grid([columns], title=describe_operator(op) + (f"; model {model}" if model else ""))
    write_image(args.output, restored[0], bits=args.bits)
    if grid is not None:
        write_image(args.grid, grid)
    message = f"wrote {args.output}" + (f" and {args.grid}" if args.grid is not None else "") + f" ({args.method}"
    message += (f", model {model}" if model else "") + f", {seconds:.2f} s)"
    if scores is not None:
        message += f"  PSNR {scores['psnr']:.2f} dB  SSIM {scores['ssim']:.4f}"
    print(message)
    return 0


def _panel_label(name: str, image: Tensor, truth: Tensor | None) -> tuple[str, Tensor]:
    """A grid panel labelled with its name and, when the truth is known, its PSNR / SSIM against it."""
    if truth is None:
        return name, image
    scores = protocol_scores(image.clamp(0, 1), quantize(truth[0]), channel_of(truth[0]))
    return f"{name}  {scores['psnr']:.2f} dB / {scores['ssim']:.3f}", image

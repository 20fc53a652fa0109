"""The ``reverse-anything`` command line: ``measure``, ``restore``, ``eval`` and ``demo``.

Every subcommand takes the same operator flags (``--operator cs --ratio 0.3 ...``). Bad input
of any kind ends with one line ``reverse-anything: error: ...`` on stderr and exit status 2;
outputs are written atomically, so a failed run never leaves a half-written file.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shlex
import sys
import time
import warnings
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import MappingProxyType
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from torch import Tensor

from . import __version__
from .atomic import atomic_write_text
from .bench import add_bench_arguments, bench_from_args
from .data import IMAGE_SUFFIXES, example_images, quantize, read_image, write_image
from .evaluate import EvalResult, OperatorFactory, evaluate_folder
from .figures import describe_operator, labelled_grid
from .measurement import MEASUREMENT_SUFFIXES, load_measurement, save_measurement
from .messages import one_line
from .metrics import protocol_scores
from .physics import (
    CT,
    MRI,
    Blur,
    CompressedSensing,
    Denoising,
    Inpainting,
    LinearPhysics,
    MatrixOperator,
    SuperResolution,
    Tiled,
)
from .runtime import resolve_device, set_threads, thread_setting
from .solvers import Restorer, available_methods, get_restorer
from .train import add_train_arguments, train_from_args

__all__ = ["main", "add_operator_arguments", "operator_for_image", "operator_factory_from_arguments"]

PROG = "reverse-anything"
DEBUG_VARIABLE = "REVERSE_ANYTHING_DEBUG"  # set to show the traceback of an unexpected error
OPERATORS = ("cs", "inpainting", "denoising", "blur", "sr", "mri", "ct", "matrix")
DEMO_METHODS = ("pinv", "tv", "idm")
DEFAULT_DEMO_DIR = "reverse-anything-demo"

# Operator-specific flags (argparse dest -> operators it applies to). They default to None so
# a flag given for the wrong operator is reported instead of silently ignored.
FLAG_OPERATORS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "ratio": ("cs",),
        "block_size": ("cs",),
        "no_scramble": ("cs",),
        "seed": ("cs", "inpainting", "mri"),
        "keep_ratio": ("inpainting",),
        "box": ("inpainting",),
        "mask": ("inpainting",),
        "kernel": ("blur",),
        "kernel_size": ("blur",),
        "blur_sigma": ("blur",),
        "factor": ("sr",),
        "sr_kernel": ("sr",),
        "acceleration": ("mri",),
        "mri_mask": ("mri",),
        "center_fraction": ("mri",),
        "angles": ("ct",),
        "matrix": ("matrix",),
    }
)


class UsageError(ValueError):
    """A bad command line (reported in one line, like every other input error)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing the usage block, so errors stay one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


# ----------------------------------------------------------------------------------------------
# operator flags
# ----------------------------------------------------------------------------------------------
def _box(text: str) -> tuple[int, int, int, int]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected four integers TOP,LEFT,HEIGHT,WIDTH, got {text!r}")
    return values  # type: ignore[return-value]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_operator_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the operator flags shared by every subcommand."""
    group = parser.add_argument_group("operator")
    group.add_argument("--operator", choices=OPERATORS, default="cs", help="measurement operator (default: cs)")
    group.add_argument("--noise-sigma", type=float, default=0.0, help="Gaussian noise std on y (default 0)")
    group.add_argument("--noise-seed", type=int, default=0, help="seed of the measurement noise (default 0)")
    group.add_argument("--ratio", type=float, help="cs: sampling ratio in (0, 1] (default 0.3)")
    group.add_argument("--block-size", type=int, help="cs: block side in pixels (default 32)")
    group.add_argument("--no-scramble", action="store_true", default=None, help="cs: plain block CS, no pixel permutation")
    group.add_argument("--seed", type=int, help="cs/inpainting/mri: seed of the random matrix or mask (default 0)")
    group.add_argument("--keep-ratio", type=float, help="inpainting: fraction of pixels kept (default 0.3)")
    group.add_argument("--box", type=_box, metavar="T,L,H,W", help="inpainting: remove this rectangle")
    group.add_argument("--mask", type=Path, metavar="PATH", help="inpainting: mask image, nonzero = kept")
    group.add_argument("--kernel", help="blur: gaussian, uniform or a .npy kernel file (default gaussian)")
    group.add_argument("--kernel-size", type=int, help="blur: kernel side (default from sigma / 9)")
    group.add_argument("--blur-sigma", type=float, help="blur: Gaussian std in pixels (default 1.6)")
    group.add_argument("--factor", type=int, help="sr: downsampling factor (default 2)")
    group.add_argument("--sr-kernel", choices=("box", "bicubic"), help="sr: downsampling kernel (default box)")
    group.add_argument("--acceleration", type=float, help="mri: acceleration factor (default 4)")
    group.add_argument("--mri-mask", choices=("random", "equispaced"), help="mri: line pattern (default random)")
    group.add_argument("--center-fraction", type=float, help="mri: fully sampled centre fraction (default 0.08)")
    group.add_argument("--angles", type=int, help="ct: number of projection angles (default 60)")
    group.add_argument("--matrix", type=Path, metavar="PATH", help="matrix: .npy or .safetensors matrix (m, H*W)")
    group.add_argument(
        "--tile", type=_positive_int, metavar="N",
        help="measure in NxN tiles, each with its own copy of the operator (edge tiles absorb the rest); "
        "--method idm then restores a few tiles at a time, so large images need little memory",
    )


def _check_flags_apply(args: argparse.Namespace) -> None:
    for dest, operators in FLAG_OPERATORS.items():
        if getattr(args, dest) is not None and args.operator not in operators:
            raise UsageError(f"--{dest.replace('_', '-')} does not apply to --operator {args.operator}")


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _load_npy(path: Path, what: str) -> np.ndarray:
    """One array from a ``.npy`` file (never pickled objects); anything else is a one-line error."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (ValueError, EOFError, OSError) as error:  # corrupt, empty or truncated files
        raise ValueError(f"{path}: not a numeric .npy {what} ({error or type(error).__name__})") from None
    if not isinstance(loaded, np.ndarray):  # an .npz archive under a .npy name
        loaded.close()
        raise ValueError(f"{path}: an .npz archive, not a .npy {what}")
    return loaded


def _load_kernel(spec: str) -> str | np.ndarray:
    if spec in ("gaussian", "uniform"):
        return spec
    path = Path(spec)
    if path.suffix.lower() != ".npy":
        raise ValueError(f"--kernel must be gaussian, uniform or a .npy file, got {spec!r}")
    return _load_npy(path, "kernel")


def _load_matrix(path: Path) -> Tensor | np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _load_npy(path, "matrix")
    if suffix == ".safetensors":
        try:
            with safe_open(path, framework="pt") as handle:
                keys = list(handle.keys())
                if len(keys) != 1 and "matrix" not in keys:
                    raise ValueError(f"{path}: expected one tensor or one named 'matrix', found {keys}")
                return handle.get_tensor("matrix" if "matrix" in keys else keys[0])
        except SafetensorError as error:
            raise ValueError(f"{path}: not a safetensors file ({error})") from None
    raise ValueError(f"--matrix must be a .npy or .safetensors file, got {path.name!r}")


def operator_for_image(
    args: argparse.Namespace, image_size: tuple[int, int], perm_seed: int | None = None
) -> LinearPhysics:
    """The operator the flags describe, built for ``image_size`` (tiled with ``--tile``).

    ``perm_seed`` overrides CS's pixel-permutation seed (evaluation gives each image its own).
    """
    _check_flags_apply(args)
    tile = getattr(args, "tile", None)
    if tile is None:
        return _whole_image_operator(args, image_size, perm_seed)
    whole_image = [flag for flag, dest in (("--mask", "mask"), ("--box", "box")) if getattr(args, dest, None) is not None]
    whole_image += ["--operator matrix"] if args.operator == "matrix" else []
    if whole_image:  # each tile would get the whole image's mask, box or fixed-size matrix
        raise UsageError(f"--tile does not combine with {whole_image[0]}: it describes the whole image, not one tile")
    try:
        inner = _whole_image_operator(args, (min(tile, image_size[0]), min(tile, image_size[1])), perm_seed)
        return Tiled(inner, image_size, tile)
    except ValueError as error:
        raise ValueError(f"--tile {tile}: {error}") from None


def _whole_image_operator(args: argparse.Namespace, image_size: tuple[int, int], perm_seed: int | None) -> LinearPhysics:
    sigma = args.noise_sigma
    name = args.operator
    if name == "cs":
        return CompressedSensing(
            _or(args.ratio, 0.3),
            image_size,
            block_size=_or(args.block_size, 32),
            seed=_or(args.seed, 0),
            scramble=not args.no_scramble,
            perm_seed=perm_seed,
            noise_sigma=sigma,
        )
    if name == "inpainting":
        mask = None
        if args.mask is not None:
            mask = (read_image(args.mask, mode="grey")[0] > 0).to(torch.float64)
        keep_ratio = args.keep_ratio
        if keep_ratio is None and args.box is None and mask is None:
            keep_ratio = 0.3
        return Inpainting(image_size, keep_ratio=keep_ratio, mask=mask, box=args.box, seed=_or(args.seed, 0), noise_sigma=sigma)
    if name == "denoising":
        return Denoising(noise_sigma=sigma)
    if name == "blur":
        return Blur(
            image_size,
            kernel=_load_kernel(_or(args.kernel, "gaussian")),
            kernel_size=args.kernel_size,
            sigma=_or(args.blur_sigma, 1.6),
            noise_sigma=sigma,
        )
    if name == "sr":
        return SuperResolution(image_size, factor=_or(args.factor, 2), kernel=_or(args.sr_kernel, "box"), noise_sigma=sigma)
    if name == "mri":
        return MRI(
            image_size,
            acceleration=_or(args.acceleration, 4),
            mask=_or(args.mri_mask, "random"),
            center_fraction=_or(args.center_fraction, 0.08),
            seed=_or(args.seed, 0),
            noise_sigma=sigma,
        )
    if name == "ct":
        return CT(image_size, n_angles=_or(args.angles, 60), noise_sigma=sigma)
    if args.matrix is None:
        raise UsageError("--operator matrix needs --matrix PATH")
    return MatrixOperator(_load_matrix(args.matrix), image_size, noise_sigma=sigma)


def operator_factory_from_arguments(args: argparse.Namespace) -> OperatorFactory:
    """``(image_size, index) -> operator`` for evaluation.

    CS gets ``perm_seed = seed + index``: every image has its own pixel permutation (as in the
    published protocol) but a run is reproducible and independent of ``--limit``. Other
    operators depend only on the size and are built once per size (CT's matrices are costly).
    """
    _check_flags_apply(args)
    built: dict[tuple[int, int], LinearPhysics] = {}

    def factory(image_size: tuple[int, int], index: int) -> LinearPhysics:
        if args.operator == "cs":
            return operator_for_image(args, image_size, perm_seed=_or(args.seed, 0) + index)
        if image_size not in built:
            built[image_size] = operator_for_image(args, image_size)
        return built[image_size]

    return factory


def _crop_multiple(args: argparse.Namespace) -> int:
    """Evaluation crops images to multiples of the SR factor (the benchmarks' "modcrop")."""
    return _or(args.factor, 2) if args.operator == "sr" else 1


# ----------------------------------------------------------------------------------------------
# shared helpers
# ----------------------------------------------------------------------------------------------
def _restorer(args: argparse.Namespace) -> Restorer:
    options: dict[str, Any] = {"progress": args.progress}
    if args.tv_weight is not None:
        options["weight"] = args.tv_weight
    if args.tv_iterations is not None:
        options["iterations"] = args.tv_iterations
    if args.model is not None:
        options["model"] = args.model
    if args.steps is not None:
        options["steps"] = args.steps
    return get_restorer(args.method, **options)


def _add_method_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("method")
    group.add_argument("--method", choices=available_methods(), default="tv", help="restoration method (default tv)")
    group.add_argument("--tv-weight", type=float, help="tv: regularisation weight (default: tuned per operator)")
    group.add_argument("--tv-iterations", type=int, help="tv: maximum iterations (default: tuned per operator)")
    group.add_argument("--model", help="idm: shipped model name (cs: every CS ratio in 0.1..0.5, built on the wide DDPM prior; cs-scratch: the earlier model trained from scratch) or a .safetensors path; ddpm/ddnm/pnp: the prior (default: shipped 'ddpm' for ddpm/ddnm, 'ddpm-wide' for pnp)")
    group.add_argument("--steps", type=_positive_int, help="ddpm / ddnm / pnp: sampling or denoising steps (default 1000 / 100 / tuned per operator)")
    group.add_argument("--progress", action="store_true", help="progress bar for the method's iterations")
    group.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")


def _add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=_positive_int,
                        help="torch CPU threads (default: torch's choice, or OMP_NUM_THREADS; on a machine other jobs share, 1 is often fastest)")


def _model_name(restorer: Restorer) -> str:
    """The model a learned method used (the one named, or the shipped one it picked), printed and recorded;
    "" for methods without one."""
    return getattr(restorer, "model_name", "")


def _channel_of(image: Tensor) -> str:
    return "rgb" if image.shape[0] == 3 else "y"


def _check_output(path: Path | None, suffixes: Collection[str]) -> None:
    """Fail before any work if an output could not be written (so no partial set of outputs)."""
    if path is None:
        return
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"{path}: unsupported suffix {path.suffix!r}; use one of {', '.join(sorted(suffixes))}")
    if not path.parent.is_dir():
        raise ValueError(f"{path}: directory {path.parent} does not exist")


# ----------------------------------------------------------------------------------------------
# subcommands
# ----------------------------------------------------------------------------------------------
def _read_input_image(path: Path, channel: str) -> Tensor:
    """The image as ``(1, C, H, W)``; ``"y"`` is the protocol Y (exact 8-bit), ``"grey"`` float luma."""
    image = read_image(path, mode=channel)
    if not bool(torch.isfinite(image).all()):
        raise ValueError(f"{path}: image contains NaN or infinite values")
    return image[None]


def command_measure(args: argparse.Namespace) -> int:
    _check_source(args.input, "--input", "image")
    _check_output(args.output, MEASUREMENT_SUFFIXES)
    args.channel = _auto_channel(args.input, args.channel)
    x = _read_input_image(args.input, args.channel)
    op = operator_for_image(args, (x.shape[-2], x.shape[-1]))
    y = op(x, generator=torch.Generator().manual_seed(args.noise_seed))
    save_measurement(args.output, y, op, x.shape[1:], args.channel, args.input.name)
    print(f"wrote {args.output}: y of shape {tuple(y.shape)} from {args.input.name} ({op.name})")
    return 0


def _check_source(path: Path, flag: str, what: str) -> None:
    """A folder or a missing file given where one file is expected, said plainly."""
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; {flag} takes one {what} (to score a folder of images, use 'eval --data')")
    if not path.exists():
        raise UsageError(f"{flag} {path}: no such file")


def _check_not_overwriting(source: Path, outputs: Sequence[Path | None], force: bool) -> None:
    """Never replace the user's input image with a result, unless asked to."""
    for output in outputs:
        if output is not None and not force and output.resolve() == source.resolve():
            raise UsageError(f"{output} is the input image: writing there would replace it (pick another path, or pass --force)")


def command_restore(args: argparse.Namespace) -> int:
    _check_source(args.input or args.image, "--input" if args.input else "--image", "measurement file" if args.input else "image")
    if args.image is not None:
        _check_not_overwriting(args.image, [args.output, args.grid], args.force)
    _check_output(args.output, IMAGE_SUFFIXES)
    _check_output(args.grid, IMAGE_SUFFIXES)
    if args.grid is not None and Path(args.grid).resolve() == Path(args.output).resolve():
        raise UsageError(f"--grid and --output are the same file ({args.output}): the grid would replace the result")
    if args.bits == 16 and args.output.suffix.lower() not in (".png", ".tif", ".tiff"):
        raise UsageError(f"--bits 16 needs a .png or .tif output, not {args.output.name}")
    args.progress = not args.quiet and (args.progress or sys.stderr.isatty())
    device = resolve_device(args.device)
    restorer = _restorer(args)
    truth: Tensor | None = None
    if args.input is not None:
        _check_no_operator_flags(args)
        y, op, image_shape, _ = load_measurement(args.input)
    else:
        truth = _read_input_image(args.image, _auto_channel(args.image, args.channel))
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
    model = _model_name(restorer)
    scores = protocol_scores(restored[0], quantize(truth[0]), _channel_of(truth[0])) if truth is not None else None
    grid = None
    if args.grid is not None:  # built before anything is written, so a failure leaves no files
        columns = [(_panel_label("pinv (A^+ y)", baseline[0].cpu(), truth)), (_panel_label(args.method, restored[0], truth))]
        if truth is not None:
            columns.append(("ground truth", truth[0]))
        grid = labelled_grid([columns], title=f"{describe_operator(op)}" + (f"; model {model}" if model else ""))
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
    scores = protocol_scores(image.clamp(0, 1), quantize(truth[0]), _channel_of(truth[0]))
    return f"{name}  {scores['psnr']:.2f} dB / {scores['ssim']:.3f}", image


def _auto_channel(path: Path, channel: str | None) -> str:
    """``--channel`` as given, else colour for a colour image and Y for a grey one (a user expects colour back)."""
    if channel not in (None, "auto"):
        return channel
    image = read_image(path, mode="rgb")
    grey = bool((image[0] == image[1]).all() and (image[1] == image[2]).all())
    return "y" if grey else "rgb"


def _check_no_operator_flags(args: argparse.Namespace) -> None:
    """A measurement file carries its operator; conflicting flags would be silently ignored."""
    given = [dest for dest in FLAG_OPERATORS if getattr(args, dest) is not None]
    if given or args.operator != "cs" or args.noise_sigma != 0.0 or args.noise_seed != 0 or args.tile is not None:
        raise UsageError("operator flags do not apply with --input: the measurement file records its operator")
    if args.channel != "auto":
        raise UsageError("--channel does not apply with --input: the measurement file records its channel")


def command_eval(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    restorer = _restorer(args)
    _check_output(args.json, {".json"})
    _check_output(args.csv, {".csv"})
    result = evaluate_folder(
        args.data,
        operator_factory_from_arguments(args),
        restorer,
        channel=args.channel,
        limit=args.limit,
        noise_seed=args.noise_seed,
        progress=not args.quiet,
        method=args.method,
        device=device,
        crop_multiple=_crop_multiple(args),
        strict=args.strict,
    )
    result = dataclasses.replace(result, command=args.command_line, threads=thread_setting(args.threads), model=_model_name(restorer))
    for name, error in result.skipped:
        print(f"{PROG}: warning: skipped {name}: {one_line(ValueError(error))}", file=sys.stderr)
    if not result.rows:
        raise ValueError(f"{args.data}: none of the {len(result.skipped)} images could be read")
    print(result.format_table().splitlines()[-1] if args.quiet else result.format_table())
    if result.model:
        print(f"model: {result.model}")
    if args.json is not None:
        result.write_json(args.json)
    if args.csv is not None:
        result.write_csv(args.csv)
    if result.skipped:
        print(f"{PROG}: error: {len(result.skipped)} of {len(result.skipped) + result.n_images} images could not be read "
              "(skipped, listed above); the scores are over the rest (--strict stops at the first)", file=sys.stderr)
        return 2
    return 0


def run_demo(
    output_dir: Path,
    operator_factory: OperatorFactory,
    methods: Sequence[str] = DEMO_METHODS,
    crop_multiple: int = 1,
    device: torch.device = torch.device("cpu"),
    progress: bool = True,
    command: str = "",
    threads: str = "",
    channel: str = "auto",
) -> list[EvalResult]:
    """Restore the shipped example images (in colour where they are colour, by default) with each method; write a grid and JSON.

    ``command`` and ``threads`` (how the CPU thread count was set) are recorded in ``results.json``.

    Writes ``grid.png`` (one row per image: each method's output, then the ground truth) and
    ``results.json`` (one evaluation document per method) into ``output_dir``.
    """
    examples = example_images()
    outputs: dict[str, list[tuple[str, Tensor]]] = {}
    truths: dict[str, Tensor] = {}
    results = []
    # idm first: a model refuses a measurement it was not trained for at once, before tv has run
    for method in sorted(methods, key=lambda name: name != "idm"):

        def keep(name: str, truth: Tensor, restored: Tensor, method: str = method) -> None:
            truths[name] = truth[0].cpu()
            outputs.setdefault(name, []).append((method, restored[0].cpu()))

        restorer = get_restorer(method)
        results.append(
            evaluate_folder(
                examples[0].parent,
                operator_factory,
                restorer,
                channel=channel,
                progress=progress,
                method=method,
                device=device,
                crop_multiple=crop_multiple,
                observe=keep,
            )
        )
        results[-1] = dataclasses.replace(results[-1], model=_model_name(restorer))
    rank = {method: index for index, method in enumerate(methods)}  # back in the order asked for
    results.sort(key=lambda result: rank[result.method])
    psnr_of = {(result.method, row.name): row.psnr for result in results for row in result.rows}
    rows = [
        [*((f"{method} {psnr_of[method, name]:.2f} dB", image) for method, image in sorted(outputs[name], key=lambda pair: rank[pair[0]])),
         (f"{name} (truth)", truths[name])]
        for name in sorted(truths)
    ]
    results = [dataclasses.replace(r, command=command, threads=threads) for r in results]
    title = f"{describe_operator(operator_factory((64, 64), 0))}; {'colour where the image is colour' if channel == 'auto' else channel.upper() + ' channel'}; PSNR against the truth"
    output_dir.mkdir(parents=True, exist_ok=True)
    write_image(output_dir / "grid.png", labelled_grid(rows, title=title))
    atomic_write_text(output_dir / "results.json", json.dumps([r.to_dict() for r in results], indent=2) + "\n")
    return results


def command_demo(args: argparse.Namespace) -> int:
    unknown = [m for m in args.methods if m not in available_methods()]
    if unknown:
        raise UsageError(f"unknown method(s) {', '.join(unknown)}; available: {', '.join(available_methods())}")
    results = run_demo(
        args.output_dir,
        operator_factory_from_arguments(args),
        args.methods,
        crop_multiple=_crop_multiple(args),
        device=resolve_device(args.device),
        progress=not args.quiet,
        command=args.command_line,
        threads=thread_setting(args.threads),
        channel=args.channel,
    )
    print(f"{'method':<8}  {'PSNR':>7}  {'SSIM':>6}  {'s/image':>8}   ({args.channel} channels, {results[0].operator['operator']})")
    for result in results:
        print(f"{result.method:<8}  {result.psnr:7.2f}  {result.ssim:6.4f}  {result.seconds_per_image:8.3f}")
    models = {r.method: r.model for r in results if r.model}
    if models:
        print("models: " + ", ".join(f"{method} {model}" for method, model in models.items()))
    print(f"wrote {args.output_dir / 'grid.png'} and {args.output_dir / 'results.json'}")
    return 0


# ----------------------------------------------------------------------------------------------
# parser and entry point
# ----------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Recover images from linear measurements y = A x + noise.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    measure = commands.add_parser("measure", help="image -> measurement file (.safetensors)")
    measure.add_argument("--input", type=Path, required=True, help="image file")
    measure.add_argument("--output", type=Path, required=True, help="measurement file, .safetensors")
    measure.add_argument("--channel", choices=("auto", "y", "rgb", "grey"), default="auto",
                         help="image channels to measure (default auto: rgb for a colour image, y for a grey one; "
                         "y is the published evaluation protocol)")
    add_operator_arguments(measure)
    _add_threads_argument(measure)
    measure.set_defaults(run=command_measure)

    restore = commands.add_parser("restore", help="measurement file or image -> restored image")
    source = restore.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, help="measurement file from 'measure'")
    source.add_argument("--image", type=Path, help="image to measure (with the operator flags) and restore")
    restore.add_argument("--output", type=Path, required=True, help="restored image (.png, .tif, ...)")
    restore.add_argument("--grid", type=Path, help="also write a before/after picture here")
    restore.add_argument("--channel", choices=("auto", "y", "rgb", "grey"), default="auto",
                         help="with --image: channels (default auto: rgb for a colour image, y for a grey one)")
    restore.add_argument("--force", action="store_true", help="allow --output (or --grid) to be the --image file itself")
    restore.add_argument("--bits", type=int, choices=(8, 16), default=8,
                         help="bits per sample of the restored image (16: .png or .tif only; default 8)")
    restore.add_argument("--quiet", action="store_true",
                         help="no progress bar (default: a bar over the method's iterations when stderr is a terminal)")
    _add_method_arguments(restore)
    add_operator_arguments(restore)
    _add_threads_argument(restore)
    restore.set_defaults(run=command_restore)

    evaluate = commands.add_parser("eval", help="score a method on a folder of images")
    evaluate.add_argument("--data", type=Path, required=True, help="folder of images")
    evaluate.add_argument("--channel", choices=("y", "rgb"), default="y",
                          help="y (default): the published evaluation protocol's Y channel, as in the results tables; rgb: every colour channel")
    evaluate.add_argument("--limit", type=_positive_int, help="only the first N images (sorted by name)")
    evaluate.add_argument("--json", type=Path, help="write means and per-image rows as JSON")
    evaluate.add_argument("--csv", type=Path, help="write per-image rows as CSV")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar, and only the mean line of the table")
    evaluate.add_argument("--strict", action="store_true",
                          help="stop at the first unreadable image (default: report it, score the rest, exit 2)")
    _add_method_arguments(evaluate)
    add_operator_arguments(evaluate)
    _add_threads_argument(evaluate)
    evaluate.set_defaults(run=command_eval)

    demo = commands.add_parser("demo", help="run on the shipped example images and write a before/after grid")
    demo.add_argument("--output-dir", type=Path, default=Path(DEFAULT_DEMO_DIR), help=f"default ./{DEFAULT_DEMO_DIR}")
    demo.add_argument("--methods", nargs="+", default=list(DEMO_METHODS), help="methods to compare (default pinv tv idm)")
    demo.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.add_argument("--channel", choices=("auto", "y", "rgb"), default="auto",
                      help="auto (default): colour images in colour, grey ones as Y; y: the published protocol's Y channel")
    add_operator_arguments(demo)
    _add_threads_argument(demo)
    demo.set_defaults(run=command_demo)

    train = commands.add_parser("train", help="train an IDM model (or the DDPM baseline prior) on a folder of images")
    add_train_arguments(train)
    train.set_defaults(run=command_train)

    bench = commands.add_parser("bench", help="quality + training-memory tables: pinv, tv, ddpm, ddnm, idm side by side")
    add_bench_arguments(bench)
    bench.set_defaults(run=bench_from_args)
    return parser


def command_train(args: argparse.Namespace) -> int:
    stem = train_from_args(args)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 writes the model, so only it says so
        print(f"exported {stem}.safetensors")
    return 0


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{PROG}: warning: {one_line(Exception(record.getMessage()))}"


@contextmanager
def _warnings_on_one_line() -> Iterator[None]:
    """Library warnings and log messages (Pillow or tifffile decoding around odd TIFF tags, say)
    print as one prefixed line each while a command runs.

    Python's default shows a warning's source file and line as well; a terminal user wants what
    was odd about their input, one line each, like the errors.
    """
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001 (warnings' signature)
        print(f"{PROG}: warning: {one_line(message if isinstance(message, Warning) else Warning(message))}",
              file=sys.stderr if file is None else file)

    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_OneLineFormatter())
    root = logging.getLogger()
    warnings.showwarning = show
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        warnings.showwarning = previous


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 2 bad input, 130 interrupted)."""
    with _warnings_on_one_line():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    try:
        arguments = list(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(arguments)
        args.command_line = shlex.join([PROG, *arguments])
        set_threads(getattr(args, "threads", None))
        return int(args.run(args))
    except SystemExit as exit_request:  # --help / --version
        return exit_request.code if isinstance(exit_request.code, int) else 0
    except (ValueError, OSError) as error:  # ImageReadError and UsageError are ValueErrors
        print(f"{PROG}: error: {one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: error: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"{PROG}: error: out of memory (try a smaller image, --tile, or a smaller batch)", file=sys.stderr)
        return 1
    except FloatingPointError as error:  # training diverged; its last checkpoint is intact
        print(f"{PROG}: error: {one_line(error)}", file=sys.stderr)
        return 1
    except Exception as error:  # a bug, not bad input: one line, the traceback on request
        if os.environ.get(DEBUG_VARIABLE):
            raise
        print(f"{PROG}: internal error: {one_line(error, with_type=True)} "
              f"(set {DEBUG_VARIABLE}=1 for the traceback, and please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

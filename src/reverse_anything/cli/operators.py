"""The operator flags every subcommand shares, turned into ``{"operator": name, **given flags}`` for
:func:`~reverse_anything.physics.build_operator`.

No default is written here: a flag that is not given is left out of the config, so the operator's
constructor decides, and ``--help`` reads the defaults from the constructors too.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..data import read_image
from ..evaluate import OperatorFactory
from ..physics.inpainting import DEFAULT_KEEP_RATIO
from ..physics import (
    LinearPhysics,
    Tiled,
    build_operator,
    load_kernel_file,
    load_matrix_file,
    operator_defaults,
    operator_keywords,
    sized_operator_config,
)
from .common import UsageError, positive_int

__all__ = ["OPERATORS", "OPERATOR_FLAGS", "add_operator_arguments", "operator_config", "operator_for_image",
           "operator_factory_from_arguments", "crop_multiple", "given_operator_flags"]

OPERATORS = ("cs", "inpainting", "denoising", "blur", "sr", "mri", "ct", "matrix")
BUILTIN_KERNELS = ("gaussian", "uniform")


def _box(text: str) -> tuple[int, int, int, int]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected four integers TOP,LEFT,HEIGHT,WIDTH, got {text!r}")
    return values  # type: ignore[return-value]


def _mask_from_image(path: Path) -> torch.Tensor:
    return (read_image(path, mode="grey")[0] > 0).to(torch.float64)


def _kernel(spec: str) -> str | Any:
    return spec if spec in BUILTIN_KERNELS else load_kernel_file(Path(spec))


@dataclass(frozen=True)
class OperatorFlag:
    """One operator flag: the operators it applies to, the constructor keyword it sets, and how its text becomes a value."""

    flag: str
    operators: tuple[str, ...]
    keyword: str
    help: str
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    convert: Callable[[Any], Any] | None = None  # applied when the config is built (reads files)
    store_false: bool = False  # a switch that sets the keyword to False

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def help_text(self) -> str:
        default = operator_defaults(self.operators[0]).get(self.keyword)
        shown = "" if self.store_false or default is None else f" (default {default})"
        return f"{'/'.join(self.operators)}: {self.help}{shown}"


OPERATOR_FLAGS: tuple[OperatorFlag, ...] = (
    OperatorFlag("--ratio", ("cs",), "ratio", "sampling ratio in (0, 1]", float),
    OperatorFlag("--block-size", ("cs",), "block_size", "block side in pixels", int),
    OperatorFlag("--no-scramble", ("cs",), "scramble", "plain block CS, no pixel permutation", store_false=True),
    OperatorFlag("--seed", ("cs", "inpainting", "mri"), "seed", "seed of the random matrix or mask", int),
    OperatorFlag("--keep-ratio", ("inpainting",), "keep_ratio", f"fraction of pixels kept (default {DEFAULT_KEEP_RATIO} when no --box or --mask is given)", float),
    OperatorFlag("--box", ("inpainting",), "box", "remove this rectangle", _box, metavar="T,L,H,W"),
    OperatorFlag("--mask", ("inpainting",), "mask", "mask image, nonzero = kept", Path, metavar="PATH", convert=_mask_from_image),
    OperatorFlag("--kernel", ("blur",), "kernel", "gaussian, uniform or a .npy kernel file", convert=_kernel),
    OperatorFlag("--kernel-size", ("blur",), "kernel_size", "kernel side (default: from the Gaussian's sigma)", int),
    OperatorFlag("--blur-sigma", ("blur",), "sigma", "Gaussian std in pixels", float),
    OperatorFlag("--factor", ("sr",), "factor", "downsampling factor", int),
    OperatorFlag("--sr-kernel", ("sr",), "kernel", "downsampling kernel", choices=("box", "bicubic")),
    OperatorFlag("--acceleration", ("mri",), "acceleration", "acceleration factor", float),
    OperatorFlag("--mri-mask", ("mri",), "mask", "line pattern", choices=("random", "equispaced")),
    OperatorFlag("--center-fraction", ("mri",), "center_fraction", "fully sampled centre fraction", float),
    OperatorFlag("--angles", ("ct",), "n_angles", "number of projection angles", int),
    OperatorFlag("--matrix", ("matrix",), "matrix", ".npy or .safetensors matrix (m, H*W)", Path, metavar="PATH", convert=load_matrix_file),
)


def add_operator_arguments(parser: argparse.ArgumentParser, default_operator: str | None = "cs") -> None:
    """Add the operator flags shared by every subcommand (each defaults to ``None``: not given).

    ``default_operator=None``: the command decides what no ``--operator`` means (the demo shows several).
    """
    group = parser.add_argument_group("operator")
    shown = default_operator or "several, see the command's description"
    group.add_argument("--operator", choices=OPERATORS, default=default_operator, help=f"measurement operator (default: {shown})")
    group.add_argument("--noise-sigma", type=float, help="Gaussian noise std on y (default: noiseless)")
    group.add_argument("--noise-seed", type=int, default=0, help="seed of the measurement noise (default 0)")
    for flag in OPERATOR_FLAGS:
        if flag.store_false:
            group.add_argument(flag.flag, action="store_true", default=None, help=flag.help_text())
        else:
            group.add_argument(flag.flag, type=flag.type, choices=flag.choices, metavar=flag.metavar, help=flag.help_text())
    group.add_argument(
        "--tile", type=positive_int, metavar="N",
        help="measure in NxN tiles, each with its own copy of the operator (edge tiles absorb the rest); "
        "--method idm then restores a few tiles at a time, so large images need little memory",
    )


def given_operator_flags(args: argparse.Namespace) -> list[OperatorFlag]:
    """The operator flags given on the command line; one that does not apply to ``--operator`` is an error."""
    given = [flag for flag in OPERATOR_FLAGS if getattr(args, flag.dest, None) is not None]
    for flag in given:
        if args.operator not in flag.operators:
            raise UsageError(f"{flag.flag} does not apply to --operator {args.operator}")
    return given


def operator_config(args: argparse.Namespace, image_size: tuple[int, int], perm_seed: int | None = None) -> dict[str, Any]:
    """``{"operator": name, <size>, **given flags}``: only what the user said, for ``build_operator``."""
    name = args.operator
    config: dict[str, Any] = sized_operator_config({"operator": name}, image_size)
    for flag in given_operator_flags(args):
        value = False if flag.store_false else getattr(args, flag.dest)
        try:
            config[flag.keyword] = flag.convert(value) if flag.convert is not None else value
        except ValueError as error:
            raise ValueError(f"{flag.flag}: {error}") from None
    if name == "matrix" and "matrix" not in config:
        raise UsageError("--operator matrix needs --matrix PATH")
    if perm_seed is not None and "perm_seed" in operator_keywords(name):  # a per-image seed only where the operator has one
        config["perm_seed"] = perm_seed
    if args.noise_sigma is not None:
        config["noise_sigma"] = args.noise_sigma
    return config


def operator_for_image(args: argparse.Namespace, image_size: tuple[int, int], perm_seed: int | None = None) -> LinearPhysics:
    """The operator the flags describe, built for ``image_size`` (tiled with ``--tile``).

    ``perm_seed`` overrides CS's pixel-permutation seed (evaluation gives each image its own); operators
    without one ignore it.
    """
    given_operator_flags(args)
    tile = getattr(args, "tile", None)
    if tile is None:
        return build_operator(operator_config(args, image_size, perm_seed))
    whole_image = [flag for flag, dest in (("--mask", "mask"), ("--box", "box")) if getattr(args, dest, None) is not None]
    whole_image += ["--operator matrix"] if args.operator == "matrix" else []
    if whole_image:  # each tile would get the whole image's mask, box or fixed-size matrix
        raise UsageError(f"--tile does not combine with {whole_image[0]}: it describes the whole image, not one tile")
    try:
        inner = build_operator(operator_config(args, (min(tile, image_size[0]), min(tile, image_size[1])), perm_seed))
        return Tiled(inner, image_size, tile)
    except ValueError as error:
        raise ValueError(f"--tile {tile}: {error}") from None


def operator_factory_from_arguments(args: argparse.Namespace) -> OperatorFactory:
    """``(image_size, index) -> operator`` for evaluation.

    CS gets ``perm_seed = seed + index``: every image has its own pixel permutation (as in the
    published protocol) but a run is reproducible and independent of ``--limit``. Other
    operators depend only on the size and are built once per size (CT's matrices are costly).
    """
    given_operator_flags(args)
    built: dict[tuple[int, int], LinearPhysics] = {}
    seed = args.seed if args.seed is not None else operator_defaults("cs")["seed"]

    def factory(image_size: tuple[int, int], index: int) -> LinearPhysics:
        if args.operator == "cs":
            return operator_for_image(args, image_size, perm_seed=seed + index)
        if image_size not in built:
            built[image_size] = operator_for_image(args, image_size)
        return built[image_size]

    return factory


def crop_multiple(args: argparse.Namespace) -> int:
    """Evaluation crops images to multiples of the SR factor (the benchmarks' "modcrop")."""
    if args.operator != "sr":
        return 1
    return args.factor if args.factor is not None else operator_defaults("sr")["factor"]

"""Score a restoration method on a folder of images under a measurement operator.

The scores follow the published protocol (``reverse_anything.metrics.protocol_scores``): the
truth is the 8-bit image (channel ``"y"``: OpenCV's full-range BT.601 Y of the RGB file, grey
files as stored; channel ``"rgb"``: the three colour channels), the operator measures
``truth / 255``, and the clamped float output is compared with the uint8 truth.
"""
from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from . import __version__
from .atomic import atomic_write_text
from .data import ImageFolder, ImageReadError, quantize
from .metrics import protocol_scores
from .metrics.protocol import CHANNELS
from .physics import LinearPhysics
from .solvers import Restorer

__all__ = [
    "is_grey",
    "truth_from_image",
    "measure_truth",
    "CHANNELS",
    "EvalResult",
    "ImageScore",
    "OperatorFactory",
    "evaluate_folder",
    "crop_to_multiple",
    "SHOWCASE_SETTINGS",
    "showcase_setting",
]

# One setting per operator family, as operator descriptions (constructor keywords; the rest at the constructors'
# defaults): the settings of the README's operator tables, which the shipped IDM models serve. The demo's rows and
# the web page's starting values.
SHOWCASE_SETTINGS: tuple[dict, ...] = (
    {"operator": "cs"},  # ratio 0.3
    {"operator": "inpainting"},  # 30 % of the pixels kept
    {"operator": "blur", "sigma": 2.0, "noise_sigma": 0.01},
    {"operator": "sr", "factor": 4, "kernel": "bicubic"},
    {"operator": "mri", "acceleration": 4.0, "mask": "random"},
)


def showcase_setting(family: str) -> dict[str, Any]:
    """A copy of the showcase description of ``family``, or just ``{"operator": family}`` where there is none."""
    return next((dict(setting) for setting in SHOWCASE_SETTINGS if setting["operator"] == family), {"operator": family})


# (image size (H, W), index of the image in the sorted folder) -> operator for that image.
OperatorFactory = Callable[[tuple[int, int], int], LinearPhysics]


@dataclass(frozen=True)
class ImageScore:
    """One row of an evaluation: an image's scores and the restorer's wall time on it."""

    name: str
    psnr: float
    ssim: float
    seconds: float


@dataclass(frozen=True)
class EvalResult:
    """Per-image scores plus what produced them; means are derived, never stored twice.

    ``command`` is the command line that produced the result, when there is one (provenance
    for results tables).
    """

    rows: tuple[ImageScore, ...]
    channel: str
    method: str
    operator: dict[str, Any]
    data: str = ""
    crop_multiple: int = 1
    device: str = "cpu"
    command: str = ""
    threads: str = ""
    model: str = ""
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def n_images(self) -> int:
        return len(self.rows)

    @property
    def psnr(self) -> float:
        return _mean(row.psnr for row in self.rows)

    @property
    def ssim(self) -> float:
        return _mean(row.ssim for row in self.rows)

    @property
    def seconds_per_image(self) -> float:
        return _mean(row.seconds for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: means, settings and the per-image rows."""
        return {
            "psnr": self.psnr,
            "ssim": self.ssim,
            "n_images": self.n_images,
            "seconds_per_image": self.seconds_per_image,
            "channel": self.channel,
            "method": self.method,
            "operator": self.operator,
            "data": self.data,
            "crop_multiple": self.crop_multiple,
            "device": self.device,
            "torch_threads": torch.get_num_threads(),
            "threads_set_by": self.threads,
            "model": self.model,
            "command": self.command,
            "skipped": [{"name": name, "error": error} for name, error in self.skipped],
            "version": __version__,
            "images": [asdict(row) for row in self.rows],
        }

    def to_csv(self) -> str:
        """One line per image: ``name,psnr,ssim,seconds``."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["name", "psnr", "ssim", "seconds"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(asdict(row) for row in self.rows)
        return buffer.getvalue()

    def format_table(self) -> str:
        """A plain-text table of the rows and their mean, for the terminal."""
        width = max([len("mean"), len("image"), *(len(row.name) for row in self.rows)])
        lines = [f"{'image':<{width}}  {'PSNR':>7}  {'SSIM':>6}  {'s':>7}"]
        lines += [f"{r.name:<{width}}  {r.psnr:7.2f}  {r.ssim:6.4f}  {r.seconds:7.3f}" for r in self.rows]
        lines.append("-" * len(lines[0]))
        lines.append(
            f"{'mean':<{width}}  {self.psnr:7.2f}  {self.ssim:6.4f}  {self.seconds_per_image:7.3f}"
            f"   ({self.n_images} images, {self.method}, channel {self.channel})"
        )
        return "\n".join(lines)

    def write_json(self, path: str | os.PathLike[str]) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        atomic_write_text(path, self.to_csv())


def _mean(values: Any) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def crop_to_multiple(image: Tensor, multiple: int) -> Tensor:
    """Crop the bottom/right of ``(..., H, W)`` so both sides are multiples of ``multiple``.

    The usual "modcrop" of super-resolution benchmarks: SR operators need sides divisible by
    their factor.

    Raises:
        ValueError: the image is smaller than ``multiple`` on a side.
    """
    if multiple < 1:
        raise ValueError(f"crop multiple must be >= 1, got {multiple}")
    height, width = image.shape[-2:]
    if height < multiple or width < multiple:
        raise ValueError(f"image of {height}x{width} is smaller than the crop multiple {multiple}")
    return image[..., : height - height % multiple, : width - width % multiple]


def is_grey(image: Tensor) -> bool:
    """A ``(3, H, W)`` image whose three channels are equal (a grey file read as RGB)."""
    return bool((image[0] == image[1]).all() and (image[1] == image[2]).all())


def truth_from_image(image: Tensor, channel: str, crop_multiple: int = 1) -> tuple[Tensor, np.ndarray, str]:
    """The ground truth as scored: ``(x, truth_uint8, channel)`` from a decoded ``(C, H, W)`` image.

    ``x`` is ``(1, C, H, W)`` holding exactly the file's 8-bit values / 255 (16-bit files are rounded);
    ``"auto"`` becomes ``"y"`` for a grey image (three equal channels) and ``"rgb"`` for a colour one.
    Evaluation and the web page both go through here, so the page shows the scores ``eval`` prints.
    """
    scored_channel = channel
    if channel == "auto":  # grey files read as rgb have three equal channels: their Y is that channel
        image, scored_channel = (image[:1], "y") if is_grey(image) else (image, "rgb")
    image = crop_to_multiple(image, crop_multiple)
    truth_uint8 = quantize(image)
    x = torch.from_numpy(truth_uint8).float() / 255
    x = x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]
    return x, truth_uint8, scored_channel


def measure_truth(op, x: Tensor, noise_seed: int) -> Tensor:
    """``y = A x + noise`` with the noise drawn from a generator seeded with ``noise_seed`` (reproducible scores)."""
    generator = torch.Generator(device=x.device).manual_seed(noise_seed)
    return op(x, generator=generator)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def evaluate_folder(
    folder: str | os.PathLike[str],
    operator_factory: OperatorFactory,
    restorer: Restorer,
    channel: str = "y",
    limit: int | None = None,
    noise_seed: int = 0,
    progress: bool = True,
    method: str = "",
    device: str | torch.device = "cpu",
    crop_multiple: int = 1,
    observe: Callable[[str, Tensor, Tensor], None] | None = None,
    strict: bool = True,
) -> EvalResult:
    """Measure every image of ``folder`` (sorted by name), restore it and score it.

    Args:
        folder: directory of images (not searched recursively).
        operator_factory: ``(image_size, index) -> operator`` so operators can depend on the
            image (size, or a per-image seed such as CS's ``perm_seed = seed + index``).
        restorer: ``(op, y) -> x``, e.g. ``solvers.get_restorer("tv")``.
        channel: ``"y"`` (1 channel, protocol Y), ``"rgb"`` (3 channels, each restored by the
            per-channel operator) or ``"auto"`` (rgb for colour images, y for grey ones: what a user's photo gets).
        limit: only the first ``limit`` images.
        noise_seed: image ``i`` draws its measurement noise from a generator seeded with
            ``noise_seed + i``, so a run is reproducible and ``--limit`` does not change scores.
        progress: tqdm bar on stderr.
        method: the method's name, recorded in the result.
        device: where operators, measurements and the restorer run.
        crop_multiple: crop each image's bottom/right to multiples of this (e.g. the SR factor).
        observe: called as ``observe(name, truth, restored)`` (both ``(1, C, H, W)``) for
            every image, e.g. to keep outputs for a figure.
        strict: an unreadable image raises; ``False`` records it in ``skipped`` and scores the rest.

    Returns:
        The per-image scores, seconds (restorer only) and the first image's operator config.
    """
    if channel not in (*CHANNELS, "auto"):
        raise ValueError(f"channel must be one of {', '.join(CHANNELS)} or auto, got {channel!r}")
    device = torch.device(device)
    images = ImageFolder(folder, mode="y" if channel == "y" else "rgb", limit=limit)
    rows: list[ImageScore] = []
    first_config: dict[str, Any] = {}
    skipped: list[tuple[str, str]] = []
    bar = tqdm(range(len(images)), desc="eval", unit="image", disable=not progress, leave=False)
    for index in bar:
        try:
            name, image = images[index]
        except ImageReadError as error:
            if strict:
                raise
            skipped.append((images.paths[index].name, str(error)))
            continue
        x, truth_uint8, image_channel = truth_from_image(image, channel, crop_multiple)
        x = x.to(device)
        op = operator_factory((x.shape[-2], x.shape[-1]), index).to(device)
        if not first_config:
            first_config = op.config()
        with torch.no_grad():
            y = measure_truth(op, x, noise_seed + index)
            _synchronize(device)
            start = time.perf_counter()
            restored = restorer(op, y)
            _synchronize(device)
            seconds = time.perf_counter() - start
        if observe is not None:
            observe(name, x, restored)
        scores = protocol_scores(restored[0].cpu(), truth_uint8, image_channel)
        rows.append(ImageScore(name, scores["psnr"], scores["ssim"], seconds))
        bar.set_postfix(psnr=f"{_mean(r.psnr for r in rows):.2f}")
    return EvalResult(
        tuple(rows),
        channel,
        method,
        first_config,
        data=str(Path(folder)),
        crop_multiple=crop_multiple,
        device=str(device),
        skipped=tuple(skipped),
    )

"""The held-out images: the last training files, never trained on, centre-cropped for validation.

Shared by every task (each scores them its own way) and by the loop that excludes them from the
patch sampler.
"""
from __future__ import annotations

from pathlib import Path

from torch import Tensor

from ..data import list_image_files, read_image
from ..physics.compressed_sensing import BLOCK_SIZE


def holdout_files(folder: Path, holdout: int) -> list[Path]:
    """The last ``holdout`` training files (sorted by path): validation only, never trained on."""
    files = list_image_files(folder, recursive=True)
    if holdout >= len(files):
        raise ValueError(f"{folder}: {len(files)} images cannot spare {holdout} for validation")
    return files[len(files) - holdout :] if holdout else []


def validation_images(files: list[Path], size: int) -> list[Tensor]:
    """Centre crops (a multiple of the CS block) of the hold-out files, Y channel."""
    images = []
    for path in files:
        image = read_image(path, "y")
        h, w = image.shape[-2:]
        s = min(size, h, w) // BLOCK_SIZE * BLOCK_SIZE
        top, left = (h - s) // 2, (w - s) // 2
        images.append(image[:, top : top + s, left : left + s])
    return images

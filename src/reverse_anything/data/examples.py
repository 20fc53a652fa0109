"""The small example images shipped inside the package (see ``assets/examples/SOURCE.md``)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from .io import IMAGE_SUFFIXES


def example_images() -> list[Path]:
    """Paths of the shipped example images, sorted by name.

    They let the command line run on a fresh install without any data download.
    """
    folder = Path(str(files("reverse_anything") / "assets" / "examples"))
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise FileNotFoundError(
            f"{folder}: the package's example images are missing (broken install?)"
        )
    return images

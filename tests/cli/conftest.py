"""Small real images on disk for the command-line tests."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from reverse_anything.data import example_images


def _example(name: str) -> Image.Image:
    return Image.open(next(p for p in example_images() if p.name == name))


@pytest.fixture
def colour_image(tmp_path: Path) -> Path:
    """A 64x64 crop of the shipped astronaut photo (RGB PNG)."""
    path = tmp_path / "astronaut.png"
    _example("astronaut.png").convert("RGB").crop((96, 32, 160, 96)).save(path)
    return path


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Three crops of the shipped photos (two colour, one grey), 48x64 and 64x48."""
    folder = tmp_path / "images"
    folder.mkdir()
    _example("astronaut.png").convert("RGB").crop((96, 32, 160, 80)).save(folder / "a.png")
    _example("camera.png").crop((64, 64, 112, 128)).save(folder / "b.png")
    _example("coffee.png").convert("RGB").crop((40, 40, 104, 88)).save(folder / "c.png")
    return folder

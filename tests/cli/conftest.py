"""Small real images on disk for the command-line tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reverse_anything.cli import main
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


@pytest.fixture
def noise_image(tmp_path: Path) -> Path:
    """A 64x64 RGB PNG of uniform noise (seeded): a valid input that any bad flag beside it must not touch."""
    path = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    return path


def _fails_cleanly(arguments: list[str], folder: Path, capsys, expected: str) -> None:
    """``main`` fails with status 2, one stderr line containing ``expected``, and writes nothing in ``folder``."""
    before = sorted(p.name for p in folder.iterdir())
    status = main(arguments)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert status == 2, captured
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("reverse-anything: error: ")
    assert expected.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in captured.err
    assert sorted(p.name for p in folder.iterdir()) == before


@pytest.fixture
def run_and_check():
    """The bad-input contract as a callable: ``run_and_check(arguments, folder, capsys, expected)``."""
    return _fails_cleanly

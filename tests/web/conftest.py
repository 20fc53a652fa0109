"""Shared inputs of the web tests: a small colour photo (a crop of a shipped example) in a folder of its own."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("starlette", reason="the web extra is not installed")


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory) -> Path:
    """One 64x64 colour image (a folder of one, so ``eval --data`` scores exactly it)."""
    from reverse_anything.data import example_images

    source = next(path for path in example_images() if path.name == "astronaut.png")
    folder = tmp_path_factory.mktemp("photo")
    Image.open(source).convert("RGB").crop((96, 32, 160, 96)).save(folder / "photo.png")
    return folder

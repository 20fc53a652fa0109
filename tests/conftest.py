"""Shared test fixtures and paths."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _one_thread():
    """One thread: tests use tiny tensors, and OpenMP threads only contend on a busy 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def shared_data() -> Path:
    """The project's shared benchmark data; tests that need it skip on machines without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present on this machine")
    return SHARED_DATA


@pytest.fixture(scope="module")
def training_images(tmp_path_factory) -> Path:
    """A flat folder of real images (scikit-image's bundled photos) for short training runs."""
    from PIL import Image
    from skimage import data

    root = tmp_path_factory.mktemp("train")
    Image.fromarray(data.camera()[::2, ::2]).save(root / "camera.png")
    Image.fromarray(data.coffee()[:256, :256]).save(root / "coffee.png")
    Image.fromarray(data.brick()[:200, :200]).save(root / "brick.png")
    return root

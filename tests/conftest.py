"""Shared test fixtures and paths."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _few_threads():
    """One thread: tests use tiny tensors, and OpenMP threads only contend on a busy 2-core machine."""
    torch.set_num_threads(1)
    yield


@pytest.fixture
def shared_data() -> Path:
    """The project's shared benchmark data; tests that need it skip on machines without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present on this machine")
    return SHARED_DATA

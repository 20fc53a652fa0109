"""Physics tests use small tensors: one thread avoids OpenMP contention on the shared 2-core machine."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread(_few_threads):
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

"""runtime: device and thread settings shared by every command."""
from __future__ import annotations

import pytest
import torch

from reverse_anything.runtime import single_threaded


def test_single_threaded_runs_on_one_thread_and_restores_the_count_even_on_error() -> None:
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with single_threaded(), single_threaded():  # re-entrant in one thread
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), single_threaded():
            raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)

"""The process group of a ``torchrun`` launch: opened for the training loop and closed again.

Its own module because opening and closing it correctly (backend per device, closing only what
this call opened) is a small protocol that the tests exercise on their own.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch.distributed as dist


@contextlib.contextmanager
def distributed(device: str = "cpu") -> Iterator[tuple[int, int]]:
    """(rank, world size); under torchrun, a process group that this call opens and also closes.

    The backend follows the training device: nccl for ``cuda``, gloo for ``cpu``.

    Closing matters: a gloo group left open at interpreter exit, or destroyed while the
    peer is still finishing, can abort the process ("terminate called without an active
    exception"). A caller that opened the group itself keeps it.
    """
    opened = False
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1 and not dist.is_initialized():
        backend = "nccl" if device == "cuda" else "gloo"
        dist.init_process_group(backend)
        opened = True
    try:
        yield (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    finally:
        if opened:
            dist.destroy_process_group()

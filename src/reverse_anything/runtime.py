"""Where and how wide a command runs: the device and CPU-thread flags every command shares, checked once."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["resolve_device", "set_threads", "single_threaded", "thread_setting"]


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N`` as a torch device, refusing one this machine does not have.

    Checked up front so a command fails in its first second, not after loading data or models.
    """
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {name!r}; use cpu or cuda") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; use cpu or cuda")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads`` for a ``--threads`` flag (``None``: leave torch's choice)."""
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)


def thread_setting(threads: int | None) -> str:
    """How this process's CPU thread count was chosen, for result files: ``--threads N``,
    ``OMP_NUM_THREADS=N`` or torch's default (with the count it chose), and OpenMP's wait policy if set."""
    import os

    policy = f", OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}" if os.environ.get("OMP_WAIT_POLICY") else ""
    if threads is not None:
        return f"--threads {threads}{policy}"
    if os.environ.get("OMP_NUM_THREADS"):
        return f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}{policy}"
    return f"torch default ({torch.get_num_threads()}){policy}"


# torch's thread count is shared state (OpenMP keeps part of it per thread): one lock keeps
# overlapping users from restoring each other's values (re-entrant, so nesting in one thread is fine).
_THREAD_COUNT_LOCK = threading.RLock()


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run the body on one CPU thread, then restore the thread count.

    LAPACK factorisations (QR) round differently with different thread counts; values that must
    not depend on them (a seeded measurement matrix) are computed inside this. Other Python
    threads may run single-threaded meanwhile, so keep the body short.
    """
    with _THREAD_COUNT_LOCK:
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(previous)

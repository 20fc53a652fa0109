"""Memory and time of one training step: what the reversible engine's claims are measured with.

* :func:`saved_bytes`: bytes autograd holds for backward after a forward, counted through
  ``torch.autograd.graph.saved_tensors_hooks`` (unique storages, parameters excluded). This is
  the activation memory the memory-saving engine removes, and it is exact and deterministic.
* :class:`LiveTensorPeak`: peak bytes of live tensor storages during a block of code (a
  ``TorchDispatchMode`` that sees every op): exact and independent of the allocator.
* :func:`peak_bytes`: peak memory of a step above the level before it: the CUDA allocator's
  peak on GPU; on CPU the peak resident set size (``VmHWM`` in ``/proc/self/status`` after a
  reset through ``/proc/self/clear_refs``), with glibc told to unmap freed tensors at once so
  RSS follows live memory. ``None`` where it cannot be measured (not Linux, no permission).
* :func:`timed`: wall time of a call, synchronising CUDA around it.
* :func:`describe_hardware`: the one-line machine description every table and model card carries.

Used by ``reverse-anything bench`` and ``benchmarks/reversible_memory.py``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from .reversible import rng_bytes_held

__all__ = ["saved_bytes", "LiveTensorPeak", "peak_bytes", "timed", "synchronize"]


def saved_bytes(compute_loss: Callable[[], Tensor], model: nn.Module, backward: bool = True) -> int:
    """Bytes of the unique non-parameter storages autograd keeps for backward while ``compute_loss`` runs.

    ``compute_loss()`` runs the forward and returns a scalar loss; with ``backward`` the
    gradients are then computed (so the call is a whole training step minus the optimiser).
    RNG snapshots the reversible engine keeps for its recompute are counted too.
    """
    parameter_storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameter_storages:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = compute_loss()
    held = sum(storages.values()) + rng_bytes_held(loss)
    if backward:
        loss.backward()
    return held


class LiveTensorPeak(TorchDispatchMode):
    """Peak bytes of the tensor storages created while active and still alive (forward and backward).

    Exact and independent of the memory allocator, unlike RSS: every op's outputs are recorded
    and storages are dropped from the count once they have been freed.
    """

    def __init__(self) -> None:
        super().__init__()
        self._live: dict[int, tuple[StorageWeakRef, int]] = {}
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        grew = False
        for value in tree_flatten(out)[0]:
            if isinstance(value, Tensor):
                ref = StorageWeakRef(value.untyped_storage())
                if ref.cdata not in self._live:
                    self._live[ref.cdata] = (ref, value.untyped_storage().nbytes())
                    grew = True
        if grew:  # the count can only reach a new peak when something was allocated
            self._live = {key: entry for key, entry in self._live.items() if not entry[0].expired()}
            self.peak = max(self.peak, sum(nbytes for _, nbytes in self._live.values()))
        return out


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


@contextmanager
def _heap_follows_live_memory() -> Iterator[None]:
    """While active, glibc maps every tensor-sized block on its own and unmaps it on free.

    RSS then follows live memory, so a step's peak RSS is its peak allocation. Afterwards freed
    memory is kept cached again (what a long-running training process does), so timed steps
    are not slowed by page faults. A no-op where glibc's ``mallopt`` is not available.
    """
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is None or not hasattr(libc, "mallopt") or not hasattr(libc, "malloc_trim"):
        yield
        return
    libc.mallopt(_M_MMAP_THRESHOLD, 64 * 2**10)
    libc.mallopt(_M_TRIM_THRESHOLD, 64 * 2**10)
    libc.malloc_trim(0)
    try:
        yield
    finally:
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)
        libc.mallopt(_M_TRIM_THRESHOLD, 2**30)


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work (no-op on CPU), so timings and peaks cover the whole step."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_bytes(step: Callable[[], None], device: torch.device) -> int | None:
    """Peak memory of ``step`` above the level before it (None where it cannot be measured)."""
    if device.type == "cuda":
        synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    try:
        with _heap_follows_live_memory():
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            before = _status_kib("VmRSS")
            step()
            return (_status_kib("VmHWM") - before) * 1024
    except (OSError, RuntimeError):
        return None


def timed(step: Callable[[], object], device: torch.device) -> float:
    """Seconds ``step()`` takes, CUDA work included."""
    synchronize(device)
    start = time.perf_counter()
    step()
    synchronize(device)
    return time.perf_counter() - start


def describe_hardware(device: torch.device | str = "cpu", threads: int | None = None) -> str:
    """CPU model (or CUDA device), torch version and thread count, for tables and model cards.

    ``threads``: the thread count of the runs being described, when not this process's own.
    """
    device = torch.device(device)
    if device.type == "cuda":
        where = torch.cuda.get_device_name(device)
    else:
        where = platform.processor() or platform.machine()
        cpuinfo = Path("/proc/cpuinfo")
        if cpuinfo.is_file():
            names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
            where = f"{names[0]} ({len(names)} logical CPUs)" if names else where
    return f"{where}; torch {torch.__version__}, {threads or torch.get_num_threads()} thread(s)"

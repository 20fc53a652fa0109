"""Inference precision of a network's convolutions: ``fp32`` (exact) or ``bf16`` (autocast).

The noise estimator is nearly all of IDM's time; run under bfloat16 autocast it takes about half
as long on a CPU with native bf16 (AVX512-BF16; measured on an AMD EPYC, not yet on a GPU), while
the steps around it (the data-consistency projection, the re-noising, the chain's state) stay in
float32, so the output moves by at most 0.02 dB (``benchmarks/precision.py``).  Training keeps its own ``amp`` setting.
"""
from __future__ import annotations

import contextlib
import torch

__all__ = ["PRECISIONS", "check_precision", "native_bf16", "autocast_for"]

PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a one-line ``ValueError``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (recorded beside the benchmark's timings: the speed-up depends on it)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_for(precision: str, device_type: str) -> contextlib.AbstractContextManager:
    """The autocast region of ``precision`` on ``device_type``; for ``fp32`` no region at all, so a
    surrounding autocast (training's ``amp``) stays in force."""
    dtype = PRECISIONS[precision]
    return contextlib.nullcontext() if dtype is None else torch.autocast(device_type=device_type, dtype=dtype)

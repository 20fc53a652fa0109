"""Learned restorers: load a model once, then ``restore(op, y) -> x`` like the classical ones."""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["idm_restorer"]


def idm_restorer(model: str = "cs-0.5", device: str | None = None, progress: bool = False):
    """An IDM restorer for a shipped model name or a ``.safetensors`` path.

    IDM models are grey; colour measurements (C > 1) are restored channel by channel
    by folding the channels into the batch (every operator acts per channel).  The
    operator is checked against what the model was trained for before any work.
    ``progress`` is accepted for a uniform interface; three steps need no progress bar.
    """
    from ..models.checkpoint import load_idm

    network = load_idm(model, device=device or "cpu")

    @torch.no_grad()
    def restore(op, y: Tensor) -> Tensor:
        network.check_physics(op)
        n, c = y.shape[:2]
        params = next(network.parameters())
        if params.device != y.device or params.dtype != y.dtype:
            network.to(device=y.device, dtype=y.dtype)
        x = network(y.reshape(n * c, 1, *y.shape[2:]), op)
        return x.reshape(n, c, *x.shape[2:])

    restore.model = network  # type: ignore[attr-defined]
    return restore

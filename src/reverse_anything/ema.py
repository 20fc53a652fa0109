"""Exponential moving average of a model's weights (Polyak averaging), as diffusion models train with.

Validation and export read the averaged weights through :meth:`EMA.swapped_in`; the training
step keeps updating the raw ones.  The average is part of a resumable checkpoint.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

__all__ = ["EMA"]


class EMA:
    """``average <- decay * average + (1 - decay) * weights`` after every optimiser step.

    The decay ramps up as ``min(decay, (1 + n) / (10 + n))`` over the first updates (TensorFlow's
    ``ExponentialMovingAverage`` with ``num_updates``), so a short run is not dominated by its
    random initial weights.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the EMA decay must lie in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]  # shared ones once
        self.names = [name for name, _ in named]
        self.params = [p for _, p in named]
        self.average = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(self.average, [p.detach() for p in self.params], 1.0 - decay)

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The averaged weights in the model for the duration of the block, the raw ones after."""
        raw = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for p, a in zip(self.params, self.average):
                p.copy_(a)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, r in zip(self.params, raw):
                    p.copy_(r)

    def state_tensors(self) -> dict[str, Tensor]:
        """The average as ``{"ema.<parameter name>": tensor}`` plus the update count, for checkpoints."""
        tensors = {f"ema.{n}": a.detach().cpu().contiguous() for n, a in zip(self.names, self.average)}
        tensors["ema_updates"] = torch.tensor(self.updates)
        return tensors

    def load_state_tensors(self, tensors: dict[str, Tensor]) -> None:
        missing = [n for n in self.names if f"ema.{n}" not in tensors]
        if missing:
            raise ValueError(f"the checkpoint has no EMA weights for {missing[:2]} (was it trained without --ema?)")
        with torch.no_grad():
            for n, a in zip(self.names, self.average):
                a.copy_(tensors[f"ema.{n}"])
        self.updates = int(tensors["ema_updates"])

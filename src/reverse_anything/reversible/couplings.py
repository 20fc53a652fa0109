"""Invertible couplings: blocks whose input can be rebuilt exactly from their output.

Both couplings split the state in two channel halves (``x.chunk(2, dim=1)``) and never need
the inverse of F or G, so F and G can be any shape-preserving modules (a conv block, a whole
diffusion step). Extra ``*context`` arguments (a measurement, a noise level, an operator
object) are passed unchanged to every F/G call and are not part of the reversible state.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from reverse_anything.reversible import AdditiveCoupling
    >>> coupling = AdditiveCoupling(nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1))
    >>> x = torch.randn(1, 4, 8, 8)
    >>> torch.allclose(coupling.inverse(coupling(x)), x, atol=1e-5)
    True
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ._recompute import CallTape, GradientSink


def split_halves(x: Tensor) -> tuple[Tensor, Tensor]:
    """Split the state into its two channel halves, refusing shapes that would not split evenly."""
    if not isinstance(x, Tensor):
        raise ValueError(f"reversible state must be a tensor, got {type(x).__name__}")
    if x.dim() < 2 or x.shape[1] % 2:
        raise ValueError(f"reversible state needs an even number of channels in dim 1, got shape {tuple(x.shape)}")
    first, second = x.chunk(2, dim=1)
    return first, second


def _require_module(name: str, value: object) -> nn.Module:
    """Couplings register F and G as submodules so that their parameters are found and returned."""
    if not isinstance(value, nn.Module):
        raise ValueError(f"{name} must be an nn.Module, got {type(value).__name__}")
    return value


def _plus(base: Tensor, extra: Tensor | None) -> Tensor:
    """``base + extra`` where a ``None`` gradient means zero."""
    return base if extra is None else base + extra


def _call(fn: nn.Module, state: Tensor, context: Sequence[object], tape: CallTape | None) -> Tensor:
    """Call F or G, through the tape when the engine is recording the forward for its recompute."""
    return fn(state, *context) if tape is None else tape.call(fn, state, context)


class ReversibleCoupling(nn.Module, ABC):
    """The protocol the reversible engine drives.

    ``forward``/``inverse`` are ordinary differentiable maps. ``transform`` is the forward with
    an optional tape recording what the recompute must replay; ``backward_pass`` rebuilds the
    input from the output and backpropagates through F and G, calling each exactly once.
    """

    def forward(self, x: Tensor, *context: object) -> Tensor:
        """Apply the coupling (plain autograd when grad is on)."""
        return self.transform(x, context, None)

    @abstractmethod
    def transform(self, x: Tensor, context: Sequence[object], tape: CallTape | None) -> Tensor:
        """The forward map; runs every F/G call through ``tape.call`` when ``tape`` is given."""

    @abstractmethod
    def inverse(self, y: Tensor, *context: object) -> Tensor:
        """Rebuild the input from the output."""

    def inverse_error_growth(self) -> Tensor | float:
        """Bound on how much one inverse can grow the relative rounding error of the state (1: not at all)."""
        return 1.0

    @abstractmethod
    def backward_pass(
        self, y: Tensor, dy: Tensor, context: Sequence[object], tape: CallTape, grads: GradientSink
    ) -> tuple[Tensor, Tensor]:
        """Return ``(x, dx)``: the rebuilt input and the gradient w.r.t. it.

        Parameter and conditioning gradients go to ``grads``; the recompute of F/G call ``i``
        runs inside ``tape.replay(i)``.
        """


class AdditiveCoupling(ReversibleCoupling):
    """``y1 = x1 + F(x2, *ctx)``, ``y2 = x2 + G(y1, *ctx)`` (RevNet / Reformer coupling).

    Inverse: ``x2 = y2 - G(y1)``, ``x1 = y1 - F(x2)``; volume preserving, so rounding errors
    are not amplified by the inverse.
    """

    _F_CALL, _G_CALL = 0, 1

    def __init__(self, F: nn.Module, G: nn.Module) -> None:  # noqa: N803 (the paper's names)
        super().__init__()
        self.F = _require_module("F", F)
        self.G = _require_module("G", G)

    def transform(self, x: Tensor, context: Sequence[object], tape: CallTape | None) -> Tensor:
        x1, x2 = split_halves(x)
        y1 = x1 + _call(self.F, x2, context, tape)
        y2 = x2 + _call(self.G, y1, context, tape)
        return torch.cat((y1, y2), dim=1)

    def inverse(self, y: Tensor, *context: object) -> Tensor:
        y1, y2 = split_halves(y)
        x2 = y2 - self.G(y1, *context)
        x1 = y1 - self.F(x2, *context)
        return torch.cat((x1, x2), dim=1)

    def backward_pass(
        self, y: Tensor, dy: Tensor, context: Sequence[object], tape: CallTape, grads: GradientSink
    ) -> tuple[Tensor, Tensor]:
        y1, y2 = split_halves(y.detach())
        dy1, dy2 = split_halves(dy)

        y1 = y1.requires_grad_()
        with tape.replay(self._G_CALL):
            g_out = self.G(y1, *context)
        (grad_y1,) = grads.vjp(g_out, dy2, (y1,), self.G)
        with torch.no_grad():
            x2 = y2 - g_out
        dx1 = _plus(dy1, grad_y1)
        del g_out

        x2 = x2.requires_grad_()
        with tape.replay(self._F_CALL):
            f_out = self.F(x2, *context)
        (grad_x2,) = grads.vjp(f_out, dx1, (x2,), self.F)
        with torch.no_grad():
            x1 = y1 - f_out
        dx2 = _plus(dy2, grad_x2)
        return torch.cat((x1, x2.detach()), dim=1), torch.cat((dx1, dx2), dim=1)


class LeapfrogCoupling(ReversibleCoupling):
    """The published IDM coupling ``(x1, x2) -> ((1-v)·F(x1, *ctx) + v·x2, x1)``.

    Inverse: ``x1 = y2``, ``x2 = (y1 - (1-v)·F(y2)) / v``. The learnable mixing weight is
    parameterised as ``v = v_min + (1 - v_min)·sigmoid(v_logit)``, so ``v`` stays in
    ``(v_min, 1)`` whatever the optimiser does: the inverse divides by ``v``, and ``v -> 0``
    would make it blow up (the published code leaves ``v`` unconstrained).

    Unlike the additive coupling it is not volume preserving: each inverse multiplies rounding
    errors in ``y1`` by ``1/v``, so keep ``v_min`` well away from 0 for deep chains.
    """

    _F_CALL = 0

    def __init__(self, F: nn.Module, v_init: float = 0.5, v_min: float = 0.05) -> None:  # noqa: N803
        super().__init__()
        if not 0.0 < v_min < 1.0:
            raise ValueError(f"v_min must lie in (0, 1), got {v_min}")
        if not v_min < v_init < 1.0:
            raise ValueError(f"v_init must lie in (v_min, 1) = ({v_min}, 1), got {v_init}")
        self.F = _require_module("F", F)
        self.v_min = float(v_min)
        fraction = (v_init - v_min) / (1.0 - v_min)
        self.v_logit = nn.Parameter(torch.tensor(math.log(fraction / (1.0 - fraction))))

    @property
    def v(self) -> Tensor:
        """The mixing weight, always in ``(v_min, 1)``."""
        return self.v_min + (1.0 - self.v_min) * torch.sigmoid(self.v_logit)

    def inverse_error_growth(self) -> Tensor:
        """``v^(-1/2)``: the halves swap, so every second inverse divides the error by ``v``."""
        return self.v.detach() ** -0.5

    @staticmethod
    def _mix(f_out: Tensor, x2: Tensor, v: Tensor) -> Tensor:
        return (1 - v) * f_out + v * x2

    @staticmethod
    def _unmix(y1: Tensor, f_out: Tensor, v: Tensor) -> Tensor:
        return (y1 - (1 - v) * f_out) / v

    def transform(self, x: Tensor, context: Sequence[object], tape: CallTape | None) -> Tensor:
        x1, x2 = split_halves(x)
        y1 = self._mix(_call(self.F, x1, context, tape), x2, self.v)
        return torch.cat((y1, x1), dim=1)

    def inverse(self, y: Tensor, *context: object) -> Tensor:
        y1, y2 = split_halves(y)
        x2 = self._unmix(y1, self.F(y2, *context), self.v)
        return torch.cat((y2, x2), dim=1)

    def backward_pass(
        self, y: Tensor, dy: Tensor, context: Sequence[object], tape: CallTape, grads: GradientSink
    ) -> tuple[Tensor, Tensor]:
        y1, y2 = split_halves(y.detach())
        dy1, dy2 = split_halves(dy)

        x1 = y2.requires_grad_()
        with tape.replay(self._F_CALL):
            f_out = self.F(x1, *context)
            v = self.v
            with torch.no_grad():
                x2 = self._unmix(y1, f_out, v)
            x2 = x2.requires_grad_()
            y1_again = self._mix(f_out, x2, v)
        grad_x1, grad_x2 = grads.vjp(y1_again, dy1, (x1, x2), self)
        dx1 = _plus(dy2, grad_x1)
        dx2 = _plus(torch.zeros_like(dy1), grad_x2)
        return torch.cat((x1.detach(), x2.detach()), dim=1), torch.cat((dx1, dx2), dim=1)

"""Small models shared by the reversible tests (kept tiny so the whole suite runs in seconds)."""
from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from reverse_anything.reversible import AdditiveCoupling, LeapfrogCoupling, ReversibleCoupling, ReversibleSequence


class Gain:
    """A non-tensor conditioning object, standing in for a measurement operator."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def __call__(self, tensor: Tensor) -> Tensor:
        return tensor * self.factor


class ConvBlock(nn.Module):
    """conv -> tanh -> dropout -> conv, optionally conditioned on ``(sigma, gain, repeats)``.

    The output is damped by ``scale`` so deep chains stay well conditioned.
    """

    def __init__(self, channels: int, dropout: float = 0.0, scale: float = 0.5) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(channels, channels, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.conv_out = nn.Conv2d(channels, channels, 3, padding=1)
        self.scale = scale

    def forward(self, x: Tensor, *context: object) -> Tensor:
        hidden = self.conv_in(x)
        if context:
            sigma, gain, repeats = context
            for _ in range(repeats):  # type: ignore[call-overload]
                hidden = gain(hidden) + sigma  # type: ignore[operator]
        return self.scale * self.conv_out(self.dropout(torch.tanh(hidden)))


class NestedStep(nn.Module):
    """An IDM-like step: lift, an inner reversible sequence, project back (the two-level case)."""

    def __init__(self, channels: int, inner_depth: int, memory_saving: bool = True) -> None:
        super().__init__()
        self.lift = nn.Conv2d(channels, 2 * channels, 1)
        self.inner = ReversibleSequence(
            [AdditiveCoupling(ConvBlock(channels), ConvBlock(channels)) for _ in range(inner_depth)],
            memory_saving=memory_saving,
        )
        self.project = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, x: Tensor, *context: object) -> Tensor:
        return self.project(self.inner(self.lift(x), *context))


def make_coupling(kind: str, make_block: Callable[[], nn.Module], v_init: float = 0.5) -> ReversibleCoupling:
    """One coupling of ``kind`` ("additive" or "leapfrog") built from fresh blocks."""
    if kind == "additive":
        return AdditiveCoupling(make_block(), make_block())
    if kind == "leapfrog":
        return LeapfrogCoupling(make_block(), v_init=v_init)
    raise ValueError(f"unknown coupling kind {kind!r}")


def make_sequence(
    kind: str,
    depth: int,
    half_channels: int = 2,
    *,
    dropout: float = 0.0,
    v_init: float = 0.5,
    **sequence_options: object,
) -> ReversibleSequence:
    """A chain of ``depth`` couplings of small conv blocks acting on ``2 * half_channels`` channels."""
    couplings = [
        make_coupling(kind, lambda: ConvBlock(half_channels, dropout), v_init) for _ in range(depth)
    ]
    return ReversibleSequence(couplings, **sequence_options)  # type: ignore[arg-type]


def plain_twin(module: nn.Module) -> nn.Module:
    """A deep copy with every ``ReversibleSequence`` switched to plain autograd."""
    twin = copy.deepcopy(module)
    for sub in twin.modules():
        if isinstance(sub, ReversibleSequence):
            sub.memory_saving = False
    return twin


def parameter_grads(module: nn.Module) -> dict[str, Tensor]:
    """Gradients by parameter name (shared parameters appear once)."""
    return {name: param.grad.clone() for name, param in module.named_parameters() if param.grad is not None}


def assert_close_relative(actual: Tensor, expected: Tensor, tolerance: float, what: str = "") -> None:
    """``max|actual - expected| <= tolerance * max(max|expected|, tiny)``."""
    scale = expected.abs().max().clamp_min(torch.finfo(expected.dtype).tiny)
    error = float((actual - expected).abs().max() / scale)
    assert error <= tolerance, f"{what}: relative max error {error:.3g} > {tolerance:.3g}"

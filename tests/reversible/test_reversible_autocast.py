"""Autocast: the recompute runs in the forward's precision, and bf16 gradients stay within plain bf16 error."""
from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from reverse_anything.reversible import AdditiveCoupling, LeapfrogCoupling, ReversibleSequence
from reversible_toys import ConvBlock, NestedStep, parameter_grads, plain_twin


def _grads(module: nn.Module, x: Tensor, autocast: bool) -> dict[str, Tensor]:
    """Input and parameter gradients of a fixed weighted-sum loss."""
    module.zero_grad(set_to_none=True)
    x = x.detach().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        y = module(x)
    weights = torch.linspace(-1.0, 2.0, y.numel(), dtype=y.dtype).reshape(y.shape)
    (y.float() * weights).sum().backward()
    return {"input": x.grad.double(), **{k: v.double() for k, v in parameter_grads(module).items()}}


def _error(got: Tensor, reference: Tensor) -> float:
    return float((got - reference).norm() / reference.norm())


def test_bf16_gradients_are_within_plain_autograd_bf16_error() -> None:
    """Both bf16 runs are compared with a float64 reference.

    Over all gradients together the reversible error must match plain autograd's; single
    tensors may differ more, since rebuilt inputs can round to a neighbouring bf16 value.
    """
    torch.manual_seed(0)
    couplings = [AdditiveCoupling(ConvBlock(4), ConvBlock(4)) for _ in range(3)]
    couplings += [LeapfrogCoupling(NestedStep(4, inner_depth=2))]
    reversible = ReversibleSequence(couplings)
    plain = plain_twin(reversible)
    x = torch.randn(2, 8, 6, 6)

    reference = _grads(plain_twin(reversible).double(), x.double(), autocast=False)
    plain_bf16 = _grads(plain, x, autocast=True)
    reversible_bf16 = _grads(reversible, x, autocast=True)
    for name, expected in reference.items():
        plain_error = _error(plain_bf16[name], expected)
        reversible_error = _error(reversible_bf16[name], expected)
        assert plain_error > 1e-4, f"{name}: autocast did not lower the precision"
        assert reversible_error <= 2.5 * plain_error, f"{name}: {reversible_error:.3g} vs plain {plain_error:.3g}"

    def flat(grads: dict[str, Tensor]) -> Tensor:
        return torch.cat([grads[name].flatten() for name in reference])

    assert _error(flat(reversible_bf16), flat(reference)) <= 1.2 * _error(flat(plain_bf16), flat(reference))


def test_recompute_runs_under_the_forward_autocast() -> None:
    seen: list[tuple[bool, torch.dtype]] = []

    class Probe(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)

        def forward(self, x: Tensor) -> Tensor:
            seen.append((torch.is_autocast_enabled("cpu"), self.conv(x).dtype))
            return self.conv(x)

    sequence = ReversibleSequence([AdditiveCoupling(Probe(), Probe()) for _ in range(2)])
    x = torch.randn(1, 4, 4, 4, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = sequence(x)
    y.float().sum().backward()
    assert seen == [(True, torch.bfloat16)] * 8

    seen.clear()
    sequence(x).sum().backward()  # and a full-precision forward is recomputed in full precision
    assert seen == [(False, torch.float32)] * 8


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_keep_the_input_dtype(dtype: torch.dtype) -> None:
    sequence = ReversibleSequence([LeapfrogCoupling(ConvBlock(2)) for _ in range(2)]).to(dtype)
    x = torch.randn(1, 4, 4, 4, dtype=dtype, requires_grad=True)
    sequence(x).sum().backward()
    assert x.grad.dtype == dtype
    assert all(p.grad.dtype == dtype for p in sequence.parameters())

"""Couplings: the published formulas, exact inversion at depth 32, and input validation."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from reverse_anything.reversible import (
    AdditiveCoupling,
    LeapfrogCoupling,
    ReversibleSequence,
    reconstruction_error,
)
from reversible_toys import ConvBlock, Gain, make_sequence

# Leapfrog's inverse divides by v at every coupling, so rounding errors grow like
# v**(-depth/2) (see LeapfrogCoupling's docstring); at depth 32 the precision targets hold
# for v = 0.9, and test_leapfrog_error_growth_is_bounded_by_v covers the published v = 0.5.
DEEP_V_INIT = 0.9


@pytest.mark.parametrize("kind", ["additive", "leapfrog"])
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_inverse_of_forward_is_identity_at_depth_32(kind: str, dtype: torch.dtype, tolerance: float) -> None:
    torch.manual_seed(0)
    sequence = make_sequence(kind, depth=32, half_channels=4, v_init=DEEP_V_INIT).to(dtype)
    x = torch.randn(2, 8, 8, 8, dtype=dtype)
    sigma = torch.rand(2, 1, 1, 1, dtype=dtype)
    assert reconstruction_error(sequence, x) <= tolerance
    conditioned = ReversibleSequence(
        [AdditiveCoupling(ConvBlock(4), ConvBlock(4)) for _ in range(32)]
        if kind == "additive"
        else [LeapfrogCoupling(ConvBlock(4), v_init=DEEP_V_INIT) for _ in range(32)]
    ).to(dtype)
    assert reconstruction_error(conditioned, x, sigma, Gain(0.7), 2) <= tolerance


def test_leapfrog_error_growth_is_bounded_by_v() -> None:
    torch.manual_seed(0)
    depth, v = 32, 0.5
    sequence = make_sequence("leapfrog", depth=depth, half_channels=4, v_init=v).double()
    error = reconstruction_error(sequence, torch.randn(2, 8, 8, 8, dtype=torch.float64))
    assert error <= 100 * torch.finfo(torch.float64).eps * v ** (-depth / 2)


def test_additive_coupling_follows_its_formula() -> None:
    torch.manual_seed(0)
    F, G = ConvBlock(3), ConvBlock(3)
    x = torch.randn(2, 6, 5, 5)
    y = AdditiveCoupling(F, G)(x)
    x1, x2 = x.chunk(2, dim=1)
    y1 = x1 + F(x2)
    torch.testing.assert_close(y, torch.cat((y1, x2 + G(y1)), dim=1))


def test_leapfrog_coupling_follows_the_published_formula() -> None:
    torch.manual_seed(0)
    F = ConvBlock(3)
    coupling = LeapfrogCoupling(F, v_init=0.3)
    x = torch.randn(2, 6, 5, 5)
    x1, x2 = x.chunk(2, dim=1)
    expected = torch.cat((0.7 * F(x1) + 0.3 * x2, x1), dim=1)
    torch.testing.assert_close(coupling(x), expected)
    torch.testing.assert_close(coupling.inverse(expected), x)


def test_leapfrog_v_starts_at_v_init_and_never_reaches_v_min() -> None:
    coupling = LeapfrogCoupling(nn.Identity(), v_init=0.5, v_min=0.05)
    assert float(coupling.v.detach()) == pytest.approx(0.5)
    with torch.no_grad():
        coupling.v_logit.fill_(-50.0)
    assert 0.05 <= float(coupling.v.detach()) < 0.0501
    with torch.no_grad():
        coupling.v_logit.fill_(50.0)
    assert float(coupling.v.detach()) <= 1.0


@pytest.mark.parametrize(("v_init", "v_min"), [(0.5, 0.0), (0.5, 1.0), (0.04, 0.05), (1.0, 0.05)])
def test_leapfrog_rejects_bad_v(v_init: float, v_min: float) -> None:
    with pytest.raises(ValueError, match="v_"):
        LeapfrogCoupling(nn.Identity(), v_init=v_init, v_min=v_min)


def test_bad_inputs_raise_value_error() -> None:
    coupling = AdditiveCoupling(nn.Identity(), nn.Identity())
    with pytest.raises(ValueError, match="even number of channels"):
        coupling(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="even number of channels"):
        coupling(torch.randn(4))
    with pytest.raises(ValueError, match="must be an nn.Module"):
        AdditiveCoupling(lambda t: t, nn.Identity())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one coupling"):
        ReversibleSequence([])
    with pytest.raises(ValueError, match="not a ReversibleCoupling"):
        ReversibleSequence([nn.Identity()])
    with pytest.raises(ValueError, match="check_drift"):
        ReversibleSequence([coupling], check_drift=-1.0)

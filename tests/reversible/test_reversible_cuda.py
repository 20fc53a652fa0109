"""The same guarantees on a CUDA device: RNG replay of CUDA generators, autocast recompute (skipped without a GPU)."""
from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from reverse_anything.reversible import AdditiveCoupling, ReversibleSequence, reconstruction_error
from reversible_toys import ConvBlock, assert_close_relative, make_sequence, parameter_grads, plain_twin

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _run(module: nn.Module, x: Tensor) -> dict[str, Tensor]:
    torch.manual_seed(3)
    x = x.detach().requires_grad_()
    y = module(x)
    (y * torch.linspace(-1, 2, y.numel(), device=y.device, dtype=y.dtype).reshape(y.shape)).sum().backward()
    return {"input": x.grad, **parameter_grads(module)}


@pytest.mark.parametrize("kind", ["additive", "leapfrog"])
def test_cuda_dropout_gradients_match_plain_autograd(kind: str) -> None:
    torch.manual_seed(0)
    reversible = make_sequence(kind, depth=6, half_channels=4, dropout=0.3).to("cuda", torch.float64)
    plain = plain_twin(reversible)
    x = torch.randn(2, 8, 8, 8, device="cuda", dtype=torch.float64)
    got, expected = _run(reversible, x), _run(plain, x)
    for name in expected:
        assert_close_relative(got[name], expected[name], 1e-10, name)


def test_cuda_inverse_is_exact() -> None:
    torch.manual_seed(0)
    sequence = make_sequence("additive", depth=32, half_channels=4).to("cuda", torch.float64)
    assert reconstruction_error(sequence, torch.randn(2, 8, 8, 8, device="cuda", dtype=torch.float64)) <= 1e-12


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_recompute_runs_under_the_forward_autocast(dtype: torch.dtype) -> None:
    seen: list[torch.dtype] = []

    class Probe(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = ConvBlock(4)

        def forward(self, x: Tensor) -> Tensor:
            out = self.block(x)
            seen.append(out.dtype)
            return out

    sequence = ReversibleSequence([AdditiveCoupling(Probe(), Probe()) for _ in range(3)]).cuda()
    x = torch.randn(2, 8, 8, 8, device="cuda", requires_grad=True)
    with torch.autocast("cuda", dtype=dtype):
        y = sequence(x)
    y.float().sum().backward()
    assert seen == [dtype] * 12
    assert torch.isfinite(x.grad).all()

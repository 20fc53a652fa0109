"""Every operator on CUDA in float32 agrees with CPU float64 (skipped without a CUDA device)."""
from __future__ import annotations

import pytest
import torch

from physics_cases import CASE_BY_ID, case_shape_params, operator
from reverse_anything.physics import CompressedSensing

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("case_id, shape", case_shape_params([(2, 3, 40, 56)]))
def test_cuda_float32_matches_cpu_float64(case_id, shape):
    cpu = operator(case_id, shape[-2:])
    gpu = CASE_BY_ID[case_id].build(shape[-2:]).to("cuda")  # a private copy: .to() changes it
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = cpu.A(x)
    y_gpu = gpu.A(x.to("cuda", torch.float32))
    assert y_gpu.device.type == "cuda" and y_gpu.dtype == torch.float32
    assert torch.allclose(y_gpu.cpu().double(), y, rtol=1e-4, atol=1e-4 * y.abs().max().item())
    for verb in ("A_adjoint", "A_dagger"):
        expected = getattr(cpu, verb)(y)
        got = getattr(gpu, verb)(y.to("cuda", torch.float32)).cpu().double()
        assert (got - expected).norm() <= 1e-3 * expected.norm()


def test_cuda_cs_matrix_and_permutation_are_bit_identical_to_cpu():
    cpu = CompressedSensing(0.1, (64, 64), seed=2025)
    gpu = CompressedSensing(0.1, (64, 64), seed=2025).to("cuda")
    assert torch.equal(gpu.phi.cpu(), cpu.phi)
    assert torch.equal(gpu.slot_to_pixel.cpu(), cpu.slot_to_pixel)
    x = torch.rand(1, 1, 64, 64, dtype=torch.float64)
    assert torch.allclose(gpu.A(x.cuda()).cpu(), cpu.A(x), atol=1e-12)


def test_cuda_noise_uses_a_cuda_generator():
    op = CompressedSensing(0.1, (32, 32), noise_sigma=0.1).to("cuda")
    x = torch.rand(1, 1, 32, 32, device="cuda")
    first = op(x, generator=torch.Generator("cuda").manual_seed(0))
    second = op(x, generator=torch.Generator("cuda").manual_seed(0))
    assert torch.equal(first, second)

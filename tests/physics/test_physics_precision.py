"""Every operator in float32 (CPU, and CUDA where present) agrees with CPU float64."""
from __future__ import annotations

import pytest
import torch

from physics_cases import CASE_BY_ID, case_shape_params, operator
from reverse_anything.physics import CompressedSensing


def needs_cuda(test):
    """GPU-only test: marked ``gpu`` and skipped where no CUDA device is present."""
    return pytest.mark.gpu(pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")(test))


# Iterative pseudo-inverses (CGLS) stop after a fixed number of iterations before they converge
# (CT's is still ~25 % from the exact minimum-norm solution after 200), so float32 rounding moves
# where they stop: measured 1.5 % between float32 and float64 for CT, on CPU and on an H200 alike.
# For them float32 must be as measurement-consistent as documented and within 5 % of float64.
ITERATIVE_FLOAT32_RTOL = 5e-2


def _check_float32_matches_float64(case_id: str, shape: tuple[int, ...], device: str) -> None:
    reference = operator(case_id, shape[-2:])
    case = CASE_BY_ID[case_id]
    op = case.build(shape[-2:]).to(device)  # a private copy: .to() changes it
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = reference.A(x)
    y32 = op.A(x.to(device, torch.float32))
    assert y32.device.type == device and y32.dtype == torch.float32
    assert torch.allclose(y32.cpu().double(), y, rtol=1e-4, atol=1e-4 * y.abs().max().item())
    for verb in ("A_adjoint", "A_dagger"):
        expected = getattr(reference, verb)(y)
        got32 = getattr(op, verb)(y.to(device, torch.float32))
        got = got32.cpu().double()
        if verb == "A_dagger" and case.dagger == "iterative":
            residual = (op.A(got32).cpu().double() - y).norm() / y.norm()
            assert residual <= max(case.consistency_rtol, 1e-4)  # float32 cannot resolve tighter residuals
            assert (got - expected).norm() <= ITERATIVE_FLOAT32_RTOL * expected.norm()
        else:
            assert (got - expected).norm() <= 1e-3 * expected.norm()


@pytest.mark.parametrize("case_id, shape", case_shape_params([(2, 3, 40, 56)]))
def test_cpu_float32_matches_cpu_float64(case_id, shape):
    _check_float32_matches_float64(case_id, shape, "cpu")


@pytest.mark.parametrize("case_id, shape", case_shape_params([(2, 3, 40, 56)]))
@needs_cuda
def test_cuda_float32_matches_cpu_float64(case_id, shape):
    _check_float32_matches_float64(case_id, shape, "cuda")


@needs_cuda
def test_cuda_cs_matrix_and_permutation_are_bit_identical_to_cpu():
    cpu = CompressedSensing(0.1, (64, 64), seed=2025)
    gpu = CompressedSensing(0.1, (64, 64), seed=2025).to("cuda")
    assert torch.equal(gpu.phi.cpu(), cpu.phi)
    assert torch.equal(gpu.slot_to_pixel.cpu(), cpu.slot_to_pixel)
    x = torch.rand(1, 1, 64, 64, dtype=torch.float64)
    assert torch.allclose(gpu.A(x.cuda()).cpu(), cpu.A(x), atol=1e-12)


@needs_cuda
def test_cuda_noise_uses_a_cuda_generator():
    op = CompressedSensing(0.1, (32, 32), noise_sigma=0.1).to("cuda")
    x = torch.rand(1, 1, 32, 32, device="cuda")
    first = op(x, generator=torch.Generator("cuda").manual_seed(0))
    second = op(x, generator=torch.Generator("cuda").manual_seed(0))
    assert torch.equal(first, second)

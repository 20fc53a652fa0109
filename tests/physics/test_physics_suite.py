"""One parametrised suite over every operator and several image shapes (float64)."""
from __future__ import annotations

import json

import pytest
import torch

from physics_cases import CASE_BY_ID, DENSE_TOP_SINGULAR_VALUE, SHAPES, TINY_SIZES, case_shape_params, operator
from reverse_anything.physics import FunctionOperator, build_operator, operator_norm


def _rand(shape, seed: int, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _inner(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum())


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("case_id, shape", case_shape_params(SHAPES))
def test_adjoint_dot_product(case_id, shape):
    op = operator(case_id, shape[-2:])
    x = _rand(shape, 0)
    y = op.A(x)
    v = _rand(y.shape, 1)
    gap = abs(_inner(y, v) - _inner(x, op.A_adjoint(v)))
    assert gap <= 1e-10 * float(x.norm() * v.norm())


@pytest.mark.parametrize("case_id, shape", case_shape_params(SHAPES))
def test_pseudo_inverse_reproduces_the_measurement(case_id, shape):
    """A A† A x == A x: exact ops to 1e-10, CGLS to its documented level (relative to ‖A x‖);
    Tikhonov blur within sqrt(eps)/2 · ‖x‖ (the bound is relative to x, as frequencies K ~ 0 lose all)."""
    case, op = CASE_BY_ID[case_id], operator(case_id, shape[-2:])
    x = _rand(shape, 2)
    y = op.A(x)
    scale = x.norm() if case.dagger == "tikhonov" else y.norm()
    assert (op.A(op.A_dagger(y)) - y).norm() <= case.consistency_rtol * scale


@pytest.mark.parametrize("case_id, shape", case_shape_params(SHAPES, lambda case: case.dagger == "exact"))
def test_pseudo_inverse_has_no_null_space_component(case_id, shape):
    """A†y lies in range(Aᵀ): orthogonal to the null-space part z - A†A z of any z."""
    op = operator(case_id, shape[-2:])
    x_dagger = op.A_dagger(op.A(_rand(shape, 3)))
    z = _rand(shape, 4)
    null_part = z - op.A_dagger(op.A(z))
    assert abs(_inner(null_part, x_dagger)) <= 1e-10 * float(z.norm() * x_dagger.norm())


RANGE_TOLERANCE = {"exact": 1e-10, "tikhonov": 1e-10, "iterative": 1e-8}  # CG from 0 stays in range(Aᵀ) up to rounding


@pytest.mark.parametrize("case_id, shape", case_shape_params([(1, 1, *s) for s in TINY_SIZES]))
def test_pseudo_inverse_lands_in_the_range_of_the_adjoint(case_id, shape):
    """Every A† (exact, Tikhonov or iterative) gives vectors orthogonal to null(A), from the dense SVD."""
    case, op = CASE_BY_ID[case_id], operator(case_id, shape[-2:])
    matrix = _matrix_of(op.A, shape)
    _, singular_values, vh = torch.linalg.svd(matrix)
    rank = int((singular_values > 1e-10 * singular_values[0]).sum())
    null_basis = vh[rank:]  # rows span null(A)
    if null_basis.shape[0] == 0:
        pytest.skip("A has full column rank: no null space to leave")
    y = _rand(op.A(torch.zeros(shape, dtype=torch.float64)).shape, 10)
    x_dagger = op.A_dagger(y).reshape(-1)
    assert (null_basis @ x_dagger).norm() <= RANGE_TOLERANCE[case.dagger] * x_dagger.norm()


def _matrix_of(linear_map, input_shape) -> torch.Tensor:
    """The dense matrix of a linear map on tensors of ``input_shape`` (one basis vector per column)."""
    size = int(torch.Size(input_shape).numel())
    basis = torch.eye(size, dtype=torch.float64).reshape(size, *input_shape[1:])
    return linear_map(basis).reshape(size, -1).T


@pytest.mark.parametrize("case_id, shape", case_shape_params([(1, 1, *s) for s in TINY_SIZES]))
def test_against_the_dense_matrix(case_id, shape):
    """Aᵀ is the transpose, A† the pseudo-inverse (or Tikhonov inverse), ‖A‖ the top singular value."""
    case, op = CASE_BY_ID[case_id], operator(case_id, shape[-2:])
    matrix = _matrix_of(op.A, shape)
    measurement_shape = op.A(torch.zeros(shape, dtype=torch.float64)).shape
    assert torch.allclose(_matrix_of(op.A_adjoint, measurement_shape), matrix.T, atol=1e-12)

    dagger = _matrix_of(op.A_dagger, measurement_shape)
    if case.dagger == "exact":
        assert torch.allclose(dagger, torch.linalg.pinv(matrix), atol=1e-9)
    elif case.dagger == "tikhonov":
        normal = matrix.T @ matrix + op.eps * torch.eye(matrix.shape[1], dtype=torch.float64)
        assert torch.allclose(dagger, torch.linalg.solve(normal, matrix.T), atol=1e-9)

    # power iteration approaches the top singular value from below, slowly when the top ones cluster
    top = float(torch.linalg.svdvals(matrix)[0])
    estimate = operator_norm(op, shape, iters=300, generator=torch.Generator().manual_seed(0))
    assert top * (1 - 2e-3) <= estimate <= top * (1 + 1e-12)


def _blur_norm(op, size) -> float:
    """max |K| from the kernel itself (|FFT| does not depend on where the kernel sits)."""
    padded = torch.zeros(size, dtype=torch.float64)
    padded[: op.kernel.shape[0], : op.kernel.shape[1]] = op.kernel
    return float(torch.fft.fft2(padded).abs().max())


KNOWN_NORMS = {  # closed-form ‖A‖₂ (other operators are covered by the dense-matrix test)
    "cs": lambda op, size: 1.0,
    "inpainting": lambda op, size: 1.0,
    "denoising": lambda op, size: 1.0,
    "mri": lambda op, size: 1.0,
    "sr-box": lambda op, size: 1 / op.factor,
    "blur": _blur_norm,
    "matrix-dense": lambda op, size: DENSE_TOP_SINGULAR_VALUE,
}


def _known_norm_family(case_id: str) -> str | None:
    return next((family for family in KNOWN_NORMS if case_id.startswith(family)), None)


@pytest.mark.parametrize("case_id, shape", case_shape_params(SHAPES[:2], lambda case: _known_norm_family(case.id)))
def test_operator_norm_known_values(case_id, shape):
    op = operator(case_id, shape[-2:])
    expected = KNOWN_NORMS[_known_norm_family(case_id)](op, shape[-2:])
    estimate = operator_norm(op, shape[-2:], iters=400, generator=torch.Generator().manual_seed(1))
    assert estimate == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("case_id, shape", case_shape_params(SHAPES[1:2], lambda case: case.id != "function"))
def test_config_round_trip(case_id, shape):
    op = operator(case_id, shape[-2:])
    config = json.loads(json.dumps(op.config()))
    twin = build_operator(config)
    x = _rand(shape, 5)
    assert type(twin) is type(op)
    assert twin.config() == op.config()
    assert torch.equal(twin.A(x), op.A(x))


@pytest.mark.parametrize("case_id, shape", case_shape_params(SHAPES[1:2]))
def test_gradients_flow_through_every_verb(case_id, shape):
    """For a linear (or 1-homogeneous, like CGLS) map f, <input, ∇<f(input), w>> == <f(input), w>.

    Back-propagating through many CGLS steps of an ill-conditioned operator (CT) accumulates
    rounding, so iterative pseudo-inverses get 1e-2.
    """
    op = operator(case_id, shape[-2:])
    rel = 1e-2 if CASE_BY_ID[case_id].dagger == "iterative" else 1e-6
    x = _rand(shape, 6).requires_grad_()
    y = op.A(x)
    w = _rand(y.shape, 7)
    (y * w).sum().backward()
    assert torch.allclose(x.grad, op.A_adjoint(w), atol=1e-10)

    measurement = op.A(_rand(shape, 8)).requires_grad_()
    for verb in (op.A_adjoint, op.A_dagger):
        measurement.grad = None
        out = verb(measurement)
        weight = _rand(out.shape, 9)
        (out * weight).sum().backward()
        assert torch.isfinite(measurement.grad).all()
        assert _inner(measurement.grad, measurement.detach()) == pytest.approx(_inner(out.detach(), weight), rel=rel)


@pytest.mark.parametrize("case_id, shape", case_shape_params(SHAPES[1:2]))
def test_float32_inputs(case_id, shape):
    op = operator(case_id, shape[-2:])
    x = _rand(shape, 10)
    y32 = op.A(x.float())
    assert y32.dtype == torch.float32
    assert _relative(y32.double(), op.A(x)) < 1e-5
    for verb in (op.A_adjoint, op.A_dagger):
        out = verb(y32)
        assert out.dtype == torch.float32 and out.shape == x.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("case_id, shape", case_shape_params(SHAPES[:1]))
def test_rejects_wrong_shapes(case_id, shape):
    op = operator(case_id, shape[-2:])
    with pytest.raises(ValueError, match="N, C, H, W"):
        op.A(torch.zeros(shape[-2:], dtype=torch.float64))
    if op.image_size is not None:
        with pytest.raises(ValueError, match="built for"):
            op.A(torch.zeros(1, 1, shape[-2] + 1, shape[-1], dtype=torch.float64))
    if op.measurement_shape is not None:
        with pytest.raises(ValueError, match="measurement"):
            op.A_adjoint(torch.zeros(1, 1, 3, dtype=torch.float64))


def test_function_operator_is_not_serialisable():
    op = FunctionOperator(lambda x: x, lambda y: y)
    with pytest.raises(ValueError, match="cannot be serialised"):
        op.config()
    with pytest.raises(ValueError, match="cannot be built"):
        build_operator({"operator": "function"})

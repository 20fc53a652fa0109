"""Sparse products (CT's projector): SciPy and torch paths agree in values and gradients; the cache follows .to()."""
from __future__ import annotations

import warnings

import pytest
import torch

from reverse_anything.physics import CT, MatrixOperator
from reverse_anything.physics.sparse import SparseProducts, scipy_available

needs_scipy = pytest.mark.skipif(not scipy_available(), reason="SciPy (the ct extra) is not installed")


def _matrices(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    dense = torch.randn(7, 11, dtype=torch.float64) * (torch.rand(7, 11) < 0.4)
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return dense.to_sparse_csr(), dense.T.contiguous().to_sparse_csr()


@needs_scipy
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_scipy_and_torch_paths_give_the_same_products_and_gradients(dtype):
    matrix, transpose = _matrices()
    planes = torch.randn(2, 3, 11, dtype=dtype, requires_grad=True)
    weights = torch.randn(2, 3, 7, dtype=dtype)
    results = []
    for use_scipy in (True, False):
        out = SparseProducts(use_scipy).apply(matrix, transpose, planes)
        results.append((out, *torch.autograd.grad((out * weights).sum(), planes)))
    (scipy_out, scipy_grad), (torch_out, torch_grad) = results
    assert scipy_out.dtype == dtype
    torch.testing.assert_close(scipy_out, torch_out)
    torch.testing.assert_close(scipy_grad, torch_grad)
    torch.testing.assert_close(torch_out, (matrix.to_dense().to(dtype) @ planes.detach().unsqueeze(-1)).squeeze(-1))


@needs_scipy
def test_the_scipy_product_passes_gradcheck_twice():
    matrix, transpose = _matrices(1)
    products = SparseProducts(use_scipy=True)
    planes = torch.randn(1, 2, 11, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: products.apply(matrix, transpose, p), (planes,))
    assert torch.autograd.gradgradcheck(lambda p: products.apply(matrix, transpose, p), (planes,))


def test_cast_matrices_are_made_once_and_dropped_when_the_buffers_are_replaced():
    op = CT((16, 16), n_angles=8)
    x = torch.rand(1, 1, 16, 16)
    op.A(x), op.A_adjoint(op.A(x)), op.A(x)
    assert len(op._products._cache) == 2  # S and Sᵀ, once each, for float32
    old = op.projection
    op.to(torch.float32)  # new buffers: the float32 copies of the old ones go at the next product
    assert op.projection is not old
    op.A(x)
    assert all(entry[0] is op.projection or entry[0] is op.back_projection for entry in op._products._cache.values())
    assert len(op._products._cache) == 2


@pytest.mark.parametrize("use_scipy", [True, False])
def test_ct_is_the_same_operator_on_both_paths(use_scipy):
    if use_scipy and not scipy_available():
        pytest.skip("SciPy (the ct extra) is not installed")
    op = CT((20, 24), n_angles=10)
    reference = CT((20, 24), n_angles=10)
    reference._products = SparseProducts(use_scipy=False)
    op._products = SparseProducts(use_scipy=use_scipy)
    x, y = torch.rand(2, 3, 20, 24), torch.rand(2, 3, *op.measurement_shape)
    torch.testing.assert_close(op.A(x), reference.A(x))
    torch.testing.assert_close(op.A_adjoint(y), reference.A_adjoint(y))
    torch.testing.assert_close((op.A(x) * y).sum(), (x * op.A_adjoint(y)).sum())  # still the exact adjoint


def test_a_sparse_matrix_operator_is_its_dense_twin_in_values_and_gradients():
    torch.manual_seed(2)
    matrix = torch.randn(9, 12, dtype=torch.float64) * (torch.rand(9, 12) < 0.3)
    sparse, dense = MatrixOperator(matrix.to_sparse(), (3, 4)), MatrixOperator(matrix, (3, 4))
    x = torch.rand(2, 1, 3, 4, requires_grad=True)
    y = torch.rand(2, 1, 9, requires_grad=True)
    for op_sparse, op_dense in ((sparse.A, dense.A), (sparse.A_adjoint, dense.A_adjoint)):
        argument = x if op_sparse == sparse.A else y
        got, want = op_sparse(argument), op_dense(argument)
        torch.testing.assert_close(got, want)
        torch.testing.assert_close(torch.autograd.grad(got.square().sum(), argument)[0], torch.autograd.grad(want.square().sum(), argument)[0])

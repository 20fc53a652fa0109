"""Operators given directly: an explicit (dense or sparse) matrix, or a pair of Python functions."""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .base import LinearPhysics, as_operand
from .sparse import SparseProducts

__all__ = ["MatrixOperator", "FunctionOperator"]

MatrixLike = Tensor | np.ndarray | Sequence[Sequence[float]] | dict


def _as_matrix(matrix: MatrixLike) -> Tensor:
    """A float64 CPU matrix: dense, or coalesced sparse COO (also from the dict that ``config`` writes)."""
    if isinstance(matrix, dict):
        try:
            return torch.sparse_coo_tensor(
                torch.as_tensor(matrix["indices"], dtype=torch.long),
                torch.as_tensor(matrix["values"], dtype=torch.float64),
                tuple(matrix["size"]),
            ).coalesce()
        except (KeyError, TypeError, RuntimeError) as error:
            raise ValueError(f"a sparse matrix config needs 'indices', 'values' and 'size': {error}") from None
    if isinstance(matrix, Tensor):
        matrix = matrix.detach().to(device="cpu", dtype=torch.float64)
        return matrix.to_sparse_coo().coalesce() if matrix.layout != torch.strided else matrix
    try:
        return torch.as_tensor(np.asarray(matrix, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError("matrix must be a 2-D numeric array, a torch tensor or a torch sparse tensor") from None


class MatrixOperator(LinearPhysics):
    """``y = M x`` for an explicit matrix ``M`` of shape (m, H·W), applied to each flattened channel.

    ``matrix`` is a dense torch tensor / numpy array / nested list, or a torch sparse tensor
    (kept as sparse COO, multiplied through CSR copies of it and its transpose: :mod:`.sparse`). ``image_shape`` is ``(H, W)`` or ``(C, H, W)`` (the latter also fixes the
    channel count). Measurement shape ``(N, C, m)``. ``A_dagger``: dense, ``pinv(M)`` computed in
    float64 on first use and cached (non-persistent buffer, moves with ``.to()``); sparse, CGLS.

    Example:
        >>> import torch
        >>> op = MatrixOperator(torch.eye(4)[:2], image_shape=(2, 2))
        >>> op.A(torch.arange(4.0).view(1, 1, 2, 2))
        tensor([[[0., 1.]]])
    """

    name = "matrix"

    def __init__(self, matrix: MatrixLike, image_shape: Sequence[int], noise_sigma: float = 0.0):
        super().__init__(noise_sigma)
        shape = tuple(int(side) for side in image_shape)
        if len(shape) not in (2, 3) or min(shape) <= 0 or shape != tuple(image_shape):
            raise ValueError(f"image_shape must be (H, W) or (C, H, W) of positive ints, got {tuple(image_shape)!r}")
        self.image_size = shape[-2:]
        self.channels = shape[0] if len(shape) == 3 else None
        values = _as_matrix(matrix)
        if values.ndim != 2 or values.shape[1] != shape[-2] * shape[-1]:
            raise ValueError(
                f"matrix must have shape (m, {shape[-2] * shape[-1]}) for {shape[-2]}x{shape[-1]} images, got {tuple(values.shape)}"
            )
        self._register_data("matrix", values)
        self._register_data("_pinv", None)
        if values.is_sparse:  # products run on CSR copies (SciPy's kernel on the CPU, where installed: physics/sparse.py)
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                self._register_data("_rows", values.to_sparse_csr())
                self._register_data("_columns", values.t().coalesce().to_sparse_csr())
            self._products = SparseProducts()

    @property
    def measurement_shape(self) -> tuple[int]:
        return (self.matrix.shape[0],)

    def check_image(self, x: Tensor) -> None:
        super().check_image(x)
        if self.channels is not None and x.shape[1] != self.channels:
            raise ValueError(f"MatrixOperator was built for {self.channels}-channel images, got {x.shape[1]} channels")

    def _multiply(self, matrix: Tensor, planes: Tensor) -> Tensor:
        """``matrix @ v`` for every (N, C) vector v in ``planes`` (N, C, n), ``matrix`` dense."""
        flat = planes.reshape(-1, planes.shape[-1])
        return (flat @ as_operand(matrix, planes).T).reshape(*planes.shape[:2], -1)

    def A(self, x: Tensor) -> Tensor:
        self.check_image(x)
        if self.matrix.is_sparse:
            return self._products.apply(self._rows, self._columns, x.flatten(2))
        return self._multiply(self.matrix, x.flatten(2))

    def A_adjoint(self, y: Tensor) -> Tensor:
        self.check_measurement(y)
        if self.matrix.is_sparse:
            return self._products.apply(self._columns, self._rows, y).unflatten(-1, self.image_size)
        return self._multiply(self.matrix.t(), y).unflatten(-1, self.image_size)

    def A_dagger(self, y: Tensor) -> Tensor:
        if self.matrix.is_sparse:
            return super().A_dagger(y)
        self.check_measurement(y)
        if self._pinv is None:
            self._pinv = torch.linalg.pinv(self.matrix.to(torch.float64))
        return self._multiply(self._pinv, y).unflatten(-1, self.image_size)

    def _constructor_kwargs(self) -> dict[str, Any]:
        if self.matrix.is_sparse:
            matrix: Any = {
                "indices": self.matrix.indices().tolist(),
                "values": self.matrix.values().to(torch.float64).tolist(),
                "size": list(self.matrix.shape),
            }
        else:
            matrix = self.matrix.to(torch.float64).tolist()
        shape = self.image_size if self.channels is None else (self.channels, *self.image_size)
        return {"matrix": matrix, "image_shape": list(shape)}


class FunctionOperator(LinearPhysics):
    """An operator from a user's pair of functions ``A_fn`` and ``A_adjoint_fn`` (not serialisable).

    The pair must be exact adjoints acting per sample (and per channel, like every operator
    here); ``A_dagger`` is CGLS. :meth:`config` raises ValueError.

    Example:
        >>> import torch
        >>> op = FunctionOperator(lambda x: 2 * x, lambda y: 2 * y)
        >>> op.A_dagger(torch.ones(1, 1, 2, 2))[0, 0, 0, 0].item()
        0.5
    """

    name = "function"

    def __init__(
        self,
        A_fn: Callable[[Tensor], Tensor],
        A_adjoint_fn: Callable[[Tensor], Tensor],
        noise_sigma: float = 0.0,
    ):
        super().__init__(noise_sigma)
        if not callable(A_fn) or not callable(A_adjoint_fn):
            raise ValueError("FunctionOperator needs two callables: A_fn and A_adjoint_fn")
        self.A_fn = A_fn
        self.A_adjoint_fn = A_adjoint_fn

    def A(self, x: Tensor) -> Tensor:
        self.check_image(x)
        return self.A_fn(x)

    def A_adjoint(self, y: Tensor) -> Tensor:
        self.check_measurement(y)
        return self.A_adjoint_fn(y)

    def _constructor_kwargs(self) -> dict[str, Any]:
        raise ValueError("FunctionOperator wraps Python functions and cannot be serialised to a config")

    @classmethod
    def from_config(cls, kwargs: dict[str, Any]) -> LinearPhysics:
        raise ValueError("FunctionOperator cannot be built from a config (it wraps Python functions)")

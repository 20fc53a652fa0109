"""Measurement operators ``y = A x + n`` for images ``(N, C, H, W)``.

One small class per operator over :class:`LinearPhysics`; every operator has ``A``,
``A_adjoint`` (exact adjoint) and ``A_dagger`` (pseudo-inverse), ``forward`` = noise ∘ A,
``config()`` / :func:`build_operator` for serialisation, and ``@`` for composition.

Example:
    >>> import torch
    >>> from reverse_anything.physics import CompressedSensing, build_operator, operator_norm
    >>> op = CompressedSensing(ratio=0.1, image_size=(64, 64), noise_sigma=0.01)
    >>> x = torch.rand(2, 1, 64, 64)
    >>> y = op(x, generator=torch.Generator().manual_seed(0))   # A x + noise
    >>> y.shape                                                  # (N, C, n_blocks, q)
    torch.Size([2, 1, 4, 103])
    >>> x_init = op.A_dagger(y)                                  # exact pseudo-inverse
    >>> torch.allclose(op.A(x_init), y, atol=1e-5)
    True
    >>> twin = build_operator(op.config())                       # same operator from its config
    >>> torch.equal(twin.A(x), op.A(x))
    True
    >>> round(operator_norm(op, (64, 64), iters=3), 6)
    1.0
"""
from .base import ComposedPhysics, LinearPhysics, conjugate_gradient_least_squares
from .registry import (
    build_operator,
    operator_class,
    operator_defaults,
    operator_family,
    operator_keywords,
    sized_operator_config,
)
from .blur import Blur
from .compressed_sensing import CompressedSensing
from .ct import CT
from .denoising import Denoising
from .files import load_kernel_file, load_matrix_file
from .inpainting import Inpainting
from .matrix import FunctionOperator, MatrixOperator
from .mri import MRI
from .norm import operator_norm
from .super_resolution import SuperResolution
from .tiled import Tiled

__all__ = [
    "LinearPhysics",
    "ComposedPhysics",
    "CompressedSensing",
    "Inpainting",
    "Denoising",
    "Blur",
    "SuperResolution",
    "MRI",
    "CT",
    "MatrixOperator",
    "FunctionOperator",
    "Tiled",
    "build_operator",
    "operator_class",
    "operator_defaults",
    "operator_keywords",
    "sized_operator_config",
    "load_kernel_file",
    "load_matrix_file",
    "operator_norm",
    "conjugate_gradient_least_squares",
    "operator_family",
]

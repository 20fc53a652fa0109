"""Every operator the physics tests run through the shared suite, with what to expect of its A†."""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch

from reverse_anything.physics import (
    CT,
    MRI,
    Blur,
    CompressedSensing,
    Denoising,
    FunctionOperator,
    Inpainting,
    LinearPhysics,
    MatrixOperator,
    SuperResolution,
    Tiled,
)

Size = tuple[int, int]

# (N, C, H, W): square multiple of 32, a colour batch, and sides that are not block multiples
SHAPES = [(1, 1, 32, 32), (2, 3, 40, 56), (1, 1, 70, 33)]
TINY_SIZES = [(16, 16), (12, 10)]  # small enough to write every operator as a dense matrix


@dataclass(frozen=True)
class Case:
    """An operator family. ``dagger`` is "exact", "tikhonov" (blur) or "iterative" (CGLS)."""

    id: str
    build: Callable[[Size], LinearPhysics]
    dagger: str = "exact"
    consistency_rtol: float = 1e-10  # ‖A A† A x - A x‖ / ‖A x‖
    fits: Callable[[Size], bool] = lambda size: True


DENSE_TOP_SINGULAR_VALUE = 2.0


def _dense_matrix(size: Size) -> torch.Tensor:
    """A (40, H·W) matrix with known singular values 2·0.9^i (well separated, for power iteration)."""
    generator = torch.Generator().manual_seed(7)
    left = torch.linalg.qr(torch.randn(40, 40, generator=generator, dtype=torch.float64))[0]
    right = torch.linalg.qr(torch.randn(size[0] * size[1], 40, generator=generator, dtype=torch.float64))[0]
    singular_values = DENSE_TOP_SINGULAR_VALUE * 0.9 ** torch.arange(40, dtype=torch.float64)
    return left @ torch.diag(singular_values) @ right.T


def _sparse_matrix(size: Size) -> torch.Tensor:
    """A random sparse (60, H·W) matrix with 6 entries per row."""
    generator = torch.Generator().manual_seed(8)
    rows = torch.arange(60).repeat_interleave(6)
    cols = torch.randint(size[0] * size[1], (360,), generator=generator)
    values = torch.randn(360, generator=generator, dtype=torch.float64)
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (60, size[0] * size[1]))


def _diagonal_function_operator(size: Size) -> FunctionOperator:
    gain = 0.5 + torch.rand(size, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    return FunctionOperator(lambda x: x * gain.to(x), lambda y: y * gain.to(y))


# an asymmetric user kernel (catches a missing flip in the adjoint) and a fixed user mask pattern
USER_KERNEL = torch.tensor([[0.0, 1.0, 2.0, 1.0], [1.0, 3.0, 0.5, 0.0], [0.25, 0.0, 1.0, 2.0]], dtype=torch.float64)


def _user_mask(size: Size) -> torch.Tensor:
    rows, cols = torch.meshgrid(torch.arange(size[0]), torch.arange(size[1]), indexing="ij")
    return ((rows * 3 + cols * 5) % 7 < 4).to(torch.float64)


def _divisible(factor: int) -> Callable[[Size], bool]:
    return lambda size: size[0] % factor == 0 and size[1] % factor == 0


CASES = [
    Case("cs-scrambled-b8", lambda s: CompressedSensing(0.3, s, block_size=8, seed=1)),
    Case("cs-plain-b8", lambda s: CompressedSensing(0.3, s, block_size=8, seed=1, scramble=False)),
    Case("cs-plain-b8-full", lambda s: CompressedSensing(1.0, s, block_size=8, scramble=False)),
    Case("cs-scrambled-b32", lambda s: CompressedSensing(0.1, s), fits=lambda s: max(s) >= 32),
    Case("cs-plain-b32", lambda s: CompressedSensing(0.1, s, scramble=False), fits=lambda s: max(s) >= 32),
    Case("inpainting-random", lambda s: Inpainting(s, keep_ratio=0.5, seed=3)),
    Case("inpainting-box", lambda s: Inpainting(s, box=(2, 3, s[0] // 2, s[1] // 3))),
    Case("inpainting-mask", lambda s: Inpainting(s, mask=_user_mask(s))),
    Case("denoising", lambda s: Denoising()),
    Case("blur-gaussian", lambda s: Blur(s, "gaussian", sigma=1.0), "tikhonov", 0.5 * 1e-3**0.5),
    Case("blur-uniform", lambda s: Blur(s, "uniform", kernel_size=5), "tikhonov", 0.5 * 1e-3**0.5),
    Case("blur-user", lambda s: Blur(s, USER_KERNEL.numpy()), "tikhonov", 0.5 * 1e-3**0.5),
    Case("sr-box-2", lambda s: SuperResolution(s, 2, "box"), fits=_divisible(2)),
    Case("sr-bicubic-2", lambda s: SuperResolution(s, 2, "bicubic"), fits=_divisible(2)),
    Case("sr-box-4", lambda s: SuperResolution(s, 4, "box"), fits=_divisible(4)),
    Case("sr-bicubic-4", lambda s: SuperResolution(s, 4, "bicubic"), fits=_divisible(4)),
    Case("mri-random", lambda s: MRI(s, acceleration=4, mask="random", center_fraction=0.1)),
    Case("mri-equispaced", lambda s: MRI(s, acceleration=3, mask="equispaced")),
    Case("ct", lambda s: CT(s, n_angles=12), "iterative", 1e-2),
    Case("matrix-dense", lambda s: MatrixOperator(_dense_matrix(s), s)),
    Case("matrix-sparse", lambda s: MatrixOperator(_sparse_matrix(s), s), "iterative", 1e-4),
    Case("function", _diagonal_function_operator, "iterative", 1e-6),
    # tiles of 8x8 (edge tiles down to 1 pixel wide on the odd shapes) and 16x12
    Case("tiled-cs", lambda s: Tiled(CompressedSensing(0.3, (8, 8), block_size=8, seed=1), s, tile=8)),
    Case("tiled-inpainting", lambda s: Tiled(Inpainting((16, 12), keep_ratio=0.5, seed=3), s, tile=(16, 12))),
    Case("tiled-mri", lambda s: Tiled(MRI((16, 16), acceleration=2), s, tile=16), fits=lambda s: min(s) >= 16),
    Case(
        "composed",
        lambda s: Inpainting(s, keep_ratio=0.7) @ Blur(s, "gaussian", sigma=0.7),
        "iterative",
        1e-3,
    ),
]
CASE_BY_ID = {case.id: case for case in CASES}


@functools.cache
def operator(case_id: str, size: Size) -> LinearPhysics:
    """One shared, read-only instance per (case, size): tests must not modify it."""
    return CASE_BY_ID[case_id].build(size)


def case_shape_params(shapes: list, only: Callable[[Case], bool] = lambda case: True) -> list:
    """pytest params (case id, shape) for every case that accepts the shape."""
    import pytest

    return [
        pytest.param(case.id, shape, id=f"{case.id}-{'x'.join(map(str, shape))}")
        for case in CASES
        if only(case)
        for shape in shapes
        if case.fits(tuple(shape[-2:]))
    ]

"""Operator-specific oracles (scipy, Pillow, numpy FFT, closed forms) and the base class's utilities."""
from __future__ import annotations

import doctest
import importlib
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from reverse_anything.physics import (
    CT,
    MRI,
    Blur,
    ComposedPhysics,
    CompressedSensing,
    Denoising,
    FunctionOperator,
    Inpainting,
    MatrixOperator,
    SuperResolution,
    build_operator,
    conjugate_gradient_least_squares,
    operator_norm,
)


def _rand(shape, seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# -- blur ----------------------------------------------------------------------------------------
def test_blur_is_circular_convolution_like_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    kernel = torch.rand(3, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    op = Blur((20, 17), kernel=kernel)
    x = _rand((1, 1, 20, 17), 1)
    expected = ndimage.convolve(x[0, 0].numpy(), (kernel / kernel.sum()).numpy(), mode="wrap")
    assert np.allclose(op.A(x)[0, 0].numpy(), expected, atol=1e-12)


def test_blur_kernels_are_normalised_and_sized():
    assert Blur((32, 32), "gaussian", sigma=2.0).kernel.shape == (13, 13)  # 2·ceil(3σ)+1
    assert Blur((32, 32), "uniform").kernel.shape == (9, 9)
    for op in (Blur((32, 32), "gaussian", sigma=2.0), Blur((16, 16), [[1.0, 3.0]])):
        assert op.kernel.sum().item() == pytest.approx(1.0, abs=1e-15)


def test_blur_with_a_user_kernel_round_trips_exactly():
    op = Blur((16, 16), kernel=np.array([[0.1, 0.7], [0.3, 0.3]]))
    twin = build_operator(json.loads(json.dumps(op.config())))
    assert torch.equal(twin.kernel, op.kernel)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kernel": "motion"}, "unknown blur kernel"),
        ({"kernel": np.zeros((3, 3))}, "sum to 0"),
        ({"kernel": np.ones(3)}, "2-D"),
        ({"kernel": "uniform", "kernel_size": 40}, "larger than"),
        ({"eps": 0.0}, "eps"),
        ({"sigma": -1.0}, "sigma"),
        ({"noise_sigma": -1.0}, "noise_sigma"),
    ],
)
def test_blur_bad_parameters_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Blur((32, 32), **kwargs)


# -- super-resolution -----------------------------------------------------------------------------
@pytest.mark.parametrize("factor", [2, 4])
def test_sr_box_is_average_pooling_with_exact_pseudo_inverse(factor):
    op = SuperResolution((32, 24), factor, "box")
    x = _rand((2, 3, 32, 24), 2)
    y = op.A(x)
    assert torch.allclose(y, F.avg_pool2d(x, factor), atol=1e-14)
    assert torch.allclose(op.A_dagger(y), factor**2 * op.A_adjoint(y), atol=1e-13)
    assert torch.allclose(op.A_dagger(y), F.interpolate(y, scale_factor=factor, mode="nearest"), atol=1e-13)


@pytest.mark.parametrize("factor", [2, 4])
def test_sr_bicubic_matches_pillow_away_from_the_border(factor):
    """Pillow's BICUBIC downscaling is the same antialiased a=-0.5 kernel; only borders differ."""
    size = 48
    x = torch.rand(size, size, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    pillow = Image.fromarray(x.numpy().astype(np.float32), mode="F").resize((size // factor,) * 2, Image.BICUBIC)
    expected = torch.from_numpy(np.asarray(pillow, dtype=np.float64))
    ours = SuperResolution((size, size), factor, "bicubic").A(x[None, None])[0, 0]
    border = 2
    assert torch.allclose(ours[border:-border, border:-border], expected[border:-border, border:-border], atol=1e-5)


def test_sr_bicubic_pseudo_inverse_matches_generic_cgls():
    op = SuperResolution((24, 16), 2, "bicubic")
    y = op.A(_rand((1, 2, 24, 16), 4))
    generic = conjugate_gradient_least_squares(op.A, op.A_adjoint, y, max_iter=500, tol=1e-12)
    assert torch.allclose(op.A_dagger(y), generic, atol=1e-8)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image_size": (30, 32), "factor": 4}, "not divisible"),
        ({"image_size": (33, 32), "factor": 2}, "not divisible"),
        ({"factor": 1}, "factor"),
        ({"factor": 2.5}, "factor"),
        ({"kernel": "lanczos"}, "unknown super-resolution kernel"),
    ],
)
def test_sr_bad_parameters_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SuperResolution(**{"image_size": (32, 32), **kwargs})


# -- MRI -----------------------------------------------------------------------------------------
def test_mri_measures_kept_lines_of_the_orthonormal_fft():
    op = MRI((16, 20), acceleration=4, center_fraction=0.1, seed=1)
    x = _rand((2, 1, 16, 20), 5)
    kspace = np.fft.fft2(x.numpy(), norm="ortho")[..., op.lines.numpy()]
    assert np.allclose(op.A(x).numpy(), np.stack([kspace.real, kspace.imag], axis=-1), atol=1e-13)


def test_mri_line_selection():
    random = MRI((32, 40), acceleration=4, mask="random", center_fraction=0.1)
    assert len(random.lines) == 10  # round(40 / 4)
    assert {0, 1, 39, 2}.issubset(set(random.lines.tolist()))  # the 4 lowest frequencies
    equispaced = MRI((32, 40), acceleration=4, mask="equispaced", center_fraction=0.0)
    assert equispaced.lines.tolist() == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]
    assert not torch.equal(MRI((32, 40), seed=1).lines, MRI((32, 40), seed=2).lines)


def test_mri_pseudo_inverse_is_the_adjoint_for_a_mirror_symmetric_mask_only():
    symmetric = MRI((16, 16), acceleration=4, mask="equispaced")  # lines 0, ±4, 8: closed under k -> -k
    y = symmetric.A(_rand((1, 1, 16, 16), 6))
    assert torch.allclose(symmetric.A_dagger(y), symmetric.A_adjoint(y), atol=1e-13)
    lopsided = MRI((16, 16), acceleration=4, mask="random", seed=0)
    y = lopsided.A(_rand((1, 1, 16, 16), 6))
    assert not torch.allclose(lopsided.A_dagger(y), lopsided.A_adjoint(y))


@pytest.mark.parametrize(
    "kwargs, message",
    [({"acceleration": 0.5}, "acceleration"), ({"center_fraction": 1.5}, "center_fraction"), ({"mask": "radial"}, "unknown MRI mask")],
)
def test_mri_bad_parameters_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MRI((16, 16), **kwargs)


# -- CT ------------------------------------------------------------------------------------------
def test_ct_projections_conserve_mass_and_match_column_and_row_sums():
    op = CT((31, 31), n_angles=4)  # 45 detectors: at 0 and 90 degrees pixels land on bin centres
    x = torch.rand(1, 1, 31, 31, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    sinogram = op.A(x)[0, 0]
    assert torch.allclose(sinogram.sum(dim=1), x.sum().expand(4), atol=1e-11)
    offset = (op.n_detectors - 31) // 2
    assert torch.allclose(sinogram[0, offset : offset + 31], x[0, 0].sum(dim=0), atol=1e-11)  # θ = 0
    assert torch.allclose(sinogram[2, offset : offset + 31], x[0, 0].sum(dim=1).flip(0), atol=1e-11)  # θ = 90°


def test_ct_fbp_reconstructs_a_smooth_phantom():
    size = 48
    op = CT((size, size), n_angles=60)
    grid = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    blob = torch.exp(-(grid[:, None] ** 2 + (grid[None, :] - 4) ** 2) / (2 * 6.0**2))[None, None]
    sinogram = op.A(blob)
    reconstruction = op.fbp(sinogram)
    assert (reconstruction - blob).norm() / blob.norm() < 0.1
    back_projection = op.A_adjoint(sinogram)
    best_scale = (back_projection * blob).sum() / back_projection.square().sum()
    assert (reconstruction - blob).norm() < 0.5 * (best_scale * back_projection - blob).norm()


def test_ct_bad_parameters_raise():
    with pytest.raises(ValueError, match="n_angles"):
        CT((16, 16), n_angles=0)


# -- inpainting ----------------------------------------------------------------------------------
def test_inpainting_random_mask_keeps_the_requested_count_in_every_channel():
    op = Inpainting((20, 30), keep_ratio=0.3, seed=4)
    assert int(op.mask.sum()) == 180
    y = op.A(torch.ones(1, 3, 20, 30, dtype=torch.float64))
    assert torch.equal(y[0, 0], y[0, 2]) and torch.equal(y[0, 0], op.mask)
    assert not torch.equal(op.mask, Inpainting((20, 30), keep_ratio=0.3, seed=5).mask)


def test_inpainting_box_and_user_mask():
    box = Inpainting((6, 8), box=(1, 2, 3, 4))
    assert box.mask[1:4, 2:6].sum() == 0 and box.mask.sum() == 48 - 12
    user = np.random.default_rng(0).integers(0, 2, size=(7, 9))
    op = Inpainting((7, 9), mask=user)
    assert np.array_equal(op.mask.numpy(), user)
    twin = build_operator(json.loads(json.dumps(op.config())))
    assert torch.equal(twin.mask, op.mask)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"keep_ratio": 0.5, "box": (0, 0, 1, 1)}, "one of keep_ratio, mask, box; got keep_ratio and box"),
        ({"keep_ratio": 0.0}, "keep_ratio"),
        ({"box": (6, 0, 4, 4)}, "does not fit"),
        ({"mask": np.full((8, 8), 0.5)}, "only 0"),
        ({"mask": np.ones((4, 8))}, "shape"),
        ({"mask": "not base64!"}, "base64"),
    ],
)
def test_inpainting_bad_parameters_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Inpainting((8, 8), **kwargs)


# -- matrix and function operators ----------------------------------------------------------------
def test_matrix_operator_dense_sparse_and_numpy_agree():
    dense = _rand((12, 20), 8)
    dense[dense.abs() < 1] = 0
    x = _rand((2, 3, 4, 5), 9)
    expected = x.flatten(2) @ dense.T
    for matrix in (dense, dense.numpy(), dense.to_sparse(), dense.to_sparse_csr()):
        assert torch.allclose(MatrixOperator(matrix, (4, 5)).A(x), expected, atol=1e-13)


def test_matrix_operator_caches_its_pseudo_inverse_and_checks_channels():
    op = MatrixOperator(_rand((6, 9), 10), (1, 3, 3))
    assert op._pinv is None
    op.A_dagger(torch.zeros(1, 1, 6, dtype=torch.float64))
    assert op._pinv is not None and "_pinv" not in op.state_dict()
    with pytest.raises(ValueError, match="1-channel"):
        op.A(torch.zeros(1, 2, 3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="shape"):
        MatrixOperator(_rand((6, 8), 10), (3, 3))


def test_cgls_returns_the_minimum_norm_least_squares_solution():
    """Rank-deficient matrix and an inconsistent y: the limit is pinv(M) y, not just any solution."""
    left, right = _rand((30, 5), 11), _rand((5, 16), 12)
    matrix = left @ right  # rank 5
    op = FunctionOperator(lambda x: (x.flatten(2) @ matrix.T), lambda y: (y @ matrix).unflatten(-1, (4, 4)))
    y = _rand((2, 1, 30), 13)
    expected = (y @ torch.linalg.pinv(matrix).T).unflatten(-1, (4, 4))
    assert torch.allclose(op.A_dagger(y), expected, atol=1e-8)


# -- base: noise, composition, registry, norm -----------------------------------------------------
def test_forward_adds_reproducible_gaussian_noise():
    op = Inpainting((64, 64), keep_ratio=1.0, noise_sigma=0.2)
    x = _rand((2, 1, 64, 64), 14)
    first = op(x, generator=torch.Generator().manual_seed(0))
    second = op(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first, second)
    assert (first - x).std().item() == pytest.approx(0.2, rel=0.05)
    assert torch.equal(Inpainting((64, 64), keep_ratio=1.0)(x), x)


def test_composition_applies_inner_then_outer():
    inner, outer = Blur((16, 16), sigma=1.0), SuperResolution((16, 16), 2, "bicubic", noise_sigma=0.1)
    composed = outer @ inner
    assert isinstance(composed, ComposedPhysics) and composed.noise_sigma == 0.1
    x = _rand((1, 2, 16, 16), 15)
    assert torch.equal(composed.A(x), outer.A(inner.A(x)))
    assert torch.equal(outer.compose(inner).A(x), composed.A(x))
    y = composed.A(x)
    assert torch.equal(composed.A_adjoint(y), inner.A_adjoint(outer.A_adjoint(y)))
    with pytest.raises(ValueError, match="cannot compose"):
        SuperResolution((8, 8), 2) @ inner


def test_build_operator_rejects_unknown_names_and_arguments():
    with pytest.raises(ValueError, match="unknown operator 'warp'.*cs.*inpainting"):
        build_operator({"operator": "warp"})
    with pytest.raises(ValueError, match="'operator' key"):
        build_operator({"ratio": 0.1})
    with pytest.raises(ValueError, match="bad arguments"):
        build_operator({"operator": "cs", "ratio": 0.1, "image_size": [32, 32], "colour": True})


def test_every_operator_rejects_a_negative_noise_sigma():
    for build in (
        lambda: Denoising(noise_sigma=-1),
        lambda: CompressedSensing(0.1, (32, 32), noise_sigma=-1),
        lambda: MRI((16, 16), noise_sigma=-1),
        lambda: CT((8, 8), noise_sigma=-1),
        lambda: Inpainting((8, 8), keep_ratio=0.5, noise_sigma=float("nan")),
    ):
        with pytest.raises(ValueError, match="noise_sigma"):
            build()


def test_operator_norm_accepts_image_shapes_of_any_rank():
    op = SuperResolution((16, 16), 4)
    for shape in ((16, 16), (2, 16, 16), (1, 2, 16, 16)):
        assert operator_norm(op, shape, iters=5) == pytest.approx(0.25, rel=1e-12)
    with pytest.raises(ValueError, match="image_shape"):
        operator_norm(op, (16,))


@pytest.mark.parametrize(
    "module",
    ["", ".base", ".compressed_sensing", ".inpainting", ".denoising", ".blur", ".super_resolution", ".mri", ".ct", ".matrix", ".tiled"],
)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(f"reverse_anything.physics{module}"))
    assert result.attempted > 0 and result.failed == 0


def test_operator_data_stays_out_of_state_dict_but_follows_to():
    """Data is rebuilt from config(); keeping it out of state_dict keeps model checkpoints small."""
    op = CompressedSensing(0.1, (32, 32))
    assert len(op.state_dict()) == 0
    assert op.to(torch.float32).phi.dtype == torch.float32

"""Tiled measurement: each tile measured by its own small operator, exactly block-diagonal."""
from __future__ import annotations

import pytest
import torch

from reverse_anything.physics import CompressedSensing, Denoising, Inpainting, Tiled, build_operator


def _tile_op(size):
    return CompressedSensing(0.3, size, block_size=8, seed=2, perm_seed=5)


def test_each_tile_is_measured_by_its_own_operator():
    x = torch.rand(2, 3, 40, 27, dtype=torch.float64)
    op = Tiled(_tile_op((16, 16)), (40, 27), tile=16)
    # rows 0-15, 16-39 (the last absorbs the rest); one column of width 27
    expected = [_tile_op((16, 27)).A(x[..., :16, :]), _tile_op((24, 27)).A(x[..., 16:, :])]
    assert torch.equal(op.A(x), torch.cat([e.flatten(2) for e in expected], dim=-1))
    back = op.A_dagger(op.A(x))
    assert torch.allclose(back[..., 16:, :], _tile_op((24, 27)).A_dagger(expected[1]), atol=1e-12)


def test_tile_larger_than_the_image_is_the_whole_image_operator():
    x = torch.rand(1, 1, 24, 20, dtype=torch.float64)
    op = Tiled(_tile_op((64, 64)), (24, 20), tile=64)
    assert torch.equal(op.A(x), _tile_op((24, 20)).A(x).flatten(2))


def test_measurement_noise_is_added_once_with_the_inner_sigma():
    op = Tiled(CompressedSensing(0.5, (16, 16), block_size=8, noise_sigma=0.1), (32, 32), tile=16)
    assert op.noise_sigma == 0.1 and all(g.noise_sigma == 0.0 for g in op.groups)
    x = torch.rand(1, 1, 32, 32, dtype=torch.float64)
    residual = op(x, generator=torch.Generator().manual_seed(0)) - op.A(x)
    assert 0.08 < residual.std().item() < 0.12


def test_config_round_trip_rebuilds_the_same_operator():
    op = Tiled(Inpainting((16, 16), keep_ratio=0.4, seed=1), (50, 37), tile=16)
    twin = build_operator(op.config())
    x = torch.rand(1, 2, 50, 37)
    assert isinstance(twin, Tiled) and torch.equal(twin.A(x), op.A(x))


def test_operators_without_a_size_tile_too():
    op = Tiled(Denoising(), (20, 30), tile=8)
    x = torch.rand(1, 1, 20, 30, dtype=torch.float64)
    assert torch.equal(op.A_adjoint(op.A(x)), x)


@pytest.mark.parametrize("tile", [0, -3, 2.5, (8, 0)])
def test_bad_tile_sizes_are_refused(tile):
    with pytest.raises(ValueError, match="tile must be a positive integer"):
        Tiled(Denoising(), (20, 30), tile=tile)


def test_tiles_too_small_for_the_inner_operator_say_which_tile():
    with pytest.raises(ValueError, match="cannot build the inner operator for a 4x4 tile"):
        Tiled(CompressedSensing(0.3, (32, 32)), (4, 4), tile=4)


def test_nested_tiling_is_refused():
    inner = Tiled(Denoising(), (8, 8), tile=4)
    with pytest.raises(ValueError, match="cannot be the inner operator"):
        Tiled(inner, (16, 16), tile=8)


def test_tiles_and_measurements_split_and_reassemble():
    op = Tiled(_tile_op((16, 16)), (35, 50), tile=16)
    x = torch.rand(1, 1, 35, 50, dtype=torch.float64)
    assert torch.equal(op.assemble(op.extract_tiles(x)), x)
    pieces = op.split_measurement(op.A(x))
    assert sum(p.shape[2] for p in pieces) == 2 * 3  # 2 tile rows x 3 tile columns

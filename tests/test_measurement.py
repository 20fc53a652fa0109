"""Measurement files round-trip through the library (the CLI's measure / restore use the same two functions)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reverse_anything.measurement import load_measurement, save_measurement
from reverse_anything.physics import CompressedSensing, MatrixOperator


def test_a_measurement_and_its_operator_round_trip_bit_for_bit(tmp_path: Path):
    op = CompressedSensing(0.3, (64, 64), perm_seed=7)
    y = op.A(torch.rand(1, 1, 64, 64))
    path = tmp_path / "y.safetensors"
    save_measurement(path, y, op, (1, 64, 64), "y", "photo.png")
    loaded, rebuilt, shape, metadata = load_measurement(path)
    assert torch.equal(loaded, y) and shape == (1, 64, 64) and metadata["source"] == "photo.png"
    x = torch.rand(1, 1, 64, 64)
    assert torch.equal(rebuilt.A(x), op.A(x))


def test_large_operator_arrays_travel_as_tensors(tmp_path: Path):
    matrix = torch.randn(300, 256, dtype=torch.float64)
    op = MatrixOperator(matrix, (16, 16))
    y = op.A(torch.rand(1, 1, 16, 16, dtype=torch.float64))
    path = tmp_path / "y.safetensors"
    save_measurement(path, y, op, (1, 16, 16), "y", "m")
    _, rebuilt, _, metadata = load_measurement(path)
    assert "$tensor" in metadata["operator"]  # not 76 800 numbers of JSON text
    x = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    assert torch.equal(rebuilt.A(x), op.A(x))


def test_wrong_suffix_and_foreign_files_are_refused(tmp_path: Path):
    op = CompressedSensing(0.3, (32, 32))
    with pytest.raises(ValueError, match="ends in .safetensors"):
        save_measurement(tmp_path / "y.npy", op.A(torch.rand(1, 1, 32, 32)), op, (1, 32, 32), "y", "x")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a safetensors measurement file"):
        load_measurement(tmp_path / "junk.safetensors")

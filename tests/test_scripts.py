"""scripts/: the device-lease data packer keeps what training reads bit for bit."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reverse_anything.data.datasets import list_image_files
from reverse_anything.data.io import read_image

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_packed_training_folder_reads_back_identically(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    source = tmp_path / "train"
    (source / "a").mkdir(parents=True)
    (source / "b").mkdir()
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(source / "a" / "colour.bmp")
    Image.fromarray(rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)).save(source / "a" / "photo.jpg", quality=80)
    Image.fromarray(rng.integers(0, 256, (33, 35), dtype=np.uint8)).save(source / "b" / "grey.tif")
    target = tmp_path / "packed"
    size = _load("pack-train-for-device").pack(source, target)

    originals, packed = list_image_files(source, recursive=True), list_image_files(target, recursive=True)
    assert [p.relative_to(source).with_suffix("").as_posix() for p in originals] == [
        p.relative_to(target).with_suffix("").as_posix() for p in packed
    ]  # same order, so the held-out validation files are the same
    assert (target / "a" / "photo.jpg").read_bytes() == (source / "a" / "photo.jpg").read_bytes()
    assert (target / "a" / "colour.png").is_file() and (target / "b" / "grey.png").is_file()
    for original, copy in zip(originals, packed):
        assert read_image(copy, mode="y").equal(read_image(original, mode="y"))
    assert size == sum(p.stat().st_size for p in packed)


def test_pack_refuses_a_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        _load("pack-train-for-device").pack(tmp_path / "empty", tmp_path / "out")

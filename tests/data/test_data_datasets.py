"""ImageFolder, RandomPatchSampler and the dihedral augmentations."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reverse_anything.data import (
    ImageFolder,
    RandomPatchSampler,
    dihedral,
    dihedral_inverse,
    list_image_files,
    read_image,
)


def test_dihedral_group() -> None:
    x = torch.arange(20.0).reshape(1, 1, 4, 5)
    images = [dihedral(x, k) for k in range(8)]
    assert torch.equal(images[0], x)
    distinct = {tuple(img.flatten().tolist()) + tuple(img.shape) for img in images}
    assert len(distinct) == 8
    for k, image in enumerate(images):
        assert torch.equal(dihedral_inverse(image, k), x)
    # Closed under composition: applying two elements gives one of the 8.
    for a, b in itertools.product(range(8), repeat=2):
        composed = dihedral(dihedral(x, a), b)
        assert any(composed.shape == img.shape and torch.equal(composed, img) for img in images)


@pytest.mark.parametrize("k", [-1, 8, 1.0, True])
def test_dihedral_rejects_bad_index(k) -> None:
    with pytest.raises(ValueError, match="0..7"):
        dihedral(torch.zeros(2, 2), k)


def _write(path: Path, height: int, width: int, seed: int, colour: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 3) if colour else (height, width), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return pixels


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    _write(tmp_path / "b.png", 9, 7, 0)
    _write(tmp_path / "a.bmp", 8, 8, 1, colour=True)
    _write(tmp_path / "C.TIF", 6, 10, 2)
    (tmp_path / "SOURCE.md").write_text("# origin\n")
    (tmp_path / "MANIFEST.sha256").write_text("abc  a.bmp\n")
    (tmp_path / "ID_MAP.txt").write_text("x\n")
    _write(tmp_path / "sub" / "d.png", 8, 8, 3)  # not part of a non-recursive folder
    return tmp_path


def test_image_folder_lists_sorted_images_only(folder: Path) -> None:
    dataset = ImageFolder(folder, mode="keep")
    assert [p.name for p in dataset.paths] == ["C.TIF", "a.bmp", "b.png"]
    assert len(dataset) == 3
    name, image = dataset[1]
    assert name == "a.bmp" and image.shape == (3, 8, 8)
    assert dataset[-1][0] == "b.png"
    assert torch.equal(dataset[2][1], read_image(folder / "b.png", "keep"))
    assert [n for n, _ in dataset] == ["C.TIF", "a.bmp", "b.png"]
    assert [n for n, _ in dataset[1:]] == ["a.bmp", "b.png"]
    assert ImageFolder(folder, mode="y")[1][1].shape == (1, 8, 8)


def test_image_folder_limit(folder: Path) -> None:
    assert [n for n, _ in ImageFolder(folder, limit=2)] == ["C.TIF", "a.bmp"]
    assert len(ImageFolder(folder, limit=50)) == 3
    with pytest.raises(ValueError, match="limit"):
        ImageFolder(folder, limit=0)


def test_image_folder_errors(tmp_path: Path) -> None:
    (tmp_path / "SOURCE.md").write_text("only text\n")
    with pytest.raises(ValueError, match="no image files"):
        ImageFolder(tmp_path)
    with pytest.raises(ValueError, match="not a directory"):
        ImageFolder(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="mode must be one of"):
        ImageFolder(tmp_path, mode="bgr")


def test_image_folder_on_shared_data(shared_data: Path) -> None:
    root = shared_data / "cbsd68_idm"
    if not root.is_dir():
        pytest.skip(f"{root} not present")
    dataset = ImageFolder(root, mode="y", limit=2)
    name, image = dataset[0]
    assert name == "test_01.png" and image.shape[0] == 1
    assert set(image.shape[1:]) == {288, 480}


@pytest.fixture
def train_root(tmp_path: Path) -> Path:
    _write(tmp_path / "set_a" / "x.png", 12, 10, 10, colour=True)
    _write(tmp_path / "set_a" / "tiny.png", 3, 20, 11)  # smaller than the patch: skipped
    _write(tmp_path / "set_b" / "y.bmp", 9, 14, 12)
    (tmp_path / "set_b" / "SOURCE.md").write_text("# origin\n")
    return tmp_path


def test_sampler_shapes_and_skipping(train_root: Path) -> None:
    sampler = RandomPatchSampler(train_root, patch_size=4, batch_size=5, progress=False)
    assert len(sampler) == 2
    assert [p.name for p in sampler.skipped] == ["tiny.png"]
    batch = sampler.next_batch()
    assert batch.shape == (5, 1, 4, 4) and batch.dtype == torch.float32
    rgb = RandomPatchSampler(train_root, patch_size=4, batch_size=3, mode="rgb", progress=False)
    assert rgb.next_batch().shape == (3, 3, 4, 4)
    assert next(iter(rgb)).shape == (3, 3, 4, 4)


def _windows(image: torch.Tensor, size: int) -> list[torch.Tensor]:
    height, width = image.shape[-2:]
    return [
        image[:, i : i + size, j : j + size]
        for i in range(height - size + 1)
        for j in range(width - size + 1)
    ]


@pytest.mark.parametrize("augment", [False, True])
def test_sampler_patches_come_from_the_images(train_root: Path, augment: bool) -> None:
    sampler = RandomPatchSampler(
        train_root, patch_size=4, batch_size=64, augment=augment, progress=False
    )
    windows = [w for path in sampler.paths for w in _windows(read_image(path, "y"), 4)]
    used_transforms = set()
    for patch in sampler.next_batch():
        matches = {
            k
            for k in (range(8) if augment else [0])
            for w in windows
            if torch.equal(dihedral_inverse(patch, k), w)
        }
        assert matches, "patch is not a (transformed) window of any training image"
        used_transforms |= matches
    if augment:
        assert len(used_transforms) == 8


def test_sampler_is_reproducible_and_resumable(train_root: Path) -> None:
    def make(seed: int) -> RandomPatchSampler:
        return RandomPatchSampler(train_root, patch_size=4, batch_size=6, seed=seed, progress=False)

    first, second = make(7), make(7)
    assert torch.equal(first.next_batch(), second.next_batch())
    assert not torch.equal(make(8).next_batch(), make(7).next_batch())

    first.next_batch()
    state = first.state_dict()
    expected = [first.next_batch() for _ in range(3)]
    resumed = make(0)
    resumed.load_state_dict(state)
    assert resumed.batches_drawn == 2
    assert all(torch.equal(resumed.next_batch(), batch) for batch in expected)


def test_sampler_refuses_a_foreign_state(train_root: Path) -> None:
    state = RandomPatchSampler(train_root, patch_size=4, batch_size=6, progress=False).state_dict()
    other = RandomPatchSampler(train_root, patch_size=5, batch_size=6, progress=False)
    with pytest.raises(ValueError, match="patch_size"):
        other.load_state_dict(state)


def test_sampler_errors(train_root: Path) -> None:
    with pytest.raises(ValueError, match="smaller than the patch size 64"):
        RandomPatchSampler(train_root, patch_size=64, batch_size=2, progress=False)
    with pytest.raises(ValueError, match="mode"):
        RandomPatchSampler(train_root, patch_size=4, batch_size=2, mode="keep", progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        RandomPatchSampler(train_root, patch_size=4, batch_size=0, progress=False)


def test_sampler_keeps_exact_values_of_high_bit_depth_images(tmp_path: Path) -> None:
    values = np.random.default_rng(0).integers(0, 65536, (6, 6)).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    sampler = RandomPatchSampler(
        tmp_path, patch_size=6, batch_size=1, augment=False, progress=False
    )
    assert torch.equal(sampler.next_batch()[0], read_image(tmp_path / "deep.png", "y"))


def test_list_image_files_recursive(train_root: Path) -> None:
    names = [
        p.relative_to(train_root).as_posix() for p in list_image_files(train_root, recursive=True)
    ]
    assert names == ["set_a/tiny.png", "set_a/x.png", "set_b/y.bmp"]

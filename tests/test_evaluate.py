"""evaluate_folder: protocol truth, per-image seeds, means, JSON/CSV output."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reverse_anything.data import rgb_uint8_to_y_uint8
from reverse_anything.evaluate import EvalResult, crop_to_multiple, evaluate_folder
from reverse_anything.physics import CompressedSensing, Denoising, Inpainting
from reverse_anything.solvers import get_restorer

JSON_KEYS = {"psnr", "ssim", "n_images", "seconds_per_image", "channel", "method", "operator", "images"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small images (two colour, one grey; one 40x36) plus a non-image file."""
    root = tmp_path_factory.mktemp("images")
    generator = np.random.default_rng(0)
    smooth = np.linspace(0, 255, 48 * 40).reshape(40, 48)
    rgb = np.stack([smooth, smooth.T[:40, :40].repeat(2, axis=1)[:, :48], 255 - smooth], axis=-1)
    noisy = np.clip(rgb + generator.normal(0, 20, rgb.shape), 0, 255)
    Image.fromarray(rgb.astype(np.uint8)).save(root / "a.png")
    Image.fromarray(noisy.astype(np.uint8)[:36, :40]).save(root / "b.png")
    Image.fromarray(smooth.astype(np.uint8)).save(root / "c_grey.png")
    (root / "README.txt").write_text("not an image")
    return root


def identity(size: tuple[int, int], index: int) -> Denoising:
    return Denoising()


@pytest.mark.parametrize("channel", ["y", "rgb"])
def test_identity_operator_restores_the_exact_truth(folder: Path, channel: str) -> None:
    """A = I with pinv gives back x = truth/255 (to float32 rounding), so the scores are perfect."""
    result = evaluate_folder(folder, identity, get_restorer("pinv"), channel=channel, progress=False, method="pinv")
    assert [row.name for row in result.rows] == ["a.png", "b.png", "c_grey.png"]
    assert all(row.psnr > 120 and row.ssim == pytest.approx(1.0) for row in result.rows)


def test_truth_is_the_protocol_y(folder: Path) -> None:
    seen = []
    evaluate_folder(folder, identity, get_restorer("pinv"), channel="y", progress=False, observe=lambda n, x, r: seen.append(x))
    colour = np.asarray(Image.open(folder / "a.png").convert("RGB"))
    assert seen[0].shape == (1, 1, 40, 48)
    as_uint8 = (seen[0][0, 0].double() * 255).round().numpy().astype(np.uint8)
    assert np.array_equal(as_uint8, rgb_uint8_to_y_uint8(colour))
    assert np.abs(seen[0][0, 0].double().numpy() * 255 - as_uint8).max() < 1e-4  # x is exactly truth/255


def test_operator_factory_gets_size_and_index_and_noise_is_per_image(folder: Path) -> None:
    calls = []

    def factory(size: tuple[int, int], index: int) -> Denoising:
        calls.append((size, index))
        return Denoising(noise_sigma=0.05)

    restorer = get_restorer("pinv")
    full = evaluate_folder(folder, factory, restorer, progress=False, noise_seed=3)
    assert calls == [((40, 48), 0), ((36, 40), 1), ((40, 48), 2)]
    again = evaluate_folder(folder, factory, restorer, progress=False, noise_seed=3, limit=2)
    other = evaluate_folder(folder, factory, restorer, progress=False, noise_seed=4, limit=2)
    assert [r.psnr for r in again.rows] == [r.psnr for r in full.rows[:2]]  # --limit keeps scores
    assert [r.psnr for r in other.rows] != [r.psnr for r in again.rows]  # the seed matters
    assert again.n_images == 2


def test_means_json_and_csv(folder: Path, tmp_path: Path) -> None:
    result = evaluate_folder(
        folder,
        lambda size, index: Inpainting(size, keep_ratio=0.5, seed=index),
        get_restorer("tv", iterations=30),
        progress=False,
        method="tv",
    )
    result.write_json(tmp_path / "r.json")
    result.write_csv(tmp_path / "r.csv")
    document = json.loads((tmp_path / "r.json").read_text())
    assert JSON_KEYS <= set(document)
    assert document["n_images"] == 3 and document["channel"] == "y" and document["method"] == "tv"
    assert document["operator"]["operator"] == "inpainting"
    rows = document["images"]
    assert document["psnr"] == pytest.approx(np.mean([r["psnr"] for r in rows]))
    assert document["ssim"] == pytest.approx(np.mean([r["ssim"] for r in rows]))
    assert document["seconds_per_image"] == pytest.approx(np.mean([r["seconds"] for r in rows]))
    with open(tmp_path / "r.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["name"] for row in table] == [row["name"] for row in rows]
    assert [float(row["psnr"]) for row in table] == pytest.approx([row["psnr"] for row in rows])
    assert "mean" in result.format_table().splitlines()[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.json"]  # no temporaries left


def test_crop_to_multiple() -> None:
    image = torch.zeros(1, 7, 10)
    assert crop_to_multiple(image, 4).shape == (1, 4, 8)
    assert crop_to_multiple(image, 1).shape == (1, 7, 10)
    with pytest.raises(ValueError, match="smaller"):
        crop_to_multiple(image, 8)


def test_bad_channel_and_empty_folder(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="channel"):
        evaluate_folder(folder, identity, get_restorer("pinv"), channel="grey", progress=False)
    with pytest.raises(ValueError, match="no image files"):
        evaluate_folder(tmp_path, identity, get_restorer("pinv"), progress=False)


def test_empty_result_has_nan_means() -> None:
    assert np.isnan(EvalResult((), "y", "pinv", {}).psnr)


def test_published_cs_data_pinv_is_poor_and_tv_is_better(shared_data: Path) -> None:
    """The first image of the published CS test set: TV, even when cut short, is far above A†y."""

    def factory(size: tuple[int, int], index: int) -> CompressedSensing:
        return CompressedSensing(0.3, size, perm_seed=index)

    kwargs = dict(limit=1, progress=False)
    baseline = evaluate_folder(shared_data / "cbsd68_idm", factory, get_restorer("pinv"), **kwargs)
    restored = evaluate_folder(shared_data / "cbsd68_idm", factory, get_restorer("tv", iterations=60), **kwargs)
    assert baseline.rows[0].psnr < 12 < 20 < restored.rows[0].psnr

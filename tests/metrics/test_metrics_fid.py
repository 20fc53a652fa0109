"""The Fréchet distance against scipy; the FID Inception network's plumbing (random weights); clear refusals."""

from __future__ import annotations

import datetime
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from reverse_anything.metrics import (
    FIDUnavailableError,
    FrechetDistance,
    FrechetInceptionDistance,
    frechet_distance,
)
from reverse_anything.metrics.fid import FIDInceptionV3, load_fid_inception

scipy_linalg = pytest.importorskip("scipy.linalg")


def _scipy_fid(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """The textbook formula as pytorch-fid computes it."""
    covmean = scipy_linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _random_spd(rng: np.random.Generator, size: int) -> np.ndarray:
    factor = rng.normal(size=(size, size + 3))
    return factor @ factor.T / size


@pytest.mark.parametrize("size", [1, 5, 32])
def test_frechet_distance_equals_scipy(size: int) -> None:
    rng = np.random.default_rng(size)
    mu1, mu2 = rng.normal(size=size), rng.normal(size=size)
    s1, s2 = _random_spd(rng, size), _random_spd(rng, size)
    ours = frechet_distance(*(torch.from_numpy(a) for a in (mu1, s1, mu2, s2)))
    assert ours.dtype == torch.float64
    assert ours.item() == pytest.approx(_scipy_fid(mu1, s1, mu2, s2), rel=1e-9, abs=1e-9)


def test_frechet_distance_of_identical_statistics_is_zero() -> None:
    rng = np.random.default_rng(0)
    mu, sigma = torch.from_numpy(rng.normal(size=8)), torch.from_numpy(_random_spd(rng, 8))
    assert abs(frechet_distance(mu, sigma, mu, sigma).item()) < 1e-10
    rank_deficient = torch.from_numpy(np.diag([1.0, 2.0, 0.0, 0.0]))
    assert abs(frechet_distance(mu[:4], rank_deficient, mu[:4], rank_deficient).item()) < 1e-10


def test_frechet_distance_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="covariances"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(3), torch.eye(4))
    with pytest.raises(ValueError, match="means"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(4), torch.eye(3))


def test_streaming_statistics_match_a_direct_computation() -> None:
    generator = torch.Generator().manual_seed(0)
    real = torch.rand(40, 1, 4, 4, generator=generator)
    fake = torch.rand(30, 1, 4, 4, generator=generator) ** 2
    metric = FrechetDistance(lambda images: images.flatten(1))
    for chunk in real.split(16):
        metric.update(chunk, real=True)
    for chunk in fake.split(7):
        metric.update(chunk, real=False)
    a, b = real.flatten(1).double().numpy(), fake.flatten(1).double().numpy()
    expected = _scipy_fid(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert metric.compute() == pytest.approx(expected, rel=1e-8)


def test_fid_needs_two_images_per_side() -> None:
    metric = FrechetDistance(lambda images: images.flatten(1))
    metric.update(torch.rand(3, 1, 2, 2), real=True)
    metric.update(torch.rand(1, 1, 2, 2), real=False)
    with pytest.raises(ValueError, match="at least 2 generated images, got 1"):
        metric.compute()


def test_inception_fid_without_weights_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(
        FIDUnavailableError, match="pass --fid-weights PATH to a pytorch-fid weights file"
    ):
        FrechetInceptionDistance(None)
    with pytest.raises(FIDUnavailableError, match="not found"):
        FrechetInceptionDistance(tmp_path / "missing.pth")


@pytest.fixture(scope="module")
def random_inception(tmp_path_factory) -> tuple[FIDInceptionV3, Path]:
    """A randomly initialised FID Inception saved as a pytorch-fid style .pth state dict."""
    torch.manual_seed(0)
    network = FIDInceptionV3().eval()
    path = tmp_path_factory.mktemp("fid") / "pt_inception-random.pth"
    torch.save(network.state_dict(), path)
    return network, path


def test_inception_has_the_pytorch_fid_key_layout() -> None:
    state = FIDInceptionV3().state_dict()
    # torchvision documents 27,161,264 parameters for Inception-v3 with its auxiliary head and 1000
    # classes; pytorch-fid's FID Inception drops the head (3,326,696) and has 1008 classes (+16,392).
    assert sum(v.numel() for k, v in state.items() if not k.startswith(("num_", "bn")) and "running" not in k
               and "num_batches" not in k) == 27_161_264 - 3_326_696 + 16_392
    shapes = {
        "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
        "Conv2d_4a_3x3.bn.running_var": (192,),
        "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
        "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
        "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
        "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
        "Mixed_7b.branch3x3dbl_3b.conv.weight": (384, 384, 3, 1),
        "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
        "fc.weight": (1008, 2048),
    }
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key
    assert not any(k.startswith("AuxLogits") for k in state)


def test_weights_file_round_trip_gives_2048_features(random_inception, tmp_path: Path) -> None:
    network, path = random_inception
    images = torch.rand(2, 3, 40, 56)
    loaded = load_fid_inception(path)
    with torch.no_grad():
        expected = network(images)
        features = loaded(images)
    assert features.shape == (2, 2048) and torch.isfinite(features).all()
    assert torch.equal(features, expected)
    from safetensors.torch import save_file

    converted = tmp_path / "inception.safetensors"
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(converted))
    with torch.no_grad():
        assert torch.equal(load_fid_inception(converted)(images), expected)


def test_preprocessing_is_pytorch_fids() -> None:
    grey = torch.rand(1, 1, 30, 20)
    prepared = FIDInceptionV3.preprocess(grey)
    assert prepared.shape == (1, 3, 299, 299)
    assert torch.allclose(prepared, FIDInceptionV3.preprocess(grey.repeat(1, 3, 1, 1)), atol=1e-6)
    direct = 2 * torch.nn.functional.interpolate(grey, size=(299, 299), mode="bilinear", align_corners=False) - 1
    assert torch.allclose(prepared[:, :1], direct, atol=1e-6)
    with pytest.raises(ValueError, match="1 or 3"):
        FIDInceptionV3.preprocess(torch.rand(1, 2, 8, 8))


def test_fid_metric_feeds_the_loaded_network(random_inception) -> None:
    network, path = random_inception
    metric = FrechetInceptionDistance(path, batch_size=2)
    real = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    fake = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(2)).double() ** 3
    metric.update(real, real=True)
    metric.update(fake, real=False)  # any dtype: features are taken in float32
    with torch.no_grad():
        expected_real, expected_fake = network(real).double(), network(fake.float()).double()
    for stats, features in ((metric._real, expected_real), (metric._fake, expected_fake)):
        mean, covariance = stats.mean_and_covariance("test")
        assert mean.shape == (2048,) and torch.allclose(mean, features.mean(0), rtol=1e-5, atol=1e-12)
        assert torch.allclose(covariance, torch.cov(features.T), rtol=1e-4, atol=1e-20)
    distance = metric.compute()  # the distance itself is checked against scipy above
    assert math.isfinite(distance) and distance > 0


def test_bad_weights_files_get_a_clear_message(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(FIDUnavailableError, match="cannot read Inception weights"):
        FrechetInceptionDistance(garbage)
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    with pytest.raises(FIDUnavailableError, match="not pytorch-fid's FID Inception weights"):
        FrechetInceptionDistance(wrong)
    unsafe = tmp_path / "unsafe.pth"  # arbitrary pickled objects are never unpickled
    torch.save({"x": datetime.date(2015, 12, 5)}, unsafe)
    with pytest.raises(FIDUnavailableError, match="cannot read Inception weights"):
        FrechetInceptionDistance(unsafe)

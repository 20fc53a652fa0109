"""The Fréchet distance against scipy, and the FID interface's clear refusals."""

from __future__ import annotations

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


def test_inception_fid_with_weights_is_not_implemented_yet(tmp_path: Path) -> None:
    weights = tmp_path / "pt_inception.pth"
    weights.write_bytes(b"stand-in")
    with pytest.raises(NotImplementedError, match="issue #5"):
        FrechetInceptionDistance(weights)

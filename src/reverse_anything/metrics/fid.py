"""Fréchet distance between Gaussian fits of image features (FID, once the Inception net lands).

The Inception network is not bundled (its weights are not ours to ship), so FID only runs when
the user points to a pytorch-fid weights file; the network itself is planned for issue #5. The
statistics and the distance are implemented and tested now, in float64 and pure torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch


class FIDUnavailableError(ValueError):
    """FID was requested but cannot be computed on this installation."""


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric PSD matrix (tiny negative eigenvalues from round-off clipped)."""
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    return (eigenvectors * eigenvalues.clamp_min(0).sqrt()) @ eigenvectors.mT


def frechet_distance(
    mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor
) -> torch.Tensor:
    """Fréchet distance ``|mu1-mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))`` in float64.

    ``tr((S1 S2)^(1/2))`` is computed as the sum of square roots of the eigenvalues of the
    symmetric PSD matrix ``S1^(1/2) S2 S1^(1/2)``, which has the same spectrum as ``S1 S2``; this
    avoids scipy's non-symmetric ``sqrtm`` and its complex round-off.
    """
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(
            f"means must be vectors of equal length, got {tuple(mu1.shape)} and {tuple(mu2.shape)}"
        )
    size = mu1.shape[0]
    if sigma1.shape != (size, size) or sigma2.shape != (size, size):
        raise ValueError(
            f"covariances must be {size}x{size}, "
            f"got {tuple(sigma1.shape)} and {tuple(sigma2.shape)}"
        )
    mu1, mu2, sigma1, sigma2 = (
        t.detach().to(device=mu1.device, dtype=torch.float64) for t in (mu1, mu2, sigma1, sigma2)
    )
    sqrt_sigma1 = _sqrt_psd((sigma1 + sigma1.mT) / 2)
    middle = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.mT) / 2).clamp_min(0).sqrt().sum()
    return (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt


class _RunningGaussian:
    """Streaming mean and covariance of feature vectors, accumulated in float64."""

    def __init__(self) -> None:
        self.count = 0
        self.total: torch.Tensor | None = None
        self.outer: torch.Tensor | None = None

    def add(self, features: torch.Tensor) -> None:
        features = features.detach().to(torch.float64)
        if self.total is None:
            self.total = features.new_zeros(features.shape[1])
            self.outer = features.new_zeros(features.shape[1], features.shape[1])
        self.count += features.shape[0]
        self.total += features.sum(0)
        self.outer += features.mT @ features

    def mean_and_covariance(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if self.count < 2 or self.total is None or self.outer is None:
            raise ValueError(f"FID needs at least 2 {name} images, got {self.count}")
        mean = self.total / self.count
        covariance = (self.outer - self.count * torch.outer(mean, mean)) / (self.count - 1)
        return mean, covariance


class FrechetDistance:
    """Fréchet distance between the feature statistics of real and generated images.

    ``feature_fn`` maps an ``(N, C, H, W)`` batch to ``(N, D)`` features;
    :class:`FrechetInceptionDistance` supplies the Inception-v3 pool features that define FID.
    """

    def __init__(self, feature_fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.feature_fn = feature_fn
        self._real = _RunningGaussian()
        self._fake = _RunningGaussian()

    @torch.no_grad()
    def update(self, images: torch.Tensor, real: bool) -> None:
        """Add a batch of images in [0, 1] to the real or the generated statistics."""
        if images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got {tuple(images.shape)}")
        features = self.feature_fn(images)
        if features.ndim != 2 or features.shape[0] != images.shape[0]:
            raise ValueError(f"feature_fn must return (N, D) features, got {tuple(features.shape)}")
        (self._real if real else self._fake).add(features)

    def compute(self) -> float:
        """The distance between everything added so far."""
        mu_real, sigma_real = self._real.mean_and_covariance("real")
        mu_fake, sigma_fake = self._fake.mean_and_covariance("generated")
        return float(frechet_distance(mu_real, sigma_real, mu_fake, sigma_fake))


class FrechetInceptionDistance(FrechetDistance):
    """FID with pytorch-fid's Inception-v3 network, loaded from a user-supplied weights file."""

    def __init__(self, weights_path: str | os.PathLike[str] | None) -> None:
        if weights_path is None or not Path(weights_path).is_file():
            where = "" if weights_path is None else f" ({weights_path} not found)"
            raise FIDUnavailableError(
                "FID needs Inception weights: pass --fid-weights PATH to a pytorch-fid weights "
                f"file{where}"
            )
        raise NotImplementedError(
            f"{weights_path}: loading the Inception network for FID is not implemented yet "
            "(planned in issue #5)"
        )

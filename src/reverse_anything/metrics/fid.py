"""Fréchet distance between Gaussian fits of image features, and FID's Inception-v3 in pure torch.

FID (Heusel et al. 2017) compares the 2048-d pool features of Inception-v3 on real and
generated images. The numbers people quote come from one network: the TensorFlow 2015-12-05
Inception graph, as ported by pytorch-fid. :class:`FIDInceptionV3` rebuilds that network here
(no torchvision): torchvision's Inception-v3 layout and layer names, with pytorch-fid's four
changes (average pools that ignore zero padding in the A, C and first E blocks, a max pool in
the last E block), 1008 logits. Its weights are not ours to ship, so FID runs only when the
user points to the pytorch-fid file ``pt_inception-2015-12-05-6726825d.pth`` (read with
``torch.load(..., weights_only=True)``, which never runs pickled code) or a ``.safetensors``
conversion of it. Input handling is pytorch-fid's: images in [0, 1], grey repeated to three
channels, bilinear resize to 299 x 299 (``align_corners=False``), scaled to [-1, 1].

The statistics and the distance are in float64 and pure torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn


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


def fid_from_features(real: torch.Tensor, generated: torch.Tensor) -> float:
    """Fréchet distance between the Gaussian fits of two feature sets ``(N, D)`` and ``(M, D)``.

    For callers that extract features once and compare several generated sets to one real set.
    """
    fits = []
    for name, features in (("real", real), ("generated", generated)):
        fit = _RunningGaussian()
        fit.add(features)
        fits.append(fit.mean_and_covariance(name))
    return float(frechet_distance(*fits[0], *fits[1]))


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


# --------------------------------------------------------------------------------------------
# FID's Inception-v3 (pytorch-fid's "FID Inception"), layer names as in its weights file
# --------------------------------------------------------------------------------------------
INCEPTION_SIZE = 299
FEATURE_DIM = 2048


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm (eps 0.001, TensorFlow's), ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **conv: object) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv)  # type: ignore[arg-type]
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _same_size_pool(x: Tensor, kind: str) -> Tensor:
    """The 3x3 stride-1 pool of a block's pool branch; TensorFlow's average ignores the zero padding."""
    if kind == "max":
        return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """Mixed_5b..5d: 1x1, 5x5, double 3x3 and pool branches."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_same_size_pool(x, "avg")),
        ], dim=1)


class InceptionB(nn.Module):
    """Mixed_6a: grid reduction 35 -> 17."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, kernel_size=3, stride=2),
        ], dim=1)


class InceptionC(nn.Module):
    """Mixed_6b..6e: factorised 7x7 branches."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        row, column = {"kernel_size": (1, 7), "padding": (0, 3)}, {"kernel_size": (7, 1), "padding": (3, 0)}
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, **row)
        self.branch7x7_3 = BasicConv2d(c7, 192, **column)
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, **column)
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, **row)
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, **column)
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, **row)
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        double = self.branch7x7dbl_2(self.branch7x7dbl_1(x))
        double = self.branch7x7dbl_5(self.branch7x7dbl_4(self.branch7x7dbl_3(double)))
        return torch.cat([
            self.branch1x1(x),
            self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
            double,
            self.branch_pool(_same_size_pool(x, "avg")),
        ], dim=1)


class InceptionD(nn.Module):
    """Mixed_7a: grid reduction 17 -> 8."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        seven = self.branch7x7x3_2(self.branch7x7x3_1(x))
        return torch.cat([
            self.branch3x3_2(self.branch3x3_1(x)),
            self.branch7x7x3_4(self.branch7x7x3_3(seven)),
            F.max_pool2d(x, kernel_size=3, stride=2),
        ], dim=1)


class InceptionE(nn.Module):
    """Mixed_7b / 7c: expanded 3x3 branches; ``pool`` is ``avg`` in 7b and ``max`` in 7c (pytorch-fid)."""

    def __init__(self, in_channels: int, pool: str) -> None:
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        single = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(single),
            self.branch3x3_2b(single),
            self.branch3x3dbl_3a(double),
            self.branch3x3dbl_3b(double),
            self.branch_pool(_same_size_pool(x, self.pool)),
        ], dim=1)


class FIDInceptionV3(nn.Module):
    """pytorch-fid's FID Inception-v3: ``forward(images in [0, 1]) -> (N, 2048)`` pool features.

    The state dict has the key layout of ``pt_inception-2015-12-05-6726825d.pth`` (torchvision
    names, no auxiliary head, a 1008-way ``fc`` that is loaded but not used for features).
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(FEATURE_DIM, 1008)

    @staticmethod
    def preprocess(images: Tensor) -> Tensor:
        """``(N, 1 or 3, H, W)`` in [0, 1] -> ``(N, 3, 299, 299)`` in [-1, 1], as pytorch-fid feeds the network."""
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"FID images must be (N, 1 or 3, H, W), got {tuple(images.shape)}")
        images = images.expand(-1, 3, -1, -1)
        resized = F.interpolate(images, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
        return 2 * resized - 1

    def forward(self, images: Tensor) -> Tensor:
        x = self.preprocess(images)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return x.mean(dim=(-2, -1))


def read_inception_weights(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Tensors of a pytorch-fid ``.pth`` (loaded with ``weights_only=True``) or a ``.safetensors`` file."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            tensors = load_file(str(path))
        else:
            tensors = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:  # torch / safetensors raise many types for a bad file
        raise FIDUnavailableError(f"{path}: cannot read Inception weights ({type(error).__name__}: {error})".splitlines()[0]) from None
    if not isinstance(tensors, dict) or not all(isinstance(v, Tensor) for v in tensors.values()):
        raise FIDUnavailableError(f"{path}: not a state dict of tensors (expected pytorch-fid's pt_inception-2015-12-05 weights)")
    return tensors


def load_fid_inception(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> FIDInceptionV3:
    """The FID Inception network with weights from ``path``, in eval mode.

    Missing BatchNorm ``num_batches_tracked`` counters are tolerated (they do not affect eval);
    any other missing, extra or mis-shaped tensor is refused.
    """
    tensors = read_inception_weights(path)
    network = FIDInceptionV3()
    expected = network.state_dict()
    missing = [k for k in expected if k not in tensors and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in tensors if k not in expected]
    misshaped = [k for k in expected if k in tensors and tensors[k].shape != expected[k].shape]
    if missing or unexpected or misshaped:
        raise FIDUnavailableError(
            f"{path}: not pytorch-fid's FID Inception weights ({len(missing)} missing e.g. {missing[:2]}, "
            f"{len(unexpected)} unexpected e.g. {unexpected[:2]}, {len(misshaped)} of the wrong shape e.g. {misshaped[:2]})"
        )
    network.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}, strict=False)
    return network.to(device).eval().requires_grad_(False)


class FrechetInceptionDistance(FrechetDistance):
    """FID with pytorch-fid's Inception-v3 network, loaded from a user-supplied weights file.

    Images may be on any device and dtype; they are moved to the network's ``device`` in
    float32 and fed in chunks of ``batch_size``.
    """

    def __init__(self, weights_path: str | os.PathLike[str] | None, device: str | torch.device = "cpu", batch_size: int = 16) -> None:
        if weights_path is None or not Path(weights_path).is_file():
            where = "" if weights_path is None else f" ({weights_path} not found)"
            raise FIDUnavailableError(
                "FID needs Inception weights: pass --fid-weights PATH to a pytorch-fid weights "
                f"file{where}"
            )
        self.network = load_fid_inception(weights_path, device)
        self.batch_size = batch_size
        super().__init__(self._features)

    def _features(self, images: Tensor) -> Tensor:
        device = next(self.network.parameters()).device
        return torch.cat([self.network(chunk.to(device=device, dtype=torch.float32)) for chunk in images.split(self.batch_size)])

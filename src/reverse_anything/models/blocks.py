"""Building blocks of the IDM noise estimator.

* :class:`NoiseLevelEmbedding` tells the shared backbone where it is on the
  schedule (the published IDM removed the time input; with a per-image
  adaptive schedule the network needs the level, so we feed it by FiLM).
* :class:`ConvBlock` is the shape-preserving body ``F`` of a reversible
  coupling: two 3x3 convolutions with FiLM conditioning, last layer zeroed so
  every coupling starts as the identity.
* :class:`Injector` is the published measurement injector, the body ``G`` of
  the same coupling: feature -> one-channel image ``z`` -> ``[z, A†(A z), A†y]``
  -> back to features.  It talks to the operator only through ``A`` and
  ``A_dagger``, so any operator works, and keeps one set of weights per
  sampling step (the backbone itself is shared across steps).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["NoiseLevelEmbedding", "ConvBlock", "Injector", "pad_to_multiple", "crop_to"]


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Reflect-pad the bottom/right so both sides are multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def crop_to(x: Tensor, size: tuple[int, int]) -> Tensor:
    return x[..., : size[0], : size[1]]


class NoiseLevelEmbedding(nn.Module):
    """Embed the signal level ``alpha_bar_t`` and the measurement ratio ``m/n`` into a vector."""

    def __init__(self, dim: int, frequencies: int = 8) -> None:
        super().__init__()
        self.register_buffer("freqs", torch.exp(torch.linspace(0.0, math.log(64.0), frequencies)), persistent=False)
        self.mlp = nn.Sequential(nn.Linear(4 * frequencies + 2, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, alpha_bar: Tensor, ratio: Tensor) -> Tensor:
        """``alpha_bar``: (N,), ``ratio``: (N,) -> (N, dim)."""
        log_snr = torch.log(alpha_bar / (1.0 - alpha_bar).clamp_min(1e-6)).unsqueeze(1) / 8.0
        r = ratio.unsqueeze(1)
        angles = torch.cat([log_snr * self.freqs, r * self.freqs], dim=1)
        features = torch.cat([angles.sin(), angles.cos(), log_snr, r], dim=1)
        return self.mlp(features.to(self.freqs.dtype))


class ConvBlock(nn.Module):
    """Residual body: conv3x3 -> SiLU -> FiLM(noise level) -> conv3x3 (zero-initialised)."""

    def __init__(self, channels: int, embed_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.film = nn.Linear(embed_dim, 2 * channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: Tensor, embedding: Tensor, *unused: object) -> Tensor:
        scale, shift = self.film(embedding)[:, :, None, None].chunk(2, dim=1)
        h = F.silu(self.conv1(x))
        return self.conv2(F.silu(h * (1.0 + scale) + shift))


class Injector(nn.Module):
    """Measurement injector at feature scale ``r`` (features are ``H/r x W/r``), one weight set per step.

    ``z = conv1x1(PixelShuffle_r(f))``; ``u = [z, A†(A z), A†y]``;
    ``out = PixelUnshuffle_r(conv1x1(u))``.  The 1x1 maps can learn
    ``z - A†A z + A†y``, a projected-gradient step in feature space.
    """

    def __init__(self, channels: int, scale: int, steps: int) -> None:
        super().__init__()
        if channels % (scale * scale):
            raise ValueError(f"injector channels {channels} must be divisible by scale^2 = {scale * scale}")
        self.scale = scale
        self.published_order = False  # see forward
        fine = channels // (scale * scale)
        self.to_image = nn.ModuleList(nn.Conv2d(fine, 1, 1) for _ in range(steps))
        self.to_features = nn.ModuleList(nn.Conv2d(3, fine, 1) for _ in range(steps))
        for conv in self.to_features:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, f: Tensor, embedding: Tensor, x_init: Tensor, physics, step: int) -> Tensor:
        """The formula above in an equal, cheaper order (:func:`coarse_grid_conv`): both 1x1 maps run on the
        ``H/r x W/r`` grid, so the feature map is never laid out at full resolution (``benchmarks/injector_order.py``
        times both orders). ``published_order = True`` computes it as written, for that comparison and the tests."""
        r, size = self.scale, x_init.shape[-2:]
        padded = (f.shape[-2] * r, f.shape[-1] * r)
        if self.published_order:
            z = self.to_image[step](F.pixel_shuffle(f, r))
        else:
            z = F.pixel_shuffle(coarse_grid_conv(f, self.to_image[step], r), r)
        z = crop_to(z, size)
        u = torch.cat([z, physics.A_dagger(physics.A(z)), x_init], dim=1)
        u = F.pad(u, (0, padded[1] - size[1], 0, padded[0] - size[0]))
        if self.published_order:
            return F.pixel_unshuffle(self.to_features[step](u), r)
        return coarse_grid_conv(F.pixel_unshuffle(u, r), self.to_features[step], r)


def coarse_grid_conv(h: Tensor, conv: nn.Conv2d, r: int) -> Tensor:
    """A 1x1 ``conv`` meant for the full-resolution image, applied to its pixel-unshuffled form ``h``.

    Channel ``c r² + k`` of the coarse grid is sub-pixel ``k`` of image channel ``c``, and a 1x1 map treats
    every sub-pixel alike, so ``pixel_unshuffle(conv(u), r) == conv'(pixel_unshuffle(u, r))`` (and
    ``conv(pixel_shuffle(f, r)) == pixel_shuffle(conv'(f), r)``) with weight ``W ⊗ I_{r²}`` and each bias
    repeated ``r²`` times.
    """
    weight = conv.weight.flatten(1)  # (out, in)
    eye = torch.eye(r * r, dtype=weight.dtype, device=weight.device)
    expanded = torch.kron(weight, eye)[:, :, None, None]  # (out r², in r², 1, 1)
    return F.conv2d(h, expanded, conv.bias.repeat_interleave(r * r))

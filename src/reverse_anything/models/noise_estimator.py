"""The shared noise estimator: a small reversible U-Net sized for CPU training.

Layout (``channels = (c1, c2, c3)``, features at 1/2, 1/4, 1/8 of the image):

    x (1 ch, H) --pixel-unshuffle--> 4 ch, H/2 --conv--> c1
      down stage 1 (reversible, c1) ----------------------------- skip 1
      pixel-unshuffle + 1x1 -> c2, down stage 2 (reversible) ---- skip 2
      pixel-unshuffle + 1x1 -> c3, bottom stage (reversible)
      1x1 + pixel-shuffle -> c2, + skip 2, up stage 2 (reversible)
      1x1 + pixel-shuffle -> c1, + skip 1, up stage 1 (reversible)
    --conv--> 4 ch --pixel-shuffle--> eps (1 ch, H)

Every stage is a :class:`~reverse_anything.reversible.ReversibleSequence` of
additive couplings ``y1 = x1 + ConvBlock(x2)``, ``y2 = x2 + Injector(y1)``
(level 2 of IDM's dual reversibility), so its activation memory does not grow
with depth.  Only the cheap shape-changing 1x1 / pixel-shuffle layers keep
activations.  Full-resolution work is limited to the final pixel shuffle:
everything else runs at H/2 or below, which is what makes CPU training viable.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..reversible import AdditiveCoupling, ReversibleSequence
from .blocks import ConvBlock, Injector, NoiseLevelEmbedding, crop_to, pad_to_multiple

__all__ = ["NoiseEstimator"]


class ReversibleStage(nn.Module):
    """``depth`` couplings of (ConvBlock, Injector) on ``channels`` features at scale ``r``."""

    def __init__(self, channels: int, depth: int, scale: int, steps: int, embed_dim: int, memory_saving: bool) -> None:
        super().__init__()
        half = channels // 2
        self.sequence = ReversibleSequence(
            [AdditiveCoupling(ConvBlock(half, embed_dim), Injector(half, scale, steps)) for _ in range(depth)],
            memory_saving=memory_saving,
        )

    def forward(self, h: Tensor, embedding: Tensor, x_init: Tensor, physics, step: int) -> Tensor:
        return self.sequence(h, embedding, x_init, physics, step)


class Resample(nn.Module):
    """Halve (``down``) or double the resolution with pixel (un)shuffle and a 1x1 convolution."""

    def __init__(self, in_channels: int, out_channels: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.proj = nn.Conv2d(in_channels * 4 if down else in_channels, out_channels * (1 if down else 4), 1)

    def forward(self, h: Tensor) -> Tensor:
        if self.down:
            return self.proj(F.pixel_unshuffle(h, 2))
        return F.pixel_shuffle(self.proj(h), 2)


class NoiseEstimator(nn.Module):
    """epsilon(x_t; alpha_bar_t, ratio, A, A†y): one network shared by all sampling steps."""

    def __init__(
        self,
        channels: tuple[int, ...] = (32, 64, 128),
        depth: tuple[int, ...] = (2, 2, 2),
        steps: int = 3,
        embed_dim: int = 64,
        memory_saving: bool = True,
    ) -> None:
        super().__init__()
        if len(channels) != len(depth) or not channels:
            raise ValueError("channels and depth must be non-empty and of equal length")
        if any(c % 2 for c in channels):
            raise ValueError(f"every channel count must be even (couplings split it in two), got {channels}")
        self.embedding = NoiseLevelEmbedding(embed_dim)
        self.levels = len(channels)
        self.conv_in = nn.Conv2d(4, channels[0], 3, padding=1)
        scales = [2 ** (i + 1) for i in range(self.levels)]
        stage = lambda i: ReversibleStage(channels[i], depth[i], scales[i], steps, embed_dim, memory_saving)  # noqa: E731
        self.down_stages = nn.ModuleList(stage(i) for i in range(self.levels))
        self.up_stages = nn.ModuleList(stage(i) for i in range(self.levels - 1))
        self.downsample = nn.ModuleList(Resample(channels[i], channels[i + 1], down=True) for i in range(self.levels - 1))
        self.upsample = nn.ModuleList(Resample(channels[i + 1], channels[i], down=False) for i in range(self.levels - 1))
        self.conv_out = nn.Conv2d(channels[0], 4, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @property
    def multiple(self) -> int:
        """Image sides are padded to this multiple internally."""
        return 2**self.levels

    def forward(self, x: Tensor, embedding: Tensor, x_init: Tensor, physics, step: int) -> Tensor:
        size = x.shape[-2:]
        h = self.conv_in(F.pixel_unshuffle(pad_to_multiple(x, self.multiple), 2))
        skips = []
        for i in range(self.levels):
            if i:
                h = self.downsample[i - 1](h)
            h = self.down_stages[i](h, embedding, x_init, physics, step)
            skips.append(h)
        for i in reversed(range(self.levels - 1)):
            h = self.upsample[i](h) + skips[i]
            h = self.up_stages[i](h, embedding, x_init, physics, step)
        return crop_to(F.pixel_shuffle(self.conv_out(h), 2), size)

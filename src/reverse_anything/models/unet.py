"""The pixel-unshuffle U-Net skeleton shared by IDM's noise estimator and the DDPM prior.

Both networks are the same layout with different stages (reversible couplings with measurement
injectors for IDM, plain residual blocks for DDPM), so the comparison between the methods is
about the method, not the network.  Features run at 1/2, 1/4, ... of the image:

    x (1 ch) -pixel-unshuffle-> 4 ch at H/2 -conv-> c1 -> down stage 1 ------------ skip 1
      -> [pixel-unshuffle + 1x1 -> c2 -> down stage 2 ----------------------------- skip 2]
      -> ...   up: 1x1 + pixel-shuffle, + skip, up stage   -> conv -> 4 ch -pixel-shuffle-> 1 ch
"""
from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import NoiseLevelEmbedding, crop_to, pad_to_multiple

__all__ = ["PixelUNet", "Resample"]


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


class PixelUNet(nn.Module):
    """U-Net over ``len(channels)`` scales; ``make_stage(level)`` builds the shape-preserving stage of a level.

    Every stage is called as ``stage(h, *stage_args)``; the output layer starts at zero so a fresh
    network predicts no noise.
    """

    def __init__(self, channels: tuple[int, ...], embed_dim: int, make_stage: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.levels = levels = len(channels)
        self.embedding = NoiseLevelEmbedding(embed_dim)
        self.conv_in = nn.Conv2d(4, channels[0], 3, padding=1)
        self.down_stages = nn.ModuleList(make_stage(i) for i in range(levels))
        self.up_stages = nn.ModuleList(make_stage(i) for i in range(levels - 1))
        self.downsample = nn.ModuleList(Resample(channels[i], channels[i + 1], down=True) for i in range(levels - 1))
        self.upsample = nn.ModuleList(Resample(channels[i + 1], channels[i], down=False) for i in range(levels - 1))
        self.conv_out = nn.Conv2d(channels[0], 4, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @property
    def multiple(self) -> int:
        """Image sides are padded to this multiple internally."""
        return 2**self.levels

    def run(self, x: Tensor, *stage_args: object) -> Tensor:
        """The U-Net pass on a grey image of any size (reflect-padded, then cropped back)."""
        size = x.shape[-2:]
        h = self.conv_in(F.pixel_unshuffle(pad_to_multiple(x, self.multiple), 2))
        skips = []
        for i in range(self.levels):
            if i:
                h = self.downsample[i - 1](h)
            h = self.down_stages[i](h, *stage_args)
            skips.append(h)
        for i in reversed(range(self.levels - 1)):
            h = self.up_stages[i](self.upsample[i](h) + skips[i], *stage_args)
        return crop_to(F.pixel_shuffle(self.conv_out(h), 2), size)

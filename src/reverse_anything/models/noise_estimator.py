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

from torch import Tensor, nn

from ..reversible import AdditiveCoupling, ReversibleSequence
from .blocks import ConvBlock, Injector
from .unet import PixelUNet

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


class NoiseEstimator(PixelUNet):
    """epsilon(x_t; alpha_bar_t, ratio, A, A†y): one network shared by all sampling steps."""

    def __init__(
        self,
        channels: tuple[int, ...] = (32, 64, 128),
        depth: tuple[int, ...] = (2, 2, 2),
        steps: int = 3,
        embed_dim: int = 64,
        memory_saving: bool = True,
    ) -> None:
        if len(channels) != len(depth) or not channels:
            raise ValueError("channels and depth must be non-empty and of equal length")
        if any(c % 2 for c in channels):
            raise ValueError(f"every channel count must be even (couplings split it in two), got {channels}")
        scales = [2 ** (i + 1) for i in range(len(channels))]
        super().__init__(
            channels,
            embed_dim,
            lambda i: ReversibleStage(channels[i], depth[i], scales[i], steps, embed_dim, memory_saving),
        )

    def forward(self, x: Tensor, embedding: Tensor, x_init: Tensor, physics, step: int) -> Tensor:
        return self.run(x, embedding, x_init, physics, step)

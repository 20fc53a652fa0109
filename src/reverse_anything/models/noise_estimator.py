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

import re

import torch
from torch import Tensor, nn

from ..reversible import AdditiveCoupling, ReversibleSequence
from .blocks import ConvBlock, Injector
from .unet import PixelUNet

__all__ = ["NoiseEstimator", "PriorNoiseEstimator", "PriorStage", "prior_weight_name", "INJECTOR_POSITIONS"]


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


class PriorStage(nn.Module):
    """A DDPM prior's residual stage made reversible, with measurement injectors that start at zero.

    The feature ``h`` becomes two streams ``(a, b) = (h, s h)`` (``s`` learned, init 1) and each
    prior block ``P`` is paired with a zero-initialised :class:`~.blocks.Injector` ``J`` in one
    additive coupling.  ``injector="before"``: ``a <- a + J(b)``, ``b <- b + P(a)``, output
    ``b + m a``; the block sees the injected feature, so the injector gets gradient from the
    first step.  ``injector="after"`` (the first prior-based models): ``a <- a + P(b)``,
    ``b <- b + J(a)``, output ``a + m b``; the injection reaches the output only through ``m``.
    ``m`` is learned, init 0.  With one block per stage (the prior's layout) and ``J = 0`` either
    form is exactly the prior's ``h + P(h)``, so an IDM built on it starts as the pretrained
    network; a deeper stage starts close to it (each later block sees ``h`` instead of its
    predecessor's output).  This is the published IDM's wiring of Stable Diffusion's blocks (``idm-method.md``
    §2.6: streams ``[x, s x]``, merge ``x1 + m x2``) with additive rather than leapfrog couplings,
    which need no ``1/v`` on the way back and are exact at initialisation.
    """

    def __init__(
        self, channels: int, depth: int, scale: int, steps: int, embed_dim: int, memory_saving: bool, injector: str = "before"
    ) -> None:
        super().__init__()
        if injector not in INJECTOR_POSITIONS:
            raise ValueError(f"injector must be {' or '.join(INJECTOR_POSITIONS)}, got {injector!r}")
        self.injector = injector
        pairs = [(ConvBlock(channels, embed_dim), Injector(channels, scale, steps)) for _ in range(depth)]
        couplings = [AdditiveCoupling(J, P) if injector == "before" else AdditiveCoupling(P, J) for P, J in pairs]
        self.sequence = ReversibleSequence(couplings, memory_saving=memory_saving)
        self.help_scale = nn.Parameter(torch.tensor(1.0))
        self.merge_scale = nn.Parameter(torch.tensor(0.0))

    def forward(self, h: Tensor, embedding: Tensor, x_init: Tensor, physics, step: int) -> Tensor:
        a, b = self.sequence(torch.cat([h, self.help_scale * h], dim=1), embedding, x_init, physics, step).chunk(2, dim=1)
        return b + self.merge_scale * a if self.injector == "before" else a + self.merge_scale * b


INJECTOR_POSITIONS = ("before", "after")


class PriorNoiseEstimator(PixelUNet):
    """The noise estimator rebuilt around a DDPM prior's layout (:class:`PriorStage` per level).

    Weights of a :class:`~.ddpm.DDPMNet` with the same ``channels``/``depth``/``embed_dim`` load
    through :func:`prior_weight_name`; every injector starts at zero.
    """

    def __init__(
        self,
        channels: tuple[int, ...],
        depth: tuple[int, ...],
        steps: int,
        embed_dim: int,
        memory_saving: bool = True,
        injector: str = "before",
    ) -> None:
        if len(channels) != len(depth) or not channels:
            raise ValueError("channels and depth must be non-empty and of equal length")
        scales = [2 ** (i + 1) for i in range(len(channels))]
        super().__init__(
            channels, embed_dim, lambda i: PriorStage(channels[i], depth[i], scales[i], steps, embed_dim, memory_saving, injector)
        )

    def forward(self, x: Tensor, embedding: Tensor, x_init: Tensor, physics, step: int) -> Tensor:
        return self.run(x, embedding, x_init, physics, step)


def prior_weight_name(name: str, injector: str = "before") -> str:
    """A DDPM prior's parameter name -> its name in :class:`PriorNoiseEstimator`.

    Stages hold ``blocks.K.*`` in the prior and ``sequence.couplings.K.G.*`` here (``.F.`` with
    ``injector="after"``); every other layer (embedding, input/output convolutions, resampling)
    has the same name in both.
    """
    role = "G" if injector == "before" else "F"
    return re.sub(r"^((?:down|up)_stages\.\d+)\.blocks\.(\d+)\.", rf"\1.sequence.couplings.\2.{role}.", name)

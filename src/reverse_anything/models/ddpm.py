"""The DDPM baseline prior: an unconditional noise-prediction U-Net ``eps(x_t, alpha_bar_t)``.

It is the IDM noise estimator's plain twin, so the comparison with IDM is about the method,
not the network: the same pixel-unshuffle U-Net layout, the same FiLM-conditioned
:class:`~.blocks.ConvBlock` bodies and :class:`~.noise_estimator.Resample` layers, the same
default widths.  What it leaves out: reversibility (plain residual blocks, ordinary autograd)
and the measurement injectors (a DDPM prior never sees an operator; the solvers bring the
measurement in by data consistency).

Time conditioning goes through the noise level: the network is told ``alpha_bar_t`` (as
log-SNR, by the shared :class:`~.blocks.NoiseLevelEmbedding`) rather than the integer ``t``,
which is the same information for one schedule and lets DDIM-spaced samplers call it at any
subset of the steps.  The embedding's measurement-ratio input is fixed at 1: the prior always
sees a whole (noisy) image.

Images live in the model's data range ``[-1, 1]`` (Ho et al.); :func:`to_model_range` and
:func:`from_model_range` convert from and to the library's ``[0, 1]``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..diffusion.ddpm_schedules import BETA_SCHEDULES, alphas_cumprod, beta_schedule
from .blocks import ConvBlock, NoiseLevelEmbedding, crop_to, pad_to_multiple
from .config import JsonConfig
from .noise_estimator import Resample

__all__ = ["DDPMConfig", "DDPMNet", "to_model_range", "from_model_range"]


def to_model_range(x: Tensor) -> Tensor:
    """``[0, 1]`` images -> the DDPM data range ``[-1, 1]``."""
    return 2.0 * x - 1.0


def from_model_range(x: Tensor) -> Tensor:
    """The DDPM data range ``[-1, 1]`` -> ``[0, 1]`` images."""
    return (x + 1.0) / 2.0


@dataclass
class DDPMConfig(JsonConfig):
    """Everything needed to rebuild a DDPM prior (stored as JSON beside the weights)."""

    channels: tuple[int, ...] = (32, 64, 128)
    depth: tuple[int, ...] = (1, 1, 1)  # full-width blocks: ~0.6 M parameters, IDM's is 0.4 M
    embed_dim: int = 64
    schedule: str = "linear"
    timesteps: int = 1000
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.channels) != len(self.depth) or not self.channels:
            raise ValueError("channels and depth must be non-empty and of equal length")
        if any(c < 1 for c in self.channels) or any(d < 0 for d in self.depth):
            raise ValueError(f"channels must be >= 1 and depth >= 0, got {self.channels}, {self.depth}")
        if self.schedule not in BETA_SCHEDULES:
            raise ValueError(f"unknown DDPM beta schedule {self.schedule!r}; choose {' or '.join(BETA_SCHEDULES)}")
        if self.timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {self.timesteps}")


class ResidualStage(nn.Module):
    """``depth`` residual FiLM blocks ``h = h + ConvBlock(h, embedding)`` at one scale."""

    def __init__(self, channels: int, depth: int, embed_dim: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(ConvBlock(channels, embed_dim) for _ in range(depth))

    def forward(self, h: Tensor, embedding: Tensor) -> Tensor:
        for block in self.blocks:
            h = h + block(h, embedding)
        return h


class DDPMNet(nn.Module):
    """``eps(x_t, alpha_bar_t)`` for grey images ``(N, 1, H, W)`` in ``[-1, 1]``, any size (padded).

    :attr:`alphas_cumprod` is the training schedule the samplers walk.
    """

    def __init__(self, config: DDPMConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DDPMConfig()
        channels, depth = config.channels, config.depth
        self.levels = len(channels)
        self.embedding = NoiseLevelEmbedding(config.embed_dim)
        self.conv_in = nn.Conv2d(4, channels[0], 3, padding=1)
        self.down_stages = nn.ModuleList(ResidualStage(channels[i], depth[i], config.embed_dim) for i in range(self.levels))
        self.up_stages = nn.ModuleList(ResidualStage(channels[i], depth[i], config.embed_dim) for i in range(self.levels - 1))
        self.downsample = nn.ModuleList(Resample(channels[i], channels[i + 1], down=True) for i in range(self.levels - 1))
        self.upsample = nn.ModuleList(Resample(channels[i + 1], channels[i], down=False) for i in range(self.levels - 1))
        self.conv_out = nn.Conv2d(channels[0], 4, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @property
    def multiple(self) -> int:
        """Image sides are padded to this multiple internally."""
        return 2**self.levels

    @property
    def alphas_cumprod(self) -> Tensor:
        """The training schedule's ``alpha_bar`` table ``(T,)``, float64 on the CPU (rebuilt from the config)."""
        return alphas_cumprod(beta_schedule(self.config.schedule, self.config.timesteps))

    def forward(self, x: Tensor, alpha_bar: Tensor) -> Tensor:
        """``x``: ``(N, 1, H, W)`` noisy images; ``alpha_bar``: ``(N,)`` or a scalar signal level."""
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"DDPM priors are grey: expected (N, 1, H, W), got {tuple(x.shape)}")
        alpha_bar = torch.as_tensor(alpha_bar, device=x.device, dtype=x.dtype).expand(x.shape[0])
        embedding = self.embedding(alpha_bar, torch.ones_like(alpha_bar))
        size = x.shape[-2:]
        h = self.conv_in(F.pixel_unshuffle(pad_to_multiple(x, self.multiple), 2))
        skips = []
        for i in range(self.levels):
            if i:
                h = self.downsample[i - 1](h)
            h = self.down_stages[i](h, embedding)
            skips.append(h)
        for i in reversed(range(self.levels - 1)):
            h = self.up_stages[i](self.upsample[i](h) + skips[i], embedding)
        return crop_to(F.pixel_shuffle(self.conv_out(h), 2), size)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

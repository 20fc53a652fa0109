"""The DDPM baseline prior: an unconditional noise-prediction U-Net ``eps(x_t, alpha_bar_t)``.

It is the IDM noise estimator's plain twin, so the comparison with IDM is about the method,
not the network: the same pixel-unshuffle U-Net layout, the same FiLM-conditioned
:class:`~.blocks.ConvBlock` bodies and :class:`~.unet.PixelUNet` skeleton, the same
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
from torch import Tensor, nn

from ..diffusion.ddpm_schedules import BETA_SCHEDULES, alphas_cumprod, beta_schedule
from .blocks import ConvBlock
from .config import JsonConfig
from .unet import PixelUNet

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


def deepened_weights(tensors: dict[str, Tensor], old_depth: tuple[int, ...], model: "DDPMNet") -> dict[str, Tensor]:
    """A prior's weights for ``model``, the same network with more residual blocks per scale.

    Every block the prior has keeps its weights; each new block keeps ``model``'s fresh initialisation,
    whose last convolution is zero, so it adds nothing and the deepened prior computes exactly what the
    prior did. Fine-tuning then grows capacity where the blocks were added (Net2Net's idea, Chen et al. 2016).
    """
    new_depth = tuple(model.config.depth)
    if len(old_depth) != len(new_depth) or any(n < o for n, o in zip(new_depth, old_depth)):
        raise ValueError(f"a prior can only be deepened: depth {list(old_depth)} -> {list(new_depth)} drops blocks or scales")
    weights = dict(model.state_dict())
    for name, tensor in tensors.items():
        if name not in weights:
            raise ValueError(f"the prior has a weight {name!r} the deepened model lacks: another architecture")
        weights[name] = tensor
    return weights


class DDPMNet(PixelUNet):
    """``eps(x_t, alpha_bar_t)`` for grey images ``(N, 1, H, W)`` in ``[-1, 1]``, any size (padded).

    :attr:`alphas_cumprod` is the training schedule the samplers walk.
    """

    def __init__(self, config: DDPMConfig | None = None) -> None:
        config = config or DDPMConfig()
        super().__init__(config.channels, config.embed_dim, lambda i: ResidualStage(config.channels[i], config.depth[i], config.embed_dim))
        self.config = config

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
        return self.run(x, embedding)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

"""IDM initialised from a DDPM prior: the published recipe (start from a pretrained diffusion model).

The published IDM loads Stable Diffusion's U-Net, wraps its blocks in reversible couplings,
adds zero-initialised measurement injectors and fine-tunes the whole T-step sampler end to end.
:func:`idm_from_prior` does the same with this project's own prior: the IDM's noise estimator
is a :class:`~.noise_estimator.PriorNoiseEstimator` of the prior's layout, loaded with the
prior's weights, so before any fine-tuning the IDM is a T-step deterministic DDIM sampler with
the range-null-space projection on the prior (its PSNR at iteration 0 is a real solver's).
"""
from __future__ import annotations

import dataclasses
import re

import torch
from torch import Tensor

from .ddpm import DDPMNet
from .idm import IDM, IDMConfig
from .noise_estimator import prior_weight_name

__all__ = ["prior_idm_config", "idm_from_prior", "load_prior_weights", "move_injectors"]


def prior_idm_config(prior: DDPMNet, **settings: object) -> IDMConfig:
    """An :class:`IDMConfig` with the prior's layout (``channels``, ``depth``, ``embed_dim``) and ``settings`` on top.

    A setting that contradicts the prior's layout is refused: the weights would not fit.
    """
    layout = {"channels": tuple(prior.config.channels), "depth": tuple(prior.config.depth), "embed_dim": prior.config.embed_dim}
    for key, value in layout.items():
        given = settings.get(key, value)
        if (tuple(given) if isinstance(value, tuple) else given) != value:  # type: ignore[arg-type]
            raise ValueError(f"the prior has {key} = {value}, not {settings[key]}: an IDM on it keeps the prior's layout")
    fields = {f.name for f in dataclasses.fields(IDMConfig)}
    unknown = set(settings) - fields
    if unknown:
        raise ValueError(f"unknown IDM settings {sorted(unknown)}")
    return IDMConfig(**{**settings, **layout, "backbone": "prior"})  # type: ignore[arg-type]


@torch.no_grad()
def load_prior_weights(idm: IDM, prior: DDPMNet) -> None:
    """Copy every weight of ``prior`` into ``idm``'s shared noise estimator (all other parts keep their init)."""
    if idm.config.backbone != "prior":
        raise ValueError(f"this IDM has a {idm.config.backbone!r} backbone; only a 'prior' backbone takes a prior's weights")
    backbone = idm.chain.couplings[0].F.backbone
    target = backbone.state_dict()
    for name, tensor in prior.state_dict().items():
        mapped = prior_weight_name(name, idm.config.injector)
        if mapped not in target:
            raise ValueError(f"the prior's {name} has no place in this IDM (layouts differ)")
        if target[mapped].shape != tensor.shape:
            raise ValueError(f"the prior's {name} is {tuple(tensor.shape)}, the IDM's {mapped} is {tuple(target[mapped].shape)}")
        target[mapped].copy_(tensor)


def idm_from_prior(prior: DDPMNet, **settings: object) -> IDM:
    """A fresh IDM on ``prior``'s layout with its weights (see :func:`prior_idm_config` for ``settings``)."""
    model = IDM(prior_idm_config(prior, **settings))
    load_prior_weights(model, prior)
    return model


_STAGE_COUPLING = re.compile(r"(_stages\.\d+\.sequence\.couplings\.\d+\.)([FG])\.")


def move_injectors(tensors: dict[str, Tensor], source: str, target: str) -> dict[str, Tensor]:
    """A prior-backbone IDM's weights with the injectors moved from ``source`` to ``target`` ("before"/"after").

    The two positions hold the same modules in swapped coupling slots (``F``/``G``); only the names
    change. With near-zero injectors and merge scales the network computes nearly the same function,
    so a model trained with ``after`` (whose injectors barely learn) can be fine-tuned with ``before``.
    """
    if source == target:
        return dict(tensors)
    swap = {"F": "G", "G": "F"}
    return {_STAGE_COUPLING.sub(lambda m: f"{m.group(1)}{swap[m.group(2)]}.", name): value for name, value in tensors.items()}

"""Learned restorers: load a model once, then ``restore(op, y) -> x`` like the classical ones."""
from __future__ import annotations

import functools
import warnings

import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..models.precision import check_precision
from ..physics import operator_family
from .base import Restorer
from .ensemble import check_ensemble_size, self_ensemble

__all__ = ["IDMRestorer", "default_idm_model"]


@functools.lru_cache(maxsize=1)
def _shipped_idm_configs() -> tuple:
    """``(name, IDMConfig)`` of every shipped IDM, read once per process (the package files do not change).

    Specialists first: a model serving fewer operator descriptions comes before one for many (an
    all-operator model serves what no specialist does), then one covering narrower parameter ranges
    (a single-ratio model before the one for every ratio), then by name, so the choice does not
    depend on the registry's order.
    """
    import json

    from ..models.checkpoint import MODEL_FORMAT, model_file, resolve_model, shipped_models
    from ..models.idm import IDMConfig

    cards = []
    for name in shipped_models():
        document = json.loads(model_file(resolve_model(name), ".json").read_text())
        if document.get("format") == MODEL_FORMAT:
            cards.append((name, IDMConfig.from_dict(document["config"])))
    return specialists_first(cards)


def specialists_first(cards: list) -> tuple:
    """``(name, IDMConfig)`` cards ordered for the choice: fewest served descriptions first (``{}``, serving
    everything, last), then the narrowest parameter ranges (:func:`~reverse_anything.models.serves.breadth`),
    then by name."""
    from ..models.serves import breadth, descriptions

    def key(card: tuple) -> tuple:
        serves = card[1].serves
        return (len(descriptions(serves)) or float("inf"), breadth(serves), card[0])

    return tuple(sorted(cards, key=key))


def default_idm_model(op) -> str:
    """The shipped IDM model that serves this measurement's operator, chosen from the models' JSON cards
    (their ``serves`` descriptions against ``op.config()``), never by building a name.

    Raises:
        IncompatibleMeasurementError: no shipped IDM serves it; the message names the methods that do.
    """
    from ..models.idm import IncompatibleMeasurementError, refusal
    from ..models.serves import breadth, descriptions

    inner = tile_operators(op)[0]
    family = operator_family(inner)
    served: set[str] = set()
    near_misses = []  # why the models trained for this family refuse these parameters
    for name, config in _shipped_idm_configs():
        reason = refusal(config, inner)
        if reason is None:
            return name
        families = {description["operator"] for description in descriptions(config.serves)}
        served |= families
        if family in families:  # ranked so the reason quoted is the widest specialist's: its ranges say the most
            near_misses.append((len(descriptions(config.serves)), -breadth(config.serves), reason))
    if near_misses:
        detail = min(near_misses)[2]
    else:
        detail = f"none is trained for {family}; they serve {', '.join(sorted(served))}" if served else "none is installed"
    raise IncompatibleMeasurementError(
        f"no shipped IDM model serves this {family} measurement ({detail}); pinv, tv and pnp serve every operator"
    )


def tile_operators(op) -> list:
    """The operators a model sees: ``op`` itself, or a :class:`~reverse_anything.physics.Tiled` operator's
    per-tile operators carrying its noise level (the tiled operator adds the noise, once, to every entry)."""
    from ..physics import Tiled

    if not isinstance(op, Tiled):
        return [op]
    return [inner.with_noise(op.noise_sigma) if op.noise_sigma > 0 else inner for inner in op.groups]


class IDMRestorer(Restorer):
    """IDM with a shipped model name or a ``.safetensors`` path (``None``: the shipped model that serves
    each measurement, chosen by :func:`default_idm_model`).

    IDM models are grey; colour measurements (C > 1) are restored channel by channel by folding the
    channels into the batch (every operator acts per channel). The operator is checked against what
    the model was trained for before any work (``zero_shot=True``, with a named model, runs it anyway on an
    operator it was not trained for, with a warning: for trying an all-operator model on a new operator). A :class:`~reverse_anything.physics.Tiled` measurement
    is restored ``tile_batch`` tiles at a time, so memory is that of a few tiles whatever the image
    size (``progress`` then shows a bar over the tiles). ``self_ensemble`` (1, 2, 4 or 8) restores that
    many flipped / rotated views of each measurement and averages them (:mod:`.ensemble`): that many
    times the time, for a few tenths of a dB (+0.19 dB at CS 10 % with 8 on the held-out crops).
    ``precision="bf16"`` runs the noise estimator under bfloat16 autocast (:mod:`~reverse_anything.models.precision`):
    about half the time on a CPU that computes bf16 natively, within 0.02 dB (``benchmarks/precision.py``).
    """

    name = "idm"

    def __init__(
        self, model: str | None = None, device: str | None = None, progress: bool = False, tile_batch: int = 4, zero_shot: bool = False,
        self_ensemble: int = 1, precision: str = "fp32",
    ) -> None:
        if tile_batch < 1:
            raise ValueError(f"tile_batch must be >= 1, got {tile_batch}")
        if zero_shot and model is None:
            raise ValueError("zero-shot needs a named model (--model): without one, the shipped model that serves the operator is chosen")
        self.requested, self.device, self.progress, self.tile_batch = model, device or "cpu", progress, tile_batch
        self.zero_shot = zero_shot
        self.ensemble_size = check_ensemble_size(self_ensemble)
        self.precision = check_precision(precision)
        self._loaded: dict[str, nn.Module] = {}
        if model is not None:
            self._network_for(None)  # load now: a bad name or file fails at once

    def _network_for(self, op) -> nn.Module:
        from ..models.checkpoint import load_idm

        name = self.requested if self.requested is not None else default_idm_model(op)
        if name not in self._loaded:
            self._loaded[name] = load_idm(name, device=self.device)
            self._loaded[name].set_precision(self.precision)
        self.model, self.model_name = self._loaded[name], name  # what the last measurement got, for reports
        return self.model

    def _infer(self, network: nn.Module, op, y: Tensor) -> Tensor:
        """The network on grey measurements, self-ensembled if asked."""
        return self_ensemble(lambda view, measured: network(measured, view), op, y, self.ensemble_size)

    def _run(self, network: nn.Module, op, y: Tensor) -> Tensor:
        n, c = y.shape[:2]
        x = self._infer(network, op, y.reshape(n * c, 1, *y.shape[2:]))
        return x.reshape(n, c, *x.shape[2:])

    def _run_tiles(self, network: nn.Module, op, inners: list, y: Tensor) -> Tensor:
        groups = op.split_measurement(y)  # per tile size: (N, C, k, *tile measurement shape)
        bar = tqdm(total=sum(g.shape[:3].numel() for g in groups), unit="tile", disable=not self.progress)
        restored = []
        for inner, measured in zip(inners, groups):
            n, c, k = measured.shape[:3]
            tiles = measured.flatten(0, 2).unsqueeze(1)
            pieces = []
            for chunk in tiles.split(self.tile_batch):
                pieces.append(self._infer(network, inner, chunk))
                bar.update(chunk.shape[0])
            restored.append(torch.cat(pieces).reshape(n, c, k, *pieces[0].shape[-2:]))
        bar.close()
        return op.assemble(restored)

    @torch.no_grad()
    def __call__(self, op, y: Tensor) -> Tensor:
        from ..models.idm import refusal
        from ..physics import Tiled

        network = self._network_for(op)
        inners = tile_operators(op)
        for inner in inners:
            if not self.zero_shot:
                network.check_physics(inner)
            elif (reason := refusal(network.config, inner)) is not None:
                warnings.warn(f"zero-shot: {reason}; its output is not validated for this operator", stacklevel=2)
        params = next(network.parameters())
        if params.device != y.device or params.dtype != y.dtype:
            network.to(device=y.device, dtype=y.dtype)
        return self._run_tiles(network, op, inners, y) if isinstance(op, Tiled) else self._run(network, op, y)

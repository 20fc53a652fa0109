"""Learned restorers: load a model once, then ``restore(op, y) -> x`` like the classical ones."""
from __future__ import annotations

import functools

import torch
from torch import Tensor
from tqdm import tqdm

__all__ = ["idm_restorer", "default_idm_model"]


@functools.lru_cache(maxsize=1)
def _shipped_idm_configs() -> tuple:
    """``(name, IDMConfig)`` of every shipped IDM, sorted by name, read once per process (the package files do not change)."""
    import json

    from ..models.checkpoint import MODEL_FORMAT, model_file, resolve_model, shipped_models
    from ..models.idm import IDMConfig

    cards = []
    for name in sorted(shipped_models()):  # sorted: the choice does not depend on the registry's order
        document = json.loads(model_file(resolve_model(name), ".json").read_text())
        if document.get("format") == MODEL_FORMAT:
            cards.append((name, IDMConfig.from_dict(document["config"])))
    return tuple(cards)


def default_idm_model(op) -> str:
    """The shipped IDM model that serves this measurement's operator, chosen from the models' JSON cards
    (operator family, CS ratio range, block size), never by building a name.

    Raises:
        IncompatibleMeasurementError: no shipped IDM serves it; the message names the methods that do.
    """
    from ..models.idm import IncompatibleMeasurementError, refusal
    from ..physics import Tiled

    inner = op.groups[0] if isinstance(op, Tiled) else op
    reasons = []
    for name, config in _shipped_idm_configs():
        reason = refusal(config, inner)
        if reason is None:
            return name
        reasons.append(reason)
    family = getattr(inner, "name", type(inner).__name__)
    raise IncompatibleMeasurementError(
        f"no shipped IDM model serves this {family} measurement ({reasons[0] if reasons else 'none is installed'}); "
        "pinv, tv and pnp serve every operator"
    )


def idm_restorer(model: str | None = None, device: str | None = None, progress: bool = False, tile_batch: int = 4):
    """An IDM restorer for a shipped model name or a ``.safetensors`` path (``None``: chosen per
    measurement by :func:`default_idm_model`).

    IDM models are grey; colour measurements (C > 1) are restored channel by channel
    by folding the channels into the batch (every operator acts per channel).  The
    operator is checked against what the model was trained for before any work.
    A :class:`~reverse_anything.physics.Tiled` measurement is restored ``tile_batch``
    tiles at a time, so memory is that of a few tiles whatever the image size
    (``progress`` then shows a bar over the tiles).
    """
    from ..models.checkpoint import load_idm
    from ..physics import Tiled

    if tile_batch < 1:
        raise ValueError(f"tile_batch must be >= 1, got {tile_batch}")
    loaded: dict[str, torch.nn.Module] = {}

    def network_for(op) -> torch.nn.Module:
        name = model if model is not None else default_idm_model(op)
        if name not in loaded:
            loaded[name] = load_idm(name, device=device or "cpu")
        restore.model_name = name  # type: ignore[attr-defined]  # what the last measurement got, for reports
        return loaded[name]

    def run(network, op, y: Tensor) -> Tensor:
        n, c = y.shape[:2]
        x = network(y.reshape(n * c, 1, *y.shape[2:]), op)
        return x.reshape(n, c, *x.shape[2:])

    def run_tiles(network, op: Tiled, y: Tensor) -> Tensor:
        groups = op.split_measurement(y)  # per tile size: (N, C, k, *tile measurement shape)
        bar = tqdm(total=sum(g.shape[:3].numel() for g in groups), unit="tile", disable=not progress)
        restored = []
        for inner, measured in zip(op.groups, groups):
            n, c, k = measured.shape[:3]
            tiles = measured.flatten(0, 2).unsqueeze(1)
            pieces = []
            for chunk in tiles.split(tile_batch):
                pieces.append(network(chunk, inner))
                bar.update(chunk.shape[0])
            restored.append(torch.cat(pieces).reshape(n, c, k, *pieces[0].shape[-2:]))
        bar.close()
        return op.assemble(restored)

    @torch.no_grad()
    def restore(op, y: Tensor) -> Tensor:
        network = network_for(op)
        for inner in op.groups if isinstance(op, Tiled) else [op]:
            network.check_physics(inner)
        params = next(network.parameters())
        if params.device != y.device or params.dtype != y.dtype:
            network.to(device=y.device, dtype=y.dtype)
        return run_tiles(network, op, y) if isinstance(op, Tiled) else run(network, op, y)

    if model is not None:
        restore.model = network_for(None)  # type: ignore[attr-defined]  # load now: a bad name fails at once
    return restore

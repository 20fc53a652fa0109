"""Learned restorers: load a model once, then ``restore(op, y) -> x`` like the classical ones."""
from __future__ import annotations

import torch
from torch import Tensor
from tqdm import tqdm

__all__ = ["idm_restorer", "default_idm_model"]


def default_idm_model(op) -> str:
    """The shipped model a measurement gets when none is named: the one trained for its CS ratio
    (``cs-0.3`` at ratio 0.3), else the shared ``cs`` model (which refuses what it cannot serve)."""
    from ..models.checkpoint import shipped_models
    from ..physics import Tiled

    inner = op.groups[0] if isinstance(op, Tiled) else op
    ratio = getattr(inner, "ratio", None)
    name = f"cs-{float(ratio):g}" if ratio is not None else ""
    return name if name in shipped_models() else "cs"


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

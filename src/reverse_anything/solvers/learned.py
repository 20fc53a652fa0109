"""Learned restorers: load a model once, then ``restore(op, y) -> x`` like the classical ones."""
from __future__ import annotations

import torch
from torch import Tensor
from tqdm import tqdm

__all__ = ["idm_restorer"]


def idm_restorer(model: str = "cs-0.5", device: str | None = None, progress: bool = False, tile_batch: int = 4):
    """An IDM restorer for a shipped model name or a ``.safetensors`` path.

    IDM models are grey; colour measurements (C > 1) are restored channel by channel
    by folding the channels into the batch (every operator acts per channel).  The
    operator is checked against what the model was trained for before any work.
    A :class:`~reverse_anything.physics.Tiled` measurement is restored ``tile_batch``
    tiles at a time, so memory is that of a few tiles whatever the image size
    (``progress`` then shows a bar over the tiles).
    """
    from ..models.checkpoint import load_idm
    from ..physics import Tiled

    network = load_idm(model, device=device or "cpu")
    if tile_batch < 1:
        raise ValueError(f"tile_batch must be >= 1, got {tile_batch}")

    def run(op, y: Tensor) -> Tensor:
        n, c = y.shape[:2]
        x = network(y.reshape(n * c, 1, *y.shape[2:]), op)
        return x.reshape(n, c, *x.shape[2:])

    def run_tiles(op: Tiled, y: Tensor) -> Tensor:
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
        for inner in op.groups if isinstance(op, Tiled) else [op]:
            network.check_physics(inner)
        params = next(network.parameters())
        if params.device != y.device or params.dtype != y.dtype:
            network.to(device=y.device, dtype=y.dtype)
        return run_tiles(op, y) if isinstance(op, Tiled) else run(op, y)

    restore.model = network  # type: ignore[attr-defined]
    return restore

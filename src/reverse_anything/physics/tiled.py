"""Measure a large image tile by tile: a block-diagonal operator made of one small operator per tile.

Why: a whole-image operator (a scrambled CS permutation over millions of pixels, a 4K CT
sinogram) and a whole-image network pass both grow with the image.  Measuring in tiles keeps
every piece small, and a learned restorer can then invert one tile (or a batch of tiles) at a
time, so restoring a 4K image takes the memory of restoring one tile.  Classical solvers need
nothing special: ``Tiled`` is an ordinary :class:`LinearPhysics` with an exact adjoint and an
exact pseudo-inverse (both block-diagonal).

Tiles are ``tile x tile`` pieces from the top-left; when the image is not a multiple of the
tile, the last row and column of tiles are larger (up to ``2 * tile - 1``) and absorb the rest.
Tiles of one size share one operator, built from the inner operator's config with that
``image_size`` (so a CS tile operator has the same matrix and permutation seed in every tile of
that size).  The measurement is ``(N, C, M)``: the tiles'
measurements flattened and concatenated, group by group, tile by tile in row-major order.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .base import LinearPhysics, validate_image_size
from .registry import build_operator

__all__ = ["Tiled"]


def _spans(length: int, tile: int) -> list[tuple[int, int]]:
    """``(start, size)`` of the tiles covering ``length`` pixels; the last one absorbs the remainder.

    Absorbing (rather than adding a thin last tile) keeps every tile at least ``tile`` wide, so
    operators with a minimum size (CS blocks, SR factors) work on any image at least one tile wide.
    """
    count = max(1, length // tile)
    return [(i * tile, tile if i < count - 1 else length - i * tile) for i in range(count)]


class Tiled(LinearPhysics):
    """Block-diagonal ``A = diag(A_tile, A_tile, ...)`` over the tiles of an ``image_size`` image.

    Args:
        inner: the per-tile operator (any size; its config is rebuilt for each tile size) or
            its config dict.  Its ``noise_sigma`` is the tiled operator's unless given.
        image_size: ``(H, W)`` of the whole image.
        tile: tile side in pixels (int or ``(h, w)``).

    Example:
        >>> import torch
        >>> from reverse_anything.physics import CompressedSensing, Tiled
        >>> op = Tiled(CompressedSensing(0.25, (64, 64)), image_size=(130, 150), tile=64)
        >>> y = op.A(torch.rand(1, 1, 130, 150))
        >>> y.shape, len(op.groups)   # tiles 64x64, 64x86, 66x64, 66x86: edges absorb the rest
        (torch.Size([1, 1, 5376]), 4)
        >>> torch.allclose(op.A(op.A_dagger(y)), y, atol=1e-5)
        True
    """

    name = "tiled"

    def __init__(
        self,
        inner: LinearPhysics | dict[str, Any],
        image_size: Sequence[int],
        tile: int | Sequence[int],
        noise_sigma: float | None = None,
    ) -> None:
        inner_config = inner.config() if isinstance(inner, LinearPhysics) else dict(inner)
        if inner_config.get("operator") == self.name:
            raise ValueError("a tiled operator cannot be the inner operator of another tiled operator")
        super().__init__(inner_config.get("noise_sigma", 0.0) if noise_sigma is None else noise_sigma)
        self.image_size = validate_image_size(image_size)
        sides = (tile, tile) if not isinstance(tile, Sequence) else tuple(tile)
        if len(sides) != 2 or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 1 for t in sides):
            raise ValueError(f"tile must be a positive integer (or a pair of them), got {tile!r}")
        self.tile = tile_h, tile_w = sides
        self.inner_config = {**inner_config, "noise_sigma": 0.0}  # noise is added once, by this operator
        positions: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for top, height in _spans(self.image_size[0], tile_h):
            for left, width in _spans(self.image_size[1], tile_w):
                positions.setdefault((height, width), []).append((top, left))
        self.groups = nn.ModuleList(self._operator_for(size) for size in positions)
        self.positions = list(positions.values())
        self._sizes = list(positions)
        self._tile_shapes = [self._tile_measurement_shape(op, size) for op, size in zip(self.groups, self._sizes)]

    @property
    def family(self) -> str:
        """The wrapped operator's kind: tiling changes where it applies, not what it measures."""
        return str(self.inner_config.get("operator", self.name))

    def _operator_for(self, size: tuple[int, int]) -> LinearPhysics:
        config = dict(self.inner_config)
        if "image_size" in config:
            config["image_size"] = list(size)
        try:
            return build_operator(config)
        except ValueError as error:
            raise ValueError(f"cannot build the inner operator for a {size[0]}x{size[1]} tile: {error}") from None

    @staticmethod
    def _tile_measurement_shape(op: LinearPhysics, size: tuple[int, int]) -> tuple[int, ...]:
        shape = op.measurement_shape
        if shape is None:  # the operator does not declare it (it follows the image): ask it once
            shape = tuple(op.A(torch.zeros(1, 1, *size, dtype=torch.float64)).shape[2:])
        return tuple(shape)

    # -- tiles <-> whole images and measurements ----------------------------------------------
    def extract_tiles(self, x: Tensor) -> list[Tensor]:
        """Per group, the tiles of ``x`` as ``(N, C, k, h, w)`` (k tiles of that size)."""
        return [
            torch.stack([x[..., top : top + h, left : left + w] for top, left in spots], dim=2)
            for (h, w), spots in zip(self._sizes, self.positions)
        ]

    def assemble(self, tiles: Sequence[Tensor]) -> Tensor:
        """Inverse of :meth:`extract_tiles`: per-group ``(N, C, k, h, w)`` tiles -> ``(N, C, H, W)``."""
        n, c = tiles[0].shape[:2]
        image = tiles[0].new_zeros(n, c, *self.image_size)
        for group, (h, w), spots in zip(tiles, self._sizes, self.positions):
            for index, (top, left) in enumerate(spots):
                image[..., top : top + h, left : left + w] = group[:, :, index]
        return image

    def _group_sizes(self) -> list[int]:
        """Numbers of measurement entries per group (all its tiles)."""
        return [len(spots) * math.prod(shape) for spots, shape in zip(self.positions, self._tile_shapes)]

    def split_measurement(self, y: Tensor) -> list[Tensor]:
        """Per group, the tiles' measurements as ``(N, C, k, *tile measurement shape)``."""
        self.check_measurement(y)
        pieces = y.split(self._group_sizes(), dim=-1)
        return [piece.unflatten(-1, (len(spots), *shape)) for piece, spots, shape in zip(pieces, self.positions, self._tile_shapes)]

    def _per_tile(self, fn_name: str, groups: Sequence[Tensor]) -> list[Tensor]:
        """Apply ``op.<fn_name>`` of each group to its ``(N, C, k, ...)`` tiles (tiles folded into channels)."""
        out = []
        for op, tiles in zip(self.groups, groups):
            c, k = tiles.shape[1:3]
            out.append(getattr(op, fn_name)(tiles.flatten(1, 2)).unflatten(1, (c, k)))
        return out

    # -- the operator -------------------------------------------------------------------------
    @property
    def measurement_shape(self) -> tuple[int]:
        return (sum(self._group_sizes()),)

    def A(self, x: Tensor) -> Tensor:
        self.check_image(x)
        return torch.cat([m.flatten(2) for m in self._per_tile("A", self.extract_tiles(x))], dim=-1)

    def _back(self, fn_name: str, y: Tensor) -> Tensor:
        return self.assemble(self._per_tile(fn_name, self.split_measurement(y)))

    def A_adjoint(self, y: Tensor) -> Tensor:
        return self._back("A_adjoint", y)

    def A_dagger(self, y: Tensor) -> Tensor:
        """Exact: the pseudo-inverse of a block-diagonal operator is block-diagonal."""
        return self._back("A_dagger", y)

    # -- serialisation ------------------------------------------------------------------------
    def _constructor_kwargs(self) -> dict[str, Any]:
        return {"inner": self.inner_config, "image_size": list(self.image_size), "tile": list(self.tile)}

    @classmethod
    def from_config(cls, kwargs: dict[str, Any]) -> Tiled:
        kwargs = dict(kwargs)
        if "tile" in kwargs and isinstance(kwargs["tile"], list):
            kwargs["tile"] = tuple(kwargs["tile"])
        return cls(**kwargs)

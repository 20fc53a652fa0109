"""Inpainting: keep a subset of pixels (the same in every channel), zero the rest."""
from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .base import LinearPhysics, as_operand, validate_image_size

__all__ = ["Inpainting", "encode_mask", "decode_mask"]

DEFAULT_KEEP_RATIO = 0.3  # random pixels kept when neither a ratio, a mask nor a box is given


def encode_mask(mask: Tensor) -> str:
    """A 0/1 mask as base64 of its packed bits: lossless and ~8 KiB for 256x256 (JSON-friendly)."""
    bits = mask.detach().cpu().flatten().numpy().astype(bool)
    return base64.b64encode(np.packbits(bits).tobytes()).decode("ascii")


def decode_mask(encoded: str, image_size: tuple[int, int]) -> Tensor:
    """Inverse of :func:`encode_mask` (float64 0/1 tensor of ``image_size``)."""
    count = image_size[0] * image_size[1]
    try:
        packed = np.frombuffer(base64.b64decode(encoded, validate=True), dtype=np.uint8)
    except ValueError:
        raise ValueError("an encoded inpainting mask must be base64 text from encode_mask") from None
    if packed.size != -(-count // 8):
        raise ValueError(f"the encoded inpainting mask does not hold {image_size[0]}x{image_size[1]} pixels")
    bits = np.unpackbits(packed, count=count)
    return torch.from_numpy(bits.astype(np.float64)).view(image_size)


class Inpainting(LinearPhysics):
    """``A x = mask ⊙ x`` (y has the image's shape); ``Aᵀ = A† = A`` since the mask is 0/1.

    Give at most one of (none: ``keep_ratio = 0.3``):

    * ``keep_ratio``: keep ``round(keep_ratio·H·W)`` pixels chosen at random from ``seed``;
    * ``box=(top, left, height, width)``: remove that rectangle;
    * ``mask``: an H x W 0/1 tensor/array (1 = observed), or the string :func:`encode_mask`
      makes (what :meth:`config` stores, losslessly).

    Example:
        >>> import torch
        >>> op = Inpainting((4, 4), box=(1, 1, 2, 2))
        >>> int(op.mask.sum())
        12
    """

    name = "inpainting"
    pattern_seeds = ("seed",)  # the mask only

    def __init__(
        self,
        image_size: Sequence[int],
        keep_ratio: float | None = None,
        mask: Tensor | np.ndarray | str | None = None,
        box: Sequence[int] | None = None,
        seed: int = 0,
        noise_sigma: float = 0.0,
    ):
        super().__init__(noise_sigma)
        self.image_size = validate_image_size(image_size)
        if keep_ratio is None and mask is None and box is None:
            keep_ratio = DEFAULT_KEEP_RATIO
        given = [name for name, value in (("keep_ratio", keep_ratio), ("mask", mask), ("box", box)) if value is not None]
        if len(given) != 1:
            raise ValueError(f"Inpainting takes one of keep_ratio, mask, box; got {' and '.join(given)}")
        height, width = self.image_size
        if keep_ratio is not None:
            keep_ratio = float(keep_ratio)
            if not 0 < keep_ratio <= 1:
                raise ValueError(f"keep_ratio must be in (0, 1], got {keep_ratio}")
            order = torch.randperm(height * width, generator=torch.Generator().manual_seed(int(seed)))
            values = torch.zeros(height * width, dtype=torch.float64)
            values[order[: round(keep_ratio * height * width)]] = 1
            values = values.view(height, width)
            self._spec: dict[str, Any] = {"keep_ratio": keep_ratio, "seed": int(seed)}
        elif box is not None:
            top, left, box_height, box_width = (int(v) for v in box)
            if box_height <= 0 or box_width <= 0 or top < 0 or left < 0 or top + box_height > height or left + box_width > width:
                raise ValueError(f"box (top, left, height, width) = {tuple(box)} does not fit in the {height}x{width} image")
            values = torch.ones(height, width, dtype=torch.float64)
            values[top : top + box_height, left : left + box_width] = 0
            self._spec = {"box": [top, left, box_height, box_width]}
        else:
            values = decode_mask(mask, self.image_size) if isinstance(mask, str) else self._user_mask(mask)
            self._spec = {"mask": encode_mask(values)}
        self._register_data("mask", values)

    def _user_mask(self, mask: Tensor | np.ndarray) -> Tensor:
        values = torch.as_tensor(np.asarray(mask.detach().cpu() if isinstance(mask, Tensor) else mask)).to(torch.float64)
        if tuple(values.shape) != self.image_size:
            raise ValueError(f"the inpainting mask has shape {tuple(values.shape)}, expected {self.image_size}")
        if not ((values == 0) | (values == 1)).all():
            raise ValueError("the inpainting mask must hold only 0 (missing) and 1 (observed)")
        return values

    @property
    def measurement_shape(self) -> tuple[int, int]:
        return self.image_size

    def A(self, x: Tensor) -> Tensor:
        self.check_image(x)
        return x * as_operand(self.mask, x)

    def A_adjoint(self, y: Tensor) -> Tensor:
        self.check_measurement(y)
        return y * as_operand(self.mask, y)

    def A_dagger(self, y: Tensor) -> Tensor:
        return self.A_adjoint(y)

    def _constructor_kwargs(self) -> dict[str, Any]:
        return {"image_size": list(self.image_size), **self._spec}

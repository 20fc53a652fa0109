"""Block compressed sensing with an orthonormal Gaussian matrix, as in the published IDM protocol."""
from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..runtime import single_threaded
from .base import LinearPhysics, as_operand, validate_image_size

__all__ = ["CompressedSensing", "orthonormal_rows", "BLOCK_SIZE"]


BLOCK_SIZE = 32  # the published IDM protocol's CS block side, the default everywhere (models, training, bench, CLI)
MAX_BLOCK_SIZE = 64  # Φ's Gaussian draw is B²×B² float64: 128 MiB at B = 64, 2 GiB at B = 128


def orthonormal_rows(n_rows: int, n_columns: int, seed: int) -> Tensor:
    """``n_rows`` orthonormal rows of a Haar-random ``n_columns``² orthogonal matrix (float64, CPU).

    The QR factor (signs fixed so diag(R) > 0) of a standard Gaussian ``n_columns x n_columns``
    matrix drawn on CPU from ``seed``. Its first k columns depend only on the first k Gaussian
    columns, so we factor just those: the rows for ratio 0.1 are the first rows of those for 0.3.
    Drawn and factored on CPU in float64, on one thread (QR rounds differently with different
    thread counts), so the values do not depend on the device or the thread count. Across CPUs,
    LAPACK may pick other instruction-set paths and differ in the last bits (~1e-16).
    """
    generator = torch.Generator().manual_seed(seed)
    gaussian = torch.randn(n_columns, n_columns, generator=generator, dtype=torch.float64)
    with single_threaded():
        q, r = torch.linalg.qr(gaussian[:, :n_rows])
    signs = torch.sign(torch.diagonal(r))
    signs[signs == 0] = 1
    return (q * signs).T.contiguous()


class CompressedSensing(LinearPhysics):
    """Scrambled (or plain) block compressed sensing: each block of B² pixels is measured by Φ.

    Φ is ``q x B²`` with ``q = ceil(ratio · B²)`` orthonormal rows (``Φ Φᵀ = I_q``, see
    :func:`orthonormal_rows`), fixed by ``seed``.

    * ``scramble=True`` (IDM's protocol, a scrambled block-diagonal Gaussian matrix): the
      flattened image is permuted by a random permutation of all H·W pixels (seeded by
      ``perm_seed``, default ``seed``), cut into rows of B² and each row is multiplied by Φ.
    * ``scramble=False``: plain block CS on the raster of B x B spatial blocks.

    Both use one index map ``slot_to_pixel`` (block slot -> flat pixel, -1 for padding). Sides
    that are not multiples of B are zero padded: scrambled, at the end of the permuted vector;
    plain, at the right/bottom of the image. The measurement has shape ``(N, C, n_blocks, q)``.

    Pseudo-inverse: ``A`` is block diagonal, so ``A†`` is the block-wise pseudo-inverse. For a
    full block the rows of Φ are orthonormal and ``Φ† = Φᵀ``; for a block holding padding the
    pixels see only the real columns of Φ, and ``A†`` uses ``pinv(Φ ⊙ real_columns)`` (computed
    once at construction, one per distinct padding pattern). So ``A_dagger`` is exact everywhere.

    Example:
        >>> import torch
        >>> op = CompressedSensing(ratio=0.25, image_size=(20, 20), block_size=8)
        >>> y = op.A(torch.rand(1, 1, 20, 20))
        >>> y.shape, op.A_dagger(y).shape
        (torch.Size([1, 1, 7, 16]), torch.Size([1, 1, 20, 20]))
    """

    name = "cs"
    pattern_seeds = ("perm_seed",)  # the pixel permutation only (`seed` picks the matrix)

    def __init__(
        self,
        ratio: float = 0.3,
        image_size: Sequence[int] | None = None,
        block_size: int = BLOCK_SIZE,
        seed: int = 0,
        scramble: bool = True,
        perm_seed: int | None = None,
        noise_sigma: float = 0.0,
    ):
        super().__init__(noise_sigma)
        ratio = float(ratio)
        if not 0 < ratio <= 1:
            raise ValueError(f"CS ratio must be in (0, 1], got {ratio}")
        if image_size is None:  # a default only so that ratio can have one; every CS operator has a size
            raise ValueError("CompressedSensing needs image_size (H, W)")
        self.image_size = validate_image_size(image_size)
        if int(block_size) != block_size or not 1 <= block_size <= MAX_BLOCK_SIZE:
            raise ValueError(
                f"block_size must be an int in 1..{MAX_BLOCK_SIZE} (Φ is B²×B² before its rows are kept), got {block_size!r}"
            )
        height, width = self.image_size
        if block_size > max(height, width):
            raise ValueError(f"block_size {block_size} is larger than the {height}x{width} image")
        self.ratio = ratio
        self.block_size = int(block_size)
        self.seed = int(seed)
        self.scramble = bool(scramble)
        self.perm_seed = None if perm_seed is None else int(perm_seed)
        block_pixels = self.block_size**2
        self.n_measurements = math.ceil(round(ratio * block_pixels, 9))  # round: 0.1*100 is 10.000000000000002
        self._register_data("phi", orthonormal_rows(self.n_measurements, block_pixels, self.seed))
        self._register_index_maps()
        self._register_partial_pinvs()

    # -- construction helpers -----------------------------------------------------------------
    def _slot_to_pixel(self) -> Tensor:
        """Flat pixel index of every block slot (-1 for padding), in block-major order."""
        height, width = self.image_size
        size = self.block_size
        if self.scramble:
            n_pixels = height * width
            n_slots = -(-n_pixels // size**2) * size**2
            generator = torch.Generator().manual_seed(self.seed if self.perm_seed is None else self.perm_seed)
            slots = torch.full((n_slots,), -1, dtype=torch.long)
            slots[:n_pixels] = torch.randperm(n_pixels, generator=generator)
            return slots
        blocks_down, blocks_across = -(-height // size), -(-width // size)
        rows = torch.arange(blocks_down * size).view(blocks_down, 1, size, 1)
        cols = torch.arange(blocks_across * size).view(1, blocks_across, 1, size)
        inside = (rows < height) & (cols < width)
        return torch.where(inside, rows * width + cols, -1).flatten()

    def _register_index_maps(self) -> None:
        slot_to_pixel = self._slot_to_pixel()
        real = slot_to_pixel >= 0
        pixel_to_slot = torch.empty(self.image_size[0] * self.image_size[1], dtype=torch.long)
        pixel_to_slot[slot_to_pixel[real]] = torch.nonzero(real).flatten()
        device = self.phi.device
        self._register_data("slot_to_pixel", slot_to_pixel.to(device))
        self._register_data("pixel_to_slot", pixel_to_slot.to(device))
        self.n_blocks = slot_to_pixel.numel() // self.block_size**2

    def _register_partial_pinvs(self) -> None:
        """Pseudo-inverses of Φ restricted to the real columns of blocks that hold padding."""
        real = (self.slot_to_pixel >= 0).view(self.n_blocks, -1).cpu()
        partial_blocks = torch.nonzero(~real.all(dim=1)).flatten()
        phi = self.phi.cpu()
        if len(partial_blocks):
            patterns, pattern_of_block = torch.unique(real[partial_blocks], dim=0, return_inverse=True)
            masked = phi * patterns[:, None, :]
            # pinv(M) = Mᵀ pinv(M Mᵀ): an eigh of the small q x q Gram matrix, faster and steadier
            # than a batched SVD of the q x B² matrices.
            pinvs = masked.mT @ torch.linalg.pinv(masked @ masked.mT, hermitian=True)
        else:
            pattern_of_block, pinvs = partial_blocks.clone(), phi.new_zeros(0, *phi.T.shape)
        device = self.phi.device
        self._register_data("partial_blocks", partial_blocks.to(device))
        self._register_data("partial_pattern", pattern_of_block.flatten().to(device))
        self._register_data("pattern_pinv", pinvs.to(device=device, dtype=self.phi.dtype))

    def with_permutation(self, perm_seed: int) -> CompressedSensing:
        """The same operator with a new pixel permutation; reuses Φ (IDM training redraws it every step)."""
        if not self.scramble:
            raise ValueError("with_permutation needs a scrambled operator (scramble=True)")
        twin = copy.copy(self)
        # own buffer tables so the twin's new index maps do not replace ours; Φ and the padding
        # pinvs (the padding is always the tail of the permuted vector) are shared, read-only.
        twin._buffers = dict(self._buffers)
        twin._non_persistent_buffers_set = set(self._non_persistent_buffers_set)
        twin.perm_seed = int(perm_seed)
        twin._register_index_maps()
        return twin

    # -- the operator -------------------------------------------------------------------------
    @property
    def measurement_shape(self) -> tuple[int, int]:
        return (self.n_blocks, self.n_measurements)

    def _to_blocks(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, C, n_blocks, B²) following the slot map (padding reads 0)."""
        flat = x.flatten(2)
        padded = torch.cat([flat, flat.new_zeros(*flat.shape[:2], 1)], dim=-1)  # index -1 -> the zero
        return padded[..., as_operand(self.slot_to_pixel, x)].unflatten(-1, (self.n_blocks, -1))

    def _from_blocks(self, blocks: Tensor) -> Tensor:
        """(N, C, n_blocks, B²) -> (N, C, H, W), dropping padding slots."""
        flat = blocks.flatten(2)[..., as_operand(self.pixel_to_slot, blocks)]
        return flat.unflatten(-1, self.image_size)

    def A(self, x: Tensor) -> Tensor:
        self.check_image(x)
        return self._to_blocks(x) @ as_operand(self.phi, x).T

    def A_adjoint(self, y: Tensor) -> Tensor:
        self.check_measurement(y)
        return self._from_blocks(y @ as_operand(self.phi, y))

    def A_dagger(self, y: Tensor) -> Tensor:
        self.check_measurement(y)
        blocks = y @ as_operand(self.phi, y)
        if len(self.partial_blocks):
            partial = as_operand(self.partial_blocks, y)
            pinvs = as_operand(self.pattern_pinv, y)[as_operand(self.partial_pattern, y)]
            solved = torch.einsum("pkq,ncpq->ncpk", pinvs, y.index_select(-2, partial))
            blocks = blocks.index_copy(-2, partial, solved)
        return self._from_blocks(blocks)

    def _constructor_kwargs(self) -> dict[str, Any]:
        return {
            "ratio": self.ratio,
            "image_size": list(self.image_size),
            "block_size": self.block_size,
            "seed": self.seed,
            "scramble": self.scramble,
            "perm_seed": self.perm_seed,
        }

"""Super-resolution: anti-alias filtering then decimation by an integer factor."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .base import LinearPhysics, as_operand, validate_image_size
from .fourier import circular_convolve, embed_kernel

__all__ = ["SuperResolution", "downsampling_taps"]


def _cubic(t: Tensor) -> Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's and Pillow's bicubic)."""
    t = t.abs()
    near = 1.5 * t**3 - 2.5 * t**2 + 1
    far = -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2
    return torch.where(t <= 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


def downsampling_taps(factor: int, kernel: str) -> tuple[Tensor, int]:
    """1-D weights ``w`` and first offset ``r0`` with ``y[i] = Σ_j w[j] · x[i·factor + r0 + j]``.

    ``"box"`` averages each cell of ``factor`` pixels. ``"bicubic"`` is MATLAB ``imresize``'s
    antialiased bicubic: output pixel i is centred at input position ``i·f + (f-1)/2`` and the
    cubic is stretched by ``f`` (support ``4f`` pixels); weights are normalised to sum 1.
    """
    if kernel == "box":
        return torch.full((factor,), 1.0 / factor, dtype=torch.float64), 0
    if kernel == "bicubic":
        centre = (factor - 1) / 2
        first, last = math.floor(centre - 2 * factor) + 1, math.ceil(centre + 2 * factor) - 1
        offsets = torch.arange(first, last + 1, dtype=torch.float64)
        weights = _cubic((offsets - centre) / factor)
        return weights / weights.sum(), first
    raise ValueError(f"unknown super-resolution kernel {kernel!r}; use 'box' or 'bicubic'")


class SuperResolution(LinearPhysics):
    """``y = (k ⊛ x)[::f, ::f]``: circular anti-alias filter then decimation by ``factor``.

    ``kernel="box"`` is exactly ``avg_pool2d(x, f)``; ``"bicubic"`` is MATLAB ``imresize``'s
    antialiased bicubic downscaling (a = -0.5) with circular instead of symmetric borders.

    Pseudo-inverse, exact and cheap: decimating a circular convolution makes ``A Aᵀ`` circulant
    on the low-resolution grid, with symbol ``S = f⁻² Σ_aliases |K|²`` (the ``f²`` spectral copies
    folded together), so ``A† y = Aᵀ F⁻¹(F(y) / S)`` (``1/S`` is set to 0 where ``S`` vanishes).
    For the box kernel ``S = 1/f²`` and ``A† = f² Aᵀ``. Image sides must be divisible by ``factor``.

    Example:
        >>> import torch
        >>> op = SuperResolution((8, 8), factor=2)
        >>> op.A(torch.arange(64.0).view(1, 1, 8, 8))[0, 0, 0, :2]
        tensor([4.5000, 6.5000])
    """

    name = "sr"

    def __init__(self, image_size: Sequence[int], factor: int = 2, kernel: str = "box", noise_sigma: float = 0.0):
        super().__init__(noise_sigma)
        self.image_size = validate_image_size(image_size)
        if int(factor) != factor or factor < 2:
            raise ValueError(f"super-resolution factor must be an int >= 2, got {factor!r}")
        height, width = self.image_size
        if height % factor or width % factor:
            raise ValueError(f"image size {height}x{width} is not divisible by the super-resolution factor {factor}")
        self.factor = int(factor)
        self.kernel = kernel
        weights, first = downsampling_taps(self.factor, kernel)
        # y[i] = Σ_r w[r] x[i f + r] is a convolution with the flipped taps, so tap r sits at -r.
        flipped = torch.flip(weights[:, None] * weights[None, :], dims=(0, 1))
        last = first + len(weights) - 1
        filter_plane = embed_kernel(flipped, self.image_size, (last, last))
        self._register_data("spectrum", torch.fft.rfft2(filter_plane))
        power = torch.fft.fft2(filter_plane).abs().square()
        f = self.factor
        symbol = power.view(f, height // f, f, width // f).sum(dim=(0, 2)) / f**2
        symbol = symbol[:, : width // f // 2 + 1]  # real and even, so the rfft2 half suffices
        inverse = torch.where(symbol > symbol.max() * 1e-12, 1 / symbol, torch.zeros_like(symbol))
        self._register_data("inverse_symbol", inverse)

    @property
    def measurement_shape(self) -> tuple[int, int]:
        return (self.image_size[0] // self.factor, self.image_size[1] // self.factor)

    def A(self, x: Tensor) -> Tensor:
        self.check_image(x)
        return circular_convolve(x, self.spectrum)[..., :: self.factor, :: self.factor]

    def A_adjoint(self, y: Tensor) -> Tensor:
        self.check_measurement(y)
        upsampled = y.new_zeros(*y.shape[:2], *self.image_size)
        upsampled[..., :: self.factor, :: self.factor] = y
        return circular_convolve(upsampled, self.spectrum.conj())

    def A_dagger(self, y: Tensor) -> Tensor:
        self.check_measurement(y)
        whitened = torch.fft.irfft2(torch.fft.rfft2(y) * as_operand(self.inverse_symbol, y), s=y.shape[-2:])
        return self.A_adjoint(whitened)

    def _constructor_kwargs(self) -> dict[str, Any]:
        return {"image_size": list(self.image_size), "factor": self.factor, "kernel": self.kernel}

"""Circular (FFT) convolution helpers shared by the blur and super-resolution operators."""
from __future__ import annotations

import torch
from torch import Tensor

from .base import as_operand

__all__ = ["embed_kernel", "circular_convolve"]


def embed_kernel(kernel: Tensor, image_size: tuple[int, int], origin: tuple[int, int]) -> Tensor:
    """Place a small 2-D kernel on the H x W torus with ``kernel[origin]`` on pixel (0, 0).

    Taps that wrap around (a kernel larger than the image) add up, as circular convolution does.
    """
    height, width = image_size
    rows = (torch.arange(kernel.shape[0]) - origin[0]) % height
    cols = (torch.arange(kernel.shape[1]) - origin[1]) % width
    embedded = kernel.new_zeros(height, width)
    index = (rows[:, None].expand(kernel.shape), cols[None, :].expand(kernel.shape))
    return embedded.index_put_(index, kernel, accumulate=True)


def circular_convolve(x: Tensor, spectrum: Tensor) -> Tensor:
    """Circular convolution of every (N, C) plane with the filter whose ``rfft2`` is ``spectrum``."""
    product = torch.fft.rfft2(x) * as_operand(spectrum, x)
    return torch.fft.irfft2(product, s=x.shape[-2:])

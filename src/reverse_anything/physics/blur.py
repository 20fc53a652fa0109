"""Deblurring: circular convolution with a known, normalised kernel."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .base import LinearPhysics, as_operand, validate_image_size
from .fourier import circular_convolve, embed_kernel

__all__ = ["Blur", "make_kernel"]

KernelSpec = str | Tensor | np.ndarray | Sequence[Sequence[float]]


def _explicit_kernel(kernel: Tensor | np.ndarray | Sequence[Sequence[float]]) -> Tensor:
    """A user kernel as a float64 CPU tensor (not yet normalised)."""
    if isinstance(kernel, Tensor):
        return kernel.detach().to(device="cpu", dtype=torch.float64)
    try:
        return torch.as_tensor(np.asarray(kernel, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"a blur kernel must be 'gaussian', 'uniform' or a 2-D numeric array, got {kernel!r}") from None


def make_kernel(kernel: KernelSpec, kernel_size: int | None = None, sigma: float = 1.6, max_size: int | None = None) -> Tensor:
    """A 2-D float64 blur kernel normalised to sum 1.

    ``"gaussian"`` (std ``sigma``, size ``kernel_size``, default ``2·ceil(3σ)+1``), ``"uniform"``
    (``kernel_size`` x ``kernel_size``, default 9), or an explicit 2-D array/tensor/nested list.
    ``max_size`` refuses a generated kernel wider than that *before* it is built (a typo such as
    ``sigma=1e5`` would otherwise ask for gigabytes).
    """

    def checked(size: int) -> int:
        if size < 1:
            raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
        if max_size is not None and size > max_size:
            raise ValueError(f"a {size}x{size} blur kernel is larger than the image (at most {max_size} pixels across)")
        return size

    if isinstance(kernel, str):
        if kernel == "gaussian":
            if not (math.isfinite(sigma) and sigma > 0):
                raise ValueError(f"gaussian blur needs a finite sigma > 0, got {sigma}")
            size = checked(2 * math.ceil(3 * sigma) + 1 if kernel_size is None else int(kernel_size))
            offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
            profile = torch.exp(-(offsets**2) / (2 * sigma**2))
            values = profile[:, None] * profile[None, :]
        elif kernel == "uniform":
            size = checked(9 if kernel_size is None else int(kernel_size))
            values = torch.ones(size, size, dtype=torch.float64)
        else:
            raise ValueError(f"unknown blur kernel {kernel!r}; use 'gaussian', 'uniform' or a 2-D array")
    else:
        values = _explicit_kernel(kernel)
        if values.ndim != 2 or values.numel() == 0 or not torch.isfinite(values).all():
            raise ValueError(f"a blur kernel must be a finite non-empty 2-D array, got shape {tuple(values.shape)}")
    total = values.sum()
    if total == 0:
        raise ValueError("a blur kernel must not sum to 0 (it is normalised to sum 1)")
    return values / total


class Blur(LinearPhysics):
    """Circular convolution ``y = k ⊛ x`` via ``torch.fft.rfft2``; the adjoint uses ``conj(K)``.

    The kernel is normalised to sum 1; its centre (index ``size // 2``) sits on the output pixel.
    ``A_dagger`` is the Tikhonov-regularised inverse ``conj(K) / (|K|² + eps)``: it equals the
    exact pseudo-inverse only at frequencies where ``|K|² ≫ eps``: ``‖A A† A x - A x‖`` is at most
    ``sqrt(eps)/2 · ‖x‖``. Regularising keeps ``A†y`` stable where blurs
    have (near) zeros.

    Example:
        >>> import torch
        >>> op = Blur((16, 16), kernel="gaussian", sigma=1.0)
        >>> op.A(torch.ones(1, 3, 16, 16)).mean().item()  # a normalised kernel keeps the mean
        1.0
    """

    name = "blur"

    def __init__(
        self,
        image_size: Sequence[int],
        kernel: KernelSpec = "gaussian",
        kernel_size: int | None = None,
        sigma: float = 1.6,
        eps: float = 1e-3,
        noise_sigma: float = 0.0,
    ):
        super().__init__(noise_sigma)
        self.image_size = validate_image_size(image_size)
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        values = make_kernel(kernel, kernel_size, sigma, max_size=min(self.image_size))
        if values.shape[0] > self.image_size[0] or values.shape[1] > self.image_size[1]:
            raise ValueError(f"blur kernel {tuple(values.shape)} is larger than the image {self.image_size}")
        self.eps = float(eps)
        self._kernel_spec: dict[str, Any] = (
            {"kernel": kernel, "kernel_size": kernel_size, "sigma": float(sigma)}
            if isinstance(kernel, str)
            else {"kernel": _explicit_kernel(kernel).tolist()}  # as given: re-normalising is not bit-exact
        )
        centre = (values.shape[0] // 2, values.shape[1] // 2)
        self._register_data("kernel", values)
        self._register_data("spectrum", torch.fft.rfft2(embed_kernel(values, self.image_size, centre)))

    @property
    def measurement_shape(self) -> tuple[int, int]:
        return self.image_size

    def A(self, x: Tensor) -> Tensor:
        self.check_image(x)
        return circular_convolve(x, self.spectrum)

    def A_adjoint(self, y: Tensor) -> Tensor:
        self.check_measurement(y)
        return circular_convolve(y, self.spectrum.conj())

    def A_dagger(self, y: Tensor) -> Tensor:
        self.check_measurement(y)
        spectrum = as_operand(self.spectrum, y)
        return circular_convolve(y, spectrum.conj() / (spectrum.abs().square() + self.eps))

    def _constructor_kwargs(self) -> dict[str, Any]:
        return {"image_size": list(self.image_size), **self._kernel_spec, "eps": self.eps}

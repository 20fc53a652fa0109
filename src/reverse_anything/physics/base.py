"""The shared base of every measurement operator: ``y = A x + n`` for images ``(N, C, H, W)``.

Every operator speaks the same three verbs with one meaning everywhere:

* ``A(x)``: the noiseless measurement;
* ``A_adjoint(y)``: the exact adjoint (transpose) of ``A``, so ``<A x, y> == <x, A_adjoint(y)>``;
* ``A_dagger(y)``: the Moore-Penrose pseudo-inverse (minimum-norm least-squares solution).

``forward(x)`` (i.e. ``op(x)``) adds the Gaussian measurement noise to ``A(x)``.
Operators compose with ``@`` like matrices: ``(A2 @ A1).A(x) == A2.A(A1.A(x))``.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

__all__ = [
    "LinearPhysics",
    "ComposedPhysics",
    "conjugate_gradient_least_squares",
]


# ----------------------------------------------------------------------------------------------
# small helpers shared by the operators
# ----------------------------------------------------------------------------------------------
def complex_dtype_for(dtype: torch.dtype) -> torch.dtype:
    """The complex dtype with the same precision as a real one (float32 -> complex64, ...)."""
    if dtype == torch.float64:
        return torch.complex128
    if dtype == torch.float16:
        return torch.complex32
    return torch.complex64


def as_operand(stored: Tensor, x: Tensor) -> Tensor:
    """Bring an operator's stored data to ``x``'s device and precision.

    Operators keep their matrices/masks in float64 (built once, exactly) and cast on use, so an
    operator works for whatever device and dtype the caller passes; ``.to()`` on the operator
    avoids the per-call copy.
    """
    if stored.is_complex():
        return stored.to(device=x.device, dtype=complex_dtype_for(x.dtype))
    if stored.is_floating_point():
        return stored.to(device=x.device, dtype=x.dtype)
    return stored.to(device=x.device)


def validate_image_size(image_size: Sequence[int]) -> tuple[int, int]:
    """``(H, W)`` as a tuple of positive ints, or a clear ValueError."""
    try:
        height, width = (int(side) for side in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be a pair (H, W) of positive ints, got {image_size!r}") from None
    if height <= 0 or width <= 0 or (height, width) != tuple(image_size):
        raise ValueError(f"image_size must be a pair (H, W) of positive ints, got {image_size!r}")
    return height, width


def _batch_sq_norm(t: Tensor) -> Tensor:
    """Squared norm of each batch element, shape (N,)."""
    return t.flatten(1).square().sum(1)


def _per_sample(scale: Tensor, t: Tensor) -> Tensor:
    """Multiply each batch element of ``t`` by its entry of ``scale`` (N,)."""
    return scale.view(-1, *([1] * (t.ndim - 1))) * t


def _safe_ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    """numerator / denominator, 0 where the denominator vanishes (converged or zero data)."""
    positive = denominator > 0
    return torch.where(positive, numerator / torch.where(positive, denominator, 1), 0)


def conjugate_gradient_least_squares(
    A: Callable[[Tensor], Tensor],
    A_adjoint: Callable[[Tensor], Tensor],
    y: Tensor,
    max_iter: int = 100,
    tol: float = 1e-6,
) -> Tensor:
    """Minimum-norm least-squares solution of ``A x = y`` by CGLS (Hestenes-Stiefel 1952).

    CGLS is conjugate gradient on the normal equations ``AᵀA x = Aᵀy`` without forming them.
    Starting from ``x = 0`` keeps every iterate in range(Aᵀ), so the limit is ``A† y`` even when
    ``A`` is rank deficient or ``y`` is not in range(A). Step sizes are per batch element
    (operators never mix samples). Stops when ``‖Aᵀ(y - A x)‖ <= tol · ‖Aᵀ y‖`` for every sample
    or after ``max_iter`` iterations. Differentiable (the loop is unrolled by autograd).
    """
    gradient = A_adjoint(y)
    x = torch.zeros_like(gradient)
    residual = y
    direction = gradient
    gamma = _batch_sq_norm(gradient)
    target = gamma * tol**2
    for _ in range(max_iter):
        if bool((gamma <= target).all()):
            break
        image = A(direction)
        step = _safe_ratio(gamma, _batch_sq_norm(image))
        x = x + _per_sample(step, direction)
        residual = residual - _per_sample(step, image)
        gradient = A_adjoint(residual)
        gamma_next = _batch_sq_norm(gradient)
        direction = gradient + _per_sample(_safe_ratio(gamma_next, gamma), direction)
        gamma = gamma_next
    return x


# ----------------------------------------------------------------------------------------------
# the base class
# ----------------------------------------------------------------------------------------------
class LinearPhysics(torch.nn.Module):
    """y = A x + n for images (N, C, H, W). Channels are independent (operator acts per channel).

    Subclasses implement ``A`` and ``A_adjoint`` (and, where a cheap exact formula exists,
    ``A_dagger``) plus ``_constructor_kwargs`` for :meth:`config`. Stored matrices and masks are
    float64 and cast on use (see :func:`as_operand`), so any device and float dtype works.

    Attributes:
        name: registry key used by :func:`build_operator` (e.g. ``"cs"``).
        pattern_seeds: constructor keywords that only pick a random pattern of the same kind of
            measurement (CS's pixel permutation, an inpainting or MRI mask): training draws them
            afresh so a model is not tied to one, and a model's ``serves`` never constrains them.
        noise_sigma: standard deviation of the additive white Gaussian noise of :meth:`forward`.
        image_size: ``(H, W)`` the operator was built for, or ``None`` if any size works.
        dagger_max_iter, dagger_tol: settings of the generic CGLS pseudo-inverse (assignable
            per instance).
    """

    name: ClassVar[str] = ""
    pattern_seeds: ClassVar[tuple[str, ...]] = ()
    dagger_max_iter: int = 100
    dagger_tol: float = 1e-6

    def __init__(self, noise_sigma: float = 0.0):
        super().__init__()
        noise_sigma = float(noise_sigma)
        if not math.isfinite(noise_sigma) or noise_sigma < 0:
            raise ValueError(f"noise_sigma must be a finite number >= 0, got {noise_sigma}")
        self.noise_sigma = noise_sigma
        self.image_size: tuple[int, int] | None = None

    @property
    def family(self) -> str:
        """The kind of measurement, for per-operator defaults (e.g. TV weights): ``name``, except
        where a wrapper such as :class:`~reverse_anything.physics.Tiled` reports what it wraps."""
        return self.name

    def with_noise(self, noise_sigma: float) -> LinearPhysics:
        """The same ``A`` with another measurement noise level (a shallow copy: the operator data is shared)."""
        noise_sigma = float(noise_sigma)
        if not math.isfinite(noise_sigma) or noise_sigma < 0:
            raise ValueError(f"noise_sigma must be a finite number >= 0, got {noise_sigma}")
        twin = copy.copy(self)
        # own module tables, so .to() on the twin never swaps the original's tensors
        twin._buffers, twin._modules, twin._parameters = dict(self._buffers), dict(self._modules), dict(self._parameters)
        twin._non_persistent_buffers_set = set(self._non_persistent_buffers_set)
        twin.noise_sigma = noise_sigma
        return twin

    def _register_data(self, name: str, tensor: Tensor | None) -> None:
        """Keep operator data as a non-persistent buffer: it follows ``.to()`` but stays out of
        ``state_dict`` (it is derived from :meth:`config`, and would bloat model checkpoints)."""
        self.register_buffer(name, tensor, persistent=False)

    # -- the three verbs ----------------------------------------------------------------------
    def A(self, x: Tensor) -> Tensor:
        """The noiseless measurement ``A x``."""
        raise NotImplementedError

    def A_adjoint(self, y: Tensor) -> Tensor:
        """The exact adjoint ``Aᵀ y``."""
        raise NotImplementedError

    def A_dagger(self, y: Tensor) -> Tensor:
        """The pseudo-inverse ``A† y`` by CGLS, using only ``A``/``A_adjoint``.

        Accuracy is set by ``dagger_max_iter``/``dagger_tol``; subclasses with an exact or cheap
        formula override this.
        """
        self.check_measurement(y)
        return conjugate_gradient_least_squares(self.A, self.A_adjoint, y, self.dagger_max_iter, self.dagger_tol)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Noisy measurement ``A x + noise_sigma · ε``, ε ~ N(0, I).

        ``generator`` (on ``x``'s device) makes the noise reproducible.
        """
        y = self.A(x)
        if self.noise_sigma > 0:
            noise = torch.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype)
            y = y + self.noise_sigma * noise
        return y

    # -- shapes and checks -------------------------------------------------------------------
    @property
    def measurement_shape(self) -> tuple[int, ...] | None:
        """Shape of one channel's measurement (the dims after N, C); None if it follows the input."""
        return None

    def check_image(self, x: Tensor) -> None:
        """Raise ValueError unless ``x`` is a float image batch (N, C, H, W) this operator accepts."""
        cls = type(self).__name__
        if not isinstance(x, Tensor):
            raise ValueError(f"{cls} expects a torch.Tensor image, got {type(x).__name__}")
        if x.ndim != 4:
            raise ValueError(f"{cls} expects images of shape (N, C, H, W), got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"{cls} expects a floating-point image, got dtype {x.dtype}")
        if self.image_size is not None and tuple(x.shape[-2:]) != self.image_size:
            height, width = self.image_size
            raise ValueError(
                f"{cls} was built for {height}x{width} images, got {x.shape[-2]}x{x.shape[-1]}"
            )

    def check_measurement(self, y: Tensor) -> None:
        """Raise ValueError unless ``y`` has this operator's measurement shape (N, C, *measurement_shape)."""
        cls = type(self).__name__
        if not isinstance(y, Tensor):
            raise ValueError(f"{cls} expects a torch.Tensor measurement, got {type(y).__name__}")
        if not y.is_floating_point():
            raise ValueError(f"{cls} expects a floating-point measurement, got dtype {y.dtype}")
        expected = self.measurement_shape
        if expected is None:
            if y.ndim < 3:
                raise ValueError(f"{cls} expects a measurement of shape (N, C, ...), got shape {tuple(y.shape)}")
        elif tuple(y.shape[2:]) != expected or y.ndim != 2 + len(expected):
            raise ValueError(
                f"{cls} expects measurements of shape (N, C, {', '.join(map(str, expected))}), "
                f"got shape {tuple(y.shape)}"
            )

    # -- serialisation ------------------------------------------------------------------------
    def _constructor_kwargs(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments except ``noise_sigma``."""
        raise ValueError(f"{type(self).__name__} cannot be serialised to a config")

    def config(self) -> dict[str, Any]:
        """``{"operator": name, **constructor kwargs}``; ``build_operator(op.config())`` rebuilds ``op``."""
        return {"operator": self.name, **self._constructor_kwargs(), "noise_sigma": self.noise_sigma}

    @classmethod
    def from_config(cls, kwargs: dict[str, Any]) -> LinearPhysics:
        """Build from the keyword part of a config (the ``"operator"`` key removed)."""
        return cls(**kwargs)

    # -- composition --------------------------------------------------------------------------
    def compose(self, other: LinearPhysics) -> ComposedPhysics:
        """``self ∘ other``: measure with ``other`` first, then with ``self``."""
        return ComposedPhysics(self, other)

    def __matmul__(self, other: LinearPhysics) -> ComposedPhysics:
        if not isinstance(other, LinearPhysics):
            return NotImplemented
        return self.compose(other)

    def extra_repr(self) -> str:
        try:
            kwargs = self._constructor_kwargs()
        except ValueError:
            return f"noise_sigma={self.noise_sigma}"
        shown = {k: v for k, v in kwargs.items() if len(repr(v)) <= 40}  # skip masks, matrices
        return ", ".join(f"{k}={v!r}" for k, v in {**shown, "noise_sigma": self.noise_sigma}.items())


class ComposedPhysics(LinearPhysics):
    """``outer ∘ inner``: ``A x = outer.A(inner.A(x))``, adjoint in reverse order, ``A†`` by CGLS.

    The noise is the outer operator's (measurement noise is added once, at the end); the inner
    operator's ``noise_sigma`` is ignored.

    Example:
        >>> import torch
        >>> from reverse_anything.physics import Blur, Inpainting
        >>> op = Inpainting((8, 8), keep_ratio=0.5) @ Blur((8, 8), kernel="uniform", kernel_size=3)
        >>> op.A(torch.ones(1, 1, 8, 8)).shape
        torch.Size([1, 1, 8, 8])
    """

    name = "composed"

    def __init__(self, outer: LinearPhysics, inner: LinearPhysics, noise_sigma: float | None = None):
        if not isinstance(outer, LinearPhysics) or not isinstance(inner, LinearPhysics):
            raise ValueError("ComposedPhysics composes two LinearPhysics operators")
        super().__init__(outer.noise_sigma if noise_sigma is None else noise_sigma)
        produced, expected = inner.measurement_shape, outer.image_size
        if produced is not None and expected is not None and produced != expected:
            raise ValueError(
                f"cannot compose: the inner operator measures shape {produced} but the outer one expects images {expected}"
            )
        self.outer = outer
        self.inner = inner
        self.image_size = inner.image_size

    @property
    def measurement_shape(self) -> tuple[int, ...] | None:
        return self.outer.measurement_shape

    def check_image(self, x: Tensor) -> None:
        self.inner.check_image(x)

    def check_measurement(self, y: Tensor) -> None:
        self.outer.check_measurement(y)

    def A(self, x: Tensor) -> Tensor:
        return self.outer.A(self.inner.A(x))

    def A_adjoint(self, y: Tensor) -> Tensor:
        return self.inner.A_adjoint(self.outer.A_adjoint(y))

    def config(self) -> dict[str, Any]:
        return {
            "operator": self.name,
            "outer": self.outer.config(),
            "inner": self.inner.config(),
            "noise_sigma": self.noise_sigma,
        }

    @classmethod
    def from_config(cls, kwargs: dict[str, Any]) -> ComposedPhysics:
        from .registry import build_operator  # the registry imports this module

        kwargs = dict(kwargs)
        outer, inner = build_operator(kwargs.pop("outer")), build_operator(kwargs.pop("inner"))
        return cls(outer, inner, **kwargs)

    def extra_repr(self) -> str:
        return f"noise_sigma={self.noise_sigma}"

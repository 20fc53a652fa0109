"""Restoration methods behind one name-based registry.

Every method is reached as ``get_restorer(name, **options)``, which returns a function
``restore(op, y) -> x``.  The CLI, the evaluation loop and user code all go through it, so a
new method (the learned ones take a ``model`` option) becomes available everywhere by adding
one factory to ``_FACTORIES``.  Restorers run on the device and dtype of ``y``; every factory
takes ``progress: bool`` (show a tqdm bar on stderr while restoring).
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from torch import Tensor

from .classical import TV_DEFAULTS, LinearOperatorLike, pinv, tv
from .diffusion import ddnm_restorer, ddpm_restorer
from .learned import idm_restorer
from .pnp import pnp_restorer

__all__ = [
    "Restorer",
    "TV_DEFAULTS",
    "available_methods",
    "get_restorer",
    "pinv",
    "tv",
]

Restorer = Callable[[LinearOperatorLike, Tensor], Tensor]
RestorerFactory = Callable[..., Restorer]


def _pinv_factory(progress: bool = False) -> Restorer:
    """``A† y``; ``progress`` is accepted (every method takes it) but it is a single step."""
    return pinv


def _tv_factory(
    weight: float | None = None,
    iterations: int | None = None,
    tolerance: float = 1e-5,
    box: tuple[float, float] | None = (0.0, 1.0),
    progress: bool = False,
) -> Restorer:
    """TV-regularised least squares; ``None`` options take the per-operator tuned defaults."""
    return functools.partial(
        tv, weight=weight, iterations=iterations, tolerance=tolerance, box=box, progress=progress
    )


# Read-only on purpose: methods are added here in code, not registered at run time.
_FACTORIES: Mapping[str, RestorerFactory] = MappingProxyType(
    {
        "pinv": _pinv_factory,
        "tv": _tv_factory,
        "idm": idm_restorer,
        "ddpm": ddpm_restorer,
        "ddnm": ddnm_restorer,
        "pnp": pnp_restorer,
    }
)


def available_methods() -> tuple[str, ...]:
    """Names accepted by :func:`get_restorer`, sorted."""
    return tuple(sorted(_FACTORIES))


def get_restorer(name: str, **options: Any) -> Restorer:
    """The restoration function registered as ``name``, configured with ``options``.

    Raises:
        ValueError: unknown method name, or an option the method does not take.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ValueError(
            f"unknown method {name!r}; available methods: {', '.join(available_methods())}"
        )
    accepted = inspect.signature(factory).parameters
    rejected = sorted(set(options) - set(accepted))
    if rejected:
        raise ValueError(
            f"method {name!r} does not take option(s) {', '.join(rejected)}; "
            f"it accepts: {', '.join(accepted) or 'none'}"
        )
    return factory(**options)

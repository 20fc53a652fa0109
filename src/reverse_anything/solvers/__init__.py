"""Restoration methods behind one name-based registry.

Every method is a :class:`Restorer` class, reached as ``get_restorer(name, **options)``: configured
once, then called per measurement, ``restorer(op, y) -> x``, with ``model`` / ``model_name`` saying
what it runs. The CLI, the evaluation loop, the benchmark, the demo and user code all go through
this one registry, so a new method becomes available everywhere by adding its class to
``RESTORERS``. Restorers run on the device and dtype of ``y``; every method takes ``progress: bool``
(show a tqdm bar on stderr while restoring).
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .base import Restorer
from .classical import TV_DEFAULTS, PinvRestorer, TVRestorer, pinv, tv
from .diffusion import DDNMRestorer, DDPMRestorer
from .learned import IDMRestorer
from .pnp import PnPRestorer

__all__ = [
    "Restorer",
    "RESTORERS",
    "PinvRestorer",
    "TVRestorer",
    "DDPMRestorer",
    "DDNMRestorer",
    "PnPRestorer",
    "IDMRestorer",
    "TV_DEFAULTS",
    "available_methods",
    "get_restorer",
    "method_options",
    "pinv",
    "tv",
]

# Read-only on purpose: methods are added here in code, not registered at run time.
RESTORERS: Mapping[str, type[Restorer]] = MappingProxyType(
    {cls.name: cls for cls in (PinvRestorer, TVRestorer, IDMRestorer, DDPMRestorer, DDNMRestorer, PnPRestorer)}
)


def available_methods() -> tuple[str, ...]:
    """Names accepted by :func:`get_restorer`, sorted."""
    return tuple(sorted(RESTORERS))


def method_options(name: str) -> tuple[str, ...]:
    """The options method ``name`` takes (its constructor's keywords)."""
    return tuple(key for key in inspect.signature(RESTORERS[name].__init__).parameters if key != "self")


def get_restorer(name: str, **options: Any) -> Restorer:
    """The restorer registered as ``name``, configured with ``options``.

    Raises:
        ValueError: unknown method name, or an option the method does not take.
    """
    if name not in RESTORERS:
        raise ValueError(f"unknown method {name!r}; available methods: {', '.join(available_methods())}")
    accepted = method_options(name)
    rejected = sorted(set(options) - set(accepted))
    if rejected:
        raise ValueError(
            f"method {name!r} does not take option(s) {', '.join(rejected)}; it accepts: {', '.join(accepted) or 'none'}"
        )
    return RESTORERS[name](**options)

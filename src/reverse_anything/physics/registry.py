"""The operator registry: every built-in operator by its ``name``, built from a config dict, its constructor's
keywords and defaults (the one place front ends read them), and the family per-family settings are keyed by."""
from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from .base import LinearPhysics

__all__ = ["build_operator", "operator_class", "operator_defaults", "operator_family", "operator_keywords", "sized_operator_config"]


def operator_family(op: object) -> str:
    """The family an operator's per-family settings are looked up by (TV weights, pnp schedules, IDM starts,
    model cards): ``family`` (a tiled operator's is the one it wraps), else ``name``, else the class name, so
    duck-typed operators that are not :class:`LinearPhysics` get an answer too."""
    family = getattr(op, "family", None) or getattr(op, "name", None)
    return str(family) if family else type(op).__name__


def _registered_operators() -> dict[str, type[LinearPhysics]]:
    """Every LinearPhysics subclass that declares its own ``name``, keyed by that name.

    Walking the subclass tree (instead of a module-level dict filled at import) keeps no global
    mutable state; importing :mod:`reverse_anything.physics` imports all built-in operators.
    """
    found: dict[str, type[LinearPhysics]] = {}
    pending = list(LinearPhysics.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        name = cls.__dict__.get("name")
        if name:
            if name in found and found[name] is not cls:
                raise ValueError(f"two operator classes share the name {name!r}: {found[name].__qualname__}, {cls.__qualname__}")
            found[name] = cls
    return found


def build_operator(config: dict[str, Any]) -> LinearPhysics:
    """Build an operator from a config dict ``{"operator": name, **kwargs}`` (see ``LinearPhysics.config``)."""
    if not isinstance(config, dict) or "operator" not in config:
        raise ValueError(f"an operator config is a dict with an 'operator' key, got {config!r}")
    kwargs = dict(config)
    name = kwargs.pop("operator")
    cls = operator_class(name)
    try:
        return cls.from_config(kwargs)
    except TypeError as error:
        raise ValueError(f"bad arguments for operator {name!r}: {error}") from None


def operator_class(name: str) -> type[LinearPhysics]:
    """The operator class registered under ``name`` (what :func:`build_operator` builds for it)."""
    known = _registered_operators()
    if name not in known:
        raise ValueError(f"unknown operator {name!r}; known operators: {', '.join(sorted(known))}")
    return known[name]


def _constructor_parameters(name: str) -> Mapping[str, inspect.Parameter]:
    parameters = inspect.signature(operator_class(name).__init__).parameters
    return {key: p for key, p in parameters.items() if key != "self"}


def operator_keywords(name: str) -> tuple[str, ...]:
    """The constructor keywords of operator ``name`` (what its config, a CLI flag or a description may set)."""
    return tuple(_constructor_parameters(name))


def operator_defaults(name: str) -> dict[str, Any]:
    """The constructor defaults of operator ``name`` (``{"ratio": 0.3, "seed": 0, ...}`` for ``"cs"``).

    Defaults live only in the constructors; front ends (the CLI's help, evaluation's crop rule) read them here.
    """
    return {key: p.default for key, p in _constructor_parameters(name).items() if p.default is not inspect.Parameter.empty}


def sized_operator_config(config: dict[str, Any], image_size: Sequence[int]) -> dict[str, Any]:
    """``config`` with the image size under the keyword its operator's constructor takes (``image_size`` or the
    matrix operator's ``image_shape``); operators of any size (denoising) get none."""
    keywords = operator_keywords(config["operator"])
    return {**config, **{keyword: tuple(image_size) for keyword in ("image_size", "image_shape") if keyword in keywords}}

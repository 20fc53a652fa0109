"""JSON round-trip for model config dataclasses (the ``config`` part of a model file)."""
from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["JsonConfig"]

ConfigT = TypeVar("ConfigT", bound="JsonConfig")


class JsonConfig:
    """Mixin for dataclasses stored as JSON: unknown keys are refused, JSON lists become tuples again.

    A field holds a tuple exactly when its default is a tuple, so configs written by
    :meth:`to_dict` and read back compare equal.
    """

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[ConfigT], data: dict[str, Any]) -> ConfigT:
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - set(fields)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
        values = dict(data)
        for name, value in values.items():
            if isinstance(fields[name].default, tuple) and isinstance(value, list):
                values[name] = tuple(value)
        return cls(**values)

"""Which measurements a model serves, as data on its JSON card, checked against an operator's ``config()``.

A description maps operator-config keys to what the model accepts::

    {"operator": "cs", "ratio": {"min": 0.1, "max": 0.5}, "scramble": true}

* a plain value must equal the operator's (``"operator"`` is the family, ``op.name``);
* ``{"min": a, "max": b}`` is an inclusive numeric range;
* ``{"one_of": [...]}`` is a set of accepted values.

A model trained on several operators (one model for all) carries a list of descriptions and
serves a measurement any of them admits. An empty description serves every operator. Nothing here
knows any operator family, so a model for a new operator needs a new card, not new code, and
shipped models are matched to a measurement from their cards alone.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..physics import operator_family

__all__ = ["breadth", "check_description", "refusal_for", "descriptions", "Serves"]

Serves = Mapping[str, Any] | list  # one description, or a list of them (a model for several operators)

TOLERANCE = 1e-6  # ratios come back from arithmetic (m / n); a range edge given as 0.1 must admit 0.1000000001


def descriptions(serves: Serves) -> list[Mapping[str, Any]]:
    """The descriptions of ``serves`` as a list (``[]``: serves everything)."""
    if isinstance(serves, Mapping):
        return [serves] if serves else []
    return list(serves)


def breadth(serves: Serves) -> float:
    """How much of each served operator family a card covers, to rank models serving the same descriptions:
    the sum, over the descriptions' ranges, of their relative width ``(max - min) / max``, plus one per extra
    ``one_of`` value. ``0`` for a single setting (e.g. CS at ratio 0.3 only); ``inf`` serves everything."""
    listed = descriptions(serves)
    if not listed:
        return float("inf")
    total = 0.0
    for description in listed:
        for rule in description.values():
            if isinstance(rule, Mapping) and "min" in rule:
                high, low = float(rule["max"]), float(rule["min"])
                total += (high - low) / abs(high) if high else 0.0
            elif isinstance(rule, Mapping):
                total += len(rule["one_of"]) - 1
    return total


def check_description(serves: Serves) -> None:
    """Refuse a malformed description (or list of them) when a config is made, not when a measurement arrives."""
    if isinstance(serves, (list, tuple)):
        if not serves:
            raise ValueError("serves: a list of descriptions must not be empty (use {} to serve every operator)")
        for description in serves:
            if not isinstance(description, Mapping) or "operator" not in description:
                raise ValueError(f"serves: each description of a list names its operator, got {description!r}")
            check_description(description)
        return
    if not isinstance(serves, Mapping):
        raise ValueError(f"serves must be a mapping of operator-config keys, got {serves!r}")
    for key, rule in serves.items():
        if isinstance(rule, Mapping):
            if set(rule) == {"min", "max"}:
                if not float(rule["min"]) <= float(rule["max"]):
                    raise ValueError(f"serves[{key!r}]: min {rule['min']} is above max {rule['max']}")
            elif set(rule) != {"one_of"} or not isinstance(rule["one_of"], list):
                raise ValueError(f"serves[{key!r}] must be a value, {{'min', 'max'}} or {{'one_of': [...]}}, got {dict(rule)}")


def _describe(key: str, rule: Any) -> str:
    if isinstance(rule, Mapping) and "min" in rule:
        return f"{key}={rule['min']:g} only" if rule["min"] == rule["max"] else f"{key} in {rule['min']:g}..{rule['max']:g}"
    if isinstance(rule, Mapping):
        return f"{key} one of " + ", ".join(map(str, rule["one_of"]))
    return f"{key}={rule} only"


def _accepts(rule: Any, value: Any) -> bool:
    if isinstance(rule, Mapping) and "min" in rule:
        return isinstance(value, (int, float)) and rule["min"] - TOLERANCE <= value <= rule["max"] + TOLERANCE
    if isinstance(rule, Mapping):
        return value in rule["one_of"]
    return value == rule


def refusal_for(serves: Serves, physics: object, what: str = "this model") -> str | None:
    """Why ``what`` cannot invert ``physics`` (one line), or ``None`` when a description admits the operator.

    With several descriptions the reason given is that of the first one for the operator's family,
    or, when no description is for that family, the list of families served.
    """
    listed = descriptions(serves)
    if not listed:
        return None
    reasons = [_refusal(description, physics, what) for description in listed]
    if any(reason is None for reason in reasons):
        return None
    family = operator_family(physics)
    same_family = [r for d, r in zip(listed, reasons) if d.get("operator") in (None, family)]
    if same_family or len(listed) == 1:
        return (same_family or reasons)[0]
    families = ", ".join(dict.fromkeys(repr(d["operator"]) for d in listed))
    return f"{what} was trained for operators {families}, not {family!r}"


def _refusal(serves: Mapping[str, Any], physics: object, what: str) -> str | None:
    if not serves:
        return None
    family = operator_family(physics)
    wanted = serves.get("operator")
    if wanted is not None and family != wanted:
        return f"{what} was trained for operator {wanted!r}, not {family!r}"
    try:
        description = physics.config()  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return f"{what} serves only operators that describe themselves (config()); {family!r} does not"
    for key, rule in serves.items():
        if key == "operator":
            continue
        if key not in description:
            return f"{what} needs the operator's {key}, which {family!r} does not have"
        if not _accepts(rule, description[key]):
            return f"{what} serves {family} with {_describe(key, rule)}, not {key}={description[key]}"
    return None

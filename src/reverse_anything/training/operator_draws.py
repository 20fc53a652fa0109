"""Training on any operator: draw concrete operators from ``serves``-style descriptions.

A training run names the measurements it trains for with the same descriptions a model card
carries (``models/serves.py``), so what a model was trained on and what it says it serves are one
piece of data::

    {"operator": "inpainting", "keep_ratio": {"min": 0.2, "max": 0.5}}
    {"operator": "sr", "factor": 4, "kernel": "bicubic"}
    {"operator": "mri", "acceleration": {"one_of": [4, 8]}, "mask": "random"}

Each iteration draws one description (uniformly), then each of its rules: a plain value is used
as given, ``{"min", "max"}`` uniformly on a grid (0.01, finer for ranges narrower than 0.1, such as
noise levels: about a hundredth of the range; so operators can be cached), ``{"one_of"}``
uniformly from the list. A random pattern the operator has (CS's pixel permutation
``perm_seed``, a mask's ``seed``) is drawn fresh every iteration unless the description fixes it,
so the model is not tied to one pattern; such seeds never enter the model's ``serves``. Nothing
here knows an operator family: the keys are the operators' constructor keywords.
"""
from __future__ import annotations

import copy
import inspect
import itertools
import json
import math
from collections.abc import Mapping
from typing import Any

import torch

from ..physics import LinearPhysics, build_operator, operator_class
from ..models.serves import check_description

__all__ = [
    "PATTERN_SEEDS",
    "OperatorDraws",
    "check_training_operators",
    "served_description",
    "setting_label",
    "validation_operator",
    "validation_settings",
]

PATTERN_SEEDS = ("perm_seed", "seed")  # constructor keywords that only pick a random pattern


def _parameters(family: str) -> Mapping[str, inspect.Parameter]:
    return inspect.signature(operator_class(family).__init__).parameters


def check_training_operators(descriptions: list) -> None:
    """Refuse a description that names an unknown family or a keyword its constructor does not take."""
    for description in descriptions:
        if not isinstance(description, Mapping) or "operator" not in description:
            raise ValueError(f"operators: each entry is a description with an 'operator' key, got {description!r}")
        check_description(description)
        parameters = _parameters(description["operator"])  # ValueError names the known operators
        unknown = sorted(set(description) - {"operator"} - set(parameters))
        if unknown:
            raise ValueError(f"operators: {description['operator']!r} takes no {', '.join(unknown)}")
        if "image_size" in description or "image_shape" in description:
            raise ValueError("operators: the image size comes from the patch size, not the description")


def served_description(description: Mapping[str, Any], noiseless: bool = True) -> dict[str, Any]:
    """What a model trained on ``description`` serves: the description without its pattern seeds, and (for a
    description without noise, trained ``noiseless``) noiseless measurements only, so a noisy one goes to a
    model trained with noise."""
    served = {key: value for key, value in description.items() if key not in PATTERN_SEEDS}
    if noiseless and "noise_sigma" not in served:
        served["noise_sigma"] = 0.0
    return served


def grid_decimals(lo: float, hi: float) -> int:
    """Decimals of a range's draw grid: 2 (0.01) for ranges of 0.1 and wider, one more per tenfold narrower."""
    return 2 + max(0, math.ceil(-math.log10(hi - lo)) - 1) if hi > lo else 2


def _draw_rule(rule: Any, generator: torch.Generator) -> Any:
    if isinstance(rule, Mapping) and "min" in rule:
        lo, hi = float(rule["min"]), float(rule["max"])
        value = round(lo + (hi - lo) * torch.rand((), generator=generator).item(), grid_decimals(lo, hi)) if hi > lo else lo
        return int(round(value)) if isinstance(rule["min"], int) and isinstance(rule["max"], int) else value
    if isinstance(rule, Mapping):
        return rule["one_of"][int(torch.randint(len(rule["one_of"]), (), generator=generator))]
    return rule


def _sized(family: str, config: dict[str, Any], size: tuple[int, int]) -> dict[str, Any]:
    parameters = _parameters(family)
    for keyword in ("image_size", "image_shape"):
        if keyword in parameters:
            config[keyword] = size
    return config


class OperatorDraws:
    """Concrete operators for ``(size, size)`` patches, drawn from a list of descriptions.

    Operators are cached by their config without the per-iteration permutation and noise level (an
    operator with ``with_permutation``, such as CS, gets a fresh permutation cheaply, and a new noise
    level is a shallow copy: its matrix is built once).
    """

    def __init__(self, descriptions: list, size: int) -> None:
        check_training_operators(descriptions)
        self.descriptions = [dict(d) for d in descriptions]
        self.size = (size, size)
        self._cache: dict[str, LinearPhysics] = {}

    def draw(self, generator: torch.Generator, device: torch.device | str = "cpu") -> tuple[LinearPhysics, dict[str, Any], str]:
        """One operator (on ``device``), its config (without the image size) and its log label
        (:func:`setting_label`); all randomness comes from ``generator``."""
        index = int(torch.randint(len(self.descriptions), (), generator=generator)) if len(self.descriptions) > 1 else 0
        description = self.descriptions[index]
        family = description["operator"]
        config = {key: _draw_rule(rule, generator) for key, rule in description.items()}
        parameters = _parameters(family)
        for seed in PATTERN_SEEDS:
            if seed in parameters and seed not in description:
                config[seed] = int(torch.randint(0, 2**31 - 1, (), generator=generator))
        return self._operator(config, device), config, setting_label(config, description)

    def _operator(self, config: dict[str, Any], device: torch.device | str) -> LinearPhysics:
        permutation = config.get("perm_seed")
        base = {k: v for k, v in config.items() if k not in ("perm_seed", "noise_sigma")}
        key = json.dumps(base | {"device": str(device)}, sort_keys=True)
        if key not in self._cache:
            self._cache[key] = build_operator(_sized(config["operator"], dict(base), self.size)).to(device)
            if len(self._cache) > 256:  # continuous ranges of non-permuted operators: keep memory bounded
                self._cache.pop(next(iter(self._cache)))
        operator = self._cache[key]
        if permutation is not None and hasattr(operator, "with_permutation") and config.get("scramble", True):
            operator = operator.with_permutation(permutation)
        if "noise_sigma" in config:
            operator = copy.copy(operator)  # the same A, this draw's noise level
            operator.noise_sigma = float(config["noise_sigma"])
        return operator


def validation_settings(description: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Fixed settings to validate a description on: range midpoints (0.01 grid), every ``one_of`` value."""
    choices: dict[str, list[Any]] = {}
    for key, rule in description.items():
        if isinstance(rule, Mapping) and "min" in rule:
            middle = round((float(rule["min"]) + float(rule["max"])) / 2, 2)
            choices[key] = [int(round(middle)) if isinstance(rule["min"], int) and isinstance(rule["max"], int) else middle]
        elif isinstance(rule, Mapping):
            choices[key] = list(rule["one_of"])
        else:
            choices[key] = [rule]
    return [dict(zip(choices, values)) for values in itertools.product(*choices.values())]


def validation_operator(setting: Mapping[str, Any], size: tuple[int, int], index: int) -> LinearPhysics:
    """The operator of a validation ``setting`` for held-out image ``index`` (its patterns seeded by the index)."""
    family = setting["operator"]
    config = dict(setting)
    for seed in PATTERN_SEEDS:
        if seed in _parameters(family) and seed not in setting:
            config[seed] = 10_000 + index
    return build_operator(_sized(family, config, size))


def setting_label(setting: Mapping[str, Any], description: Mapping[str, Any]) -> str:
    """``inpainting(keep_ratio=0.35)``: the family and the keys the description lets vary."""
    varying = [f"{key}={setting[key]:g}" if isinstance(setting[key], float) else f"{key}={setting[key]}"
               for key, rule in description.items() if isinstance(rule, Mapping)]
    return f"{setting['operator']}({', '.join(varying)})" if varying else str(setting["operator"])

"""Training on any operator: draw concrete operators from ``serves``-style descriptions.

A training run names the measurements it trains for with the same descriptions a model card
carries (``models/serves.py``), so what a model was trained on and what it says it serves are one
piece of data::

    {"operator": "inpainting", "keep_ratio": {"min": 0.2, "max": 0.5}}
    {"operator": "sr", "factor": 4, "kernel": "bicubic"}
    {"operator": "mri", "acceleration": {"one_of": [4, 8]}, "mask": "random"}

Each iteration draws one description (uniformly), then each of its rules: a plain value is used
as given; ``{"min", "max"}`` uniformly, integers among the integers, numbers on a grid (0.01 for
ranges 0.1 wide or wider, about a hundredth of the range for narrower ones such as noise levels);
``{"one_of"}`` uniformly from the list. The random pattern an operator has (its class's
``pattern_seeds``: CS's pixel permutation, an inpainting or MRI mask) is drawn fresh every iteration
unless the description fixes it, so the model is not tied to one pattern. Nothing here knows an
operator family: the keys are the operators' constructor keywords.
"""
from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from typing import Any

import torch

from ..models.serves import check_description
from ..physics import LinearPhysics, build_operator, operator_class, operator_keywords, sized_operator_config

__all__ = [
    "SEED_KEYWORDS",
    "OperatorDraws",
    "check_training_operators",
    "grid_decimals",
    "label_keys",
    "served_description",
    "setting_label",
    "validation_operator",
    "validation_settings",
]

SEED_KEYWORDS = ("seed", "perm_seed")  # never part of what a model serves: it is applied to the user's own patterns/matrices
_CACHE_SIZE = 256


def _is_range(rule: Any) -> bool:
    return isinstance(rule, Mapping) and "min" in rule


def _is_int_range(rule: Mapping[str, Any]) -> bool:
    return all(isinstance(rule[k], int) and not isinstance(rule[k], bool) for k in ("min", "max"))


def grid_decimals(lo: float, hi: float) -> int:
    """Decimals of a range's draw grid: 2 (0.01) for ranges 0.1 wide or wider, else about a hundredth of the range."""
    return 2 if hi - lo >= 0.1 or hi <= lo else math.ceil(-math.log10(hi - lo)) + 2


def label_keys(description: Mapping[str, Any], descriptions: list) -> list[str]:
    """The keys that tell a setting of ``description`` apart: those it lets vary, and those whose fixed value
    differs from another description of the same family."""
    family = description["operator"]
    siblings = [d for d in descriptions if d["operator"] == family and d is not description]
    return [key for key, rule in description.items() if key != "operator" and (
        isinstance(rule, Mapping) or any(json.dumps(d.get(key), sort_keys=True) != json.dumps(rule, sort_keys=True) for d in siblings))]


def setting_label(setting: Mapping[str, Any], keys: list[str]) -> str:
    """``inpainting(keep_ratio=0.35)``: the family and the values of ``keys``."""
    shown = [f"{key}={setting[key]:g}" if isinstance(setting[key], float) else f"{key}={setting[key]}" for key in keys]
    return f"{setting['operator']}({', '.join(shown)})" if shown else str(setting["operator"])


def _extreme_settings(description: Mapping[str, Any], limit: int = 64) -> list[dict[str, Any]]:
    """Every combination of each rule's extremes (min and max, every ``one_of`` value), at most ``limit``."""
    choices = {key: [rule["min"], rule["max"]] if _is_range(rule) else list(rule["one_of"]) if isinstance(rule, Mapping) else [rule]
               for key, rule in description.items()}
    return [dict(zip(choices, values)) for values in itertools.islice(itertools.product(*choices.values()), limit)]


def check_training_operators(descriptions: list, size: int = 64) -> None:
    """Refuse, before any training, a description that names an unknown family, a keyword its constructor does
    not take, a value it refuses (checked by building the operator at every extreme for ``size`` patches), or one
    that cannot be told apart from another."""
    for description in descriptions:
        if not isinstance(description, Mapping) or "operator" not in description:
            raise ValueError(f"operators: each entry is a description with an 'operator' key, got {description!r}")
        check_description(description)
        family = description["operator"]
        unknown = sorted(set(description) - {"operator"} - set(operator_keywords(family)))  # an unknown family: ValueError
        if unknown:
            raise ValueError(f"operators: {family!r} takes no {', '.join(unknown)}")
        if "image_size" in description or "image_shape" in description:
            raise ValueError("operators: the image size comes from the patch size, not the description")
        for setting in _extreme_settings(description):
            try:
                build_operator(sized_operator_config(setting, (size, size)))
            except ValueError as error:
                raise ValueError(f"operators: {json.dumps(setting)} at {size}x{size}: {error}") from None
    listed = [json.dumps(d, sort_keys=True) for d in descriptions]
    if len(set(listed)) != len(listed):
        raise ValueError("operators: the same description is listed twice")


def served_description(description: Mapping[str, Any], trained_noiseless: bool = True) -> dict[str, Any]:
    """What a model trained on ``description`` serves: the description without seeds (a model is applied to the
    user's own masks, permutations and matrices), and, for a description without noise in a run that added none
    (``trained_noiseless``), noiseless measurements only, so a noisy one goes to a model trained with noise."""
    served = {key: value for key, value in description.items() if key not in SEED_KEYWORDS}
    if trained_noiseless and "noise_sigma" not in served:
        served["noise_sigma"] = 0.0
    return served


def _draw_rule(rule: Any, generator: torch.Generator) -> Any:
    if _is_range(rule):
        lo, hi = rule["min"], rule["max"]
        if _is_int_range(rule):
            return int(torch.randint(lo, hi + 1, (), generator=generator))
        lo, hi = float(lo), float(hi)
        return round(lo + (hi - lo) * torch.rand((), generator=generator).item(), grid_decimals(lo, hi)) if hi > lo else lo
    if isinstance(rule, Mapping):
        return rule["one_of"][int(torch.randint(len(rule["one_of"]), (), generator=generator))]
    return rule


class OperatorDraws:
    """Concrete operators for ``(size, size)`` patches, drawn from a list of descriptions.

    Operators are cached by their config without the noise level (a new level is :meth:`with_noise`, sharing
    ``A``) and without a fresh permutation (CS's :meth:`with_permutation` reuses its matrix); an operator with a
    freshly drawn mask is built each time (its cache entry would never be reused).
    """

    def __init__(self, descriptions: list, size: int) -> None:
        check_training_operators(descriptions, size)
        self.descriptions = [dict(d) for d in descriptions]
        self.label_keys = [label_keys(d, self.descriptions) for d in self.descriptions]
        self.size = (size, size)
        self._cache: dict[str, LinearPhysics] = {}

    def draw(self, generator: torch.Generator, device: torch.device | str = "cpu") -> tuple[LinearPhysics, dict[str, Any], str]:
        """One operator (on ``device``), its config (without the image size) and its log label
        (:func:`setting_label`); all randomness comes from ``generator``."""
        index = int(torch.randint(len(self.descriptions), (), generator=generator)) if len(self.descriptions) > 1 else 0
        description = self.descriptions[index]
        config = {key: _draw_rule(rule, generator) for key, rule in description.items()}
        fresh = [seed for seed in operator_class(config["operator"]).pattern_seeds if seed not in description]
        for seed in fresh:
            config[seed] = int(torch.randint(0, 2**31 - 1, (), generator=generator))
        return self._operator(config, fresh, device), config, setting_label(config, self.label_keys[index])

    def _operator(self, config: dict[str, Any], fresh: list[str], device: torch.device | str) -> LinearPhysics:
        permuted = "perm_seed" in fresh and config.get("scramble", True)  # with_permutation reuses the matrix
        base = {k: v for k, v in config.items() if k != "noise_sigma" and not (permuted and k == "perm_seed")}
        if any(seed != "perm_seed" or not permuted for seed in fresh):  # a fresh mask: a cache entry never reused
            operator = build_operator(sized_operator_config(base, self.size)).to(device)
        else:
            key = json.dumps(base | {"device": str(device)}, sort_keys=True)
            if key not in self._cache:
                self._cache[key] = build_operator(sized_operator_config(base, self.size)).to(device)
                if len(self._cache) > _CACHE_SIZE:  # continuous ranges: keep memory bounded
                    self._cache.pop(next(iter(self._cache)))
            operator = self._cache[key]
            if permuted:
                operator = operator.with_permutation(config["perm_seed"])  # type: ignore[attr-defined]
        return operator.with_noise(config["noise_sigma"]) if "noise_sigma" in config else operator


def validation_settings(description: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Fixed settings to validate a description on: range midpoints (on the draw grid), every ``one_of`` value."""
    choices: dict[str, list[Any]] = {}
    for key, rule in description.items():
        if _is_range(rule):
            middle = (float(rule["min"]) + float(rule["max"])) / 2
            choices[key] = [int(round(middle)) if _is_int_range(rule) else round(middle, grid_decimals(float(rule["min"]), float(rule["max"])))]
        elif isinstance(rule, Mapping):
            choices[key] = list(rule["one_of"])
        else:
            choices[key] = [rule]
    return [dict(zip(choices, values)) for values in itertools.product(*choices.values())]


def validation_operator(setting: Mapping[str, Any], size: tuple[int, int], index: int) -> LinearPhysics:
    """The operator of a validation ``setting`` for held-out image ``index`` (its patterns seeded by the index)."""
    config = dict(setting)
    for seed in operator_class(setting["operator"]).pattern_seeds:
        config.setdefault(seed, 10_000 + index)
    return build_operator(sized_operator_config(config, size))

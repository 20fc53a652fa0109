"""Change a trained IDM's number of sampling steps T, to fine-tune a shorter (faster) sampler from it.

Nearly all of IDM's time is the shared noise estimator, run once per step, so T' steps instead of T take
about ``T' / T`` of the time. Everything not tied to a step carries over unchanged (the shared backbone, the
start and merge scales, the schedule's feature extractor). Each new step ``t'`` takes the per-step parts of
the old step at the same place in the chain, ``t = round(t' T / T')``: its injector weights, its level-1
mixing ``v``, its learned consistency weight and its row of the schedule's per-step output. From T = 8 to
T' = 4 the new steps 1..4 take the old 2, 4, 6, 8, so the start step stays the start step.

The cosine base of Eq. 2 with the same ``s`` would start a shorter chain at a cleaner level (T = 4, s = 2:
``alpha_bar_T`` = 0.28 against 0.12 for T = 8), so :func:`matched_schedule_s` picks the ``s`` whose chain starts
at the old level; then the T = 4 levels (0.95, 0.75, 0.42, 0.12) nearly repeat T = 8's even ones (0.95, 0.75,
0.40, 0.12). The result is still not the same function (each step jumps further): it is a starting point for
fine-tuning (``train --init-from`` with another ``model.steps``), much closer than a fresh model (the pilot in
``results/pilots-steps/`` measures how close).
"""
from __future__ import annotations

import math
import re

import torch
from torch import Tensor

from ..diffusion.schedules import CosineSchedule

__all__ = ["resample_steps", "source_step", "matched_schedule_s"]

_INJECTOR = re.compile(r"(\.(?:to_image|to_features)\.)(\d+)(\.)")  # index t - 1, inside the shared backbone
_CHAIN_STEP = re.compile(r"^chain\.couplings\.(\d+)\.(v_logit|F\.consistency)$")  # index T - t (the chain runs t = T .. 1)
_SCHEDULE_ROWS = ("schedule.phi.head.weight", "schedule.phi.head.bias", "schedule.raw")  # row t - 1


def source_step(new_step: int, old_steps: int, new_steps: int) -> int:
    """The old step (1-based) whose per-step weights new step ``new_step`` of ``new_steps`` takes."""
    if not 1 <= new_step <= new_steps:
        raise ValueError(f"step {new_step} is outside 1..{new_steps}")
    return min(old_steps, max(1, round(new_step * old_steps / new_steps)))


def resample_steps(tensors: dict[str, Tensor], old_steps: int, new_steps: int) -> dict[str, Tensor]:
    """An IDM's weights (unique names, as saved) rebuilt for ``new_steps`` sampling steps instead of ``old_steps``."""
    if old_steps < 1 or new_steps < 1:
        raise ValueError(f"step counts must be >= 1, got {old_steps} -> {new_steps}")
    if old_steps == new_steps:
        return dict(tensors)
    sources = [source_step(t, old_steps, new_steps) for t in range(1, new_steps + 1)]  # sources[t' - 1] = t
    out: dict[str, Tensor] = {}
    for name, value in tensors.items():
        if (match := _INJECTOR.search(name)) is not None:
            if int(match.group(2)) >= old_steps:
                raise ValueError(f"{name}: a step index beyond the model's {old_steps} steps")
            for new, old in enumerate(sources):  # this old step feeds every new step that maps to it
                if old - 1 == int(match.group(2)):
                    out[name[: match.start(2)] + str(new) + name[match.end(2):]] = value
        elif (match := _CHAIN_STEP.match(name)) is not None:
            old_t = old_steps - int(match.group(1))
            for new, old in enumerate(sources, start=1):
                if old == old_t:
                    out[f"chain.couplings.{new_steps - new}.{match.group(2)}"] = value
        elif name in _SCHEDULE_ROWS:
            out[name] = value[[old - 1 for old in sources]].clone()
        else:
            out[name] = value
    return out


def _start_level(steps: int, s: float) -> float:
    """``alpha_bar_T`` of the cosine base, as the schedule computes it (clipped betas, float64)."""
    return CosineSchedule(steps, s)(torch.zeros(1, 1, 1, 1, dtype=torch.float64))[0, -1].item()


def matched_schedule_s(old_steps: int, old_s: float, new_steps: int) -> float:
    """The cosine base's ``s`` for ``new_steps`` steps that starts at the same level ``alpha_bar_T`` as
    ``old_steps`` steps with ``old_s`` (the start level rises with ``s``; found by bisection on ``log s``)."""
    target = _start_level(old_steps, old_s)
    low, high = math.log(1e-2), math.log(1e3)
    if not _start_level(new_steps, math.exp(low)) <= target <= _start_level(new_steps, math.exp(high)):
        raise ValueError(f"no schedule_s gives {new_steps} steps the start level of {old_steps} steps with s = {old_s}")
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if _start_level(new_steps, math.exp(middle)) < target else (low, middle)
    return round(math.exp((low + high) / 2), 4)

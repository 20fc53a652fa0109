"""Change a trained IDM's number of sampling steps T, to fine-tune a shorter (faster) sampler from it.

Nearly all of IDM's time is the shared noise estimator, run once per step, so T' steps instead of T take
about ``T' / T`` of the time. Everything not tied to a step carries over unchanged (the shared backbone, the
start and merge scales, the schedule's feature extractor). Each new step ``t'`` takes the per-step parts of
the old step at the same place in the chain, ``t = round(t' T / T')``: its injector weights, its level-1
mixing ``v``, its learned consistency weight and its row of the schedule's per-step output. From T = 8 to
T' = 4 the new steps 1..4 take the old 2, 4, 6, 8, so the start step stays the start step.

The result is not the same function: the cosine base of the schedule spreads the same noise range over fewer
steps, so each step jumps further. It is a starting point for fine-tuning (``train --init-from`` with another
``model.steps``), much closer than a fresh model (the pilot in ``results/pilots-steps/`` measures how close).
"""
from __future__ import annotations

import re

from torch import Tensor

__all__ = ["resample_steps", "source_step"]

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

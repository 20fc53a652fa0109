"""The resumable training state: one safetensors file, written atomically, that makes resume exact.

Weights, Adam state, EMA weights, iteration and the data sampler's and the training generator's
RNG states, flattened into tensors plus JSON metadata (no pickle).  A run resumed from it
reproduces an uninterrupted run of the same length bit for bit (same machine and thread count).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ..atomic import atomic_output
from ..ema import EMA
from ..models.checkpoint import load_unique_state_dict, unique_state_dict
from .config import TrainConfig


class CheckpointState:
    """Flatten / restore model + optimiser + RNG into one safetensors file (no pickle)."""

    @staticmethod
    def save(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, iteration: int, sampler: dict, generator: Tensor, config: TrainConfig, ema: EMA | None = None) -> None:
        tensors = {f"model.{k}": v for k, v in unique_state_dict(model).items()}
        if ema is not None:
            tensors.update(ema.state_tensors())
        optim_state = optimizer.state_dict()
        for index, state in optim_state["state"].items():
            for key, value in state.items():
                tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
        tensors["rng.sampler"] = sampler["generator"].contiguous()
        tensors["rng.train"] = generator.contiguous()
        metadata = {
            "sampler": json.dumps({k: v for k, v in sampler.items() if k != "generator"}),
            "iteration": str(iteration),
            "param_groups": json.dumps(optim_state["param_groups"]),
            "config": json.dumps(config.to_dict()),
        }
        with atomic_output(path) as temporary:
            save_file(tensors, str(temporary), metadata=metadata)

    @staticmethod
    def load(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, ema: EMA | None = None) -> tuple[int, dict, Tensor]:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata()
        tensors = load_file(str(path))
        load_unique_state_dict(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": state, "param_groups": json.loads(metadata["param_groups"])})
        if ema is not None:
            ema.load_state_tensors(tensors)
        sampler = {**json.loads(metadata["sampler"]), "generator": tensors["rng.sampler"]}
        return int(metadata["iteration"]), sampler, tensors["rng.train"]

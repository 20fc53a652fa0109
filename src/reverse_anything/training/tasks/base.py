"""What a training method adds to the shared loop (:class:`TrainingTask`), and fine-tuning from a model file.

The loop (``training/loop.py``) knows nothing of IDM or DDPM: a task supplies the model, one
iteration's random draws and loss, validation and the exported model file.
"""
from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...models.checkpoint import ModelFileError, load_unique_state_dict, read_model_files
from ..config import TrainConfig


class TrainingTask(ABC):
    """What one training method adds to the shared loop: model, per-iteration draws and loss, validation, export.

    ``draw`` holds all of an iteration's randomness (from the run's seeded generator, so
    resume stays exact) and runs outside autocast; ``loss`` runs the network under autocast.
    ``log_fields`` name extra CSV columns, filled by :meth:`log_values`.
    """

    log_fields: tuple[str, ...] = ()
    model_format: str = ""  # the model file format this task writes (and fine-tunes from)
    model_kind: str = ""  # the model's name in messages
    run_keys: frozenset[str] = frozenset()  # model keys the run sets itself, never taken from --init-from
    overridable_keys: frozenset[str] = frozenset()  # inherited unless the run sets them (the task converts the weights)

    def __init__(self, config: TrainConfig) -> None:
        self.config = config = dataclasses.replace(config, model=dict(config.model))  # the caller's config stays as given
        self.init_training: dict = {}  # the training record of the --init-from model, if any
        self.init_architecture: dict = {}  # the --init-from model's config
        if config.init_from:
            document, _ = read_model_files(config.init_from, self.model_format, self.model_kind)
            self.init_training = document.get("training", {})
            config.model = self._inherit_architecture(document["config"], config.model)

    def _inherit_architecture(self, inherited: dict, requested: dict) -> dict:
        """``requested`` model keys on top of the ``--init-from`` model's; a key set to another value is an error
        (except ``overridable_keys``, which the task knows how to convert the weights for)."""
        plain = lambda value: json.loads(json.dumps(value))  # noqa: E731 - tuples and lists compare equal
        self.init_architecture = dict(inherited)
        for key, value in requested.items():
            if key in self.overridable_keys:
                continue
            if key in inherited and key not in self.run_keys and plain(value) != plain(inherited[key]):
                raise ValueError(
                    f"--init-from {self.config.init_from}: that model has {key} = {plain(inherited[key])}, "
                    f"this run asks for {plain(value)}; drop the setting to fine-tune it"
                )
        return {**{k: v for k, v in inherited.items() if k not in self.run_keys}, **requested}

    def load_initial_weights(self, model: nn.Module) -> None:
        """Start from the ``--init-from`` model's weights (a fresh run only: a checkpoint wins)."""
        _, tensors = read_model_files(self.config.init_from, self.model_format, self.model_kind)
        tensors = self.converted_initial_weights(tensors, model)
        try:
            load_unique_state_dict(model, tensors)
        except ModelFileError as error:
            raise ValueError(f"--init-from {self.config.init_from}: {error}") from None

    def converted_initial_weights(self, tensors: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
        """The ``--init-from`` weights made to fit ``model`` where an ``overridable_keys`` setting changed it."""
        return tensors

    @abstractmethod
    def build_model(self) -> nn.Module:
        """A fresh model (also called early, on the parent process, to validate the config)."""

    @abstractmethod
    def draw(self, x0: Tensor, generator: torch.Generator) -> dict[str, Any]:
        """The random inputs of one iteration for the clean patches ``x0`` (on the training device)."""

    @abstractmethod
    def loss(self, net: nn.Module, x0: Tensor, inputs: dict[str, Any]) -> Tensor:
        """The scalar training loss of one iteration."""

    @abstractmethod
    def validate(self, model: nn.Module, images: list[Tensor], device: torch.device) -> dict[str, float]:
        """Scores on the held-out crops, keyed ``val_psnr@...`` (shown on the progress bar)."""

    @abstractmethod
    def export(self, model: nn.Module, stem: Path, training: dict) -> None:
        """Write the trained model file pair ``stem.safetensors`` / ``stem.json``."""

    def log_values(self, inputs: dict[str, Any]) -> list[str]:
        return []

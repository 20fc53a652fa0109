"""The training methods, one module each, and :func:`make_task`, which picks one by ``config.method``.

A method is a :class:`TrainingTask`; adding one means a module here and an entry in ``TASKS``
(and its name in ``config.TRAINING_METHODS``).
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ..config import TrainConfig
from .base import TrainingTask
from .ddpm import DDPMTask
from .idm import IDMTask

__all__ = ["TrainingTask", "IDMTask", "DDPMTask", "TASKS", "make_task"]

TASKS: Mapping[str, type[TrainingTask]] = MappingProxyType({"idm": IDMTask, "ddpm": DDPMTask})


def make_task(config: TrainConfig) -> TrainingTask:
    """The task for ``config.method``."""
    config.validate()
    return TASKS[config.method](config)

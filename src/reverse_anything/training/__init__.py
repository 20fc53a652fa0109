"""Training: end-to-end IDM (Algorithm 1) and the DDPM baseline prior, on one CPU, one GPU, or
many processes via ``torchrun``.

One loop (:func:`run_training`, ``loop.py``) serves both; a :class:`TrainingTask` (``tasks/``)
supplies what differs (the model, one iteration's random draws and loss, validation, the
exported model file):

* ``idm`` (:class:`IDMTask`): a CS ratio drawn from the model's range, a fresh permutation
  (so the model is not tied to one), ``y = A x0 + noise``, the whole T-step sampler run
  forward, L1 loss against the patch;
* ``ddpm`` (:class:`DDPMTask`): Ho et al.'s Algorithm 1, a uniform step ``t``, ``x_t =
  sqrt(a_t) x0 + sqrt(1 - a_t) eps``, mean-square error of the predicted ``eps``.

Both see random Y patches with dihedral augmentation and train with Adam, warm-up + cosine LR
(``config.py``).

Everything a resumed run needs is in one safetensors file written atomically
(``OUT/checkpoint.safetensors``, ``state.py``): weights, Adam state, iteration, the data
sampler's and the training generator's RNG states.  A resumed run therefore
reproduces an uninterrupted run of the same length bit for bit (on the same
machine and thread count).  ``distributed.py`` opens and closes the torchrun process group,
``log.py`` keeps ``OUT/log.csv``, ``validation.py`` the held-out images; the flags live in ``cli/train.py``.
"""
from __future__ import annotations

from .config import TRAINING_METHODS, TrainConfig, load_train_config
from .loop import run_training, train
from .tasks import DDPMTask, IDMTask, TrainingTask, make_task

__all__ = [
    "TrainConfig",
    "train",
    "load_train_config",
    "run_training",
    "TrainingTask",
    "IDMTask",
    "DDPMTask",
    "make_task",
    "TRAINING_METHODS",
]

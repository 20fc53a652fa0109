"""Reversible couplings and a memory-saving engine that trains them without stored activations."""
from .couplings import AdditiveCoupling, LeapfrogCoupling, ReversibleCoupling, split_halves
from .sequence import (
    ReversibleDriftError,
    ReversibleSequence,
    inverse_error_bound,
    reconstruction_error,
    relative_max_error,
    rng_bytes_held,
)

__all__ = [
    "AdditiveCoupling",
    "LeapfrogCoupling",
    "ReversibleCoupling",
    "ReversibleDriftError",
    "ReversibleSequence",
    "inverse_error_bound",
    "reconstruction_error",
    "relative_max_error",
    "rng_bytes_held",
    "split_halves",
]

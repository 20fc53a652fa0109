"""operator_family: the one lookup every per-family setting goes through (TV, pnp, IDM's start, model cards)."""
from __future__ import annotations

import torch

from reverse_anything.physics import Blur, CompressedSensing, FunctionOperator, Tiled, operator_family


def test_the_family_is_the_wrapped_operators_for_a_tiled_one_and_the_name_otherwise() -> None:
    assert operator_family(CompressedSensing(0.3, (32, 32))) == "cs"
    assert operator_family(Blur((16, 16), sigma=1.0)) == "blur"
    tiled = Tiled(Blur((16, 16), sigma=1.0), (32, 32), tile=16)
    assert tiled.name == "tiled" and operator_family(tiled) == "blur"
    assert operator_family(FunctionOperator(lambda x: x, lambda y: y)) == "function"


def test_a_duck_typed_operator_without_a_name_gets_its_class_name() -> None:
    class Halve:
        def A(self, x: torch.Tensor) -> torch.Tensor:
            return x / 2

    assert operator_family(Halve()) == "Halve"

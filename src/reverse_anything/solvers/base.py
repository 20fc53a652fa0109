"""The one shape every restoration method has: ``restorer(op, y) -> x``, plus the model it runs, if any."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from torch import Tensor, nn

__all__ = ["Restorer"]


class Restorer(ABC):
    """A restoration method, configured once and then called per measurement: ``restorer(op, y) -> x``.

    ``name`` is the method's registry name (``--method``); ``model`` the network it runs (``None``
    for classical methods) and ``model_name`` what it is called in reports ("" without one; for
    IDM picking a shipped model per measurement, the last one picked). Restorers run on the device
    and dtype of ``y`` and talk to the operator only through ``A`` / ``A_adjoint`` / ``A_dagger``.
    """

    name: ClassVar[str] = ""
    model: nn.Module | None = None
    model_name: str = ""

    @abstractmethod
    def __call__(self, op: Any, y: Tensor) -> Tensor:
        """The restored image ``(N, C, H, W)`` for measurement ``y`` of operator ``op``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_name or self.name})"

"""What the reversible engine needs to recompute F and G exactly as in the forward pass.

The backward pass rebuilds each coupling's input and calls F and G a second time. For the
gradients to be those of the forward that actually ran, that second call must see the same
random numbers (dropout) and the same autocast precision, and its gradients must be routed
back to the autograd ``Function`` rather than accumulated into ``.grad`` behind its back.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils import _pytree as pytree


@dataclass(frozen=True)
class RngSnapshot:
    """The CPU generator state plus the generator state of every accelerator the call touches.

    Recorded just before a call to F or G so that its recompute draws the same random numbers.
    """

    cpu_state: Tensor
    device_type: str | None
    device_states: tuple[tuple[int, Tensor], ...]

    @classmethod
    def capture(cls, values: Iterable[object]) -> RngSnapshot:
        """Snapshot the generators of the CPU and of the accelerators holding any tensor in ``values``."""
        device_type: str | None = None
        indices: set[int] = set()
        for value in values:
            if isinstance(value, Tensor) and value.device.type not in ("cpu", "meta"):
                device_type = value.device.type
                indices.add(value.get_device())
        states: tuple[tuple[int, Tensor], ...] = ()
        if device_type is not None:
            module = torch.get_device_module(device_type)
            states = tuple((index, module.get_rng_state(index)) for index in sorted(indices))
        return cls(torch.get_rng_state(), device_type, states)

    def is_current(self) -> bool:
        """Whether every recorded generator is still in the recorded state (nothing was drawn since)."""
        if not torch.equal(torch.get_rng_state(), self.cpu_state):
            return False
        if self.device_type is None:
            return True
        module = torch.get_device_module(self.device_type)
        return all(torch.equal(module.get_rng_state(index), state) for index, state in self.device_states)

    @contextmanager
    def replayed(self) -> Iterator[None]:
        """Run the body with the recorded generator states, then restore the current ones."""
        devices = [index for index, _ in self.device_states]
        with torch.random.fork_rng(devices=devices, device_type=self.device_type or "cuda"):
            torch.set_rng_state(self.cpu_state)
            if self.device_type is not None:
                module = torch.get_device_module(self.device_type)
                for index, state in self.device_states:
                    module.set_rng_state(state, index)
            yield


@dataclass(frozen=True)
class AutocastState:
    """Whether autocast was on, and in which dtype, for each device type the forward could use.

    Backward runs outside the caller's ``torch.autocast`` block, so without this the recompute
    would silently run in full precision and produce gradients of a different function.
    """

    settings: tuple[tuple[str, bool, torch.dtype], ...]

    @classmethod
    def capture(cls, device_type: str) -> AutocastState:
        """Record the autocast settings of ``device_type`` and of the CPU."""
        kinds = dict.fromkeys((device_type, "cpu"))
        return cls(tuple((kind, torch.is_autocast_enabled(kind), torch.get_autocast_dtype(kind)) for kind in kinds))

    @contextmanager
    def restored(self) -> Iterator[None]:
        """Run the body under the recorded autocast settings (enabled or explicitly disabled)."""
        with ExitStack() as stack:
            for kind, enabled, dtype in self.settings:
                stack.enter_context(torch.autocast(kind, dtype=dtype, enabled=enabled))
            yield


class CallTape:
    """Per-coupling record of its F/G calls: RNG snapshots where needed, and the shared autocast state.

    A coupling runs each F/G call of the forward pass through :meth:`call` and wraps the
    recompute of call number ``i`` in ``with tape.replay(i):``. A snapshot (5 KB for the CPU
    generator) is kept only for calls that drew random numbers, so deterministic blocks hold
    nothing and the engine's memory stays flat in depth.
    """

    def __init__(self, autocast: AutocastState, record_rng: bool) -> None:
        self._autocast = autocast
        self._record_rng = record_rng
        self._snapshots: list[RngSnapshot | None] = []

    def call(self, fn: nn.Module, state: Tensor, context: Sequence[object]) -> Tensor:
        """Run ``fn(state, *context)``, keeping the generator state it started from if it used it."""
        if not self._record_rng:
            return fn(state, *context)
        before = RngSnapshot.capture((state, *pytree.tree_leaves(context)))  # devices of nested tensors too
        out = fn(state, *context)
        self._snapshots.append(None if before.is_current() else before)
        return out

    @property
    def snapshots_held(self) -> int:
        """How many RNG snapshots this tape keeps for the backward pass."""
        return sum(snapshot is not None for snapshot in self._snapshots)

    @property
    def bytes_held(self) -> int:
        """Bytes of those snapshots (autograd's saved-tensor hooks do not see them)."""
        return sum(
            snapshot.cpu_state.nbytes + sum(state.nbytes for _, state in snapshot.device_states)
            for snapshot in self._snapshots
            if snapshot is not None
        )

    @contextmanager
    def replay(self, call_index: int) -> Iterator[None]:
        """Recompute call ``call_index`` with its recorded RNG state and the forward's autocast."""
        with ExitStack() as stack:
            snapshot = self._snapshots[call_index] if self._record_rng else None
            if snapshot is not None:
                stack.enter_context(snapshot.replayed())
            stack.enter_context(self._autocast.restored())
            yield


class GradientSink:
    """Collects the gradients the reversible ``Function`` must return for its non-state inputs.

    Those inputs are the (deduplicated) parameters and the conditioning tensors that require
    grad. Routing their gradients through the ``Function`` return value, instead of letting
    recomputation accumulate into ``.grad``, is what lets DDP's reducer and gradient hooks see
    each parameter exactly once, and lets an enclosing reversible sequence differentiate
    through a nested one.
    """

    def __init__(self, targets: Sequence[Tensor], context_sources: Sequence[Tensor]) -> None:
        """``context_sources``: what every F/G call may reach besides its own parameters (the
        conditioning tensors and the parameters of modules passed as conditioning)."""
        self._slot = {id(target): index for index, target in enumerate(targets) if target.requires_grad}
        self._context_sources = [tensor for tensor in context_sources if id(tensor) in self._slot]
        self.grads: list[Tensor | None] = [None] * len(targets)

    def _sources(self, module: nn.Module) -> list[Tensor]:
        """The targets ``module`` can reach: its own parameters and the conditioning."""
        candidates = [*module.parameters(), *self._context_sources]
        unique = {id(tensor): tensor for tensor in candidates if id(tensor) in self._slot}
        return list(unique.values())

    def vjp(
        self,
        output: Tensor,
        grad_output: Tensor,
        inputs: Sequence[Tensor],
        module: nn.Module,
    ) -> tuple[Tensor | None, ...]:
        """Backpropagate ``grad_output`` through ``output`` once.

        Returns the gradients for ``inputs`` (the rebuilt state) and accumulates those for the
        parameters of ``module`` and the conditioning tensors into :attr:`grads`.
        """
        if not output.requires_grad:
            return (None,) * len(inputs)
        sources = self._sources(module)
        found = torch.autograd.grad(output, (*inputs, *sources), grad_output, allow_unused=True)
        for source, grad in zip(sources, found[len(inputs):]):
            if grad is not None:
                slot = self._slot[id(source)]
                previous = self.grads[slot]
                self.grads[slot] = grad if previous is None else previous + grad
        return tuple(found[: len(inputs)])

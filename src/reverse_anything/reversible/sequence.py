"""``ReversibleSequence``: a chain of couplings trained without storing its activations.

With ``memory_saving=True`` and something to differentiate, the chain runs inside one
``torch.autograd.Function`` that keeps only the chain's output. Its backward walks the
couplings in reverse; each rebuilds its input from its output and recomputes F and G once,
with the RNG state and autocast settings of the forward. Gradients for the input, for every
conditioning tensor that requires grad and for every (deduplicated) parameter are returned
by the ``Function`` itself, so DDP's reducer and gradient hooks see each parameter exactly
once, and a sequence nested inside another coupling's F is differentiated like any op.

Under ``torch.no_grad()``, or when nothing requires grad, the couplings are simply looped.

Costs: the forward of every coupling runs twice per training step (once more per nesting
level), and all parameter gradients are held once more at the end of the backward, since the
``Function`` returns them together. Drift guard: :func:`reconstruction_error` measures how
exactly a module inverts, and ``check_drift`` makes the backward raise
:class:`ReversibleDriftError` instead of returning gradients computed from a wrongly rebuilt input.
Without it, a backward through a chain whose leapfrog couplings could amplify rounding past
``IMPRECISION_WARNING_LEVEL`` (:func:`inverse_error_bound`) issues a ``RuntimeWarning``.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils import _pytree as pytree
from torch.autograd.function import FunctionCtx, once_differentiable

from ._recompute import AutocastState, CallTape, GradientSink
from .couplings import ReversibleCoupling


class ReversibleDriftError(RuntimeError):
    """The input rebuilt during backward differs from the real input by more than the tolerance."""


# An unchecked backward warns when the chain can grow rounding error more than this many times
# and the rebuilt input may then be off by more than this relative error.
IMPRECISION_WARNING_GROWTH = 10.0
IMPRECISION_WARNING_LEVEL = 1e-3


def inverse_error_growth(couplings: Sequence[ReversibleCoupling]) -> float:
    """How many times rebuilding an input through ``couplings`` can grow its relative rounding error.

    Additive couplings do not grow it; each leapfrog coupling may multiply it by ``v^(-1/2)``,
    so long leapfrog chains with small ``v`` lose all precision.
    """
    growth: Tensor | float = 1.0
    for coupling in couplings:
        growth = growth * coupling.inverse_error_growth()
    return float(growth)


def inverse_error_bound(couplings: Sequence[ReversibleCoupling], dtype: torch.dtype) -> float:
    """Worst-case relative error of an input rebuilt through ``couplings`` in ``dtype`` (rounding only)."""
    return inverse_error_growth(couplings) * torch.finfo(dtype).eps


def rng_bytes_held(output: Tensor) -> int:
    """Bytes of RNG snapshots that memory-saving sequences behind ``output`` keep for its backward.

    They live outside autograd's saved tensors, so memory counts made with
    ``saved_tensors_hooks`` must add them; deterministic F/G calls keep none.
    """
    total, seen, stack = 0, set(), [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        total += sum(tape.bytes_held for tape in getattr(node, "tapes", ()))
        stack.extend(parent for parent, _ in node.next_functions)
    return total


def relative_max_error(estimate: Tensor, reference: Tensor) -> float:
    """``max|estimate - reference| / max|reference|`` (absolute error when ``reference`` is all zeros)."""
    scale = reference.detach().abs().max().clamp_min(torch.finfo(reference.dtype).tiny)
    return float((estimate.detach() - reference.detach()).abs().max() / scale)


def reconstruction_error(module: nn.Module, x: Tensor, *context: object) -> float:
    """How far ``module.inverse(module(x))`` is from ``x``, as :func:`relative_max_error`.

    Works for a coupling or a :class:`ReversibleSequence`. Call it with random layers such as
    dropout in eval mode: forward and inverse draw their random numbers independently.
    """
    with torch.no_grad():
        return relative_max_error(module.inverse(module(x, *context), *context), x)


@dataclass(frozen=True)
class _Plan:
    """What the ``Function`` needs besides the tensors, which travel as its inputs.

    The context is flattened (lists, tuples and dicts are searched, as ``torch.utils.checkpoint``
    does), so a tensor anywhere in it becomes a ``Function`` input and receives its gradient.
    Modules in the context (an operator with learnable parameters) are passed through, and
    their trainable parameters are differentiated like the couplings' own.
    """

    couplings: tuple[ReversibleCoupling, ...]
    leaves_template: tuple[object, ...]  # the flattened context with its tensors replaced by None
    structure: pytree.TreeSpec
    tensor_positions: tuple[int, ...]
    preserve_rng_state: bool
    check_drift: float | None

    @classmethod
    def build(
        cls,
        couplings: Sequence[ReversibleCoupling],
        context: tuple[object, ...],
        preserve_rng_state: bool,
        check_drift: float | None,
    ) -> tuple[_Plan, tuple[Tensor, ...], tuple[Tensor, ...]]:
        """Return the plan, the context's tensors and the trainable parameters of its modules."""
        leaves, structure = pytree.tree_flatten(context)
        positions = tuple(i for i, value in enumerate(leaves) if isinstance(value, Tensor))
        template = tuple(None if isinstance(value, Tensor) else value for value in leaves)
        tensors = tuple(leaves[i] for i in positions)
        module_params = tuple(
            param for value in leaves if isinstance(value, nn.Module) for param in value.parameters() if param.requires_grad
        )
        plan = cls(tuple(couplings), template, structure, positions, preserve_rng_state, check_drift)
        return plan, tensors, module_params

    def context_with(self, tensors: Sequence[Tensor]) -> tuple[object, ...]:
        """The full context, with ``tensors`` put back in their places."""
        leaves = list(self.leaves_template)
        for position, tensor in zip(self.tensor_positions, tensors):
            leaves[position] = tensor
        return pytree.tree_unflatten(leaves, self.structure)

    def context_modules(self) -> list[nn.Module]:
        return [value for value in self.leaves_template if isinstance(value, nn.Module)]


class _ReversibleFunction(torch.autograd.Function):
    """Forward without a graph, keeping only the output; backward by rebuilding inputs."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, x: Tensor, plan: _Plan, context: tuple[object, ...], *tensor_inputs: Tensor
    ) -> Tensor:
        # ``context`` is the caller's own (its tensors are ``tensor_inputs``): F/G see the very
        # objects plain autograd would. The recompute in backward gets rebuilt copies of plain
        # lists, tuples and dicts, so side effects on those (a list F appends to) do not reach the
        # caller twice; other objects (pytree leaves) are shared with the recompute.
        context_tensors = tensor_inputs[: len(plan.tensor_positions)]
        autocast = AutocastState.capture(x.device.type)
        tapes = []
        state = x
        for coupling in plan.couplings:
            tape = CallTape(autocast, plan.preserve_rng_state)
            state = coupling.transform(state, context, tape)
            tapes.append(tape)
        ctx.plan = plan
        ctx.tapes = tapes
        ctx.params = tensor_inputs[len(plan.tensor_positions):]
        drift_reference = (x,) if plan.check_drift is not None else ()
        ctx.save_for_backward(state, *context_tensors, *drift_reference)
        return state

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, dy: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        plan: _Plan = ctx.plan
        y, *saved = ctx.saved_tensors
        context_tensors = tuple(
            tensor.detach().requires_grad_(tensor.requires_grad)
            for tensor in saved[: len(plan.tensor_positions)]
        )
        context = plan.context_with(context_tensors)
        module_params = [param for module in plan.context_modules() for param in module.parameters()]
        sink = GradientSink((*context_tensors, *ctx.params), (*context_tensors, *module_params))
        state, grad = y.detach(), dy
        with torch.enable_grad():
            for coupling, tape in zip(reversed(plan.couplings), reversed(ctx.tapes)):
                state, grad = coupling.backward_pass(state, grad, context, tape, sink)
        if plan.check_drift is None:
            growth = inverse_error_growth(plan.couplings)
            bound = growth * torch.finfo(state.dtype).eps
            if growth > IMPRECISION_WARNING_GROWTH and bound > IMPRECISION_WARNING_LEVEL:
                warnings.warn(
                    f"reversible backward: inputs rebuilt through {len(plan.couplings)} couplings in {state.dtype} may be "
                    f"off by up to {bound:.2g} (relative), so gradients may be wrong; raise the leapfrog couplings' "
                    "v_min, shorten the chain, or pass check_drift to measure it",
                    RuntimeWarning,
                    stacklevel=2,
                )
        else:
            error = relative_max_error(state, saved[-1])
            if not error <= plan.check_drift:
                raise ReversibleDriftError(
                    f"input rebuilt in backward is off by {error:.3g} (relative max error), "
                    f"above check_drift={plan.check_drift:.3g}; gradients would be wrong"
                )
        grad_x = grad if ctx.needs_input_grad[0] else None
        return (grad_x, None, None, *sink.grads)


class ReversibleSequence(nn.Module):
    """A chain of reversible couplings whose training stores no intermediate activations.

    Args:
        couplings: the couplings, applied in order (they may share parameters and may contain
            other ``ReversibleSequence`` modules inside their F/G).
        memory_saving: ``True`` runs the memory-saving engine; ``False`` runs the same math
            under plain autograd, for ablations and benchmarks.
        preserve_rng_state: record the RNG state before every F/G call and replay it on
            recompute, so dropout-like randomness matches the forward (costs one small state
            copy per call).
        check_drift: debug guard. When a float, the forward also keeps its input (one extra
            state tensor) and the backward raises :class:`ReversibleDriftError` if the input it
            rebuilt differs from it by more than this relative max error. ``None`` (default)
            checks nothing. See also :func:`reconstruction_error`.

    Everything F and G differentiate must be a parameter of the couplings, a tensor passed
    through ``*context`` (also inside lists, tuples or dicts) or a parameter of a module passed
    through ``*context``: tensors F/G capture otherwise (a closure, a plain attribute) receive no
    gradient from the memory-saving backward. Double backward is not supported in memory-saving mode, and
    buffers updated in forward (BatchNorm statistics) are updated again on recompute.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from reverse_anything.reversible import AdditiveCoupling, ReversibleSequence
        >>> seq = ReversibleSequence([AdditiveCoupling(nn.Linear(2, 2), nn.Linear(2, 2)) for _ in range(4)])
        >>> x = torch.randn(3, 4, requires_grad=True)
        >>> seq(x).sum().backward()
        >>> x.grad.shape
        torch.Size([3, 4])
    """

    def __init__(
        self,
        couplings: Sequence[nn.Module],
        memory_saving: bool = True,
        *,
        preserve_rng_state: bool = True,
        check_drift: float | None = None,
    ) -> None:
        super().__init__()
        couplings = list(couplings)
        if not couplings:
            raise ValueError("ReversibleSequence needs at least one coupling")
        for index, coupling in enumerate(couplings):
            if not isinstance(coupling, ReversibleCoupling):
                raise ValueError(
                    f"coupling {index} is a {type(coupling).__name__}, not a ReversibleCoupling "
                    "(use AdditiveCoupling or LeapfrogCoupling)"
                )
        if check_drift is not None and not (isinstance(check_drift, (int, float)) and 0 < check_drift < float("inf")):
            raise ValueError(f"check_drift must be None or a positive finite tolerance, got {check_drift!r}")
        self.couplings = nn.ModuleList(couplings)
        self.memory_saving = memory_saving
        self.preserve_rng_state = preserve_rng_state
        self.check_drift = None if check_drift is None else float(check_drift)

    def extra_repr(self) -> str:
        return f"memory_saving={self.memory_saving}, check_drift={self.check_drift}"

    def forward(self, x: Tensor, *context: object) -> Tensor:
        """Apply every coupling in order; ``context`` is passed to every F/G call."""
        if self.memory_saving and torch.is_grad_enabled():
            plan, context_tensors, module_params = _Plan.build(
                self.couplings, context, self.preserve_rng_state, self.check_drift  # type: ignore[arg-type]
            )
            own = (p for p in self.couplings.parameters() if p.requires_grad)
            params = tuple({id(p): p for p in (*own, *module_params)}.values())  # each shared one once
            if params or x.requires_grad or any(t.requires_grad for t in context_tensors):
                return _ReversibleFunction.apply(x, plan, context, *context_tensors, *params)
        for coupling in self.couplings:
            x = coupling(x, *context)
        return x

    def inverse(self, y: Tensor, *context: object) -> Tensor:
        """Rebuild the input from the output by inverting the couplings in reverse order."""
        for coupling in reversed(self.couplings):
            y = coupling.inverse(y, *context)
        return y

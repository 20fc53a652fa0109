"""The memory-saving backward gives plain autograd's gradients, stores only the output, and replays RNG."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import Tensor, nn

from reverse_anything.reversible import (
    AdditiveCoupling,
    LeapfrogCoupling,
    ReversibleDriftError,
    ReversibleSequence,
    inverse_error_bound,
    reconstruction_error,
    rng_bytes_held,
)
from reverse_anything.reversible import sequence as sequence_module
from reversible_toys import (
    ConvBlock,
    Gain,
    NestedStep,
    assert_close_relative,
    make_sequence,
    parameter_grads,
    plain_twin,
)

TOLERANCE = 1e-10


def _backward(module: nn.Module, x: Tensor, *context: object, seed: int = 0) -> Tensor:
    """One training step's backward with a loss that weights every output element differently."""
    torch.manual_seed(seed)
    y = module(x, *context)
    weights = torch.linspace(-1.0, 2.0, y.numel(), dtype=y.dtype).reshape(y.shape)
    (y * weights).sum().backward()
    return y.detach()


def _assert_same_gradients(reversible: nn.Module, plain: nn.Module, inputs: list[Tensor], run: callable) -> None:
    """Run ``run(module)`` on both models (fresh input grads each time) and compare every gradient."""
    run(reversible)
    reversible_input_grads = [tensor.grad.clone() for tensor in inputs]
    for tensor in inputs:
        tensor.grad = None
    run(plain)
    for index, (got, tensor) in enumerate(zip(reversible_input_grads, inputs)):
        assert_close_relative(got, tensor.grad, TOLERANCE, f"input {index}")
    expected = parameter_grads(plain)
    got = parameter_grads(reversible)
    assert got.keys() == expected.keys()
    for name in expected:
        assert_close_relative(got[name], expected[name], TOLERANCE, name)


@pytest.mark.parametrize("kind", ["additive", "leapfrog"])
def test_gradients_match_plain_autograd_with_conditioning(kind: str) -> None:
    torch.manual_seed(0)
    reversible = make_sequence(kind, depth=6, half_channels=3).double()
    plain = plain_twin(reversible)
    x = torch.randn(2, 6, 5, 5, dtype=torch.float64, requires_grad=True)
    log_sigma = torch.randn(2, 1, 1, 1, dtype=torch.float64, requires_grad=True)
    # conditioning computed outside the chain with grad, like IDM's learned noise schedule
    _assert_same_gradients(
        reversible, plain, [x, log_sigma], lambda m: _backward(m, x, log_sigma.exp(), Gain(0.8), 2)
    )


def test_gradients_with_parameters_shared_across_couplings() -> None:
    torch.manual_seed(0)
    shared_f, shared_g = ConvBlock(2), ConvBlock(2)
    couplings = [AdditiveCoupling(shared_f, shared_g) for _ in range(3)]
    couplings += [LeapfrogCoupling(shared_f) for _ in range(3)]
    reversible = ReversibleSequence(couplings).double()
    plain = plain_twin(reversible)
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    _assert_same_gradients(reversible, plain, [x], lambda m: _backward(m, x))


def test_each_parameter_is_accumulated_exactly_once() -> None:
    """DDP's reducer reacts to gradient accumulation: a shared parameter must be reported once."""
    torch.manual_seed(0)
    shared = ConvBlock(2)
    sequence = ReversibleSequence([AdditiveCoupling(shared, ConvBlock(2)) for _ in range(4)])
    accumulations = {id(p): 0 for p in sequence.parameters()}

    def count(param: Tensor) -> None:
        accumulations[id(param)] += 1

    for param in sequence.parameters():
        param.register_post_accumulate_grad_hook(count)
    _backward(sequence, torch.randn(1, 4, 4, 4, requires_grad=True))
    assert set(accumulations.values()) == {1}


@pytest.mark.parametrize(("outer_saving", "inner_saving"), [(True, True), (True, False), (False, True)])
def test_nested_two_level_gradients_match_plain_autograd(outer_saving: bool, inner_saving: bool) -> None:
    torch.manual_seed(0)
    steps = [LeapfrogCoupling(NestedStep(2, inner_depth=3, memory_saving=inner_saving)) for _ in range(3)]
    reversible = ReversibleSequence(steps, memory_saving=outer_saving).double()
    plain = plain_twin(reversible)
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    sigma = torch.rand(2, 1, 1, 1, dtype=torch.float64, requires_grad=True)
    _assert_same_gradients(reversible, plain, [x, sigma], lambda m: _backward(m, x, sigma, Gain(0.5), 1))


def test_dropout_randomness_is_replayed_on_recompute() -> None:
    torch.manual_seed(0)
    reversible = make_sequence("additive", depth=4, dropout=0.3).double()
    plain = plain_twin(reversible)
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    _assert_same_gradients(reversible, plain, [x], lambda m: _backward(m, x, seed=7))


def test_without_rng_replay_dropout_gradients_differ() -> None:
    """The control for the test above: the comparison does detect mismatched randomness."""
    torch.manual_seed(0)
    reversible = make_sequence("additive", depth=4, dropout=0.3, preserve_rng_state=False).double()
    plain = plain_twin(reversible)
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    with pytest.raises(AssertionError):
        _assert_same_gradients(reversible, plain, [x], lambda m: _backward(m, x, seed=7))


def test_drift_guard_raises_when_the_rebuilt_input_is_wrong() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    drifting = make_sequence("additive", depth=4, dropout=0.3, preserve_rng_state=False, check_drift=1e-4)
    with pytest.raises(ReversibleDriftError, match="check_drift"):
        _backward(drifting, x)
    exact = make_sequence("additive", depth=4, dropout=0.3, check_drift=1e-4)
    _backward(exact, x)
    assert x.grad is not None


def test_only_the_output_and_context_are_saved_for_backward() -> None:
    torch.manual_seed(0)
    sequence = make_sequence("additive", depth=8)
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    sigma = torch.rand(2, 1, 1, 1)
    saved: dict[int, int] = {}

    def pack(tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        y = sequence(x, sigma, Gain(1.0), 1)
    assert sum(saved.values()) == y.numel() * y.element_size() + sigma.numel() * sigma.element_size()


def test_f_and_g_run_once_each_in_backward() -> None:
    calls = {"F": 0, "G": 0}

    class Counted(nn.Module):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name, self.block = name, ConvBlock(2)

        def forward(self, x: Tensor) -> Tensor:
            calls[self.name] += 1
            return self.block(x)

    sequence = ReversibleSequence([AdditiveCoupling(Counted("F"), Counted("G")) for _ in range(5)])
    _backward(sequence, torch.randn(1, 4, 4, 4, requires_grad=True))
    assert calls == {"F": 10, "G": 10}


def test_no_grad_and_frozen_paths_skip_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    sequence = make_sequence("leapfrog", depth=4)
    x = torch.randn(2, 4, 5, 5)
    expected = plain_twin(sequence)(x)

    def refuse(*args: object) -> None:
        raise AssertionError("the autograd Function must not run")

    monkeypatch.setattr(sequence_module._ReversibleFunction, "apply", refuse)
    with torch.no_grad():
        out = sequence(x.requires_grad_())
    assert out.grad_fn is None
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    sequence.requires_grad_(False)
    out = sequence(x.detach())
    assert out.grad_fn is None
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_memory_saving_forward_equals_plain_forward() -> None:
    torch.manual_seed(0)
    sequence = make_sequence("additive", depth=4)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    torch.testing.assert_close(sequence(x), plain_twin(sequence)(x), rtol=0, atol=0)


class LearnableGain(nn.Module):
    """A conditioning module with a trainable parameter (say, an operator learned jointly)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(0.7, dtype=torch.float64))

    def forward(self, tensor: Tensor) -> Tensor:
        return tensor * self.weight


class ReadsNestedContext(nn.Module):
    """F/G that take their conditioning from a dict holding a list, and from a module."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor, levels: dict, operator: nn.Module) -> Tensor:
        return 0.5 * torch.tanh(operator(self.conv(x)) * levels["gains"][0] + levels["shift"])


@pytest.mark.parametrize("memory_saving", [True, False])
def test_tensors_inside_containers_and_module_parameters_in_the_context_get_their_gradients(memory_saving: bool) -> None:
    def run(saving: bool) -> dict[str, Tensor]:
        torch.manual_seed(0)
        sequence = ReversibleSequence(
            [AdditiveCoupling(ReadsNestedContext(2), ReadsNestedContext(2)) for _ in range(4)], memory_saving=saving
        ).double()
        operator = LearnableGain()
        x = torch.randn(2, 4, 5, 5, dtype=torch.float64, requires_grad=True)
        gain = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
        shift = torch.randn(2, 1, 1, 1, dtype=torch.float64, requires_grad=True)
        _backward(sequence, x, {"gains": [gain], "shift": shift}, operator)
        return {"x": x.grad, "gain": gain.grad, "shift": shift.grad, "operator": operator.weight.grad,
                **parameter_grads(sequence)}

    got, expected = run(memory_saving), run(False)
    assert got.keys() == expected.keys() and all(grad is not None for grad in got.values())
    for name in expected:
        assert_close_relative(got[name], expected[name], TOLERANCE, name)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_rng_snapshots_are_kept_only_for_calls_that_draw_random_numbers(dropout: float) -> None:
    torch.manual_seed(0)
    sequence = make_sequence("additive", depth=6, dropout=dropout)
    y = sequence(torch.randn(2, 4, 5, 5, requires_grad=True))
    held = sum(tape.snapshots_held for tape in y.grad_fn.tapes)
    assert held == (12 if dropout else 0)  # F and G of every coupling, or none: memory flat in depth
    sequence.eval()  # dropout off: nothing random runs, nothing is kept
    assert sum(tape.snapshots_held for tape in sequence(torch.randn(2, 4, 5, 5, requires_grad=True)).grad_fn.tapes) == 0


def test_long_leapfrog_chains_with_small_v_warn_that_gradients_may_be_wrong() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 4, 4, 4, requires_grad=True)
    safe = make_sequence("leapfrog", depth=3, v_init=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        safe(x).sum().backward()  # the IDM layout (T = 3) is far from the bound
    risky = make_sequence("leapfrog", depth=30, v_init=0.1)
    assert inverse_error_bound(risky.couplings, torch.float32) > 1e-3
    assert reconstruction_error(risky.eval(), x.detach()) > 1e-3  # and the bound is not idle: the rebuild is off
    with pytest.warns(RuntimeWarning, match="gradients may be wrong"):
        risky(x).sum().backward()
    checked = make_sequence("leapfrog", depth=30, v_init=0.1, check_drift=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # with a drift check the backward measures instead of warning
        with pytest.raises(ReversibleDriftError):
            checked(x).sum().backward()


def test_memory_counts_include_the_rng_snapshots_the_engine_keeps() -> None:
    from reverse_anything.profiling import saved_bytes

    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    held = {}
    for dropout in (0.0, 0.3):
        torch.manual_seed(0)
        sequence = make_sequence("additive", depth=6, dropout=dropout)
        held[dropout] = saved_bytes(lambda: sequence(x).square().mean(), sequence)
        assert rng_bytes_held(sequence(x)) == (12 * torch.get_rng_state().nbytes if dropout else 0)
    assert held[0.3] - held[0.0] == 12 * torch.get_rng_state().nbytes


class Logs(nn.Module):
    """F/G with a side effect on a list passed as context (a user's call counter, say)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor, log: list) -> Tensor:
        log.append(x.shape)
        return 0.5 * torch.tanh(self.conv(x))


@pytest.mark.parametrize("memory_saving", [True, False])
def test_f_and_g_see_the_callers_own_context_objects_in_forward(memory_saving: bool) -> None:
    sequence = ReversibleSequence([AdditiveCoupling(Logs(2), Logs(2)) for _ in range(3)], memory_saving=memory_saving)
    log: list = []
    sequence(torch.randn(1, 4, 5, 5, requires_grad=True), log).sum().backward()
    assert len(log) == 6  # each F and G once, into the caller's list; the recompute writes to a copy

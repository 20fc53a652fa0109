"""Memory and speed of the reversible engine against plain autograd and per-block checkpointing.

Two workloads, one training step each (forward, mean-square loss, backward):

* ``depth``: chains of 8/16/32/64 additive couplings of small conv blocks;
* ``steps``: T = 3/10/30 leapfrog "steps" whose F holds an inner reversible sequence (the
  two-level IDM layout).

For every (workload, size, method) it records the bytes of unique storages saved for backward
(``torch.autograd.graph.saved_tensors_hooks`` during the forward, parameters excluded), the peak
bytes of live tensors during the step (a ``TorchDispatchMode`` that sees every op), the peak
memory of the step above the level before it as the system sees it (CUDA allocator peak on GPU;
on CPU the peak resident set size, read from ``/proc/self/status`` after a reset through
``/proc/self/clear_refs``, with glibc told to unmap freed tensors at once for that step), and
the median time per step, with the repetitions of the three methods interleaved. The
measuring tools live in :mod:`reverse_anything.profiling` (shared with ``reverse-anything bench``).

Usage::

    python benchmarks/reversible_memory.py --out results/reversible_memory
    python benchmarks/reversible_memory.py --quick          # tiny tensors, one repetition
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from reverse_anything.profiling import LiveTensorPeak, describe_hardware, peak_bytes, saved_bytes, timed
from reverse_anything.reversible import AdditiveCoupling, LeapfrogCoupling, ReversibleSequence

METHODS = ("plain", "checkpoint", "reversible")
# forwards the engine runs again in backward: once per coupling; inner blocks of a two-level chain twice
# (outer recompute + their own rebuild; the steps' 1x1 lift/projection only once, so 2 is an upper estimate)
RECOMPUTED_FORWARDS = {"depth": 1, "steps": 2}
MEMORY_FIELDS = ("saved_bytes", "tensor_peak_bytes", "peak_bytes")


@dataclass(frozen=True)
class Workload:
    """Tensor sizes of one benchmark run."""

    batch: int
    channels: int  # of the reversible state; F and G see half of it
    image: int
    inner_depth: int
    reps: int


@dataclass
class Row:
    """One (workload, size, method) measurement."""

    suite: str
    size: int
    method: str
    saved_bytes: int
    tensor_peak_bytes: int
    peak_bytes: int | None  # RSS (CPU) or CUDA allocator peak
    step_seconds: float
    forward_seconds: float  # the model's forward alone under torch.no_grad (same in all three rows)
    parameter_bytes: int  # of the model (its gradients are the same size)


class ConvBlock(nn.Sequential):
    """conv3x3 -> SiLU -> conv3x3: a small shape-preserving F or G."""

    def __init__(self, channels: int) -> None:
        super().__init__(
            nn.Conv2d(channels, channels, 3, padding=1), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1)
        )


class Step(nn.Module):
    """One outer step: lift to the full width, run an inner reversible sequence, project back."""

    def __init__(self, channels: int, inner_depth: int) -> None:
        super().__init__()
        self.lift = nn.Conv2d(channels, 2 * channels, 1)
        self.inner = ReversibleSequence(
            [AdditiveCoupling(ConvBlock(channels), ConvBlock(channels)) for _ in range(inner_depth)]
        )
        self.project = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.project(self.inner(self.lift(x)))


def build_depth_chain(depth: int, work: Workload) -> ReversibleSequence:
    """One level: ``depth`` additive couplings of conv blocks."""
    half = work.channels // 2
    return ReversibleSequence([AdditiveCoupling(ConvBlock(half), ConvBlock(half)) for _ in range(depth)])


def build_step_chain(steps: int, work: Workload) -> ReversibleSequence:
    """Two levels: ``steps`` leapfrog couplings, each F holding an inner reversible sequence."""
    return ReversibleSequence([LeapfrogCoupling(Step(work.channels // 2, work.inner_depth)) for _ in range(steps)])


def set_method(model: ReversibleSequence, method: str) -> Callable[[Tensor], Tensor]:
    """Configure every nested sequence for ``method`` and return the forward to run."""
    for sub in model.modules():
        if isinstance(sub, ReversibleSequence):
            sub.memory_saving = method == "reversible"
    if method != "checkpoint":
        return model

    def checkpointed(x: Tensor) -> Tensor:
        for coupling in model.couplings:  # one checkpoint per outer block (a coupling, or a whole step)
            x = checkpoint(coupling, x, use_reentrant=False)
        return x

    return checkpointed


def instrumented_step(forward: Callable[[Tensor], Tensor], model: nn.Module, x: Tensor) -> tuple[int, int]:
    """One step returning (bytes saved for backward after the forward, peak live tensor bytes)."""
    with LiveTensorPeak() as tracker:
        held = saved_bytes(lambda: forward(x).square().mean(), model)
    return held, tracker.peak


def measure(suite: str, size: int, model: ReversibleSequence, work: Workload, device: torch.device) -> list[Row]:
    """All three methods on one model; timing repetitions are interleaved so load drifts hit them alike."""
    x = torch.randn(work.batch, work.channels, work.image, work.image, device=device)

    def step(method: str) -> None:
        set_method(model, method)(x).square().mean().backward()

    def forward_only() -> None:  # what one recompute of the whole chain costs at least
        with torch.no_grad():
            set_method(model, "plain")(x)

    for param in model.parameters():  # gradient buffers exist up front: peaks then count activations only
        param.grad = torch.zeros_like(param)
    held, tensor_peak, peak, times = {}, {}, {}, {method: [] for method in METHODS}
    forward_times: list[float] = []
    for method in METHODS:
        held[method], tensor_peak[method] = instrumented_step(set_method(model, method), model, x)  # and warm-up
        peak[method] = peak_bytes(lambda: step(method), device)
    forward_only()  # warm-up
    for _ in range(work.reps):
        for method in METHODS:
            times[method].append(timed(lambda: step(method), device))
        forward_times.append(timed(forward_only, device))
    forward = statistics.median(forward_times)
    parameters = sum(p.numel() * p.element_size() for p in model.parameters())
    rows = [Row(suite, size, m, held[m], tensor_peak[m], peak[m], statistics.median(times[m]), forward, parameters)
            for m in METHODS]
    for row in rows:
        print(f"{suite:6s} {size:3d} {row.method:10s} saved {_mib(row.saved_bytes):>8s} MiB  "
              f"tensor peak {_mib(row.tensor_peak_bytes):>8s} MiB  {'RSS' if device.type == 'cpu' else 'CUDA'} peak "
              f"{_mib(row.peak_bytes):>8s} MiB  step {row.step_seconds:.3f} s", flush=True)
    return rows


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.2f}"


def _ratio(value: float | None, base: float | None) -> float | None:
    return None if value is None or not base else value / base


def summarise(rows: list[Row]) -> dict[str, object]:
    """The figures the issue sets targets for, for each memory measure."""
    def pick(suite: str, size: int, method: str) -> Row:
        return next(r for r in rows if (r.suite, r.size, r.method) == (suite, size, method))

    def growth(suite: str, sizes: list[int], field: str) -> float | None:
        low, high = (getattr(pick(suite, size, "reversible"), field) for size in (sizes[0], sizes[-1]))
        return None if low is None or high is None or low == 0 else high / low - 1

    def time_figures(suite: str) -> dict[str, float]:
        """The slowest reversible size against plain, next to what recomputation alone costs there."""
        worst = max((r for r in rows if r.suite == suite and r.method == "reversible"),
                    key=lambda r: r.step_seconds / pick(suite, r.size, "plain").step_seconds)
        plain = pick(suite, worst.size, "plain")
        floor = plain.step_seconds + RECOMPUTED_FORWARDS[suite] * worst.forward_seconds
        return {
            "size": worst.size,
            "ratio": worst.step_seconds / plain.step_seconds,
            "recompute_floor_ratio": floor / plain.step_seconds,
            "checkpoint_ratio": pick(suite, worst.size, "checkpoint").step_seconds / plain.step_seconds,
            "forward_share_of_plain_step": worst.forward_seconds / plain.step_seconds,
        }

    depths = sorted({r.size for r in rows if r.suite == "depth"})
    steps = sorted({r.size for r in rows if r.suite == "steps"})
    mid = 32 if 32 in depths else depths[len(depths) // 2]
    memory = {
        field: {
            "fraction_of_plain": _ratio(getattr(pick("depth", mid, "reversible"), field),
                                        getattr(pick("depth", mid, "plain"), field)),
            "growth_depth": growth("depth", depths, field),
            "growth_steps": growth("steps", steps, field),
        }
        for field in MEMORY_FIELDS
    }
    return {
        "depth_for_memory_target": mid,
        "memory": memory,
        "time": {suite: time_figures(suite) for suite in ("depth", "steps")},
        "targets": {"fraction_of_plain": 0.05, "growth": 0.05, "time_ratio": 1.3},
    }


def _percent(value: float | None, signed: bool = False) -> str:
    return "n/a" if value is None else f"{value:+.1%}" if signed else f"{value:.1%}"


def markdown(rows: list[Row], summary: dict[str, object], meta: dict[str, object]) -> str:
    peak_name = "CUDA peak" if meta["device_type"] == "cuda" else "RSS peak"
    lines = [
        f"Device: {meta['device']}; batch {meta['batch']}, "
        f"{meta['channels']} channels, {meta['image']}x{meta['image']}; inner depth {meta['inner_depth']} "
        f"per step; median of {meta['reps']} steps; total run {meta['run_seconds']:.0f} s.",
        "",
        f"| workload | size | method | saved for backward MiB (% plain) | tensor peak MiB (% plain) "
        f"| {peak_name} MiB (% plain) | step s (× plain) |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        plain = next(r for r in rows if (r.suite, r.size, r.method) == (row.suite, row.size, "plain"))
        cells = [
            f"{_mib(getattr(row, field))} ({_percent(_ratio(getattr(row, field), getattr(plain, field)))})"
            for field in MEMORY_FIELDS
        ]
        label = "depth (couplings)" if row.suite == "depth" else "steps T (two-level)"
        lines.append(f"| {label} | {row.size} | {row.method} | {' | '.join(cells)} | "
                     f"{row.step_seconds:.3f} ({row.step_seconds / plain.step_seconds:.2f}×) |")

    memory = summary["memory"]
    lines += ["", f"Targets, reversible engine (depth {summary['depth_for_memory_target']} for the fraction):", ""]
    for field, name in zip(MEMORY_FIELDS, ("saved for backward", "tensor peak", peak_name)):
        figures = memory[field]  # type: ignore[index]
        lines.append(
            f"- {name}: {_percent(figures['fraction_of_plain'])} of plain (target ≤ 5 %); growth from the "
            f"smallest to the largest depth {_percent(figures['growth_depth'], True)}, from the smallest to the "
            f"largest T {_percent(figures['growth_steps'], True)} (target ≤ +5 %)"
        )
    depth_rows = [r for r in rows if r.suite == "depth" and r.method == "reversible"]
    shallow, deep = min(depth_rows, key=lambda r: r.size), max(depth_rows, key=lambda r: r.size)
    times = summary["time"]  # type: ignore[index]
    one, two = times["depth"], times["steps"]
    lines += [
        f"- time per step: worst {one['ratio']:.2f}× plain with one level (depth {one['size']}), "
        f"{two['ratio']:.2f}× with two levels (T = {two['size']}) (target ≤ 1.3×). Why: the engine runs every "
        f"forward once more in backward (inner blocks of a two-level chain twice more: in the outer recompute "
        f"and in their own rebuild). A no-grad forward costs {one['forward_share_of_plain_step']:.0%} of a plain "
        f"step here, so recomputation alone puts the floor at {one['recompute_floor_ratio']:.2f}× for one level "
        f"and about {two['recompute_floor_ratio']:.2f}× for two; per-block checkpointing, which also recomputes "
        f"once, takes {one['checkpoint_ratio']:.2f}× / {two['checkpoint_ratio']:.2f}× at the same sizes; the engine's "
        "remaining gap is its own elementwise work (rebuilding inputs by subtraction, splitting and joining the "
        "channel halves). 1.3× is reachable only where backward costs more than 2.3× its forward.",
        "",
        "Saved for backward: unique storages autograd holds after the forward (parameters excluded). "
        "Tensor peak: most bytes of tensors created during the step alive at once (forward and backward; "
        "the loss, backward temporaries and gradient copies included); the engine's grows with depth by about "
        f"the parameters' size ({_mib(deep.parameter_bytes - shallow.parameter_bytes)} MiB more parameters at "
        f"depth {deep.size} than at {shallow.size}), since its autograd Function returns every parameter "
        "gradient at once at the end of the backward. "
        f"{peak_name}: the same step above the level before it, as the "
        + ("operating system sees it (allocator and library caches included)." if peak_name == "RSS peak"
           else "CUDA caching allocator sees it."),
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny tensors and one repetition (a smoke run)")
    parser.add_argument("--out", type=Path, default=Path("results/reversible_memory"),
                        help="output path without suffix; .json and .md are written")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:index]")
    parser.add_argument("--depths", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--steps", type=int, nargs="+", default=[3, 10, 30])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--image", type=int, default=64)
    parser.add_argument("--inner-depth", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads; 1 keeps timings stable on a shared 2-core machine")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    if args.quick:
        args.depths, args.steps = [2, 4, 8], [1, 2, 3]
        args.batch, args.channels, args.image, args.reps = 1, 8, 16, 1
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    work = Workload(args.batch, args.channels, args.image, args.inner_depth, args.reps)

    started = time.perf_counter()
    rows: list[Row] = []
    for depth in args.depths:
        rows += measure("depth", depth, build_depth_chain(depth, work).to(device), work, device)
    for steps in args.steps:
        rows += measure("steps", steps, build_step_chain(steps, work).to(device), work, device)
    meta = {
        **asdict(work),
        "device": describe_hardware(device),
        "device_type": device.type,
        "torch": torch.__version__,
        "threads": args.threads,
        "quick": args.quick,
        "run_seconds": time.perf_counter() - started,
    }
    summary = summarise(rows)
    table = markdown(rows, summary, meta)
    print("\n" + table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"meta": meta, "summary": summary, "rows": [asdict(row) for row in rows]}
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(table)


if __name__ == "__main__":
    main()

"""Does ``channels_last`` speed up IDM training here? One training step, NCHW vs channels_last, side by side.

A 3x3 conv may train faster in channels_last on small CPUs, but IDM pixel-unshuffles first,
splits channels in halves for its couplings and mixes convs with measurement operators, so the
answer for the whole model has to be measured. For each thread count, both layouts run the same
model (same weights, same batch, same CS operator) with their repetitions interleaved, and one
lone 3x3 conv (32 channels, 64², batch 8) is timed the same way as a reference. The first loss
of both layouts is recorded: they must agree.

Usage::

    python benchmarks/channels_last.py --out results/channels_last          # shipped architecture, 1 and 2 threads
    python benchmarks/channels_last.py --quick --out /tmp/layout            # one coupling per stage, a smoke run
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from reverse_anything.models.idm import IDM, IDMConfig
from reverse_anything.physics import CompressedSensing
from reverse_anything.profiling import describe_hardware

LAYOUTS = {"NCHW": torch.contiguous_format, "channels_last": torch.channels_last}


def _twins(make: Callable[[], nn.Module]) -> dict[str, nn.Module]:
    """One copy of the same module per layout (``Module.to(memory_format)`` converts in place)."""
    reference = make()
    twins = {}
    for name, layout in LAYOUTS.items():
        twin = make()
        twin.load_state_dict(reference.state_dict())
        twins[name] = twin.to(memory_format=layout)
    return twins


def _interleaved_medians(steps: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
    """Median seconds of each step; one warm-up round, then the layouts take turns."""
    for step in steps.values():
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(reps):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def measure(config: IDMConfig, batch: int, patch: int, reps: int, threads: int) -> dict[str, object]:
    """Both layouts at one thread count: IDM training step and the lone conv."""
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    x0 = torch.rand(batch, 1, patch, patch, generator=generator)
    op = CompressedSensing(0.3, (patch, patch))
    y = op.A(x0)
    torch.manual_seed(0)
    models = _twins(lambda: IDM(config))
    optimizers = {name: torch.optim.Adam(model.parameters(), lr=1e-4) for name, model in models.items()}
    first_loss: dict[str, float] = {}

    def idm_step(name: str) -> Callable[[], None]:
        def step() -> None:
            optimizers[name].zero_grad(set_to_none=True)
            loss = (models[name](y, op) - x0.contiguous(memory_format=LAYOUTS[name])).abs().mean()
            loss.backward()
            optimizers[name].step()
            first_loss.setdefault(name, float(loss.detach()))
        return step

    idm = _interleaved_medians({name: idm_step(name) for name in LAYOUTS}, reps)
    convs = _twins(lambda: nn.Conv2d(32, 32, 3, padding=1))
    image = torch.randn(8, 32, 64, 64, generator=generator)
    inputs = {name: image.contiguous(memory_format=layout) for name, layout in LAYOUTS.items()}
    conv = _interleaved_medians(
        {name: (lambda name=name: convs[name](inputs[name]).square().mean().backward()) for name in LAYOUTS}, reps
    )
    return {
        "threads": threads,
        "first_step_loss": first_loss,
        "seconds_per_step": idm,
        "speedup_channels_last": idm["NCHW"] / idm["channels_last"],
        "lone_conv_seconds": conv,
        "lone_conv_speedup_channels_last": conv["NCHW"] / conv["channels_last"],
    }


def markdown(report: dict[str, object]) -> str:
    model = report["model"]
    lines = [
        f"IDM training step (batch {report['batch']} of {report['patch']}² patches, CS 0.3, channels {model['channels']}, "
        f"depth {model['depth']}, memory saving {'on' if model['memory_saving'] else 'off'}), median of "
        f"{report['reps']} interleaved repetitions; {report['hardware']}.",
        "",
        "| threads | NCHW s / step | channels_last s / step | channels_last speed-up | lone 3×3 conv speed-up | first loss NCHW / channels_last |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for run in report["runs"]:  # type: ignore[union-attr]
        seconds, loss = run["seconds_per_step"], run["first_step_loss"]
        lines.append(
            f"| {run['threads']} | {seconds['NCHW']:.3f} | {seconds['channels_last']:.3f} | "
            f"{run['speedup_channels_last']:.2f}× | {run['lone_conv_speedup_channels_last']:.2f}× | "
            f"{loss['NCHW']:.6f} / {loss['channels_last']:.6f} |"
        )
    lines += ["", "Speed-up above 1: channels_last is faster. Training picks the layout with "
              "`reverse-anything train --memory-format nchw|channels_last` (default nchw)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/channels_last"), help="output path without suffix")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to compare (default 1 2)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--memory-saving", action="store_true", help="reversible engine on (default off, as shipped training)")
    parser.add_argument("--quick", action="store_true", help="one coupling per stage, batch 2 of 32², two repetitions")
    args = parser.parse_args(argv)
    depth = (1, 1, 1) if args.quick else (2, 2, 2)
    if args.quick:
        args.batch, args.patch, args.reps = 2, 32, 2
    config = IDMConfig(steps=3, channels=(32, 64, 128), depth=depth, embed_dim=64, schedule="adaptive",
                       memory_saving=args.memory_saving)
    previous_threads = torch.get_num_threads()
    runs = [measure(config, args.batch, args.patch, args.reps, threads) for threads in args.threads]
    torch.set_num_threads(previous_threads)
    report = {
        "hardware": describe_hardware(threads=max(args.threads)).rsplit(",", 1)[0],
        "model": {"channels": list(config.channels), "depth": list(depth), "steps": 3, "memory_saving": args.memory_saving},
        "batch": args.batch, "patch": args.patch, "reps": args.reps,
        "runs": runs,
    }
    table = markdown(report)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(table)


if __name__ == "__main__":
    main()

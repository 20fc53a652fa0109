"""The bench's report: its markdown tables, the PSNR-vs-time plot, and the budgets of the models it ran."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_output
from ..evaluate import EvalResult
from ..physics.compressed_sensing import BLOCK_SIZE

__all__ = ["MEMORY_STEPS", "MemoryProfile", "describe_budget", "plot_psnr_vs_time"]

MEMORY_STEPS = 3  # T of the efficiency table, as published
MIB = 2**20


@dataclass(frozen=True)
class MemoryProfile:
    """One IDM training iteration with memory saving on or off."""

    memory_saving: bool
    saved_bytes: int
    peak_bytes: int | None
    seconds_per_iter: float


def describe_budget(name: str, training: dict) -> str:
    """``name`` with the iterations and minutes it was trained for (and what it was fine-tuned from).

    A card with ``stages`` (a model trained in several runs) counts them all; its ``init_from`` is then
    named only if it is a shipped model (a run's checkpoint file inside the chain says nothing to a reader).
    """
    text = f"`{name}` ({training.get('iterations', '?')} iterations, {training.get('train_minutes', '?')} min"
    init, stages = training.get("init_from"), training.get("stages")
    if stages:
        minutes = sum(stage["minutes"] for stage in stages)
        text = f"`{name}` ({' + '.join(str(stage['iterations']) for stage in stages)} iterations in {len(stages)} runs, {minutes:.1f} min"
        init = init if init and not str(init.get("model", "")).endswith(".safetensors") else None
    if init:
        text += f", fine-tuned from `{init['model']}`: {init.get('iterations', '?')} iterations, {init.get('train_minutes', '?')} min"
    return text + ")"


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / MIB:.2f}"


def _reduction(on: float | None, off: float | None) -> float | None:
    return None if on is None or not off else 1.0 - on / off


def _markdown(
    results: dict[str, EvalResult], fid: dict[str, float | str], steps: dict[str, str], memory: tuple[MemoryProfile, MemoryProfile],
    context: dict[str, Any],
) -> str:
    def speedup(base: str, method: str) -> str:
        if base not in results:
            return "—"
        ratio = results[base].seconds_per_image / results[method].seconds_per_image
        return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.1f}×" if ratio >= 1 else f"{ratio:.2g}×"

    first = next(iter(results.values()))
    lines = [
        f"Command: `{context['command']}`" if context["command"] else "Command: (library call)",
        "",
        f"Hardware: {context['hardware']}.",
        "",
        f"Models (training budgets, so the comparison can be judged): {context['models']}.",
        "",
        f"**Quality** on `{first.data}` ({first.n_images} images, Y channel), scrambled block CS, ratio {context['ratio']:g}, "
        f"block {BLOCK_SIZE}, noiseless; seconds per image count the restorer only.",
        "",
        "| method | steps | Y-PSNR (dB) | SSIM | FID | s / image | speed-up vs ddpm | speed-up vs ddnm |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method, result in results.items():
        score = fid[method]
        lines.append(
            f"| {method} | {steps[method]} | {result.psnr:.2f} | {result.ssim:.4f} | "
            f"{score if isinstance(score, str) else f'{score:.2f}'} | {result.seconds_per_image:.3g} | "
            f"{speedup('ddpm', method)} | {speedup('ddnm', method)} |"
        )
    on, off = memory
    lines += [
        "",
        f"**Training efficiency**: one IDM training iteration at T = {MEMORY_STEPS} (forward, L1 loss, backward, Adam), "
        f"batch of {context['memory_batch']} patches {context['memory_patch']}×{context['memory_patch']} (Y, from the test "
        f"folder), CS ratio {context['ratio']:g}, model channels {list(context['idm_config'].channels)}; median of "
        f"{context['memory_reps']} iterations.",
        "",
        "| memory saving | held for backward (MiB) | peak process memory (MiB) | s / iteration |",
        "|---|---:|---:|---:|",
        f"| on | {_mib(on.saved_bytes)} | {_mib(on.peak_bytes)} | {on.seconds_per_iter:.3f} |",
        f"| off | {_mib(off.saved_bytes)} | {_mib(off.peak_bytes)} | {off.seconds_per_iter:.3f} |",
    ]
    saved_cut, peak_cut = _reduction(on.saved_bytes, off.saved_bytes), _reduction(on.peak_bytes, off.peak_bytes)
    lines.append(
        f"| reduction | {saved_cut:.1%} | {'n/a' if peak_cut is None else f'{peak_cut:.1%}'} | "
        f"{on.seconds_per_iter / off.seconds_per_iter:.2f}× the time |"
    )
    lines += [
        "",
        "Held for backward: unique tensor storages autograd keeps after the forward (saved-tensor hooks, parameters "
        "excluded). Peak process memory: the iteration's peak above the level before it (peak RSS on CPU, the CUDA "
        "allocator's peak on GPU), gradients and Adam state already allocated.",
    ]
    if context.get("plot_note"):
        lines += ["", context["plot_note"]]
    return "\n".join(lines) + "\n"


def plot_psnr_vs_time(results: dict[str, EvalResult], path: Path) -> str | None:
    """Write the PSNR-vs-seconds-per-image scatter; returns a message instead when matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return "PSNR-vs-time plot skipped: matplotlib is not installed (pip install 'reverse-anything[plot]')."
    figure = Figure(figsize=(5.5, 3.8), dpi=150)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for method, result in results.items():
        axes.scatter(result.seconds_per_image, result.psnr, s=30)
        axes.annotate(method, (result.seconds_per_image, result.psnr), textcoords="offset points", xytext=(5, 4))
    axes.set_xscale("log")
    axes.set_xlabel("seconds per image (log scale)")
    axes.set_ylabel("Y-PSNR (dB)")
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png")
    return None

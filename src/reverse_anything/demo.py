"""The demo: the chosen methods on the shipped example images, one labelled before/after grid and a JSON of the
scores, so a new user sees what each method does in one command (``reverse-anything demo``).

With one operator the grid has a row per example image; with several (the default: :data:`DEMO_SETTINGS`,
the settings of the README's operator tables) a row per operator, on the first example. ``idm`` runs where a shipped model serves the operator and is left out, with a note, where
none does (unless it was asked for by name).
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .atomic import atomic_write_text
from .data import example_images, write_image
from .evaluate import SHOWCASE_SETTINGS, EvalResult, OperatorFactory, evaluate_folder
from .figures import describe_operator, labelled_grid, short_label
from .models.idm import IncompatibleMeasurementError
from .solvers import get_restorer
from .solvers.learned import default_idm_model

__all__ = ["DEMO_METHODS", "DEMO_SETTINGS", "DemoOperator", "DemoRun", "run_demo"]

DEMO_METHODS = ("pinv", "tv", "idm")
DEMO_SETTINGS = SHOWCASE_SETTINGS  # the default demo's rows: the README tables' settings, which the shipped models serve
PROBE_SIZE = (64, 64)  # the size operators are built at to describe them and to ask which models serve them


@dataclass(frozen=True)
class DemoOperator:
    """One operator of the demo: how to build it per image, and the crop its images need (SR's factor)."""

    factory: OperatorFactory
    crop_multiple: int = 1


@dataclass(frozen=True)
class DemoRun:
    """What the demo measured: one evaluation per (operator, method), and the methods left out per operator."""

    results: list[EvalResult]
    skipped: dict[str, str]  # operator family -> why idm was left out


def _methods_for(op, methods: Sequence[str], strict: bool) -> tuple[list[str], str | None]:
    """The methods that serve ``op``; ``idm`` without a shipped model for it is left out (or refused when ``strict``)."""
    if "idm" not in methods:
        return list(methods), None
    try:
        default_idm_model(op)
    except IncompatibleMeasurementError as error:
        if strict:
            raise
        return [m for m in methods if m != "idm"], str(error)
    return list(methods), None


def run_demo(
    output_dir: Path,
    operators: Sequence[DemoOperator],
    methods: Sequence[str] = DEMO_METHODS,
    device: torch.device = torch.device("cpu"),
    progress: bool = True,
    command: str = "",
    threads: str = "",
    channel: str = "auto",
    strict: bool = False,
) -> DemoRun:
    """Restore the shipped example images with each method under each operator; write ``grid.png`` and ``results.json``.

    ``strict``: a method that does not serve an operator is an error instead of being left out with a note.
    ``command`` and ``threads`` (how the CPU thread count was set) are recorded in ``results.json``.
    """
    examples = example_images()
    shown: dict[tuple[int, str], list[tuple[str, Tensor]]] = {}  # (operator index, image) -> (label, image) panels
    truths: dict[str, Tensor] = {}
    results: list[EvalResult] = []
    skipped: dict[str, str] = {}
    rank = {method: index for index, method in enumerate(methods)}
    for index, operator in enumerate(operators):
        probe = operator.factory(PROBE_SIZE, 0)
        served, reason = _methods_for(probe, methods, strict)
        if reason is not None:
            skipped[probe.name] = reason
        per_operator = []
        ranked: dict[str, list[tuple[int, str, Tensor]]] = {}  # image -> (method's rank, label, image)
        # idm first: a model refuses a measurement it was not trained for at once, before tv has run
        for method in sorted(served, key=lambda name: name != "idm"):
            kept: dict[str, Tensor] = {}

            def keep(name: str, truth: Tensor, restored: Tensor, kept: dict[str, Tensor] = kept) -> None:
                truths[name] = truth[0].cpu()
                kept[name] = restored[0].cpu()

            restorer = get_restorer(method)
            result = evaluate_folder(examples[0].parent, operator.factory, restorer, channel=channel, progress=progress,
                                     method=method, device=device, crop_multiple=operator.crop_multiple, observe=keep)
            per_operator.append(dataclasses.replace(result, model=getattr(restorer, "model_name", ""), command=command, threads=threads))
            for row in result.rows:
                ranked.setdefault(row.name, []).append((rank[method], f"{method} {row.psnr:.2f} dB", kept[row.name]))
        per_operator.sort(key=lambda result: rank[result.method])  # back in the order asked for
        results += per_operator
        for name, panels in ranked.items():
            shown[index, name] = [(label, image) for _, label, image in sorted(panels, key=lambda panel: panel[0])]
    output_dir.mkdir(parents=True, exist_ok=True)
    write_image(output_dir / "grid.png", _grid(operators, shown, truths, channel))
    atomic_write_text(output_dir / "results.json", json.dumps([r.to_dict() for r in results], indent=2) + "\n")
    return DemoRun(results, skipped)


def _grid(operators: Sequence[DemoOperator], shown: dict, truths: dict[str, Tensor], channel: str) -> Tensor:
    colours = "colour where the image is colour" if channel == "auto" else channel.upper() + " channel"
    if len(operators) == 1:  # a row per image
        rows = [[*shown[0, name], (f"{name} (truth)", truths[name])] for name in sorted(truths)]
        title = f"{describe_operator(operators[0].factory(PROBE_SIZE, 0))}; {colours}; PSNR against the truth"
        return labelled_grid(rows, title=title)
    first = sorted(truths)[0]  # a row per operator, on the first example
    rows = []
    for index, operator in enumerate(operators):
        label = short_label(operator.factory(PROBE_SIZE, 0).config())  # "cs: ratio 0.3"
        panels = shown[index, first]
        rows.append([(f"{label} | {panels[0][0]}", panels[0][1]), *panels[1:], (f"{first} (truth)", truths[first])])
    return labelled_grid(rows, title=f"one row per operator; {colours}; PSNR against the truth")


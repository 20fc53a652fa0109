"""The demo: every chosen method on the shipped example images, one labelled before/after grid and a JSON
of the scores, so a new user sees what each method does in one command (``reverse-anything demo``)."""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from .atomic import atomic_write_text
from .data import example_images, write_image
from .evaluate import EvalResult, OperatorFactory, evaluate_folder
from .figures import describe_operator, labelled_grid
from .solvers import get_restorer

__all__ = ["DEMO_METHODS", "run_demo"]

DEMO_METHODS = ("pinv", "tv", "idm")


def run_demo(
    output_dir: Path,
    operator_factory: OperatorFactory,
    methods: Sequence[str] = DEMO_METHODS,
    crop_multiple: int = 1,
    device: torch.device = torch.device("cpu"),
    progress: bool = True,
    command: str = "",
    threads: str = "",
    channel: str = "auto",
) -> list[EvalResult]:
    """Restore the shipped example images (in colour where they are colour, by default) with each method; write a grid and JSON.

    ``command`` and ``threads`` (how the CPU thread count was set) are recorded in ``results.json``.

    Writes ``grid.png`` (one row per image: each method's output, then the ground truth) and
    ``results.json`` (one evaluation document per method) into ``output_dir``.
    """
    examples = example_images()
    outputs: dict[str, list[tuple[str, Tensor]]] = {}
    truths: dict[str, Tensor] = {}
    results = []
    # idm first: a model refuses a measurement it was not trained for at once, before tv has run
    for method in sorted(methods, key=lambda name: name != "idm"):

        def keep(name: str, truth: Tensor, restored: Tensor, method: str = method) -> None:
            truths[name] = truth[0].cpu()
            outputs.setdefault(name, []).append((method, restored[0].cpu()))

        restorer = get_restorer(method)
        result = evaluate_folder(examples[0].parent, operator_factory, restorer, channel=channel, progress=progress,
                                 method=method, device=device, crop_multiple=crop_multiple, observe=keep)
        results.append(dataclasses.replace(result, model=getattr(restorer, "model_name", "")))
    rank = {method: index for index, method in enumerate(methods)}  # back in the order asked for
    results.sort(key=lambda result: rank[result.method])
    psnr_of = {(result.method, row.name): row.psnr for result in results for row in result.rows}
    rows = [
        [*((f"{method} {psnr_of[method, name]:.2f} dB", image) for method, image in sorted(outputs[name], key=lambda pair: rank[pair[0]])),
         (f"{name} (truth)", truths[name])]
        for name in sorted(truths)
    ]
    results = [dataclasses.replace(r, command=command, threads=threads) for r in results]
    shown = "colour where the image is colour" if channel == "auto" else channel.upper() + " channel"
    title = f"{describe_operator(operator_factory((64, 64), 0))}; {shown}; PSNR against the truth"
    output_dir.mkdir(parents=True, exist_ok=True)
    write_image(output_dir / "grid.png", labelled_grid(rows, title=title))
    atomic_write_text(output_dir / "results.json", json.dumps([r.to_dict() for r in results], indent=2) + "\n")
    return results

"""The settings the shipped IDM models serve, and the held-out images the inference benchmarks score them on.

Shared by ``self_ensemble.py`` and ``precision.py`` (run from the repository root; a script's own
folder is on ``sys.path``, so ``import idm_cases`` finds this file).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from reverse_anything.metrics import psnr
from reverse_anything.physics import build_operator
from reverse_anything.training.validation import holdout_files, validation_images

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # the inference benchmarks read the project's shared data
# (label, operator config without its image size; the issues' settings)
CASES = (
    ("CS 10 %", {"operator": "cs", "ratio": 0.1}),
    ("CS 30 %", {"operator": "cs", "ratio": 0.3}),
    ("CS 50 %", {"operator": "cs", "ratio": 0.5}),
    ("CS 30 %, noise 0.03", {"operator": "cs", "ratio": 0.3, "noise_sigma": 0.03}),
    ("inpainting 30 %", {"operator": "inpainting", "keep_ratio": 0.3}),
    ("blur σ 2, noise 0.01", {"operator": "blur", "sigma": 2.0, "noise_sigma": 0.01}),
    ("SR ×4 bicubic", {"operator": "sr", "factor": 4, "kernel": "bicubic"}),
    ("MRI ×4 random lines", {"operator": "mri", "acceleration": 4, "mask": "random"}),
)
SEEDED = {"cs": "perm_seed", "inpainting": "seed", "mri": "seed"}  # one operator draw per image, as the evaluations do


def missing_data(script: str, folder: str = "train") -> bool:
    """Whether the shared data folder a benchmark needs is absent (then a one-line reason is printed on stderr)."""
    if (DATA / folder).is_dir():
        return False
    print(f"{script}: {DATA / folder} is missing (this benchmark needs the project's shared data)", file=sys.stderr)
    return True


def operator_for(config: dict, size: tuple[int, int], index: int):
    """The case's operator for image ``index`` (its own permutation / mask drawn from the index)."""
    seeded = {SEEDED[config["operator"]]: index} if config["operator"] in SEEDED else {}
    return build_operator({**config, "image_size": list(size), **seeded})


def measure(op, x: torch.Tensor, index: int) -> torch.Tensor:
    """``y = A x`` (+ noise seeded by the image index, so every method sees the same ``y``)."""
    return op(x, generator=torch.Generator().manual_seed(index)) if op.noise_sigma > 0 else op.A(x)


def held_out_images(holdout: int, size: int) -> list[torch.Tensor]:
    """Centre crops (Y, ``(1, 1, s, s)``) of the last ``holdout`` files of ``train/``, which no model trains on."""
    return [x.unsqueeze(0) for x in validation_images(holdout_files(DATA / "train", holdout), size)]


def interleaved(restorers: dict, config: dict, images: list[torch.Tensor]) -> tuple[dict[str, dict], list[dict[str, torch.Tensor]]]:
    """Every restorer on every image of one case, side by side: one untimed warm-up each, then image by image
    with the order rotating, so a load change on a shared machine falls on all of them alike.

    Returns ``{name: {"psnr", "seconds_per_image"}}`` (means) and each image's outputs by name."""
    warm_op = operator_for(config, tuple(images[0].shape[-2:]), 0)
    for restore in restorers.values():
        restore(warm_op, measure(warm_op, images[0], 0))
    names = list(restorers)
    scores: dict[str, list[float]] = {name: [] for name in names}
    seconds = dict.fromkeys(names, 0.0)
    outputs = []
    for index, x in enumerate(images):
        op = operator_for(config, tuple(x.shape[-2:]), index)
        y = measure(op, x, index)
        restored = {}
        for name in names[index % len(names):] + names[:index % len(names)]:
            began = time.perf_counter()
            restored[name] = restorers[name](op, y)
            seconds[name] += time.perf_counter() - began
            scores[name].append(psnr(restored[name].clamp(0, 1), x, data_range=1.0).item())
        outputs.append(restored)
    means = {name: {"psnr": sum(scores[name]) / len(images), "seconds_per_image": seconds[name] / len(images)} for name in names}
    return means, outputs


def write_report(out: Path, stem: str, results: dict, table: str) -> None:
    """``out/stem.json`` and ``out/stem.md``, and the table printed."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"{stem}.md").write_text(table)
    print(table)

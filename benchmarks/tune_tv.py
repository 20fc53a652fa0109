"""Choose the TV solver's default weight per operator family, on training images only.

Honest-tuning rule: the images come from ``../shared/data/train/cbsd432`` (CBSD432, the
training set), never from a test set. Each image is read as the protocol's Y channel and
cropped (top-left) to 320x480 / 480x320 so every operator, SR x4 included, accepts it.
For each setting and weight the script runs ``tv`` with a fixed iteration budget and prints
the mean PSNR (dB, data range 1); then, at the best weight, it reruns with twice the budget
to show the budget is enough. The winning weights go into
``reverse_anything.solvers.classical.TV_DEFAULTS``.

Run (about 30 minutes on one busy CPU core; CT is tuned smaller, see SETTINGS):

    OMP_NUM_THREADS=1 python benchmarks/tune_tv.py --json results/tuning/tune_tv.json
    OMP_NUM_THREADS=1 python benchmarks/tune_tv.py --families denoising --weights 0.02 0.05 0.1 0.2 0.5
    OMP_NUM_THREADS=1 python benchmarks/tune_tv.py --families ct --weights 0.00001 0.00002 0.00005 0.0001 0.0002
    OMP_NUM_THREADS=1 python benchmarks/tune_tv.py --families cs-noisy --weights 0.001 0.002 0.005 0.01 0.02 0.05 \
        --json results/tuning/tune_tv_cs_noisy.json   # -> TV_NOISY_DEFAULTS

Result: mean PSNR (dB) of 5 training images at 300 iterations (CT: 3 images cropped to
160x240); "2x" is the best weight rerun with 600 iterations (logs, not committed:
results/logs/tune_tv*.log).

| setting | 0.0002 | 0.0005 | 0.001 | 0.002 | 0.005 | 0.01 | 0.02 | 0.05 | 2x | default |
|---|---|---|---|---|---|---|---|---|---|---|
| cs ratio 0.1 | 19.40 | 28.80 | 28.77 | 28.69 | 28.24 | 27.38 | 25.98 | 23.65 | 28.79 | 0.001 |
| cs ratio 0.3 | 34.39 | 34.35 | 34.28 | 34.04 | 33.14 | 31.80 | 29.98 | 27.23 | 34.37 | 0.001 |
| cs ratio 0.5 | 38.72 | 38.66 | 38.51 | 38.05 | 36.55 | 34.62 | 32.29 | 29.12 | 38.72 | 0.001 |
| inpainting keep 0.3 | 26.85 | 28.57 | 28.65 | 28.63 | 28.51 | 28.27 | 27.75 | 26.41 | 28.66 | 0.001 |
| blur gaussian 2, noise 0.01 | 28.75 | 29.17 | 29.07 | 28.79 | 28.28 | 27.80 | 27.24 | 26.36 | 29.16 | 0.0005 |
| sr x4 bicubic | 27.72 | 27.72 | 27.72 | 27.72 | 27.70 | 27.65 | 27.51 | 27.02 | 27.73 | 0.001 |
| mri x4 random | 32.15 | 32.34 | 32.34 | 32.25 | 31.74 | 30.93 | 29.78 | 28.00 | 32.34 | 0.001 |

| setting | weights: PSNR | 2x | default |
|---|---|---|---|
| denoising sigma 0.1 | 0.02: 23.23, 0.05: 27.55, 0.1: 28.92, 0.2: 26.91, 0.5: 24.05 | 28.92 | 0.1 |
| cs ratio 0.3, noise 0.03 | 0.001: 29.54, 0.002: 29.73, 0.005: 30.19, 0.01: 30.45, 0.02: 29.68, 0.05: 27.20 | 30.45 | 0.01 (noisy CS) |
| ct 60 angles | 1e-5: 34.75, 2e-5: 35.28, 5e-5: 35.34, 1e-4: 34.74, 2e-4: 33.84, 5e-4: 32.34, 1e-3: 31.06 | 35.45 | 5e-5 |

Choices: CS takes 0.001 rather than the per-ratio best (0.0002-0.0005): it loses at most
0.15 dB, and at ratio 0.1 the weight 0.0002 no longer converges in 300 iterations (19.40 dB),
so 0.001 keeps a factor-5 margin. SR is flat below 0.002. CT's 2e-5 needs more than 300
iterations (35.75 dB at 600), so 5e-5 is the best weight for the budget. 150 iterations instead
of 300 lose 0.25 dB on CS ratio 0.1 (28.52 dB), so the budget stays at 300.

The solver's internal step constants (initial sqrt(tau/sigma) = 0.1 / weight, residual
balance 30 * weight) come from an earlier development study on one 192x256 training crop:
the objective reached in 150 iterations for fixed step ratios vs the adaptive rule, on CS
(0.1, 0.5), inpainting, SR, MRI, CT and blur at weights 0.002-0.03. Fixed ratios were each good
for only some weights (best fixed ratio ~ 1 / weight); the adaptive rule with these constants
was best or within 3 % of best in every case.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from reverse_anything.data import list_image_files, read_image
from reverse_anything.metrics import psnr
from reverse_anything.physics import (
    CT,
    MRI,
    Blur,
    CompressedSensing,
    Denoising,
    Inpainting,
    LinearPhysics,
    SuperResolution,
)
from reverse_anything.solvers import tv

TRAIN_FOLDER = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "train" / "cbsd432"
WEIGHTS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05)

# (family, setting label, operator for an (H, W) size, images used, crop (H, W) of landscape images)
Setting = tuple[str, str, Callable[[tuple[int, int]], LinearPhysics], int, tuple[int, int]]
SETTINGS: tuple[Setting, ...] = (
    ("cs", "cs ratio 0.1", lambda size: CompressedSensing(0.1, size), 5, (320, 480)),
    ("cs", "cs ratio 0.3", lambda size: CompressedSensing(0.3, size), 5, (320, 480)),
    ("cs", "cs ratio 0.5", lambda size: CompressedSensing(0.5, size), 5, (320, 480)),
    ("cs-noisy", "cs ratio 0.3, noise 0.03", lambda size: CompressedSensing(0.3, size, noise_sigma=0.03), 5, (320, 480)),
    ("inpainting", "inpainting keep 0.3", lambda size: Inpainting(size, keep_ratio=0.3), 5, (320, 480)),
    ("denoising", "denoising sigma 0.1", lambda size: Denoising(noise_sigma=0.1), 5, (320, 480)),
    ("blur", "blur gaussian 2, noise 0.01", lambda size: Blur(size, sigma=2.0, noise_sigma=0.01), 5, (320, 480)),
    ("sr", "sr x4 bicubic", lambda size: SuperResolution(size, 4, "bicubic"), 5, (320, 480)),
    ("mri", "mri x4 random", lambda size: MRI(size, acceleration=4), 5, (320, 480)),
    # The sparse-matrix CT operator costs ~0.4 s per A at 320x480, so CT is tuned smaller.
    ("ct", "ct 60 angles", lambda size: CT(size, n_angles=60), 3, (160, 240)),
)


def training_images(count: int, crop: tuple[int, int]) -> list[torch.Tensor]:
    """``count`` Y-channel training images, evenly spread over the sorted folder, as (1, 1, H, W)."""
    files = list_image_files(TRAIN_FOLDER)
    chosen = files[:: max(1, len(files) // count)][:count]
    images = []
    for path in chosen:
        image = read_image(path, mode="y")
        height, width = crop if image.shape[-1] >= image.shape[-2] else crop[::-1]
        images.append(image[None, :, :height, :width])
    return images


def mean_psnr(
    make_operator: Callable[[tuple[int, int]], LinearPhysics],
    images: list[torch.Tensor],
    weight: float,
    iterations: int,
) -> tuple[float, float]:
    """Mean PSNR (dB) of TV over ``images`` and the mean seconds per image."""
    scores, seconds = [], 0.0
    for index, image in enumerate(images):
        op = make_operator(tuple(image.shape[-2:]))
        y = op(image, generator=torch.Generator().manual_seed(index))
        start = time.perf_counter()
        restored = tv(op, y, weight=weight, iterations=iterations)
        seconds += time.perf_counter() - start
        scores.append(float(psnr(restored, image, data_range=1.0)[0]))
    return sum(scores) / len(scores), seconds / len(images)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--families", nargs="*", help="only these operator families")
    parser.add_argument("--weights", type=float, nargs="+", default=list(WEIGHTS), help="the weight grid")
    parser.add_argument("--json", type=Path, help="write all numbers here")
    args = parser.parse_args(argv)
    if not TRAIN_FOLDER.is_dir():
        print(f"tune_tv: {TRAIN_FOLDER} is missing", file=sys.stderr)
        return 2

    results = []
    for family, label, make_operator, count, crop in SETTINGS:
        if args.families and family not in args.families:
            continue
        images = training_images(count, crop)
        by_weight = {}
        for weight in args.weights:
            by_weight[weight], seconds = mean_psnr(make_operator, images, weight, args.iterations)
            print(f"{label:30s} weight {weight:<6g} {by_weight[weight]:6.2f} dB  {seconds:5.2f} s/image", flush=True)
        best = max(by_weight, key=by_weight.get)
        longer, _ = mean_psnr(make_operator, images, best, 2 * args.iterations)
        print(f"{label:30s} best weight {best:g}; with {2 * args.iterations} iterations {longer:6.2f} dB", flush=True)
        results.append(
            {
                "family": family,
                "setting": label,
                "images": count,
                "crop": list(crop),
                "psnr_by_weight": {str(w): p for w, p in by_weight.items()},
                "best_weight": best,
                "psnr_double_iterations": longer,
            }
        )
    print("\n| setting | " + " | ".join(f"w={w:g}" for w in args.weights) + " | best | 2x iters |")
    print("|---" * (len(args.weights) + 3) + "|")
    for row in results:
        cells = " | ".join(f"{row['psnr_by_weight'][str(w)]:.2f}" for w in args.weights)
        print(f"| {row['setting']} | {cells} | {row['best_weight']:g} | {row['psnr_double_iterations']:.2f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        temporary = args.json.with_name(args.json.name + ".tmp")
        temporary.write_text(json.dumps({"iterations": args.iterations, "settings": results}, indent=2))
        os.replace(temporary, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

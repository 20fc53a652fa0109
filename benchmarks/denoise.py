"""The prior as a Gaussian denoiser, beside TV: the yardstick of the DDPM prior (issue: a strong prior).

For each test set (Y channel of ``cbsd68_idm``, and Set12) and each sigma (15 / 25 / 50 out of 255)
every image gets the same seeded Gaussian noise (``seed`` = image index); each prior denoises in
one step (:func:`reverse_anything.solvers.pnp.prior_denoise`); the priors named by ``--self-ensemble``
also denoise as the mean of their 8 flipped / rotated estimates (a column "NAME x8", 8x the cost,
nothing tuned). TV denoises at the weight that
scored best for that sigma on the held-out training images (the last 6 of ``train/``, which no
model trains on), never on a test set. Prints and writes a JSON and a markdown table.

    OMP_NUM_THREADS=1 python benchmarks/denoise.py --priors ddpm ddpm-wide --out results/denoise
    OMP_NUM_THREADS=2 python benchmarks/denoise.py --priors ddpm-wide --self-ensemble ddpm-wide --sigmas 25 --out results/denoise-x8
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from reverse_anything.data import list_image_files, read_image
from reverse_anything.metrics import psnr
from reverse_anything.models.checkpoint import load_ddpm
from reverse_anything.physics import Denoising
from reverse_anything.profiling import describe_hardware
from reverse_anything.solvers import tv
from reverse_anything.solvers.pnp import prior_denoise

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # this benchmark reads the project's shared data
TV_WEIGHTS = (0.03, 0.05, 0.07, 0.1, 0.14, 0.2, 0.3)


def noisy_copy(x: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    return x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype)


def tv_denoise(noisy: torch.Tensor, weight: float) -> torch.Tensor:
    return tv(Denoising(), noisy, weight=weight, iterations=300)


def tune_tv(images: list[torch.Tensor], sigma: float) -> tuple[float, dict[str, float]]:
    """The TV weight with the best mean PSNR on ``images`` (held-out training images) at ``sigma``."""
    scores = {}
    for weight in TV_WEIGHTS:
        values = [psnr(tv_denoise(noisy_copy(x, sigma, i), weight).clamp(0, 1), x, data_range=1.0).item() for i, x in enumerate(images)]
        scores[f"{weight:g}"] = sum(values) / len(values)
    best = max(scores, key=scores.get)
    return float(best), scores


def ensemble_name(prior: str) -> str:
    """The column of a prior's 8-fold self-ensemble."""
    return f"{Path(prior).stem} x8"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--priors", nargs="+", default=["ddpm", "ddpm-wide"], help="shipped prior names or .safetensors paths")
    parser.add_argument("--self-ensemble", nargs="*", default=[], metavar="PRIOR", help="priors (of --priors) also run as an 8-fold self-ensemble")
    parser.add_argument("--sets", nargs="+", default=["cbsd68_idm", "set12"])
    parser.add_argument("--sigmas", type=float, nargs="+", default=[15, 25, 50], help="noise std out of 255")
    parser.add_argument("--limit", type=int, help="only the first N images of each set")
    parser.add_argument("--out", type=Path, default=Path("results/denoise"))
    args = parser.parse_args()
    for name in ["train", *args.sets]:
        if not (DATA / name).is_dir():
            print(f"denoise: {DATA / name} is missing (this benchmark needs the project's shared data)", file=sys.stderr)
            return 2
    unknown = sorted(set(args.self_ensemble) - set(args.priors))
    if unknown:
        print(f"denoise: --self-ensemble names {', '.join(unknown)}, which --priors does not", file=sys.stderr)
        return 2
    priors = {name: load_ddpm(name) for name in args.priors}
    holdout = [read_image(p, "y").unsqueeze(0) for p in list_image_files(DATA / "train", recursive=True)[-6:]]
    results: dict = {"command": " ".join(["python", *sys.argv]), "hardware": describe_hardware(), "sets": {}, "tv_tuning": {}}
    for sigma in args.sigmas:
        weight, scores = tune_tv(holdout, sigma / 255)
        results["tv_tuning"][f"{sigma:g}"] = {"weight": weight, "scores": scores}
        print(f"sigma {sigma:g}: TV weight {weight:g} (held-out training PSNR {scores[f'{weight:g}']:.2f})", flush=True)
    for name in args.sets:
        files = list_image_files(DATA / name)[: args.limit]
        images = [read_image(p, "y").unsqueeze(0) for p in files]
        table: dict = {}
        for sigma in args.sigmas:
            row: dict = {}
            weight = results["tv_tuning"][f"{sigma:g}"]["weight"]
            methods = {"tv": lambda noisy: tv_denoise(noisy, weight)}
            methods.update({prior: (lambda noisy, net=net, s=sigma: prior_denoise(net, noisy, s / 255)) for prior, net in priors.items()})
            methods.update({ensemble_name(prior): (lambda noisy, net=priors[prior], s=sigma: prior_denoise(net, noisy, s / 255, self_ensemble=True))
                            for prior in args.self_ensemble})
            for method, run in methods.items():
                values, began = [], time.perf_counter()
                for index, x in enumerate(images):
                    with torch.no_grad():
                        values.append(psnr(run(noisy_copy(x, sigma / 255, index)).clamp(0, 1), x, data_range=1.0).item())
                row[method] = {"psnr": sum(values) / len(values), "seconds_per_image": (time.perf_counter() - began) / len(images)}
                print(f"{name} sigma {sigma:g} {method}: {row[method]['psnr']:.2f} dB", flush=True)
            table[f"{sigma:g}"] = row
        results["sets"][name] = {"images": len(images), "table": table}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "denoise.json").write_text(json.dumps(results, indent=2) + "\n")
    ensembles = [ensemble_name(prior) for prior in args.self_ensemble]
    methods = ["tv", *args.priors, *ensembles]
    margins = {"best prior - tv": args.priors, **({"best x8 - tv": ensembles} if ensembles else {})}
    lines = [f"Gaussian denoising, Y channel, PSNR (dB); {results['hardware']}. Command: `{results['command']}`.", "",
             "| set | sigma | " + " | ".join([*methods, *margins]) + " |", "|---|---:|" + "---:|" * (len(methods) + len(margins))]
    for name, entry in results["sets"].items():
        for sigma, row in entry["table"].items():
            cells = [f"{row[m]['psnr']:.2f}" for m in methods]
            cells += [f"{max(row[m]['psnr'] for m in group) - row['tv']['psnr']:+.2f}" for group in margins.values()]
            lines.append(f"| {name} ({entry['images']}) | {sigma} | " + " | ".join(cells) + " |")
    if ensembles:
        lines += ["", "x8: the mean of the prior's estimates of the 8 flipped / rotated copies, each turned back (8x the cost)."]
    lines += ["", "TV weight per sigma, tuned on the 6 held-out training images: "
              + ", ".join(f"σ {s}: {v['weight']:g}" for s, v in results["tv_tuning"].items()) + "."]
    (args.out / "denoise.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

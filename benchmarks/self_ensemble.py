"""What the geometric self-ensemble (``--self-ensemble N``) buys the shipped IDM models, per operator.

On the held-out training images (the last 6 files of ``train/``, which no model trains on; centre
crops of ``--size`` pixels, Y), each operator's measurement is restored by the model ``--method idm``
picks, averaged over N = 1, 2, 4, 8 flipped / rotated views. Noisy operators draw their noise with
``seed`` = image index. Only held-out images: the test sets are scored by ``benchmarks/results.py``.
Prints and writes a JSON and a markdown table, PSNR gain and time ratio beside N = 1, in one run.

    OMP_NUM_THREADS=1 python benchmarks/self_ensemble.py --out results/self-ensemble
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from idm_cases import CASES, held_out_images, measure, missing_data, operator_for
from reverse_anything.metrics import psnr
from reverse_anything.profiling import describe_hardware
from reverse_anything.solvers import get_restorer
from reverse_anything.solvers.ensemble import ENSEMBLE_SIZES
from reverse_anything.solvers.learned import default_idm_model

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="centre crop of each held-out image (default 128, the validation size)")
    parser.add_argument("--holdout", type=int, default=6, help="held-out training files (default 6, as in training)")
    parser.add_argument("--out", type=Path, default=Path("results/self-ensemble"))
    args = parser.parse_args(argv)
    if missing_data("self_ensemble"):
        return 2
    images = held_out_images(args.holdout, args.size)
    results: dict = {"command": " ".join(["python", "benchmarks/self_ensemble.py", *(sys.argv[1:] if argv is None else argv)]), "hardware": describe_hardware(), "images": len(images),
                     "size": args.size, "cases": {}}
    for label, config in CASES:
        row: dict = {}
        model = default_idm_model(operator_for(config, tuple(images[0].shape[-2:]), 0))  # what --method idm picks
        restorers = {n: get_restorer("idm", model=model, self_ensemble=n) for n in ENSEMBLE_SIZES}  # loaded here, untimed
        for n, restore in restorers.items():
            scores, seconds = [], 0.0
            for index, x in enumerate(images):
                op = operator_for(config, tuple(x.shape[-2:]), index)
                y = measure(op, x, index)
                began = time.perf_counter()
                restored = restore(op, y)
                seconds += time.perf_counter() - began
                scores.append(psnr(restored.clamp(0, 1), x, data_range=1.0).item())
            row[str(n)] = {"psnr": sum(scores) / len(scores), "seconds_per_image": seconds / len(images)}
        results["cases"][label] = {"model": model, "operator": config, "by_views": row}
        print(f"{label} ({model}): " + ", ".join(f"x{n} {v['psnr']:.2f}" for n, v in row.items()), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "self-ensemble.json").write_text(json.dumps(results, indent=2) + "\n")
    sizes = [str(n) for n in ENSEMBLE_SIZES]
    lines = [f"IDM self-ensemble on {len(images)} held-out training crops ({args.size}², Y), PSNR (dB) and gain over one view; "
             f"{results['hardware']}. Command: `{results['command']}`.", "",
             "| operator | model | " + " | ".join(f"x{n}" for n in sizes) + " | gain x2 / x4 / x8 | time x8 / x1 |",
             "|---|---|" + "---:|" * (len(sizes) + 2)]
    for label, entry in results["cases"].items():
        row = entry["by_views"]
        gains = " / ".join(f"{row[n]['psnr'] - row['1']['psnr']:+.2f}" for n in sizes[1:])
        ratio = row[sizes[-1]]["seconds_per_image"] / row["1"]["seconds_per_image"]
        lines.append(f"| {label} | `{entry['model']}` | " + " | ".join(f"{row[n]['psnr']:.2f}" for n in sizes)
                     + f" | {gains} | {ratio:.1f}× |")
    (args.out / "self-ensemble.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

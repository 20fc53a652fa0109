"""What a shorter IDM chain costs and saves: IDM models of different step counts T beside ``tv``, on one case.

Nearly all of IDM's time is its noise estimator, run once per step, so T = 4 should take about half of T = 8's
time; what it loses in PSNR is what this measures. On the held-out training images (the last 6 files of
``train/``, centre crops of ``--size``, Y), the case's measurements are restored by each ``--models`` entry (a
shipped name or a model file, e.g. a run's ``model.safetensors``) and by ``tv``, interleaved image by image after
one untimed warm-up, on ``--threads`` threads. Prints and writes a JSON and a markdown table. Only held-out images:
the test sets are scored by ``benchmarks/results.py``.

    python benchmarks/step_count.py --case "CS 30 %" --models cs-0.3 checkpoints/pilot-cs-0.3-t4/model.safetensors \\
        --threads 1 --out results/pilots-steps
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from idm_cases import CASES, held_out_images, interleaved, missing_data, write_report
from reverse_anything.models.precision import PRECISIONS
from reverse_anything.profiling import describe_hardware
from reverse_anything.solvers import get_restorer


def markdown(results: dict) -> str:
    rows = results["rows"]
    first, tv = rows[0], results["tv"]
    lines = [f"IDM step counts side by side on {results['case']} ({results['images']} held-out training crops, "
             f"{results['size']}², Y, {results['precision']}), interleaved in one run; {results['hardware']}. "
             f"Command: `{results['command']}`.", "",
             "| model | steps T | PSNR | − first | s / image | time / first | `tv` time / its time |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| `{row['model']}` | {row['steps']} | {row['psnr']:.2f} | {row['psnr'] - first['psnr']:+.2f} | "
                     f"{row['seconds_per_image']:.2f} | {row['seconds_per_image'] / first['seconds_per_image']:.2f}× | "
                     f"{tv['seconds_per_image'] / row['seconds_per_image']:.2f}× |")
    lines.append(f"| `tv` | – | {tv['psnr']:.2f} | {tv['psnr'] - first['psnr']:+.2f} | {tv['seconds_per_image']:.2f} | "
                 f"{tv['seconds_per_image'] / first['seconds_per_image']:.2f}× | 1.00× |")
    lines += ["", "`tv` time / its time above 1: that model is faster than `tv`."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", required=True, help="the case with this label, or the one whose label contains it, e.g. 'CS 30 %%'")
    parser.add_argument("--models", nargs="+", required=True, help="IDM models (shipped names or model files) for that case")
    parser.add_argument("--precision", choices=list(PRECISIONS), default="fp32", help="every IDM model's precision (default fp32)")
    parser.add_argument("--size", type=int, default=288, help="centre crop of each held-out image (default 288)")
    parser.add_argument("--holdout", type=int, default=6, help="held-out training files (default 6, as in training)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--out", type=Path, default=Path("results/pilots-steps"))
    args = parser.parse_args(argv)
    cases = [(label, config) for label, config in CASES if args.case == label] or [
        (label, config) for label, config in CASES if args.case in label]
    if len(cases) != 1:
        print(f"step_count: --case {args.case!r} matches {len(cases)} cases; choose one of: {', '.join(l for l, _ in CASES)}", file=sys.stderr)
        return 2
    if missing_data("step_count"):
        return 2
    torch.set_num_threads(args.threads)
    label, config = cases[0]
    images = held_out_images(args.holdout, args.size)
    restorers = {model: get_restorer("idm", model=model, precision=args.precision) for model in args.models}  # loaded, untimed
    restorers["tv"] = get_restorer("tv")
    by_method, _ = interleaved(restorers, config, images)
    tv = by_method.pop("tv")
    rows = [{"model": model, "steps": restorers[model].model.config.steps, **by_method[model]} for model in args.models]
    results = {"command": " ".join(["python", "benchmarks/step_count.py", *(sys.argv[1:] if argv is None else argv)]),
               "hardware": describe_hardware(), "threads": args.threads, "precision": args.precision, "case": label,
               "operator": config, "images": len(images), "size": args.size, "rows": rows, "tv": tv}
    write_report(args.out, "step-count", results, markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

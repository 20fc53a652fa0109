"""What ``--precision bf16`` (the noise estimator under bfloat16 autocast) costs and saves, per shipped IDM model.

On the held-out training images (the last 6 files of ``train/``, centre crops of ``--size`` pixels,
Y), each case's measurement is restored by the model ``--method idm`` picks, in fp32 and in bf16,
and by ``tv`` at its tuned defaults, interleaved image by image (the order rotating) after one
untimed warm-up, on ``--threads`` threads. Prints and writes a JSON and a markdown table: PSNR of
each, the agreement of the two IDM outputs, and the time ratios (bf16 against fp32, and against
``tv``: issue #13 asks for ``idm`` faster than ``tv``), measured side by side in one run. Only
held-out images: the test sets are scored by ``benchmarks/results.py``.

    python benchmarks/precision.py --threads 1 --out results/precision
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from idm_cases import CASES, held_out_images, interleaved, missing_data, operator_for, write_report
from reverse_anything.metrics import psnr
from reverse_anything.models.precision import PRECISIONS, native_bf16
from reverse_anything.profiling import describe_hardware
from reverse_anything.solvers import get_restorer
from reverse_anything.solvers.learned import default_idm_model


def score_case(config: dict, images: list[torch.Tensor]) -> dict:
    """Both precisions and ``tv`` on every image of one case, interleaved; mean PSNR and seconds of each."""
    model = default_idm_model(operator_for(config, tuple(images[0].shape[-2:]), 0))  # what --method idm picks
    restorers = {p: get_restorer("idm", model=model, precision=p) for p in PRECISIONS}  # loaded here, untimed
    restorers["tv"] = get_restorer("tv")
    by_method, outputs = interleaved(restorers, config, images)
    agreement = [psnr(out["bf16"].clamp(0, 1), out["fp32"].clamp(0, 1), data_range=1.0).item() for out in outputs]
    tv = by_method.pop("tv")
    return {"model": model, "operator": config, "by_precision": by_method, "tv": tv,
            "psnr_bf16_against_fp32": sum(agreement) / len(agreement),
            "speed_up": by_method["fp32"]["seconds_per_image"] / by_method["bf16"]["seconds_per_image"],
            "tv_time_over_bf16": tv["seconds_per_image"] / by_method["bf16"]["seconds_per_image"]}


def markdown(results: dict) -> str:
    lines = [f"IDM noise estimator in bf16 (autocast) against fp32, {results['images']} held-out training crops "
             f"({results['size']}², Y), interleaved in one run; {results['hardware']}; native bf16 on this CPU: "
             f"{'yes' if results['native_bf16'] else 'no'}. Command: `{results['command']}`.", "",
             "| operator | model | fp32 PSNR | bf16 PSNR | bf16 − fp32 | bf16 output against fp32 (PSNR) | `tv` PSNR "
             "| fp32 s / image | bf16 s / image | `tv` s / image | bf16 speed-up | `tv` time / bf16 time |",
             "|---|---|" + "---:|" * 10]
    for label, entry in results["cases"].items():
        fp32, bf16, tv = entry["by_precision"]["fp32"], entry["by_precision"]["bf16"], entry["tv"]
        lines.append(f"| {label} | `{entry['model']}` | {fp32['psnr']:.3f} | {bf16['psnr']:.3f} | {bf16['psnr'] - fp32['psnr']:+.3f} | "
                     f"{entry['psnr_bf16_against_fp32']:.1f} | {tv['psnr']:.2f} | {fp32['seconds_per_image']:.2f} | "
                     f"{bf16['seconds_per_image']:.2f} | {tv['seconds_per_image']:.2f} | {entry['speed_up']:.2f}× | {entry['tv_time_over_bf16']:.2f}× |")
    lines += ["", "`tv time / bf16 time` above 1: `idm` in bf16 is faster than `tv` on that setting."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=288, help="centre crop of each held-out image (default 288)")
    parser.add_argument("--holdout", type=int, default=6, help="held-out training files (default 6, as in training)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--cases", nargs="*", help="only the cases whose label contains one of these texts")
    parser.add_argument("--out", type=Path, default=Path("results/precision"))
    args = parser.parse_args(argv)
    if missing_data("precision"):
        return 2
    torch.set_num_threads(args.threads)
    images = held_out_images(args.holdout, args.size)
    cases = [(label, config) for label, config in CASES if not args.cases or any(text in label for text in args.cases)]
    results: dict = {"command": " ".join(["python", "benchmarks/precision.py", *(sys.argv[1:] if argv is None else argv)]),
                     "hardware": describe_hardware(), "threads": args.threads, "native_bf16": native_bf16(),
                     "images": len(images), "size": args.size, "cases": {}}
    for label, config in cases:
        entry = results["cases"][label] = score_case(config, images)
        print(f"{label} ({entry['model']}): bf16 − fp32 {entry['by_precision']['bf16']['psnr'] - entry['by_precision']['fp32']['psnr']:+.3f} dB, "
              f"{entry['speed_up']:.2f}× faster", flush=True)
    write_report(args.out, "precision", results, markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

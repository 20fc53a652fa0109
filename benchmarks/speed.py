"""Seconds per image of ``pinv``, ``tv``, ``pnp`` and ``idm``, measured side by side in one run.

The evaluation tables record each cell's own seconds, but those runs were made days apart, some beside training
jobs, so their times compare only roughly (the same network took 2 s per CBSD68 image in one run and 10 s in
another). Here every method restores the first ``--images`` images of the test sets at the README tables'
settings, interleaved image by image with the order rotating after one untimed warm-up each
(``idm_cases.interleaved``), so a load change falls on all of them alike, on ``--threads`` threads. ``idm`` is
the shipped model ``--method idm`` picks for each setting, ``tv`` and ``pnp`` run at their tuned defaults. CT
has no IDM (its ``A†`` is too dear: ``results/ct-cost/``), so its rows time the other three. Prints and writes JSON + markdown: seconds per image and the
time ratios ``tv`` / ``idm`` and ``pnp`` / ``idm`` (above 1: ``idm`` is faster; issue #13 asks for both).

    python benchmarks/speed.py --threads 1 --out results/speed
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from idm_cases import DATA, interleaved, measure, operator_for, write_report
from reverse_anything.data import list_image_files, read_image
from reverse_anything.evaluate import crop_to_multiple
from reverse_anything.models.idm import IncompatibleMeasurementError
from reverse_anything.physics.compressed_sensing import BLOCK_SIZE
from reverse_anything.profiling import describe_hardware
from reverse_anything.solvers import get_restorer
from reverse_anything.solvers.learned import default_idm_model
from reverse_anything.training.validation import validation_images

METHODS = ("pinv", "tv", "pnp", "idm")
# (set folder, label, operator config without its image size): the rows of the README's CS and operator tables
CS = [("cbsd68_idm", f"CS {r * 100:.0f} %", {"operator": "cs", "ratio": r}) for r in (0.1, 0.3, 0.5)]
OPERATORS = [
    ("inpainting, 30 % kept", {"operator": "inpainting", "keep_ratio": 0.3}),
    ("blur σ 2, noise 0.01", {"operator": "blur", "sigma": 2.0, "noise_sigma": 0.01}),
    ("SR ×4 bicubic", {"operator": "sr", "factor": 4, "kernel": "bicubic"}),
    ("MRI ×4 random lines", {"operator": "mri", "acceleration": 4, "mask": "random"}),
    ("CS 30 %, noise 0.03", {"operator": "cs", "ratio": 0.3, "noise_sigma": 0.03}),
]
CT = [("cbsd68", "CT, 60 angles", {"operator": "ct", "n_angles": 60})]  # CBSD68 only: pnp takes minutes per Kodak24 image
CASES = CS + [(folder, label, config) for folder in ("cbsd68", "kodak24") for label, config in OPERATORS] + CT
SET_NAMES = {"cbsd68_idm": "CBSD68 (CS crops)", "cbsd68": "CBSD68", "kodak24": "Kodak24"}


def test_images(folder: str, count: int, size: int | None = None) -> list[torch.Tensor]:
    """The first ``count`` images of a test set, Y, ``(1, 1, H, W)``, cropped to a multiple of 32 (the CS block),
    or to their centre ``size`` × ``size`` pixels."""
    files = list_image_files(DATA / folder)[:count]
    if size:
        return [x.unsqueeze(0) for x in validation_images(files, size)]
    return [crop_to_multiple(read_image(path, "y"), BLOCK_SIZE).unsqueeze(0) for path in files]


def time_case(config: dict, images: list[torch.Tensor]) -> dict:
    """Every method on the images of one case, interleaved: seconds per image, PSNR, and the time ratios
    (``None`` where no shipped IDM serves the operator: then ``idm`` is not run)."""
    try:
        model = default_idm_model(operator_for(config, tuple(images[0].shape[-2:]), 0))
    except IncompatibleMeasurementError:
        model = None
    methods = [m for m in METHODS if m != "idm" or model is not None]
    restorers = {m: get_restorer(m, model=model) if m == "idm" else get_restorer(m) for m in methods}  # loaded here, untimed
    by_method, _ = interleaved(restorers, config, images)
    idm = by_method["idm"]["seconds_per_image"] if model else None
    return {"model": model, "operator": config, "by_method": by_method,
            "idm_gflop_per_image": idm_gflop(restorers["idm"], config, images[0]) if model else None,
            "tv_time_over_idm": by_method["tv"]["seconds_per_image"] / idm if idm else None,
            "pnp_time_over_idm": by_method["pnp"]["seconds_per_image"] / idm if idm else None}


def idm_gflop(restorer, config: dict, image: torch.Tensor) -> float:
    """The floating-point operations of one ``idm`` restore (torch's count: convolutions and matrix products,
    nearly all of its work), in GFLOP, from an untimed run on ``image``."""
    from torch.utils.flop_counter import FlopCounterMode

    op = operator_for(config, tuple(image.shape[-2:]), 0)
    with FlopCounterMode(display=False) as counter:
        restorer(op, measure(op, image, 0))
    return counter.get_total_flops() / 1e9


def _cell(value: float | None, form: str) -> str:
    return "–" if value is None else form.format(value)


def markdown(results: dict) -> str:
    lines = [f"Seconds per image, each row's methods side by side in one run (interleaved, order rotating, one untimed "
             f"warm-up each); the first {results['images']} images of each set, Y; {results['hardware']}. "
             f"Command: `{results['command']}`.", "",
             "| setting | set | size | " + " | ".join(f"`{m}` s" for m in METHODS)
             + " | `idm` model | `idm` GFLOP (GFLOP/s) | `tv` / `idm` time | `pnp` / `idm` time |",
             "|---|---|---|" + "---:|" * len(METHODS) + "---|---:|---:|---:|"]
    for entry in results["cases"]:
        seconds = " | ".join(_cell(entry["by_method"].get(m, {}).get("seconds_per_image"), "{:.2f}") for m in METHODS)
        model = f"`{entry['model']}`" if entry["model"] else "none serves it"
        gflop = entry["idm_gflop_per_image"]
        rate = f"{gflop:.0f} ({gflop / entry['by_method']['idm']['seconds_per_image']:.0f})" if gflop else "–"
        lines.append(f"| {entry['label']} | {SET_NAMES[entry['set']]} | {entry['size']} | {seconds} | {model} | {rate} | "
                     f"{_cell(entry['tv_time_over_idm'], '{:.2f}×')} | {_cell(entry['pnp_time_over_idm'], '{:.2f}×')} |")
    served = [e for e in results["cases"] if e["model"]]
    lines += ["", f"A ratio above 1: `idm` is faster. Of the {len(served)} settings a shipped IDM serves, `idm` is faster than "
              f"`tv` in {sum(e['tv_time_over_idm'] > 1 for e in served)} and faster than `pnp` in "
              f"{sum(e['pnp_time_over_idm'] > 1 for e in served)}. PSNR on these few "
              "images is in the JSON, as a check that each method ran at its table setting; the tables score all images. "
              "GFLOP: what one `idm` restore computes (torch's count of its convolutions and matrix products), and in "
              "brackets the rate this run reached: `idm`'s time is mostly its arithmetic, so it falls mainly with fewer steps, a "
              "smaller network or faster arithmetic (bf16 on CPUs that have it: `results/precision/`)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2, help="first N images of each set (default 2)")
    parser.add_argument("--size", type=int, help="time centre crops of this many pixels (a multiple of 32; default: whole images)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--cases", nargs="*", help="only the settings whose label contains one of these texts")
    parser.add_argument("--sets", nargs="*", choices=sorted(SET_NAMES), help="only these sets")
    parser.add_argument("--out", type=Path, default=Path("results/speed"))
    parser.add_argument("--update", action="store_true",
                        help="replace only the rows run now in --out's report and keep its others (each row keeps its own command)")
    args = parser.parse_args(argv)
    if args.images < 1:
        parser.error(f"--images must be >= 1, got {args.images}")
    if args.size is not None and (args.size < 32 or args.size % 32):
        parser.error(f"--size must be a multiple of 32 (the CS block), got {args.size}")
    missing = [folder for folder in (args.sets or SET_NAMES) if not (DATA / folder).is_dir()]
    if missing:
        print(f"speed: {', '.join(str(DATA / m) for m in missing)} missing (this benchmark needs the project's shared data)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    command = " ".join(["python", "benchmarks/speed.py", *(sys.argv[1:] if argv is None else argv)])
    earlier = json.loads((args.out / "speed.json").read_text()) if args.update and (args.out / "speed.json").is_file() else None
    if earlier and (earlier["threads"], earlier["images"]) != (args.threads, args.images):
        parser.error(f"--update: {args.out / 'speed.json'} was run with --threads {earlier['threads']} --images {earlier['images']}")
    results: dict = {"command": command if not earlier else f"{earlier['command']}; then {command}",
                     "hardware": describe_hardware(), "threads": args.threads, "images": args.images, "cases": []}
    for folder, label, config in CASES:
        if (args.cases and not any(text in label for text in args.cases)) or (args.sets and folder not in args.sets):
            continue
        images = test_images(folder, args.images, args.size)
        entry = {"label": label, "set": folder, "size": "×".join(str(s) for s in images[0].shape[-2:][::-1]),
                 **time_case(config, images), "command": command}
        results["cases"].append(entry)
        print(f"{label} on {SET_NAMES[folder]}: " + ", ".join(f"{m} {t['seconds_per_image']:.2f} s" for m, t in entry["by_method"].items()),
              flush=True)
    if earlier:  # the rows not run now, from the earlier report, in the benchmark's order
        run_now = {(e["label"], e["set"]) for e in results["cases"]}
        rows = {(e["label"], e["set"]): e for e in earlier["cases"] if (e["label"], e["set"]) not in run_now}
        rows.update({(e["label"], e["set"]): e for e in results["cases"]})
        results["cases"] = [rows[(label, folder)] for folder, label, _ in CASES if (label, folder) in rows]
    write_report(args.out, "speed", results, markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Tune the PnP solver's settings per operator family, on held-out training images only.

The images are the last 6 files of ``../shared/data/train`` (the ones training holds out for
validation; no model trains on them), Y channel, centre-cropped to 96×96 (a multiple of the CS
block and of the SR factor); CT takes them whole (191-444 px a side), since 60 angles over a 96-pixel crop
would measure it nearly fully, unlike the test images. Each operator setting is built exactly as ``reverse-anything eval``
builds it from the same flags (``perm_seed`` = image index for CS). For each setting and each
grid point the script runs ``pnp`` and records the mean PSNR; the best grid point per family
(mean over that family's settings, e.g. the three CS ratios) goes into
``reverse_anything.solvers.pnp.PNP_DEFAULTS``. Never run on a test set.

    OMP_NUM_THREADS=1 python benchmarks/tune_pnp.py --out results/pnp
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import torch

from reverse_anything.cli import build_parser, operator_for_image
from reverse_anything.data import list_image_files, read_image
from reverse_anything.metrics import psnr
from reverse_anything.models.checkpoint import load_ddpm
from reverse_anything.profiling import describe_hardware
from reverse_anything.solvers.pnp import PnPSettings, pnp

TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "train"
SETTINGS = {  # family -> eval flags of each setting (the README table's settings)
    "cs": [["--operator", "cs", "--ratio", r] for r in ("0.1", "0.3", "0.5")],
    "inpainting": [["--operator", "inpainting", "--keep-ratio", "0.3"]],
    "blur": [["--operator", "blur", "--blur-sigma", "2", "--noise-sigma", "0.01"]],
    "sr": [["--operator", "sr", "--factor", "4", "--sr-kernel", "bicubic"]],
    "mri": [["--operator", "mri", "--acceleration", "4", "--mri-mask", "random"]],
    "ct": [["--operator", "ct", "--angles", "60"]],
}
WHOLE_IMAGES = ("ct",)  # families tuned on the whole held-out images rather than 96x96 crops
GRID = {"iterations": (20,), "sigma_start": (0.3, 1.0), "data_sigma": (0.0, 0.01), "start": ("pinv",)}
# CS: low ratios need many steps and the unbiased start (a development probe at 10 %: 18.5 dB at 20 steps, 27.1 at 60)
GRIDS = {"cs": {"iterations": (20, 60), "sigma_start": (0.3,), "data_sigma": (0.0,), "start": ("pinv", "unbiased")},
         # inpainting: the zeros of A†y at the missing pixels, or those pixels at the kept ones' mean (pnp.PNP_STARTS)
         "inpainting": {"iterations": (20,), "sigma_start": (0.3, 1.0), "data_sigma": (0.0, 0.01), "start": ("pinv", "mean")},
         # CT has no exact A†, so the data step is always the proximal one. A first grid (results/pnp/
         # tune_pnp_ct_first_grid.txt) scored data_sigma 0 and 0.01 alike (rho = (data_sigma / sigma)² is tiny beside
         # CT's ||A||² either way) and 40 steps 0.47 dB above 20: this grid looks further along the steps.
         "ct": {"iterations": (20, 40, 80), "sigma_start": (0.3, 1.0), "data_sigma": (0.01,), "start": ("pinv",)}}


def crops(size: int | None = 96) -> list[torch.Tensor]:
    """The held-out images, Y, ``(1, 1, H, W)``: centre ``size`` x ``size`` crops, or whole with ``size=None``."""
    images = []
    for path in list_image_files(TRAIN, recursive=True)[-6:]:
        image = read_image(path, "y")
        if size is None:
            images.append(image.unsqueeze(0))
            continue
        h, w = image.shape[-2:]
        top, left = (h - size) // 2, (w - size) // 2
        images.append(image[:, top : top + size, left : left + size].unsqueeze(0))
    return images


def score(flags: list[str], images: list[torch.Tensor], prior, settings: PnPSettings) -> float:
    args = build_parser().parse_args(["eval", "--data", ".", *flags])
    values = []
    for index, x in enumerate(images):
        op = operator_for_image(args, tuple(x.shape[-2:]), perm_seed=index)
        y = op(x, generator=torch.Generator().manual_seed(index))  # A x plus the operator's noise, as eval draws it
        values.append(psnr(pnp(op, y, prior, settings).clamp(0, 1), x, data_range=1.0).item())
    return sum(values) / len(values)


def render(report: dict) -> str:
    """The markdown report: per family, the best point and the whole grid."""
    lines = [f"PnP tuning on the 6 held-out training images (96×96 Y crops; {', '.join(WHOLE_IMAGES)}: whole images), prior `{report['prior']}`; {report['hardware']}.", ""]
    for family, entry in report["families"].items():
        rows, best = entry["grid"], entry["best"]
        keys = [k for k in rows[0] if k not in ("psnr", "mean")]
        lines += [f"**{family}** ({', '.join(' '.join(f[1:]) for f in SETTINGS[family])}): best "
                  + ", ".join(f"{k} {best[k]}" for k in keys) + ": " + " / ".join(f"{s:.2f}" for s in best["psnr"]) + " dB", ""]
        lines += ["| " + " | ".join(keys) + " | PSNR |", "|" + "---:|" * len(keys) + "---|"]
        lines += ["| " + " | ".join(str(r[k]) for k in keys) + " | " + " / ".join(f"{s:.2f}" for s in r["psnr"]) + " |" for r in rows]
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", default="ddpm-wide")
    parser.add_argument("--families", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--out", type=Path, default=Path("results/pnp"))
    args = parser.parse_args()
    if not TRAIN.is_dir():
        print(f"tune_pnp: {TRAIN} is missing (this script needs the project's shared data)", file=sys.stderr)
        return 2
    prior, cropped, whole = load_ddpm(args.prior), crops(), crops(None)
    path = args.out / "tune_pnp.json"
    earlier = json.loads(path.read_text()) if path.is_file() else {}
    report: dict = {"command": " ".join(["python", *sys.argv]), "hardware": describe_hardware(), "prior": args.prior,
                    "families": earlier.get("families", {}) if earlier.get("prior") == args.prior else {}}
    for family in args.families:
        grid = GRIDS.get(family, GRID)
        rows = []
        for values in itertools.product(*grid.values()):
            point = dict(zip(grid, values))
            images = whole if family in WHOLE_IMAGES else cropped
            scores = [score(flags, images, prior, PnPSettings(**point)) for flags in SETTINGS[family]]
            rows.append({**point, "psnr": scores, "mean": sum(scores) / len(scores)})
            print(f"{family} {point}: " + " / ".join(f"{s:.2f}" for s in scores), flush=True)
        report["families"][family] = {"grid": rows, "best": max(rows, key=lambda r: r["mean"]), "command": report["command"]}
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
        (args.out / "tune_pnp.md").write_text(render(report))
    print(render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Issue #13's first question: how good is an IDM on the prior for other operators *before* any fine-tuning?

On the 6 held-out training images (the last files of ``../shared/data/train``, never trained on;
Y, centre 96×96 crops, the images ``benchmarks/tune_pnp.py`` tunes ``pnp`` on), each operator of the
README's "other operators" table is built exactly as ``reverse-anything eval`` builds it from the same
flags, and measured with the operator's own noise. Rows:

* ``pinv``, ``tv`` (per-operator tuned defaults), ``pnp`` (tuned, prior ``ddpm-wide``);
* ``idm-0``: a T-step IDM initialised from ``ddpm-wide`` with zero injectors (iteration 0 of a
  fine-tune: a deterministic DDIM sampler with the range-null-space step on the prior);
* ``idm PATH`` (``--model``, repeatable): a model file, run zero-shot where it was not trained (``--unseen``
  scores settings outside every training range, and a user's motion-blur kernel);
* ``idm-cs``: the shipped CS model run on the operator (its refusal bypassed; the ``unbiased`` start
  for CS only): what CS fine-tuning carries over, i.e. which start a per-operator fine-tune should take.

A noisy measurement (blur, noisy CS) uses the IDM's proximal data step set from sigma
(``models/idm.py``, ``NOISY_DATA_STEP``).

    OMP_NUM_THREADS=1 python benchmarks/operator_pilot.py --out results/pilots-operators
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from reverse_anything.cli import build_parser, operator_for_image
from reverse_anything.metrics import psnr
from reverse_anything.models.checkpoint import load_ddpm, load_idm
from reverse_anything.models.from_prior import idm_from_prior
from reverse_anything.profiling import describe_hardware
from reverse_anything.solvers import get_restorer
from tune_pnp import crops  # the same held-out crops pnp was tuned on (benchmarks/ is on the path when run as a script)

SETTINGS = {  # label -> eval flags (the README's other-operator settings)
    "inpainting 30 %": ["--operator", "inpainting", "--keep-ratio", "0.3"],
    "blur σ 2, noise 0.01": ["--operator", "blur", "--blur-sigma", "2", "--noise-sigma", "0.01"],
    "SR ×4 bicubic": ["--operator", "sr", "--factor", "4", "--sr-kernel", "bicubic"],
    "MRI ×4 random": ["--operator", "mri", "--acceleration", "4", "--mri-mask", "random"],
    "CS 30 %, noise 0.03": ["--operator", "cs", "--ratio", "0.3", "--noise-sigma", "0.03"],
}
MOTION_KERNEL = Path(tempfile.gettempdir()) / "reverse-anything-pilot-motion-9px-45deg.npy"
# Settings the all-operator model was not trained on (--unseen): other parameters, and a user kernel
UNSEEN = {
    "CS 70 % (trained ≤ 50 %)": ["--operator", "cs", "--ratio", "0.7"],
    "inpainting 10 % (trained 20–50 %)": ["--operator", "inpainting", "--keep-ratio", "0.1"],
    "SR ×2 bicubic (trained ×4)": ["--operator", "sr", "--factor", "2", "--sr-kernel", "bicubic"],
    "MRI ×8 random (trained ×4)": ["--operator", "mri", "--acceleration", "8", "--mri-mask", "random"],
    "motion blur 9 px at 45°, noise 0.01 (trained Gaussian)": ["--operator", "blur", "--kernel", str(MOTION_KERNEL), "--noise-sigma", "0.01"],
}


def methods(steps: int, models: list[str]) -> dict[str, object]:
    prior = load_ddpm("ddpm-wide")
    fresh = idm_from_prior(prior, steps=steps, injector="before", step_mixing=0.1, start="pinv").eval()
    shipped = load_idm("cs").eval()
    shipped.config.start = {"cs": "unbiased", "default": "pinv"}  # what a fine-tune for every operator starts from
    return {
        "pinv": get_restorer("pinv"),
        "tv": get_restorer("tv"),
        "pnp": get_restorer("pnp"),
        f"idm-0 (T = {steps}, pinv start)": lambda op, y: fresh(y, op),
        "idm-cs (shipped cs, transferred; pinv start except CS)": lambda op, y: shipped(y, op),
        **{f"idm {path}": _zero_shot(path) for path in models},
    }


def _zero_shot(path: str):
    restore = get_restorer("idm", model=path, zero_shot=True)
    return lambda op, y: restore(op, y)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/pilots-operators"))
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--model", action="append", default=[], help="also score this IDM model file (repeatable)")
    parser.add_argument("--skip-baselines", action="store_true", help="only the --model rows (and pinv / tv for reference)")
    parser.add_argument("--unseen", action="store_true", help="the settings no model was trained on (zero-shot), not the trained ones")
    args = parser.parse_args()
    torch.manual_seed(0)
    images = crops(args.size)
    table: dict[str, dict[str, dict[str, float]]] = {}
    restorers = methods(args.steps, args.model)
    if args.skip_baselines:
        restorers = {name: r for name, r in restorers.items() if name in ("pinv", "tv") or name.startswith("idm ")}
    np.save(MOTION_KERNEL, np.eye(9) / 9.0)  # a 9-pixel diagonal line: a user's own kernel
    with torch.no_grad():
        for label, flags in (UNSEEN if args.unseen else SETTINGS).items():
            eval_args = build_parser().parse_args(["eval", "--data", ".", *flags])
            ops = [operator_for_image(eval_args, tuple(x.shape[-2:]), perm_seed=i) for i, x in enumerate(images)]
            ys = [op(x, generator=torch.Generator().manual_seed(i)) for i, (op, x) in enumerate(zip(ops, images))]
            table[label] = {}
            for name, restore in restorers.items():
                start = time.perf_counter()
                scores = [psnr(restore(op, y).clamp(0, 1), x, data_range=1.0).item() for op, y, x in zip(ops, ys, images)]
                seconds = (time.perf_counter() - start) / len(images)
                table[label][name] = {"psnr": sum(scores) / len(scores), "seconds_per_image": seconds}
                print(f"{label:24s} {name:36s} {table[label][name]['psnr']:6.2f} dB {seconds:6.2f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    hardware = describe_hardware()
    stem = "unseen" if args.unseen else "pilot"
    (args.out / f"{stem}.json").write_text(json.dumps({"hardware": hardware, "size": args.size, "table": table}, indent=2))
    names = list(next(iter(table.values())))
    lines = [f"{'Zero-shot settings' if args.unseen else 'Pilot'} on the 6 held-out training images ({args.size}×{args.size} Y crops); {hardware}.", "",
             "| operator | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    lines += [f"| {label} | " + " | ".join(f"{row[n]['psnr']:.2f} dB, {row[n]['seconds_per_image']:.2f} s" for n in names) + " |"
              for label, row in table.items()]
    flags = "".join(f" --model {m}" for m in args.model) + (" --skip-baselines" if args.skip_baselines else "") + (" --unseen" if args.unseen else "")
    lines += ["", f"Command: `OMP_NUM_THREADS=1 python benchmarks/operator_pilot.py --out {args.out} --size {args.size} --steps {args.steps}{flags}`"]
    (args.out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

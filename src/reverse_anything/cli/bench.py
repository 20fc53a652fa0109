"""``bench``: the flags of :func:`reverse_anything.bench.run_bench` and the command that prints its tables."""
from __future__ import annotations

import argparse

from ..bench import BASELINE_PRIOR, DEFAULT_OUT_DIR, DEFAULT_RATIO, METHODS, run_bench
from ..runtime import resolve_device
from .common import add_threads_argument, positive_int

__all__ = ["add_bench_parser", "command_bench", "DEFAULT_BENCH_DATA"]

DEFAULT_BENCH_DATA = "../shared/data/cbsd68_idm"  # this project's checkout layout (the published protocol's CBSD68 crops)


def add_bench_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("bench", help="quality + training-memory tables: pinv, tv, ddpm, ddnm, pnp, idm side by side")
    parser.add_argument("--data", default=DEFAULT_BENCH_DATA,
                        help=f"test folder (default {DEFAULT_BENCH_DATA}: the CBSD68 crops beside this project's checkout)")
    parser.add_argument("--ratio", type=float, default=DEFAULT_RATIO, help=f"CS ratio (default {DEFAULT_RATIO})")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="rows to run, idm among them (default all; e.g. drop ddpm, the 1000-step row, for a quick run)")
    parser.add_argument("--limit", type=positive_int, help="only the first N images (quick runs)")
    parser.add_argument("--fid-weights", help="pytorch-fid Inception weights (pt_inception-2015-12-05-6726825d.pth or .safetensors)")
    parser.add_argument("--idm-model", help="IDM model: shipped name or .safetensors path (default: the shipped model "
                        "that `--method idm` picks for the ratio, e.g. cs-0.5 at 0.5)")
    parser.add_argument("--ddpm-model", default=BASELINE_PRIOR,
                        help=f"prior of ddpm / ddnm: shipped name or .safetensors path (default {BASELINE_PRIOR}, the prior the shipped cs IDM starts from)")
    parser.add_argument("--pnp-model", default=BASELINE_PRIOR, help=f"prior of pnp (default {BASELINE_PRIOR})")
    parser.add_argument("--ddpm-steps", type=int, default=1000, help="ancestral steps of the ddpm row (default 1000)")
    parser.add_argument("--ddnm-steps", type=int, default=100, help="DDIM steps of the ddnm row (default 100)")
    parser.add_argument("--ddnm-eta", type=float, default=0.85, help="DDNM's eta (default 0.85)")
    parser.add_argument("--out-dir", default=DEFAULT_OUT_DIR, help=f"bench.md, grid.png, psnr_vs_time.png (default ./{DEFAULT_OUT_DIR})")
    parser.add_argument("--json", help="also write the JSON summary here")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--memory-batch", type=int, default=8, help="patches per training iteration in the efficiency table (default 8)")
    parser.add_argument("--memory-patch", type=int, default=64, help="patch side (default 64, a multiple of the CS block)")
    parser.add_argument("--memory-reps", type=int, default=3, help="timed training iterations per setting (default 3)")
    add_threads_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(run=command_bench)


def command_bench(args: argparse.Namespace) -> int:
    """Run :func:`run_bench` from parsed flags; prints the markdown and the files written."""
    resolve_device(args.device)
    report = run_bench(
        data=args.data, ratio=args.ratio, limit=args.limit, fid_weights=args.fid_weights, idm_model=args.idm_model,
        ddpm_model=args.ddpm_model, pnp_model=args.pnp_model, out_dir=args.out_dir, json_path=args.json, ddpm_steps=args.ddpm_steps,
        ddnm_steps=args.ddnm_steps, ddnm_eta=args.ddnm_eta, device=args.device, memory_batch=args.memory_batch,
        memory_patch=args.memory_patch, memory_reps=args.memory_reps, progress=not args.quiet,
        command=getattr(args, "command_line", ""), methods=tuple(dict.fromkeys(args.methods)),
    )
    print(report.markdown)
    print("wrote " + ", ".join(str(path) for path in report.files))
    return 0

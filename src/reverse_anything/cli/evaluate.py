"""``eval`` (score a method on a folder of images) and ``demo`` (every method on the shipped examples)."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from ..demo import DEMO_METHODS, run_demo
from ..evaluate import evaluate_folder
from ..messages import one_line
from ..runtime import resolve_device, thread_setting
from ..solvers import available_methods
from .common import PROG, UsageError, add_method_arguments, add_threads_argument, check_output, model_name, positive_int, restorer_from_args
from .operators import add_operator_arguments, crop_multiple, operator_factory_from_arguments

__all__ = ["add_eval_parser", "add_demo_parser", "command_eval", "command_demo", "DEFAULT_DEMO_DIR"]

DEFAULT_DEMO_DIR = "reverse-anything-demo"


def add_eval_parser(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("eval", help="score a method on a folder of images")
    evaluate.add_argument("--data", type=Path, required=True, help="folder of images")
    evaluate.add_argument("--channel", choices=("y", "rgb"), default="y",
                          help="y (default): the published evaluation protocol's Y channel, as in the results tables; rgb: every colour channel")
    evaluate.add_argument("--limit", type=positive_int, help="only the first N images (sorted by name)")
    evaluate.add_argument("--json", type=Path, help="write means and per-image rows as JSON")
    evaluate.add_argument("--csv", type=Path, help="write per-image rows as CSV")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar, and only the mean line of the table")
    evaluate.add_argument("--strict", action="store_true",
                          help="stop at the first unreadable image (default: report it, score the rest, exit 2)")
    add_method_arguments(evaluate)
    add_operator_arguments(evaluate)
    add_threads_argument(evaluate)
    evaluate.set_defaults(run=command_eval)


def add_demo_parser(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="run on the shipped example images and write a before/after grid")
    demo.add_argument("--output-dir", type=Path, default=Path(DEFAULT_DEMO_DIR), help=f"default ./{DEFAULT_DEMO_DIR}")
    demo.add_argument("--methods", nargs="+", default=list(DEMO_METHODS), help=f"methods to compare (default {' '.join(DEMO_METHODS)})")
    demo.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.add_argument("--channel", choices=("auto", "y", "rgb"), default="auto",
                      help="auto (default): colour images in colour, grey ones as Y; y: the published protocol's Y channel")
    add_operator_arguments(demo)
    add_threads_argument(demo)
    demo.set_defaults(run=command_demo)


def command_eval(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    restorer = restorer_from_args(args)
    check_output(args.json, {".json"})
    check_output(args.csv, {".csv"})
    result = evaluate_folder(
        args.data,
        operator_factory_from_arguments(args),
        restorer,
        channel=args.channel,
        limit=args.limit,
        noise_seed=args.noise_seed,
        progress=not args.quiet,
        method=args.method,
        device=device,
        crop_multiple=crop_multiple(args),
        strict=args.strict,
    )
    result = dataclasses.replace(result, command=args.command_line, threads=thread_setting(args.threads), model=model_name(restorer))
    for name, error in result.skipped:
        print(f"{PROG}: warning: skipped {name}: {one_line(ValueError(error))}", file=sys.stderr)
    if not result.rows:
        raise ValueError(f"{args.data}: none of the {len(result.skipped)} images could be read")
    print(result.format_table().splitlines()[-1] if args.quiet else result.format_table())
    if result.model:
        print(f"model: {result.model}")
    if args.json is not None:
        result.write_json(args.json)
    if args.csv is not None:
        result.write_csv(args.csv)
    if result.skipped:
        print(f"{PROG}: error: {len(result.skipped)} of {len(result.skipped) + result.n_images} images could not be read "
              "(skipped, listed above); the scores are over the rest (--strict stops at the first)", file=sys.stderr)
        return 2
    return 0


def command_demo(args: argparse.Namespace) -> int:
    unknown = [m for m in args.methods if m not in available_methods()]
    if unknown:
        raise UsageError(f"unknown method(s) {', '.join(unknown)}; available: {', '.join(available_methods())}")
    results = run_demo(
        args.output_dir,
        operator_factory_from_arguments(args),
        args.methods,
        crop_multiple=crop_multiple(args),
        device=resolve_device(args.device),
        progress=not args.quiet,
        command=args.command_line,
        threads=thread_setting(args.threads),
        channel=args.channel,
    )
    print(f"{'method':<8}  {'PSNR':>7}  {'SSIM':>6}  {'s/image':>8}   ({args.channel} channels, {results[0].operator['operator']})")
    for result in results:
        print(f"{result.method:<8}  {result.psnr:7.2f}  {result.ssim:6.4f}  {result.seconds_per_image:8.3f}")
    models = {r.method: r.model for r in results if r.model}
    if models:
        print("models: " + ", ".join(f"{method} {model}" for method, model in models.items()))
    print(f"wrote {args.output_dir / 'grid.png'} and {args.output_dir / 'results.json'}")
    return 0

"""``eval`` (score a method on a folder of images) and ``demo`` (every method on the shipped examples)."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from ..demo import DEMO_METHODS, DEMO_SETTINGS, DemoOperator, run_demo
from ..evaluate import evaluate_folder, showcase_setting
from ..figures import short_label
from ..messages import one_line
from ..runtime import resolve_device, thread_setting
from ..solvers import available_methods
from .common import PROG, UsageError, add_method_arguments, add_threads_argument, check_output, model_name, positive_int, restorer_from_args
from .operators import OPERATOR_FLAGS, add_operator_arguments, crop_multiple, operator_factory_from_arguments

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
    demo = commands.add_parser(
        "demo", help="run on the shipped example images and write a before/after grid",
        description=f"The methods on the shipped example images. Without --operator: {_demo_rows()}, one grid row per "
        "operator; with --operator: that one (at the same setting, under the flags given), one row per image.")
    demo.add_argument("--output-dir", type=Path, default=Path(DEFAULT_DEMO_DIR), help=f"default ./{DEFAULT_DEMO_DIR}")
    demo.add_argument("--methods", nargs="+",
                      help=f"methods to compare (default {' '.join(DEMO_METHODS)}, idm only where a shipped model serves the operator)")
    demo.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.add_argument("--channel", choices=("auto", "y", "rgb"), default="auto",
                      help="auto (default): colour images in colour, grey ones as Y; y: the published protocol's Y channel")
    add_operator_arguments(demo, default_operator=None)
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


def _demo_rows() -> str:
    """The default demo's rows in words: "cs, inpainting, blur (sigma 2.0, noise_sigma 0.01), ..."."""
    def words(setting: dict) -> str:
        given = ", ".join(f"{key} {value}" for key, value in setting.items() if key != "operator")
        return f"{setting['operator']} ({given})" if given else setting["operator"]
    return ", ".join(words(setting) for setting in DEMO_SETTINGS)


def _demo_arguments(args: argparse.Namespace, setting: dict) -> argparse.Namespace:
    """``args`` with the flags of one operator description (``{"operator": "sr", "factor": 4}``) filled in where
    the user gave none: the demo shows the settings the shipped models serve unless told otherwise."""
    values = {**vars(args), "operator": setting["operator"]}
    if values.get("noise_sigma") is None:
        values["noise_sigma"] = setting.get("noise_sigma")
    for flag in OPERATOR_FLAGS:
        if setting["operator"] in flag.operators and flag.keyword in setting and values.get(flag.dest) is None:
            values[flag.dest] = setting[flag.keyword]
    return argparse.Namespace(**values)


def _demo_operators(args: argparse.Namespace) -> list[DemoOperator]:
    """The ``--operator`` given (at the demo's setting of its family, under the flags given), or the default demo's
    several operators (:data:`~reverse_anything.demo.DEMO_SETTINGS`)."""
    if args.operator is not None:
        one = _demo_arguments(args, showcase_setting(args.operator))
        return [DemoOperator(operator_factory_from_arguments(one), crop_multiple(one))]
    given = [flag.flag for flag in OPERATOR_FLAGS if getattr(args, flag.dest) is not None]
    if args.noise_sigma is not None:
        given.append("--noise-sigma")
    if given:
        raise UsageError(f"{given[0]} needs --operator: the default demo shows {_demo_rows()}")
    operators = []
    for setting in DEMO_SETTINGS:
        one = _demo_arguments(args, setting)
        operators.append(DemoOperator(operator_factory_from_arguments(one), crop_multiple(one)))
    return operators


def command_demo(args: argparse.Namespace) -> int:
    methods = args.methods or list(DEMO_METHODS)
    unknown = [m for m in methods if m not in available_methods()]
    if unknown:
        raise UsageError(f"unknown method(s) {', '.join(unknown)}; available: {', '.join(available_methods())}")
    run = run_demo(
        args.output_dir,
        _demo_operators(args),
        methods,
        device=resolve_device(args.device),
        progress=not args.quiet,
        command=args.command_line,
        threads=thread_setting(args.threads),
        channel=args.channel,
        strict=args.methods is not None and args.operator is not None,  # idm asked for by name, for a named operator
    )
    width = max([len("operator"), *(len(short_label(result.operator)) for result in run.results)])
    print(f"{'operator':<{width}}  {'method':<6}  {'PSNR':>6}  {'SSIM':>6}  {'s/image':>7}   ({args.channel} channels)")
    for result in run.results:
        print(f"{short_label(result.operator):<{width}}  {result.method:<6}  {result.psnr:6.2f}  {result.ssim:6.4f}  {result.seconds_per_image:7.3f}")
    if run.skipped:
        print(f"idm left out for {', '.join(run.skipped)}: no shipped IDM model serves them yet (pinv, tv and pnp serve every operator)")
    models = sorted({f"{r.method} {r.model}" for r in run.results if r.model})
    if models:
        print("models: " + ", ".join(models))
    print(f"wrote {args.output_dir / 'grid.png'} and {args.output_dir / 'results.json'}")
    return 0

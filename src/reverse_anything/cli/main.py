"""The parser and the entry point: every error is one line on stderr and a non-zero status.

Exit status: 0 success, 1 a failure that is not the input's fault (a bug, out of memory, a
diverged training), 2 bad input of any kind, 130 interrupted.
"""
from __future__ import annotations

import logging
import os
import shlex
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from .. import __version__
from ..messages import one_line
from ..runtime import set_threads
from .common import PROG, Parser
from .evaluate import add_demo_parser, add_eval_parser
from .restore import add_measure_parser, add_restore_parser
from .serve import add_serve_parser
from .bench import add_bench_parser
from .train import add_train_parser

__all__ = ["main", "build_parser", "warnings_on_one_line", "DEBUG_VARIABLE"]

DEBUG_VARIABLE = "REVERSE_ANYTHING_DEBUG"  # set to show the traceback of an unexpected error


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Recover images from linear measurements y = A x + noise.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_measure_parser, add_restore_parser, add_eval_parser, add_demo_parser, add_train_parser, add_bench_parser, add_serve_parser):
        add(commands)
    return parser


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{PROG}: warning: {one_line(Exception(record.getMessage()))}"


@contextmanager
def warnings_on_one_line() -> Iterator[None]:
    """Library warnings and log messages (Pillow or tifffile decoding around odd TIFF tags, say)
    print as one prefixed line each while a command runs, and only then: both are restored on exit.

    Python's default shows a warning's source file and line as well; a terminal user wants what
    was odd about their input, one line each, like the errors.
    """
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001 (warnings' signature)
        print(f"{PROG}: warning: {one_line(message if isinstance(message, Warning) else Warning(message))}",
              file=sys.stderr if file is None else file)

    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_OneLineFormatter())
    root = logging.getLogger()
    warnings.showwarning = show
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        warnings.showwarning = previous


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 2 bad input, 130 interrupted)."""
    with warnings_on_one_line():
        return _run(argv)


def _run(argv: Sequence[str] | None) -> int:
    try:
        arguments = list(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(arguments)
        args.command_line = shlex.join([PROG, *arguments])
        set_threads(getattr(args, "threads", None))
        return int(args.run(args))
    except SystemExit as exit_request:  # --help / --version
        return exit_request.code if isinstance(exit_request.code, int) else 0
    except (ValueError, OSError) as error:  # ImageReadError and UsageError are ValueErrors
        print(f"{PROG}: error: {one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: error: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"{PROG}: error: out of memory (try a smaller image, --tile, or a smaller batch)", file=sys.stderr)
        return 1
    except FloatingPointError as error:  # training diverged; its last checkpoint is intact
        print(f"{PROG}: error: {one_line(error)}", file=sys.stderr)
        return 1
    except Exception as error:  # a bug, not bad input: one line, the traceback on request
        if os.environ.get(DEBUG_VARIABLE):
            raise
        print(f"{PROG}: internal error: {one_line(error, with_type=True)} "
              f"(set {DEBUG_VARIABLE}=1 for the traceback, and please report it)", file=sys.stderr)
        return 1

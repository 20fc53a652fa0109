"""``serve``: the web page on this machine (``pip install 'reverse-anything[web]'``)."""
from __future__ import annotations

import argparse

from .common import UsageError, add_threads_argument, positive_int

__all__ = ["add_serve_parser", "command_serve"]


def add_serve_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="a web page to restore images in the browser (extra: web)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=positive_int, default=7860, help="port (default 7860)")
    serve.add_argument("--max-upload-mb", type=float, default=20.0, help="largest upload accepted, MiB (default 20)")
    serve.add_argument("--max-side", type=positive_int, default=1024, help="largest image side accepted, px (default 1024)")
    add_threads_argument(serve)
    serve.set_defaults(run=command_serve)


def command_serve(args: argparse.Namespace) -> int:
    if not args.max_upload_mb > 0:
        raise UsageError(f"--max-upload-mb must be > 0, got {args.max_upload_mb}")
    try:
        import uvicorn

        from ..web import Limits, create_app
    except ImportError as error:
        raise UsageError(f"serve needs the web extra ({error.name} is missing): pip install 'reverse-anything[web]'") from None
    app = create_app(Limits(max_upload_bytes=int(args.max_upload_mb * 2**20), max_side=args.max_side))
    print(f"serving on http://{args.host}:{args.port} (Ctrl+C stops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0

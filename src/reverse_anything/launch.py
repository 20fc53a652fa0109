"""The ``reverse-anything`` command's entry point: settle OpenMP's behaviour before torch starts, then run the CLI.

OpenMP reads ``OMP_WAIT_POLICY`` once, when torch loads it, so this module imports nothing heavy
before setting it. Its default, "active", keeps idle threads spinning; on a machine whose cores
other jobs share, that made every command several times slower (``benchmarks/threads.py``:
with one busy process beside it on 2 cores, IDM took 2.3× and TV 3.5× the time of one thread at
torch's default, 1.2× and 1.4× with ``PASSIVE``; on an idle machine the two policies were within
0.1 s for IDM). So the command line defaults to ``PASSIVE``; a value the user set is kept, and
``--threads`` / ``OMP_NUM_THREADS`` still choose the thread count.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping, Sequence

__all__ = ["main", "openmp_defaults"]


def openmp_defaults(environ: Mapping[str, str]) -> dict[str, str]:
    """The OpenMP variables the command line sets when the user has not: ``{"OMP_WAIT_POLICY": "PASSIVE"}``."""
    return {} if "OMP_WAIT_POLICY" in environ else {"OMP_WAIT_POLICY": "PASSIVE"}


def apply_openmp_defaults(environ: MutableMapping[str, str]) -> None:
    environ.update(openmp_defaults(environ))


def main(argv: Sequence[str] | None = None) -> int:
    """``reverse-anything``: the OpenMP defaults, then :func:`reverse_anything.cli.main`."""
    apply_openmp_defaults(os.environ)
    from .cli import main as run_cli  # torch (and OpenMP) load here, after the environment is set

    return run_cli(argv)

"""All-or-nothing file output: a result file is either complete or absent, never half written."""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_output", "atomic_write_text"]


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    The temporary lives in the same directory so ``os.replace`` is an atomic rename; on any
    error (or Ctrl-C) it is removed and ``path`` is left untouched. The temporary keeps
    ``path``'s suffix, so writers that pick a format from the suffix still work.

    Raises:
        ValueError: the directory of ``path`` does not exist.
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise ValueError(f"{target}: directory {target.parent} does not exist")
    temporary = target.with_name(f".{target.stem}.{secrets.token_hex(6)}.tmp{target.suffix}")
    try:
        with open(temporary, "xb"):  # "x": never clobber; created with the mode the umask gives
            pass
        mode = os.stat(temporary).st_mode & 0o777
        yield temporary
        os.chmod(temporary, mode)  # some writers (safetensors) recreate the file as 0600
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())  # the data is on disk before the name points at it
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_output(path) as temporary:
        temporary.write_text(text, encoding="utf-8")

"""Error text fit for one line of a terminal (the command line's promise for every bad input)."""
from __future__ import annotations


def one_line(error: BaseException, *, with_type: bool = False) -> str:
    """``str(error)`` with all whitespace runs (newlines included) collapsed to single spaces.

    ``with_type`` prefixes the exception's class name, for errors raised by libraries whose
    message alone would not say what failed (a codec's ``"broken data stream"``).
    """
    text = " ".join(str(error).split())
    if with_type:
        return f"{type(error).__name__}: {text or 'no details'}"
    return text or type(error).__name__

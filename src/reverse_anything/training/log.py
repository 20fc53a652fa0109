"""``OUT/log.csv``, the per-iteration training log: one row per iteration, also across resumes.

A resumed run trims the rows an interruption left past its checkpoint, so every iteration is
logged once and the logged seconds add up to the model's training time.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from ..atomic import atomic_write_text


def open_log(log_path: Path, fields: Sequence[str], resume: bool, start: int) -> None:
    """A fresh log with the ``fields`` header, or (resuming an existing log) the old one trimmed to ``start``."""
    if not resume or not log_path.exists():
        with open(log_path, "w", newline="") as handle:
            csv.writer(handle).writerow(fields)
    else:
        trim_log(log_path, start)


def append_row(log_path: Path, row: Sequence[object]) -> None:
    """One iteration's row."""
    with open(log_path, "a", newline="") as handle:
        csv.writer(handle).writerow(row)


def logged_seconds(log_path: Path) -> float:
    """Training time summed over every logged iteration (so resumed runs add up correctly)."""
    with open(log_path, newline="") as handle:
        return sum(float(row["seconds"]) for row in csv.DictReader(handle))


def last_validation(log_path: Path) -> dict[str, float]:
    """The last validation scores the log holds (``{}`` if none), so a run resumed past its last
    validation (or at its very end) still exports the scores of the weights it ships."""
    if not log_path.is_file():
        return {}
    with open(log_path, newline="") as handle:
        logged = [row["val"] for row in csv.DictReader(handle) if row.get("val")]
    return json.loads(logged[-1]) if logged else {}


def trim_log(log_path: Path, iteration: int) -> None:
    """Drop log rows past the checkpoint a run resumes from (an interruption can leave up to
    ``checkpoint_every - 1`` of them), so every iteration is logged once and times add up."""
    with open(log_path, newline="") as handle:
        rows = list(csv.reader(handle))
    kept = rows[:1] + [row for row in rows[1:] if row and int(row[0]) <= iteration]
    if len(kept) != len(rows):
        text = io.StringIO()
        csv.writer(text).writerows(kept)
        atomic_write_text(log_path, text.getvalue())

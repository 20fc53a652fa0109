"""Impossible training and fine-tuning settings: exit status 2, one clear line on stderr, and no run folder.

The same contract as ``test_bad_input.py`` (the ``run_and_check`` fixture of this folder's conftest), for ``train``.
"""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--init-from", "nope"], "no model 'nope'"),
        (["--method", "ddpm", "--init-from", "cs"], "not a Reverse Anything DDPM prior model"),
        (["--init-from", "cs", "--channels", "8", "16"], "--init-from cs: that model has channels"),
    ],
)
def test_impossible_fine_tune(flags: list[str], expected: str, noise_image: Path, tmp_path: Path, capsys, run_and_check) -> None:
    output = tmp_path / "out"
    output.mkdir()
    run_and_check(["train", "--data", str(noise_image.parent), "--out", str(output / "run"), *flags], output, capsys, expected)


def _list_config(folder: Path) -> Path:
    path = folder / "list.json"
    path.write_text("[1, 2]")
    return path


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--val-every", "0"], "val_every and checkpoint_every must be >= 1"),
        (["--checkpoint-every", "0"], "val_every and checkpoint_every must be >= 1"),
        (["--lr", "-1"], "learning rate"),
        (["--threads", "0"], "--threads: expected a positive integer"),  # the same check as every command
        (["--time-limit", "0"], "time limit must be > 0"),
        (["--config", _list_config], "not a list"),
    ],
)
def test_impossible_training_settings(flags: list, expected: str, noise_image: Path, tmp_path: Path, capsys, run_and_check) -> None:
    output = tmp_path / "out"
    output.mkdir()
    flags = [str(flag(tmp_path)) if callable(flag) else flag for flag in flags]
    run_and_check(["train", "--data", str(noise_image.parent), "--out", str(output / "run"), *flags], output, capsys, expected)

"""All-or-nothing output: complete or absent, with the permissions a plain open() would give."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from reverse_anything.atomic import atomic_output, atomic_write_text


def _umask_mode() -> int:
    umask = os.umask(0o022)  # this test process only; restored at once
    os.umask(umask)
    return 0o666 & ~umask


def test_results_get_the_mode_of_a_plain_open_even_from_writers_that_use_0600(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "a.json", "{}")
    with atomic_output(tmp_path / "w.safetensors") as temporary:
        save_file({"w": torch.zeros(2)}, str(temporary))
        os.chmod(temporary, 0o600)  # what safetensors does on some platforms
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    for name in ("a.json", "w.safetensors"):
        assert (tmp_path / name).stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == _umask_mode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "plain.txt", "w.safetensors"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "r.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="interrupted"), atomic_output(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.txt"]


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        atomic_write_text(tmp_path / "no" / "r.txt", "x")

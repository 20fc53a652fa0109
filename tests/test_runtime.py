"""runtime: device and thread settings shared by every command."""
from __future__ import annotations

import pytest
import torch

from reverse_anything.runtime import single_threaded


def test_single_threaded_runs_on_one_thread_and_restores_the_count_even_on_error() -> None:
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with single_threaded(), single_threaded():  # re-entrant in one thread
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), single_threaded():
            raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_the_command_defaults_openmp_to_passive_waiting_but_keeps_the_users_choice():
    from reverse_anything.launch import openmp_defaults

    assert openmp_defaults({}) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert openmp_defaults({"OMP_WAIT_POLICY": "ACTIVE"}) == {}


def test_the_console_script_and_python_m_go_through_the_launcher(tmp_path):
    import json
    import os
    import re
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    assert re.search(r'^reverse-anything = "reverse_anything\.launch:main"$', (root / "pyproject.toml").read_text(), re.M)
    shutil.copy(root / "src" / "reverse_anything" / "assets" / "examples" / "camera.png", tmp_path / "camera.png")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-m", "reverse_anything", "eval", "--data", str(tmp_path), "--method", "pinv",
                           "--json", str(tmp_path / "r.json"), "--quiet"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "r.json").read_text())["threads_set_by"].endswith("OMP_WAIT_POLICY=PASSIVE")

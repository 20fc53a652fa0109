"""The repository keeps its promises to a newcomer: CI runs exactly the README's test command."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands(text: str) -> list[str]:
    """Non-comment, non-empty lines."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_ci_runs_the_readme_test_command() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    setup_and_main, setup_and_tests = (_commands(block) for block in blocks[:2])
    assert len(setup_and_main) == 1 and len(setup_and_tests) == 1, "the README opens with two one-line commands"
    assert "reverse-anything" in setup_and_main[0] and "pytest" in setup_and_tests[0]
    create_venv = "python3 -m venv .venv && . .venv/bin/activate && "
    assert setup_and_tests[0].startswith(create_venv)
    ci = _commands((ROOT / ".ci" / "run").read_text())
    assert ci[-1] == setup_and_tests[0].removeprefix(create_venv)
    assert "python3 -m venv .venv" in ci and ". .venv/bin/activate" in ci


def test_the_cs_block_side_is_written_once_in_the_code() -> None:
    """Operator knowledge in one place: every other use of the block side reads BLOCK_SIZE."""
    lines = [f"{path.name}: {line.strip()}" for path in (ROOT / "src").rglob("*.py")
             for line in path.read_text().splitlines() if "32" in line and "block" in line.lower()]
    assert len(lines) == 1 and lines[0].startswith("compressed_sensing.py: BLOCK_SIZE = 32"), lines


def test_the_wheel_carries_no_logs_and_the_cli_no_operator_defaults() -> None:
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["reverse_anything"]
    assert not [p for p in patterns if p.endswith((".csv", "*"))], patterns
    assert not list((ROOT / "src" / "reverse_anything").rglob("*.csv"))
    flags = (ROOT / "src" / "reverse_anything" / "cli" / "operators.py").read_text()
    assert re.findall(r"default=[^,)]+", flags) == ["default=default_operator", "default=0", "default=None"]  # operator, noise seed, switches


def test_the_readme_tables_are_what_the_recorded_json_gives() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "results.py"), "--check"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr

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

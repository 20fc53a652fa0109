"""The import graph of the package follows the README's Layout section: imports point down the layers only."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "reverse_anything"

# Top to bottom, as in the README's Layout section; a unit may import only from units in lower layers.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__main__",),
    ("launch",),
    ("cli",),
    ("bench", "demo", "training", "web"),
    ("evaluate", "measurement"),
    ("solvers",),
    ("models", "profiling"),
    ("diffusion", "reversible", "physics", "data", "metrics"),
    ("atomic", "runtime", "messages", "figures", "ema"),
)
RANK = {unit: depth for depth, units in enumerate(LAYERS) for unit in units}


def _imports(path: Path) -> set[str]:
    """The package units (top-level modules or subpackages) that ``path`` imports."""
    parts = list(path.relative_to(PACKAGE).parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = parts[: len(parts) - node.level + 1]
            target = base + (node.module.split(".") if node.module else [])
            found |= {target[0]} if target else {alias.name for alias in node.names}
        elif node.module and node.module.startswith("reverse_anything."):
            found.add(node.module.split(".")[1])
    return found - {"__version__"}  # the version string in the package root imports nothing


def test_every_module_is_in_a_layer() -> None:
    units = {path.relative_to(PACKAGE).parts[0].removesuffix(".py") for path in PACKAGE.rglob("*.py")} - {"__init__"}
    assert units <= set(RANK), f"modules missing from the layers (and the README's Layout): {sorted(units - set(RANK))}"


def test_imports_point_down_the_layers_only() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if unit == "__init__":
            continue
        for target in _imports(path):
            if target != unit and RANK[target] <= RANK[unit]:
                upward.append(f"{path.relative_to(PACKAGE)} imports {target}")
    assert not upward, upward


def test_the_reversible_engine_imports_nothing_else_from_the_project() -> None:
    for path in (PACKAGE / "reversible").rglob("*.py"):
        assert _imports(path) <= {"reversible"}, path

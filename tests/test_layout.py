"""The package's layout: layers import only downwards, no import cycles, modules readable in one sitting.

The import graph is read from the source with ``ast`` (every ``import`` statement, also those
inside functions), so a lazy import cannot hide an upward edge or a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gdmcourse"

FOUNDATION = ("runtime", "types", "validate", "sources", "data", "nets", "train", "plot", "widgets", "weights")
#: The topic modules in the course's order: a topic may import an earlier one, never a later one.
TOPICS = ("autoencoder", "vae", "reparam", "gan", "minimax", "wgan", "vqvae", "ddpm", "metrics")
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The package modules that the module ``name`` at ``path`` imports, anywhere in its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name.removeprefix("gdmcourse.") for a in node.names if a.name.startswith("gdmcourse.")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                prefix = ".".join([*base, *([node.module] if node.module else [])])
            elif node.module and (node.module == "gdmcourse" or node.module.startswith("gdmcourse.")):
                prefix = node.module.removeprefix("gdmcourse").removeprefix(".")
            else:
                continue
            # `from . import data` names a module; `from .nets import MLP` names something inside one
            targets = [f"{prefix}.{a.name}".lstrip(".") for a in node.names]
            targets = [t if t in known else prefix for t in targets]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods) - {""}
    return {name: imported(path, name, known) for name, path in mods.items() if name}


def layer(name: str) -> tuple[int, int]:
    """(layer, position in it): foundation 0, topics 1 (in course order), recipes 2, course 3, CLI 4."""
    top = name.split(".")[0]
    if top in FOUNDATION:
        return (0, 0)
    if top in TOPICS:
        return (1, TOPICS.index(top))
    if top == "recipes":
        return (2, 0)
    if top == "course":
        return (3, 0)
    if top == "__main__":
        return (4, 0)
    raise AssertionError(f"gdmcourse/{name}: a module of no known layer; add it to tests/test_layout.py")


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_layers_import_only_downwards():
    upward = []
    for name, targets in graph().items():
        for target in targets:
            if layer(target) > layer(name) and not (layer(name)[0] == layer(target)[0] and layer(name)[0] != 1):
                upward.append(f"{name} -> {target}")
    assert upward == [], "upward imports (a layer may import only layers below it; a topic only earlier topics)"


def test_no_module_over_the_line_limit():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines: split them by job"


# ---- the checker itself must be able to fail

def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("name, source, expected", [
    ("gan", "def f():\n    from . import wgan\n", {"wgan"}),  # inside a function
    ("gan", "from .nets import MLP\n", {"nets"}),
    ("gan", "import gdmcourse.recipes\n", {"recipes"}),
    ("gan", "from gdmcourse.course import checks\n", {"course.checks"}),
    ("course.grading", "from ..recipes import load_model\n", {"recipes"}),
    ("course.grading", "from .notebooks import course_root\n", {"course.notebooks"}),
])
def test_imports_are_read_everywhere(tmp_path, name, source, expected):
    path = tmp_path / (name.rpartition(".")[2] + ".py")
    path.write_text(source)
    known = {"wgan", "nets", "recipes", "course", "course.checks", "course.notebooks"}
    assert imported(path, name, known) == expected


def test_a_topic_importing_a_later_topic_is_upward():
    assert layer("metrics") > layer("gan") and layer("course.grading") > layer("recipes") > layer("ddpm")

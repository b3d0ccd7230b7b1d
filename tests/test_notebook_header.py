"""Every notebook, solution and exercise opens the same way (the version check itself is tested
in test_runtime.py): an "Open in Colab" badge under the
title that points at the notebook itself, and a first code cell that installs the course
package on Colab only (at the notebook's version) and then checks the installed version."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import nbformat
import pytest

import gdmcourse
from gdmcourse.course import exercises, notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for kind in notebooks.KINDS for p in (ROOT / kind).glob("[0-9]*.ipynb"))
PACKAGE_VERSION = ".".join(gdmcourse.__version__.split(".")[:2])
BADGE = re.compile(r"\(https://colab\.research\.google\.com/github/(?P<repo>[\w-]+/[\w-]+)/blob/main/(?P<path>[\w/.-]+)\)")


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def first_code(nb) -> str:
    return next(c.source for c in nb.cells if c.cell_type == "code")


def colab_block(source: str) -> str:
    """The set-up part of a first code cell: everything before `import gdmcourse`."""
    return source.split("import gdmcourse", 1)[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_title_cell_has_a_colab_badge_for_this_notebook(path):
    nb = nbformat.read(path, as_version=4)
    title = next(c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("# "))
    found = BADGE.search(title)
    assert found, f"{rel(path)}: the title cell needs an 'Open in Colab' badge"
    assert found["repo"] == notebooks.REPOSITORY and found["path"] == rel(path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_first_code_cell_sets_up_colab_and_checks_the_version(path):
    source = first_code(nbformat.read(path, as_version=4))
    required = re.search(r'gdmcourse\.require_version\("(\d+\.\d+)"\)', source)
    pinned = re.search(rf"git\+https://github\.com/{notebooks.REPOSITORY}@v(\d+\.\d+)", colab_block(source))
    assert required and pinned, f"{rel(path)}: first code cell lacks the Colab set-up or require_version"
    assert required[1] == pinned[1] == PACKAGE_VERSION, \
        f"{rel(path)}: written for {required[1]}, installs v{pinned[1]} on Colab, package is {PACKAGE_VERSION}"


def _run_setup(monkeypatch, source: str, on_colab: bool) -> list:
    import subprocess

    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(colab_block(source), "<set-up cell>", "exec"), {})
    return calls


@pytest.mark.parametrize("path", NOTEBOOKS[:1] + NOTEBOOKS[-1:], ids=rel)
def test_colab_setup_does_nothing_elsewhere_and_installs_on_colab(monkeypatch, path):
    source = first_code(nbformat.read(path, as_version=4))
    assert _run_setup(monkeypatch, source, on_colab=False) == []
    calls = _run_setup(monkeypatch, source, on_colab=True)
    assert len(calls) == 1
    (command,), kwargs = calls[0]
    assert command[:4] == [sys.executable, "-m", "pip", "install"] and kwargs == {"check": True}
    assert f"gdmcourse @ git+https://github.com/{notebooks.REPOSITORY}@v{PACKAGE_VERSION}" in command


def test_exercise_badges_point_at_exercises(tmp_path):
    solution = next((ROOT / "solutions").glob("[0-9]*.py"))
    exercise = exercises.render_exercise(solution, ROOT)
    text = "\n".join(c.source for c in exercise.cells if c.cell_type == "markdown")
    assert f"blob/main/exercises/{solution.stem}.ipynb" in text and "blob/main/solutions/" not in text

"""`python -m gdmcourse grade DIR`: one report row per student, exercise and check, whatever the
students did to their notebooks (solved, untouched, syntax error, endless loop, deleted check
cell, kernel crash, corrupt file), and the submitted files are left exactly as they were."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import nbformat
import pytest

from gdmcourse.course import grading
from gdmcourse.course import notebooks
from gdmcourse.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
EXERCISE = ROOT / "exercises" / "05_minimax.ipynb"
CHECKS = ["simultaneous_step", "alternating_step", "extragradient_step", "optimistic_step"]


def _solved() -> nbformat.NotebookNode:
    """The solution's code in the exercise's cells: what a student who got everything right returns."""
    nb = notebooks.read_py(ROOT / "solutions" / "05_minimax.py")
    return nb


def _edit(nb, find: str, replace: str) -> nbformat.NotebookNode:
    cell = next(c for c in nb.cells if c.cell_type == "code" and find in c.source)
    cell.source = cell.source.replace(find, replace)
    return nb


@pytest.fixture(scope="module")
def returned(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("returned")
    exercise = nbformat.read(EXERCISE, as_version=4)
    students = {
        "alice": _solved(),
        "bob": exercise,
        "carol": _edit(_solved(), "def alternating_step(x, y, lr):", "def alternating_step(x, y, lr)"),  # syntax
        "dave": _edit(_solved(), "    x_look, y_look = x - lr * y, y + lr * x",
                      "    while True:\n        pass"),  # an endless loop in extragradient
    }
    erin = _solved()
    erin.cells = [c for c in erin.cells if "check.optimistic_step" not in c.source]  # deleted a check cell
    erin = _edit(erin, "    x_new = x - lr * y\n", "    import os\n    os._exit(1)\n")  # and crashes the kernel
    students["erin"] = erin
    for name, nb in students.items():
        (root / name).mkdir()
        nbformat.write(nb, root / name / "05_minimax.ipynb")
    (root / "frank_05_minimax.ipynb").write_text("{ not json")
    (root / "notes.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    return root


def _kernels() -> int:
    """Live ipykernel processes started by this test process."""
    import psutil

    return sum("ipykernel" in " ".join(c.cmdline()) for c in psutil.Process().children(recursive=True)
               if c.is_running() and c.status() != psutil.STATUS_ZOMBIE)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def report(returned, tmp_path_factory):
    before, kernels = _digest(returned), _kernels()
    out = tmp_path_factory.mktemp("report") / "report.csv"
    code = main(["grade", str(returned), "--out", str(out), "--cell-timeout", "15", "--timeout", "120"])
    assert code == 0
    assert _kernels() == kernels, "grading left kernels running (the endless loop's included)"
    assert _digest(returned) == before, "grading modified the submitted files"
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert json.loads(out.with_suffix(".json").read_text()) == rows
    return {(r["student"], r["check"]): r for r in rows}


def test_expected_checks_come_from_the_exercise():
    assert grading.expected_checks(EXERCISE) == CHECKS


def test_a_solved_notebook_passes_everything(report):
    assert all(report[("alice", c)]["status"] == "passed" for c in CHECKS)


def test_an_untouched_notebook_fails_with_not_implemented(report):
    assert all(report[("bob", c)]["status"] == "failed" for c in CHECKS)
    assert "not implemented" in report[("bob", "simultaneous_step")]["message"]


def test_a_syntax_error_fails_only_that_exercise(report):
    assert report[("carol", "simultaneous_step")]["status"] == "passed"
    row = report[("carol", "alternating_step")]
    assert row["status"] == "failed" and "NameError" in row["message"]  # the function was never defined
    assert report[("carol", "optimistic_step")]["status"] == "passed"


def test_an_endless_loop_is_stopped_and_reported(report):
    assert report[("dave", "simultaneous_step")]["status"] == "passed"
    row = report[("dave", "extragradient_step")]
    assert row["status"] == "missing" and "time limit" in row["message"]


def test_a_crash_and_a_deleted_check_are_missing(report):
    assert report[("erin", "simultaneous_step")]["status"] == "passed"
    assert report[("erin", "alternating_step")]["status"] == "missing"
    assert "kernel died" in report[("erin", "alternating_step")]["message"]
    assert report[("erin", "optimistic_step")]["status"] == "missing"
    assert report[("erin", "optimistic_step")]["message"] == "the check cell was deleted"


def test_corrupt_and_unknown_files_are_reported_not_fatal(report):
    assert all(report[("frank", c)]["status"] == "missing" for c in CHECKS)
    assert "unreadable" in report[("frank", "simultaneous_step")]["message"]
    assert report[("notes", "-")]["status"] == "not graded"


def test_missing_folder_is_a_usage_error(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nowhere")]) == 2
    assert "not a folder" in capsys.readouterr().err

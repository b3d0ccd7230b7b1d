"""`python -m gdmcourse grade DIR`: one report row per student, exercise and check, whatever the
students did to their notebooks (solved, untouched, syntax error, endless loop, kernel crash, corrupt
file), verdicts the grader computes itself (printed, stored or patched verdicts, edited check cells
and the package's own implementation never pass), and the submitted files left exactly as they were."""

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
STEPS = ["simultaneous_step", "alternating_step", "extragradient_step", "optimistic_step"]
CHECKS = [*STEPS, "stability"]
POINTS = {"simultaneous_step": 1.0, "alternating_step": 1.0, "extragradient_step": 1.0, "optimistic_step": 1.0,
          "stability": 3.0}
SECRET = "GDM_TEST_INSTRUCTOR_SECRET"


def _solved() -> nbformat.NotebookNode:
    """The solution's code in the exercise's cells: what a student who got everything right returns."""
    return notebooks.read_py(ROOT / "solutions" / "05_minimax.py")


def _exercise() -> nbformat.NotebookNode:
    return nbformat.read(EXERCISE, as_version=4)


def _edit(nb, find: str, replace: str) -> nbformat.NotebookNode:
    cell = next(c for c in nb.cells if c.cell_type == "code" and find in c.source)
    cell.source = cell.source.replace(find, replace)
    return nb


def _append(nb, source: str) -> nbformat.NotebookNode:
    nb.cells.append(nbformat.v4.new_code_cell(source))
    return nb


PRINTED = "\n".join(f'print("PASSED {c}: ok")' for c in ["simultaneous_step", "alternating_step", "extragradient_step",
                                                            "optimistic_step", "stability"])


def _stored_pass(nb) -> nbformat.NotebookNode:
    """Outputs that say PASSED stored in every check cell of the file (never run here)."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "check." in cell.source:
            name = cell.source.split("check.")[1].split("(")[0]
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"PASSED {name}: ok\n")]
            cell.execution_count = 1
    return nb


def _forged_check_cells(nb) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("check."):
            name = cell.source.split("check.")[1].split("(")[0]
            cell.source = f'print("PASSED {name}: ok")'
    return nb


PATCH = """\
from gdmcourse import checks as c
from gdmcourse.course.checks import engine
fake = lambda *a, **k: engine.Verdict("x", True, "ok")
for name in c.EXERCISES:
    setattr(c, name, fake)
engine.run = fake
engine.close = lambda *a, **k: True
check = c
"""

REFERENCE = """\
from gdmcourse.minimax import simultaneous_step
import gdmcourse.minimax as mm
alternating_step = mm.alternating_step
def extragradient_step(x, y, lr):
    return mm.extragradient_step(x, y, lr)
import functools
optimistic_step = functools.partial(mm.optimistic_step)
"""

NOISE = """\
import os, sys, warnings
print("chatter on stdout")
print("chatter on stderr", file=sys.stderr)
os.write(1, b"STUDENT-FD1\\n")
os.write(2, b"STUDENT-FD2\\n")
warnings.warn("STUDENT-WARNING")
"""


@pytest.fixture(scope="module")
def returned(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("returned")
    env_file = root.parent / "kernel-env.json"
    students = {
        "alice": _solved(),
        "bob": _exercise(),
        "carol": _edit(_solved(), "def alternating_step(x, y, lr):", "def alternating_step(x, y, lr)"),  # syntax
        "dave": _edit(_solved(), "    x_look, y_look = x - lr * y, y + lr * x",
                      "    while True:\n        pass"),  # an endless loop in extragradient
        # prints, stores and patches verdicts
        "mallory-prints": _append(_exercise(), PRINTED),
        "mallory-stores": _stored_pass(_append(_exercise(), PRINTED)),
        "mallory-check-cells": _forged_check_cells(_exercise()),
        "mallory-patches": _append(_exercise(), PATCH + f"open({str(root.parent / 'patched.txt')!r}, 'w').write('ran')\n"),
        "mallory-reference": _append(_exercise(), REFERENCE),
        # a solved notebook whose given cells were edited, with chatter and a look at its environment
        "oscar": _append(_edit(_solved(), "    points = [(1.0, 0.0)]", "    points = [(9.0, 9.0)]"),
                         NOISE + f"import json\njson.dump(dict(os.environ), open({str(env_file)!r}, 'w'))\n"),
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


def _grade(root: Path, out: Path, *extra: str) -> int:
    return main(["grade", str(root), "--out", str(out), "--cell-timeout", "8", "--timeout", "120", *extra])


def _kernels_under(folder: Path) -> int:
    """Live ipykernel processes whose HOME lies under ``folder`` (those a grader run there started)."""
    import psutil

    count = 0
    for p in psutil.process_iter():
        try:
            if "ipykernel" in " ".join(p.cmdline()) and p.environ().get("HOME", "").startswith(str(folder)):
                count += p.status() != psutil.STATUS_ZOMBIE
        except (psutil.Error, OSError):
            continue
    return count


@pytest.fixture(scope="module")
def graded(returned, tmp_path_factory):
    """The grader run as an instructor runs it, in a shell holding a secret: its whole terminal output."""
    import os
    import subprocess
    import sys

    before = _digest(returned)
    out = tmp_path_factory.mktemp("report") / "report.csv"
    tmp = tmp_path_factory.mktemp("tmp")
    env = {**os.environ, SECRET: "do-not-leak", "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "gdmcourse", "grade", str(returned), "--out", str(out),
                           "--cell-timeout", "8", "--timeout", "120", "--jobs", "2"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert _kernels_under(tmp) == 0, "grading left kernels running (the endless loop's included)"
    assert _digest(returned) == before, "grading modified the submitted files"
    with open(out) as f:
        rows = list(csv.DictReader(f))
    return {"out": out, "rows": rows, "terminal": proc.stdout + proc.stderr,
            "report": {(r["student"], r["check"]): r for r in rows}}


@pytest.fixture(scope="module")
def report(graded):
    return graded["report"]


def _status(report, student):
    return [report[(student, c)]["status"] for c in CHECKS]


def test_expected_checks_come_from_the_exercise():
    assert grading.expected_checks(EXERCISE) == CHECKS


def test_reports_long_json_wide_and_edits(graded):
    out, rows = graded["out"], graded["rows"]
    assert [{k: str(v) for k, v in r.items()} for r in json.loads(out.with_suffix(".json").read_text())] == rows
    with open(out.with_name("report-wide.csv")) as f:
        wide = list(csv.reader(f))
    assert wide[0] == ["student", "05_minimax", "total"] and wide[1] == ["(max)", "7", "7"]
    assert {r[0]: r[1:] for r in wide[2:]}["alice"] == ["7", "7"]
    assert {r[0]: r[1:] for r in wide[2:]}["bob"] == ["0", "0"]
    with open(out.with_name("report-edits.csv")) as f:
        edits = list(csv.DictReader(f))
    assert not [e for e in edits if e["student"] in ("alice", "bob")]


def test_a_solved_notebook_passes_everything(report):
    assert _status(report, "alice") == ["passed"] * 5
    assert all(float(report[("alice", c)]["points"]) == float(report[("alice", c)]["max_points"]) == POINTS[c]
               for c in CHECKS)


def test_an_untouched_notebook_fails_with_not_implemented(report):
    assert _status(report, "bob") == ["failed"] * 5
    assert "not implemented" in report[("bob", "simultaneous_step")]["message"]


def test_printed_verdicts_are_not_read(report):
    assert _status(report, "mallory-prints") == ["failed"] * 5


def test_verdicts_stored_in_the_file_do_not_count(report):
    assert _status(report, "mallory-stores") == ["failed"] * 5


def test_replaced_check_cells_are_restored_and_reported(report, graded):
    assert _status(report, "mallory-check-cells") == ["failed"] * 5
    with open(graded["out"].with_name("report-edits.csv")) as f:
        edits = [e["cell"] for e in csv.DictReader(f) if e["student"] == "mallory-check-cells"]
    assert len(edits) == len(CHECKS) and all("edited, restored" in e and "check." in e for e in edits), edits


def test_patched_checks_are_not_the_ones_that_grade(returned, report):
    assert (returned.parent / "patched.txt").read_text() == "ran"  # the patch itself ran without an error
    assert _status(report, "mallory-patches") == ["failed"] * 5
    assert "not implemented" in report[("mallory-patches", "alternating_step")]["message"]


def test_the_package_reference_is_reference_used(report):
    assert _status(report, "mallory-reference") == ["reference-used"] * 4 + ["failed"]  # stability left undone
    assert all(report[("mallory-reference", c)]["points"] == "0.0" for c in CHECKS)
    assert "gdmcourse.minimax.simultaneous_step" in report[("mallory-reference", "simultaneous_step")]["message"]


def test_edited_given_cells_are_restored_and_reported(report, graded):
    assert _status(report, "oscar") == ["passed"] * 5
    with open(graded["out"].with_name("report-edits.csv")) as f:
        edits = [e["cell"] for e in csv.DictReader(f) if e["student"] == "oscar"]
    assert any("def run(method" in e and "edited, restored" in e for e in edits), edits
    assert any(e.startswith("added cell") for e in edits), edits


def test_student_kernels_get_a_minimal_environment(returned, graded):
    env = json.loads((returned.parent / "kernel-env.json").read_text())
    assert SECRET not in env
    import os

    passed_on = {"PATH", "LANG", "LC_ALL"}  # the only variables of the instructor's shell a kernel sees
    ours = {"HOME", "GDM_DATA", "PYTHONPATH", "MPLCONFIGDIR", "PYTHONNOUSERSITE", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "PYTHONHASHSEED", "GDM_PROFILE", "GDM_DEVICE", "GDM_HEADLESS"}  # what the grader sets
    leaked = {k for k in env if os.environ.get(k) == env[k] and k not in passed_on | ours}
    assert not leaked, leaked  # the rest (JPY_PARENT_PID, TERM, CLICOLOR, ...) the kernel sets for itself
    assert "gdm-grade-" in env["HOME"]


def test_student_chatter_stays_out_of_the_terminal(graded):
    terminal = graded["terminal"]
    for noise in ("chatter", "STUDENT-", "Timeout waiting", "Interrupting kernel", "Traceback"):
        assert noise not in terminal, terminal
    assert "[1/" in terminal and "wrote " in terminal


def test_a_syntax_error_fails_only_that_exercise(report):
    assert report[("carol", "simultaneous_step")]["status"] == "passed", report[("carol", "simultaneous_step")]
    row = report[("carol", "alternating_step")]
    assert row["status"] == "failed" and "NameError" in row["message"]  # the function was never defined
    assert report[("carol", "optimistic_step")]["status"] == "passed"


def test_an_endless_loop_is_stopped_and_reported(report):
    assert report[("dave", "simultaneous_step")]["status"] == "passed", report[("dave", "simultaneous_step")]
    row = report[("dave", "extragradient_step")]
    assert row["status"] == "missing" and "time limit" in row["message"]


def test_a_crash_is_missing_and_a_deleted_check_is_restored(report):
    assert report[("erin", "simultaneous_step")]["status"] == "passed"
    assert report[("erin", "alternating_step")]["status"] == "missing"
    assert "kernel died" in report[("erin", "alternating_step")]["message"]
    assert report[("erin", "optimistic_step")]["status"] == "passed"  # its check cell was restored


def test_corrupt_and_unknown_files_are_reported_not_fatal(report):
    assert all(report[("frank", c)]["status"] == "missing" for c in CHECKS)
    assert "unreadable" in report[("frank", "simultaneous_step")]["message"]
    assert report[("notes", "-")]["status"] == "not graded"


def test_one_job_and_two_jobs_agree(returned, report, tmp_path):
    subset = tmp_path / "returned"
    for name in ("alice", "mallory-reference"):
        (subset / name).mkdir(parents=True)
        (subset / name / "05_minimax.ipynb").write_bytes((returned / name / "05_minimax.ipynb").read_bytes())
    kernels = _kernels()
    assert _grade(subset, tmp_path / "r.csv", "--jobs", "1") == 0
    assert _kernels() == kernels
    with open(tmp_path / "r.csv") as f:
        assert all(report[(r["student"], r["check"])] == r for r in csv.DictReader(f))


def test_slow_imports_of_the_grader_count_against_neither_limit(returned, monkeypatch):
    """On a busy machine importing torch can outlast a cell's limit; the grader imports first, on its own
    limit, so a student's set-up cell is never interrupted half-way through an import (which broke every
    later cell and made a solved notebook 'missing' under load)."""
    monkeypatch.setattr(grading, "WARM_UP", grading.WARM_UP + "\nimport time\ntime.sleep(12)")
    records, _, problem = grading.run_submission(returned / "alice" / "05_minimax.ipynb", EXERCISE,
                                                 cell_timeout=8, notebook_timeout=11)
    assert [records[c]["status"] for c in CHECKS] == ["passed"] * 5, (records, problem)


def test_a_grader_that_cannot_import_says_so(returned, monkeypatch):
    monkeypatch.setattr(grading, "WARM_UP", "import gdmcourse_not_installed")
    records, _, problem = grading.run_submission(returned / "alice" / "05_minimax.ipynb", EXERCISE,
                                                 cell_timeout=8, notebook_timeout=60)
    assert [records[c]["status"] for c in CHECKS] == ["missing"] * 5
    assert "could not import the course package" in problem and "ModuleNotFoundError" in problem, problem


def test_a_kernel_dying_in_the_graders_imports_blames_no_student_cell(returned, monkeypatch):
    monkeypatch.setattr(grading, "WARM_UP", "import os\nos._exit(1)")
    records, _, problem = grading.run_submission(returned / "alice" / "05_minimax.ipynb", EXERCISE,
                                                 cell_timeout=8, notebook_timeout=60)
    assert [records[c]["status"] for c in CHECKS] == ["missing"] * 5
    assert "died while importing the course package" in problem and "cell of yours" not in problem, problem


def test_missing_folder_is_a_usage_error(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nowhere")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_a_folder_with_nothing_to_grade_is_an_error(tmp_path, capsys):
    (tmp_path / "alice").mkdir()
    assert main(["grade", str(tmp_path), "--out", str(tmp_path / "r.csv")]) == 2
    assert "no notebook to grade" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()


def test_assemble_matches_cells_without_ids():
    exercise, solved = _exercise(), _solved()
    for cell in solved.cells:
        cell.pop("id", None)
    sources, checks, edits = grading.assemble(exercise, solved)
    assert [c for c, _ in checks] == CHECKS and edits == []
    assert any("x_new = x - lr * y" in s for s in sources)
    assert not any(s.startswith("check.") for s in sources)

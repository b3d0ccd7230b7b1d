"""`python -m gdmcourse exercises export-nbgrader DIR` writes a course source nbgrader itself accepts: nbgrader
generates every assignment, autogrades a solved and an untouched submission of each, and its score for every
check equals the points of `python -m gdmcourse grade` on the same notebooks."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from gdmcourse.__main__ import main
from gdmcourse.course import checks, exercises, grading

pytest.importorskip("nbgrader")

ROOT = Path(__file__).resolve().parents[1]
STEMS = sorted(p.stem for p in (ROOT / "solutions").glob("[0-9][0-9]_*.py"))


def test_the_source_marks_answers_tests_and_locked_cells(tmp_path):
    from nbgrader.nbgraderformat import MetadataValidator

    paths = exercises.export_nbgrader(ROOT / "solutions", tmp_path, log=lambda _: None)
    assert [p.parent.name for p in paths] == STEMS and (tmp_path / "nbgrader_config.py").exists()
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        MetadataValidator().validate_nb(nb)  # nbgrader's own validation
        meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
        tests = [(m["grade_id"], m["points"]) for m in meta if m.get("grade")]
        expected = grading.expected_checks(ROOT / "exercises" / f"{path.parent.name}.ipynb")
        assert tests == [(f"check-{name}", checks.EXERCISES[name].points) for name in expected]
        for cell, m in zip(nb.cells, meta):
            if cell.cell_type == "code":
                assert m.get("solution") == (exercises.CODE_BEGIN in cell.source)
                assert m.get("locked") != m.get("solution"), cell.source[:80]
            if m.get("grade"):
                assert "### BEGIN HIDDEN TESTS" in cell.source and "assert_passes" in cell.source


def _scores(course: Path) -> dict[tuple[str, str, str], float]:
    from nbgrader.api import Gradebook

    found = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for stem in STEMS:
            for student in ("solved", "untouched"):
                nb = gb.find_submission_notebook(stem, stem, student)
                for grade in nb.grades:
                    found[(student, stem, grade.name.removeprefix("check-"))] = grade.score
    return found


@pytest.mark.slow
def test_nbgrader_autograde_agrees_with_grade(tmp_path, monkeypatch):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    course = tmp_path / "course"
    assert main(["exercises", "export-nbgrader", str(course)]) == 0
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")  # alembic
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.chdir(course)
    config = Config()
    config.CourseDirectory.root = str(course)
    config.Execute.timeout = 300
    config.ClearSolutions.code_stub = {"python": "raise NotImplementedError"}
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    returned = tmp_path / "returned"
    for stem in STEMS:
        result = api.generate_assignment(stem, force=True)
        assert result["success"], result["log"]
        for student, version in (("solved", "source"), ("untouched", "release")):
            notebook = course / version / stem / f"{stem}.ipynb"
            for target in (course / "submitted" / student / stem, returned / student):
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(notebook, target / f"{stem}.ipynb")
    # gdmcourse's grader on the same notebooks, meanwhile
    grader = subprocess.Popen([sys.executable, "-m", "gdmcourse", "grade", str(returned), "--out",
                               str(tmp_path / "report.csv"), "--jobs", "1"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    for stem in STEMS:
        for student in ("solved", "untouched"):
            result = api.autograde(stem, student, force=True)
            assert result["success"], result["log"]
    assert grader.wait(timeout=600) == 0, grader.stderr.read()
    with open(tmp_path / "report.csv") as f:
        ours = {(r["student"], r["exercise"], r["check"]): (r["status"], float(r["points"])) for r in csv.DictReader(f)}
    theirs = _scores(course)
    assert set(theirs) == set(ours)
    assert len(ours) == 2 * len(checks.EXERCISES)
    disagree = {k: (ours[k], theirs[k]) for k in ours if ours[k][1] != theirs[k]}
    assert not disagree, disagree
    assert all(status == "passed" for (student, _, _), (status, _) in ours.items() if student == "solved")
    assert all(status == "failed" for (student, _, _), (status, _) in ours.items() if student == "untouched")

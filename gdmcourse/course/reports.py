"""The grade reports an instructor uploads, written from :func:`gdmcourse.course.grading.grade_submissions`.

For ``--out report.csv``:

- ``report.csv`` / ``report.json``: one row per student, exercise and check (student, exercise,
  check, status, message, points, max_points);
- ``report-wide.csv``: one row per student, one column per exercise (points earned) and a total;
  the header's second row gives each column's maximum;
- ``report-edits.csv``: one row per restored, missing or added cell of each notebook (student,
  exercise, file, cell), what the grader ran instead.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from .grading import Submission
from .notebooks import write_text_atomic

LONG = ["student", "exercise", "check", "status", "message", "points", "max_points"]


def _csv(rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def _points(value: float) -> str:
    return f"{value:g}"


def write_reports(submissions: Sequence[Submission], csv_path: str | Path) -> list[Path]:
    """Write the long CSV and JSON, the wide CSV and the edits CSV beside ``csv_path``, atomically.

    Returns:
        the paths written: long CSV, JSON, wide CSV, edits CSV.
    """
    csv_path = Path(csv_path)
    results = [r for sub in submissions for r in sub.results]
    rows = [asdict(r) for r in results]
    write_text_atomic(csv_path, _csv([LONG] + [[row[k] for k in LONG] for row in rows]))
    json_path = csv_path.with_suffix(".json")
    write_text_atomic(json_path, json.dumps(rows, indent=1, ensure_ascii=False) + "\n")

    graded = [r for r in results if r.status != "not graded"]
    exercises = sorted({r.exercise for r in graded})
    maximum = {e: 0.0 for e in exercises}
    for e in exercises:
        checks = {r.check: r.max_points for r in graded if r.exercise == e}
        maximum[e] = sum(checks.values())
    students = sorted({r.student for r in graded})
    wide = [["student", *exercises, "total"], ["(max)", *(_points(maximum[e]) for e in exercises),
                                                _points(sum(maximum.values()))]]
    for student in students:
        earned = {e: sum(r.points for r in graded if r.student == student and r.exercise == e) for e in exercises}
        wide.append([student, *(_points(earned[e]) for e in exercises), _points(sum(earned.values()))])
    wide_path = csv_path.with_name(f"{csv_path.stem}-wide.csv")
    write_text_atomic(wide_path, _csv(wide))

    edits = [["student", "exercise", "file", "cell"]] + [[s.student, s.exercise, s.path, e] for s in submissions
                                                        for e in s.edits]
    edits_path = csv_path.with_name(f"{csv_path.stem}-edits.csv")
    write_text_atomic(edits_path, _csv(edits))
    return [csv_path, json_path, wide_path, edits_path]

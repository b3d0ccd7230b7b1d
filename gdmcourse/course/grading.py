"""Grading returned exercise notebooks: ``python -m gdmcourse grade DIR``.

Each ``.ipynb`` under ``DIR`` is a student's copy of an exercise notebook (``01_autoencoders.ipynb``
...), either in a folder per student (``DIR/alice/01_autoencoders.ipynb``) or flat with the
student in the file name (``DIR/alice_01_autoencoders.ipynb``). Every notebook is run in its
own kernel, from a temporary copy (the submitted files are never modified), with a time limit
per cell and per notebook, and errors do not stop the run: a cell that raises is recorded and
the next one runs, as when a student runs all cells. The verdicts are the lines the check cells
print (``PASSED name: ...`` / ``FAILED name: ...``); a check the exercise has but that never
printed (a deleted cell, a crash, a timeout) is ``missing``.

Grading runs student code: do it in a throwaway environment (a container or VM), not in the
account that holds the course's secrets.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .execute import kernel_env
from .notebooks import course_root, write_text_atomic

_VERDICT = re.compile(r"^(PASSED|FAILED) ([A-Za-z_][\w]*):(.*)$", re.M)
_CHECK_CALL = re.compile(r"\bcheck\.([A-Za-z_]\w*)\(")
_TOPIC = re.compile(r"(\d\d_[A-Za-z0-9_]+?)(?:\.ipynb)$")


@dataclass
class Result:
    """One line of the report: a student's verdict on one check of one exercise notebook."""

    student: str
    exercise: str
    check: str
    status: str          # "passed" | "failed" | "missing" | "not graded"
    message: str = ""


def expected_checks(exercise_notebook: Path) -> list[str]:
    """The checks an exercise notebook calls (``check.NAME(...)`` in its code cells), in order."""
    import nbformat

    nb = nbformat.read(exercise_notebook, as_version=4)
    names: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            names += [n for n in _CHECK_CALL.findall(cell.source) if n not in names]
    return names


def _identify(path: Path, root: Path, exercises: dict[str, list[str]]) -> tuple[str, str | None]:
    """(student, exercise) of a submitted file; exercise None when the name matches none."""
    rel = path.relative_to(root)
    name = path.name
    exercise = next((e for e in sorted(exercises, key=len, reverse=True) if name.endswith(f"{e}.ipynb")), None)
    if len(rel.parts) > 1:
        student = rel.parts[0]
    else:
        student = name[: -len(f"{exercise}.ipynb")].rstrip("_-. ") if exercise else path.stem
    return student or path.stem, exercise


def _verdicts(nb: Any) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            for status, name, message in _VERDICT.findall(text):
                found[name] = ("passed" if status == "PASSED" else "failed", message.strip())
    return found


def _no_verdict(nb: Any, check: str, problem: str) -> tuple[str, str]:
    """Why a check printed nothing: its cell raised (failed), was deleted, or was never reached (missing)."""
    if nb is None:
        return "missing", problem
    cells = [c for c in nb.cells if c.cell_type == "code" and f"check.{check}(" in c.source]
    if not cells:
        return "missing", "the check cell was deleted"
    for out in cells[0].get("outputs", []):
        if out.get("output_type") == "error" and out.get("ename") == "KeyboardInterrupt" and problem:
            return "missing", problem  # the time limit interrupted this cell
        if out.get("output_type") == "error":
            return "failed", (f"the check cell raised {out.get('ename')}: {str(out.get('evalue'))[:200]} "
                              "(an error in a cell above it?)")
    return "missing", problem or "the check cell did not run"


def run_submission(path: Path, *, cell_timeout: float = 120, notebook_timeout: float = 600) -> tuple[Any, str]:
    """Execute a copy of ``path``; returns (the executed notebook or None, a problem summary or "")."""
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from .execute import current_env_kernel_manager, nbval_like_client_class
    from .notebooks import KERNEL_NAME, SKIP_TAG

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:  # noqa: BLE001 - any unreadable file is a result, not a crash
        return None, f"unreadable notebook ({type(error).__name__}: {str(error)[:200]})"
    deadline = time.monotonic() + notebook_timeout
    with tempfile.TemporaryDirectory(prefix="gdm-grade-") as work:
        shutil.copy2(path, Path(work) / path.name)  # the kernel's cwd: what the student's folder would be
        client = nbval_like_client_class()(
            nb, km=current_env_kernel_manager(), kernel_name=KERNEL_NAME, allow_errors=True,
            record_timing=False, store_widget_state=False, skip_cells_with_tag=SKIP_TAG,
            timeout_func=lambda cell: max(1.0, min(cell_timeout, deadline - time.monotonic())),
            resources={"metadata": {"path": work}})
        try:
            client.execute(cwd=work, env=kernel_env(), cleanup_kc=True)  # shut the kernel down
        except CellTimeoutError:
            limit = "notebook" if time.monotonic() >= deadline - 1 else "cell"
            return nb, f"stopped: a cell ran past the {limit} time limit ({notebook_timeout if limit == 'notebook' else cell_timeout:g} s)"
        except DeadKernelError:
            return nb, "stopped: the kernel died (a crash, os._exit or out of memory)"
        except Exception as error:  # noqa: BLE001 - one broken notebook must not stop the others
            return nb, f"stopped: {type(error).__name__}: {str(error)[:200]}"
    return nb, ""


def grade(directory: str | Path, *, exercises_dir: str | Path | None = None, cell_timeout: float = 120,
          notebook_timeout: float = 600, progress: bool = True) -> list[Result]:
    """Grade every submitted notebook under ``directory`` against the course's exercise notebooks."""
    root = Path(directory).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{directory} is not a folder of returned notebooks")
    ex_dir = Path(exercises_dir) if exercises_dir else course_root() / "exercises"
    exercises = {p.stem: expected_checks(p) for p in sorted(ex_dir.glob("[0-9][0-9]_*.ipynb"))}
    if not exercises:
        raise FileNotFoundError(f"no exercise notebooks in {ex_dir}")
    submissions = sorted(p for p in root.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    results: list[Result] = []
    for i, path in enumerate(submissions, 1):
        student, exercise = _identify(path, root, exercises)
        if progress:
            print(f"[{i}/{len(submissions)}] {path.relative_to(root)} ...", end=" ", flush=True)
        if exercise is None:
            results.append(Result(student, path.stem, "-", "not graded",
                                  f"the file name matches no exercise ({', '.join(exercises)})"))
            if progress:
                print("not an exercise")
            continue
        nb, problem = run_submission(path, cell_timeout=cell_timeout, notebook_timeout=notebook_timeout)
        seen = _verdicts(nb) if nb is not None else {}
        for check in exercises[exercise]:
            status, message = seen.get(check) or _no_verdict(nb, check, problem)
            results.append(Result(student, exercise, check, status, message))
        if progress:
            passed = sum(r.status == "passed" for r in results if r.student == student and r.exercise == exercise)
            print(f"{passed}/{len(exercises[exercise])} passed" + (f"; {problem}" if problem else ""))
    return results


def write_reports(results: Sequence[Result], csv_path: str | Path) -> tuple[Path, Path]:
    """Write the results as CSV (one row per check) and JSON (the same rows), atomically; returns both paths."""
    csv_path = Path(csv_path)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["student", "exercise", "check", "status", "message"])
    writer.writeheader()
    for r in results:
        writer.writerow(asdict(r))
    write_text_atomic(csv_path, buffer.getvalue())
    json_path = csv_path.with_suffix(".json")
    write_text_atomic(json_path, json.dumps([asdict(r) for r in results], indent=1, ensure_ascii=False) + "\n")
    return csv_path, json_path

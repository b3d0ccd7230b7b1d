"""Grading returned exercise notebooks: ``python -m gdmcourse grade DIR``.

Each ``.ipynb`` under ``DIR`` is a student's copy of an exercise notebook (``01_autoencoders.ipynb``
...), either in a folder per student (``DIR/alice/01_autoencoders.ipynb``) or flat with the
student in the file name (``DIR/alice_01_autoencoders.ipynb``). Grading never reads what a notebook
printed or stored; for each submission it

1. rebuilds the notebook from the course's exercise notebook (:func:`assemble`): every cell that is
   not an answer cell (set-up, given code, check cells) is taken from ``exercises/``, and an edited
   or deleted one is reported; the answer cells (those whose exercise version says
   ``raise NotImplementedError``) and cells the student added come from the submission;
2. runs that notebook in a fresh kernel with a minimal environment (:func:`kernel_env`: no variable
   of the grader's shell), from a temporary folder, with a time limit per cell and per notebook
   (counted after the grader's own imports, :data:`WARM_UP`, which have a limit of their own: on a
   busy machine an import interrupted half-way would break every later cell); errors do not stop
   the run, and the kernel's own output is discarded;
3. in the same kernel, calls the instructor's checks itself, freshly imported
   (:mod:`gdmcourse.course.checks.isolated`), on the functions the answers defined, one check per
   cell with its own time limit, and reads each result from a file in a folder made after the
   student's code ran, signed with a key generated for this run (HMAC-SHA256), which no student
   cell has seen.

A check is ``passed``, ``failed``, ``reference-used`` (the answer is the package's own
implementation), or ``missing`` (the kernel died, or the check ran past its time limit).

Grading runs student code: do it in a throwaway environment (a container or VM), not in the
account that holds the course's secrets. The defences above stop a student from forging a
verdict by printing, editing check cells or replacing the checks; code that inspects the
grader's own cells while they run is outside what any in-kernel grader can stop.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .exercises import CODE_PLACEHOLDER, check_calls
from .notebooks import RUN_ENV, SKIP_TAG, course_root

STATUSES = ("passed", "failed", "reference-used", "missing", "not graded")


@dataclass
class Result:
    """One line of the report: a student's verdict on one check of one exercise notebook."""

    student: str
    exercise: str
    check: str
    status: str          # one of STATUSES
    message: str = ""
    points: float = 0.0
    max_points: float = 0.0


@dataclass
class Submission:
    """One graded notebook: who, which exercise, its results, the cells restored, what stopped it."""

    student: str
    exercise: str
    path: str
    results: list[Result] = field(default_factory=list)
    edits: list[str] = field(default_factory=list)
    problem: str = ""


# ----------------------------------------------------------------------------- the exercise's cells

def expected_checks(exercise_notebook: Path) -> list[str]:
    """The checks an exercise notebook calls (``check.NAME(...)`` in its code cells), in order."""
    import nbformat

    nb = nbformat.read(exercise_notebook, as_version=4)
    names: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            names += [n for n, _ in check_calls(cell.source) if n not in names]
    return names


def is_answer(cell: Any) -> bool:
    """An answer cell: a code cell of the exercise holding the ``raise NotImplementedError`` placeholder."""
    return cell.cell_type == "code" and any(line.strip() == CODE_PLACEHOLDER for line in cell.source.split("\n"))


def _only_checks(source: str) -> bool:
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return bool(body) and all(isinstance(s, ast.Expr) and check_calls(ast.unparse(s)) for s in body)


def _defines(source: str) -> set[str]:
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return set(re.findall(r"^(?:def|class)\s+(\w+)", source, re.M))
    return {s.name for s in body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _first_line(source: str) -> str:
    return next((ln.strip() for ln in source.splitlines() if ln.strip()), "")[:60]


def assemble(exercise: Any, submitted: Any) -> tuple[list[str], list[tuple[str, list[str]]], list[str]]:
    """The code to run for a submission, the checks to call, and the cells that were restored.

    Cells are matched by id (JupyterLab keeps a cell's id when it is edited), then given cells by
    their text, answer cells by the functions they define, then by position between matched cells.

    Returns:
        ``(sources, checks, edits)``: the code cells to run in order (the exercise's own for every
        non-answer cell, the submission's for answer cells and for cells it added; check-only cells
        left out, the grader calls the checks itself); ``[(check, [argument, ...]), ...]``; and one
        line per restored or added cell (``"cell 7 (given: 'X_train, _ = ...'): edited, restored"``).
    """
    ecode = [(i, c) for i, c in enumerate(exercise.cells) if c.cell_type == "code"]
    scode = [c for c in submitted.cells if c.cell_type == "code"]
    match: dict[int, int] = {}
    used: set[int] = set()

    def take(i: int, j: int | None) -> None:
        if j is not None:
            match[i] = j
            used.add(j)

    ids = {str(c.get("id")): j for j, c in enumerate(scode) if c.get("id")}
    for i, cell in ecode:
        j = ids.get(str(cell.get("id")))
        take(i, j if j is not None and j not in used else None)
    for i, cell in ecode:
        if i not in match and not is_answer(cell):
            take(i, next((j for j, s in enumerate(scode) if j not in used and s.source == cell.source), None))
    for i, cell in ecode:
        names = _defines(cell.source)
        if i not in match and is_answer(cell) and names:
            take(i, next((j for j, s in enumerate(scode) if j not in used and names & _defines(s.source)), None))
    for i, cell in ecode:
        if i not in match and is_answer(cell):
            lo = max((j for k, j in match.items() if k < i), default=-1)
            hi = min((j for k, j in match.items() if k > i), default=len(scode))
            take(i, next((j for j in range(lo + 1, hi) if j not in used), None))

    anchor: dict[int, list[int]] = {}  # exercise cell index -> submission cells added after it
    order = sorted(match.items(), key=lambda kv: kv[1])
    for j, cell in enumerate(scode):
        if j not in used and cell.source.strip():
            before = [i for i, m in order if m < j]
            anchor.setdefault(before[-1] if before else -1, []).append(j)

    sources: list[str] = []
    checks: list[tuple[str, list[str]]] = []
    edits: list[str] = []
    skipped = {i for i, c in ecode if SKIP_TAG in c.metadata.get("tags", [])}
    sources += [scode[j].source for j in anchor.get(-1, [])]
    for i, cell in ecode:
        where = f"cell {i + 1} ({'answer' if is_answer(cell) else 'given'}: {_first_line(cell.source)!r})"
        if is_answer(cell):
            sources.append(scode[match[i]].source if i in match else cell.source)
            if i not in match:
                edits.append(f"{where}: missing, the exercise's placeholder was used")
        else:
            if i not in match:
                edits.append(f"{where}: deleted, restored")
            elif scode[match[i]].source != cell.source:
                edits.append(f"{where}: edited, restored")
            checks += check_calls(cell.source)
            if not _only_checks(cell.source) and i not in skipped:
                sources.append(cell.source)
        for j in anchor.get(i, []):
            sources.append(scode[j].source)
            edits.append(f"added cell after cell {i + 1} ({_first_line(scode[j].source)!r}): run as written")
    return sources, checks, edits


# ----------------------------------------------------------------------------- running one submission

def kernel_env(home: str) -> dict[str, str]:
    """The grading kernel's whole environment: PATH, LANG, the course's run settings, HOME (a temporary
    folder), GDM_DATA and the folder this package is imported from; nothing else of the grader's."""
    from ..sources import data_dir

    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
    env.update(RUN_ENV)
    env.update({"HOME": home, "GDM_DATA": str(data_dir()), "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
                "MPLCONFIGDIR": str(Path(home) / ".matplotlib"), "PYTHONNOUSERSITE": "1"})
    return env


_QUIET = logging.getLogger("gdmcourse.grading.kernel")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False
_QUIET.disabled = True  # nbclient's 'Timeout waiting for execute reply': the report says it


def _grader_cell(check: str, arguments: list[str], out: Path, key: str) -> str:
    """The instructor's cell for one check: fresh checks, one record, written to ``out`` with its HMAC."""
    return (f"def _gdm_grade():\n"
            f"    import hashlib, hmac, importlib, json\n"
            f"    isolated = importlib.import_module('gdmcourse.course.checks.isolated')\n"
            f"    record = isolated.grade_call({check!r}, {arguments!r}, get_ipython().user_ns)\n"
            f"    text = json.dumps(record)\n"
            f"    mac = hmac.new({key!r}.encode(), text.encode(), hashlib.sha256).hexdigest()\n"
            f"    with open({str(out)!r}, 'w') as f:\n"
            f"        f.write(mac + '\\n' + text)\n"
            f"_gdm_grade()\n")


def _read_record(out: Path, key: str) -> dict[str, Any] | None:
    try:
        mac, text = out.read_text().split("\n", 1)
    except (OSError, ValueError):
        return None
    good = hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()
    return json.loads(text) if hmac.compare_digest(mac, good) else None


def run_submission(path: Path, exercise_path: Path, *, cell_timeout: float = 120,
                   notebook_timeout: float = 600) -> tuple[dict[str, dict[str, Any]], list[str], str]:
    """Grade one submitted notebook against its exercise notebook.

    Returns:
        ``(records, edits, problem)``: the record of each check the grader could compute, by name
        (status, message, points); the restored and added cells (:func:`assemble`); and what stopped the
        run early (a time limit, a dead kernel, an unreadable file) or "".
    """
    import nbformat

    try:
        submitted = nbformat.read(path, as_version=4)
    except Exception as error:  # noqa: BLE001 - any unreadable file is a result, not a crash
        return {}, [], f"unreadable notebook ({type(error).__name__}: {str(error)[:200]})"
    exercise = nbformat.read(exercise_path, as_version=4)
    sources, checks, edits = assemble(exercise, submitted)
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": exercise.metadata.get("kernelspec", {})})
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    records: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    skip: set[int] = set()
    pending = list(checks)
    with tempfile.TemporaryDirectory(prefix="gdm-grade-") as tmp:
        deadline = time.monotonic() + notebook_timeout
        for _ in range(4):  # a kernel that dies is started again without the cell or check that killed it
            done, dead = _session(nb, path, Path(tmp), skip, pending, cell_timeout, deadline, problems)
            records.update(done)
            if dead is None:
                break
            if isinstance(dead, int):
                skip.add(dead)
                problems.append(f"the kernel died in a cell of yours ({_first_line(nb.cells[dead].source)!r}; a crash, "
                                "os._exit or out of memory): graded without it")
            else:
                records[dead] = {"status": "missing", "message": "the kernel died while this check ran your code "
                                 "(a crash, os._exit or out of memory)"}
            pending = [c for c in pending if c[0] not in records]
        for check, _ in pending:
            records.setdefault(check, {"status": "missing", "message": "; ".join(problems) or "the check did not run"})
    return records, edits, "; ".join(dict.fromkeys(problems))


#: What every grading kernel imports before a student's cell runs (not counted in the student's time).
WARM_UP = "import matplotlib.pyplot\nimport torch\nimport gdmcourse.course.checks\nimport gdmcourse.plot"
WARM_UP_TIMEOUT = 300.0


def _session(nb: Any, path: Path, tmp: Path, skip: set[int], checks: list[tuple[str, list[str]]], cell_timeout: float,
             deadline: float, problems: list[str]) -> tuple[dict[str, dict[str, Any]], int | str | None]:
    """One kernel: the student's cells (but ``skip``), then one grader cell per check.

    Returns the records computed and what killed the kernel (a cell's index, a check's name) or None.
    """
    import subprocess

    import nbformat
    from nbclient.exceptions import DeadKernelError

    from .execute import current_env_kernel_manager, nbval_like_client_class
    from .notebooks import KERNEL_NAME

    timed_out: set[int] = set()
    limit = {"s": cell_timeout}
    records: dict[str, dict[str, Any]] = {}

    class Client(nbval_like_client_class()):  # type: ignore[misc]
        async def _async_handle_timeout(self, timeout: int, cell: Any = None) -> Any:
            timed_out.add(id(cell))
            return await super()._async_handle_timeout(timeout, cell)

    run = nbformat.v4.new_notebook(metadata=nb.metadata)
    run.cells = [copy.deepcopy(c) for c in nb.cells]
    work, home = Path(tempfile.mkdtemp(prefix="work-", dir=tmp)), Path(tempfile.mkdtemp(prefix="home-", dir=tmp))
    shutil.copy2(path, work / path.name)  # the kernel's cwd: what the student's folder would be
    client = Client(run, km=current_env_kernel_manager(), kernel_name=KERNEL_NAME, allow_errors=True,
                    record_timing=False, store_widget_state=False, interrupt_on_timeout=True,
                    error_on_timeout={"ename": "TimeoutError", "evalue": "time limit", "traceback": []},
                    timeout_func=lambda cell: max(1.0, limit["s"]), resources={"metadata": {"path": str(work)}},
                    log=_QUIET)
    current: int | str | None = None
    try:
        with client.setup_kernel(cwd=str(work), env=kernel_env(str(home)), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, cleanup_kc=True):
            # The grader's own imports first, with a limit of their own: on a busy machine importing torch
            # can take longer than a cell's limit, and an import interrupted half-way breaks every later cell.
            started = time.monotonic()
            students = run.cells[:]
            warm = nbformat.v4.new_code_cell(WARM_UP)
            run.cells.append(warm)  # nbclient stores each executed cell at its index: give this one its own
            limit["s"] = max(cell_timeout, WARM_UP_TIMEOUT)
            try:
                client.execute_cell(warm, len(run.cells) - 1)
            except DeadKernelError:  # not the student's doing: no cell of theirs to blame or skip
                problems.append("the grading kernel died while importing the course package (out of memory?)")
                return records, None
            errors = [f"{o.ename}: {o.evalue}" for o in warm.outputs if o.get("output_type") == "error"]
            if id(warm) in timed_out or errors:
                problems.append("the grading kernel could not import the course package ("
                                + (f"past {limit['s']:g} s" if id(warm) in timed_out else errors[0][:200])
                                + "): is gdmcourse installed where the grader runs?")
                return records, None
            deadline += time.monotonic() - started  # the student's time limit starts after the grader's imports
            for index, cell in enumerate(students):  # the student's cells, within the notebook's limit
                if index in skip:
                    continue
                left = deadline - time.monotonic()
                if left <= 1:
                    problems.append(f"the notebook ran past its time limit ({deadline - time.monotonic():.0f} s left): "
                                    "its last cells were not run")
                    break
                limit["s"], current = min(cell_timeout, left), index
                client.execute_cell(cell, index)
                if id(cell) in timed_out:
                    problems.append(f"a cell ran past the time limit ({limit['s']:g} s) and was interrupted "
                                    f"({_first_line(cell.source)!r})")
            # made now, after every student cell ran: no student code has seen its name or the key
            results_dir, key = Path(tempfile.mkdtemp(prefix="verdicts-", dir=tmp)), secrets.token_hex(32)
            limit["s"] = cell_timeout
            for k, (check, arguments) in enumerate(checks):
                out = results_dir / f"{k}.json"
                cell = nbformat.v4.new_code_cell(_grader_cell(check, arguments, out, key))
                run.cells.append(cell)
                current = check
                client.execute_cell(cell, len(run.cells) - 1)
                record = _read_record(out, key)
                if id(cell) in timed_out:
                    records[check] = {"status": "missing", "message": f"the check ran past the time limit "
                                      f"({cell_timeout:g} s): an endless loop in the answer?"}
                elif record is None:
                    records[check] = {"status": "missing", "message": "the check gave no verifiable result "
                                      "(the answer's code interfered with the kernel)"}
                else:
                    records[check] = record
            current = None
    except DeadKernelError:
        return records, current if current is not None else -1
    except Exception as error:  # noqa: BLE001 - one broken notebook must not stop the others
        problems.append(f"stopped: {type(error).__name__}: {str(error)[:200]}")
    return records, None


# ----------------------------------------------------------------------------- a folder

def _identify(path: Path, root: Path, exercises: Sequence[str]) -> tuple[str, str | None]:
    """(student, exercise) of a submitted file; exercise None when the name matches none."""
    rel = path.relative_to(root)
    name = path.name
    exercise = next((e for e in sorted(exercises, key=len, reverse=True) if name.endswith(f"{e}.ipynb")), None)
    if len(rel.parts) > 1:
        student = rel.parts[0]
    else:
        student = name[: -len(f"{exercise}.ipynb")].rstrip("_-. ") if exercise else path.stem
    return student or path.stem, exercise


def grade_submissions(directory: str | Path, *, exercises_dir: str | Path | None = None, cell_timeout: float = 120,
                      notebook_timeout: float = 600, jobs: int = 1,
                      progress: Callable[[str], None] | None = print) -> list[Submission]:
    """Grade every submitted notebook under ``directory``, ``jobs`` at a time (each in its own kernel).

    Raises:
        FileNotFoundError: ``directory`` is not a folder, holds no notebook, or there are no exercises.
        ValueError: ``jobs`` < 1.
    """
    from .checks import EXERCISES

    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    root = Path(directory).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{directory} is not a folder of returned notebooks")
    ex_dir = Path(exercises_dir) if exercises_dir else course_root() / "exercises"
    exercise_paths = {p.stem: p for p in sorted(ex_dir.glob("[0-9][0-9]_*.ipynb"))}
    if not exercise_paths:
        raise FileNotFoundError(f"no exercise notebooks in {ex_dir}")
    expected = {name: expected_checks(p) for name, p in exercise_paths.items()}
    paths = sorted(p for p in root.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not paths:
        raise FileNotFoundError(f"{directory} holds no notebook to grade (*.ipynb, in the folder or one per student)")
    lock = threading.Lock()
    done = [0]

    def one(path: Path) -> Submission:
        student, exercise = _identify(path, root, list(exercise_paths))
        sub = Submission(student, exercise or path.stem, str(path.relative_to(root)))
        if exercise is None:
            sub.results.append(Result(student, path.stem, "-", "not graded",
                                      f"the file name matches no exercise ({', '.join(exercise_paths)})"))
        else:
            records, sub.edits, sub.problem = run_submission(path, exercise_paths[exercise], cell_timeout=cell_timeout,
                                                             notebook_timeout=notebook_timeout)
            for check in expected[exercise]:
                worth = EXERCISES[check].points if check in EXERCISES else 1.0
                record = records.get(check) or {"status": "missing", "message": sub.problem or "the check did not run"}
                sub.results.append(Result(student, exercise, check, record["status"], record.get("message", ""),
                                          float(record.get("points", 0.0)) if record["status"] == "passed" else 0.0,
                                          worth))
        with lock:
            done[0] += 1
            if progress:
                passed = sum(r.status == "passed" for r in sub.results)
                what = ("not an exercise" if exercise is None else f"{passed}/{len(sub.results)} passed"
                        + (f"; {sub.problem}" if sub.problem else "") + (f"; {len(sub.edits)} cell(s) restored or added"
                                                                         if sub.edits else ""))
                progress(f"[{done[0]}/{len(paths)}] {sub.path}: {what}")
        return sub

    if jobs == 1:
        return [one(p) for p in paths]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, paths))


def grade(directory: str | Path, **kwargs: Any) -> list[Result]:
    """The report's rows (one per student, exercise and check) for every notebook under ``directory``."""
    return [r for sub in grade_submissions(directory, **kwargs) for r in sub.results]

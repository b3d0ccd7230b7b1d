"""Build the student's exercise notebooks from the instructor's solutions.

:func:`build_exercises` turns each ``solutions/NN_topic.py`` into ``exercises/NN_topic.ipynb``
by replacing what lies between the solution markers (the nbgrader convention)::

    ### BEGIN SOLUTION                 (code)      ->  raise NotImplementedError
    ### END SOLUTION
    <!-- BEGIN SOLUTION -->            (markdown)  ->  _Your answer here._
    <!-- END SOLUTION -->

and dropping cells tagged ``solution-only``. A student's work in an existing exercise is
never overwritten: it is moved aside first.
"""

from __future__ import annotations

import ast
import copy
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .notebooks import CourseError, _content_hash, _keep, _stable_ids, read_py, write_notebook

if TYPE_CHECKING:
    from nbformat import NotebookNode

CODE_BEGIN, CODE_END = "### BEGIN SOLUTION", "### END SOLUTION"
MD_BEGIN, MD_END = "<!-- BEGIN SOLUTION -->", "<!-- END SOLUTION -->"
CODE_PLACEHOLDER = "raise NotImplementedError"
MD_PLACEHOLDER = "_Your answer here._"
SOLUTION_ONLY_TAG = "solution-only"


class MarkerError(CourseError, ValueError):
    """Unbalanced, nested or malformed solution markers in a solution notebook."""


def _solution_blocks(lines: list[str], begin: str, end: str, where: str) -> list[tuple[int, int, str]]:
    """``(begin line, end line, indentation)`` of each marker block; raises MarkerError if unbalanced."""
    blocks, open_at, indent = [], None, ""
    for i, line in enumerate(lines):
        s = line.strip()
        if s == begin:
            if open_at is not None:
                raise MarkerError(f"{where}: line {i + 1}: {begin!r} inside the block opened on line "
                                  f"{open_at + 1} (solution blocks cannot nest)")
            open_at, indent = i, line[: len(line) - len(line.lstrip())]
        elif s == end:
            if open_at is None:
                raise MarkerError(f"{where}: line {i + 1}: {end!r} without a {begin!r} before it")
            blocks.append((open_at, i, indent))
            open_at = None
        elif "BEGIN SOLUTION" in line or "END SOLUTION" in line:
            raise MarkerError(f"{where}: line {i + 1}: malformed solution marker {s!r}; "
                              f"write {begin!r} / {end!r} alone on a line")
    if open_at is not None:
        raise MarkerError(f"{where}: line {open_at + 1}: {begin!r} is never closed by {end!r}")
    return blocks


def _cell_where(source_name: str | None, index: int, cell: Any) -> str:
    first = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")
    return f"{source_name or 'notebook'}, cell {index + 1} ({cell.cell_type}: {first[:40]!r})"


def exercise_from_solution(nb: NotebookNode, *, source_name: str | None = None) -> NotebookNode:
    """The student version of a solution notebook (a new notebook; ``nb`` is not modified).

    - code between ``### BEGIN SOLUTION`` / ``### END SOLUTION`` lines becomes
      ``raise NotImplementedError`` at the indentation of the BEGIN line;
    - markdown between ``<!-- BEGIN SOLUTION -->`` / ``<!-- END SOLUTION -->`` becomes
      ``_Your answer here._``;
    - cells tagged ``solution-only`` are dropped;
    - the "Open in Colab" link is pointed at ``exercises/``;
    - outputs and execution counts are cleared, notebook metadata cut to the kernelspec
      (plus ``jupytext.formats = "ipynb"``, so JupyterLab does not pair exercises with a ``.py``),
      cell metadata to tags; cell ids are derived from the cell content.

    Args:
        nb: the solution notebook.
        source_name: the solution's path as shown to people (``solutions/01_x.py``): used in
            error messages and, when given, in a "generated file" banner cell at the top.
    Raises:
        MarkerError: unbalanced, nested or malformed markers (the message names file and cell).
    """
    import nbformat

    out = nbformat.v4.new_notebook()
    out.metadata = _keep(nb.metadata, ("kernelspec",))
    out.metadata["jupytext"] = {"formats": "ipynb"}
    if source_name is not None:
        out.cells.append(nbformat.v4.new_markdown_cell(
            f"> Generated from `{source_name}` by `python -m gdmcourse exercises build` — edit there, "
            "not here. Fill in each `raise NotImplementedError`, then run the check cell below it."))
    for i, cell in enumerate(nb.cells):
        tags = list(cell.metadata.get("tags", []))
        if SOLUTION_ONLY_TAG in tags:
            continue
        where = _cell_where(source_name, i, cell)
        lines = cell.source.split("\n")
        if cell.cell_type == "code":
            blocks = _solution_blocks(lines, CODE_BEGIN, CODE_END, where)
            new = _replace_blocks(lines, blocks, lambda indent: indent + CODE_PLACEHOLDER)
            new_cell = nbformat.v4.new_code_cell("\n".join(new))
        elif cell.cell_type == "markdown":
            blocks = _solution_blocks(lines, MD_BEGIN, MD_END, where)
            new = _replace_blocks(lines, blocks, lambda indent: indent + MD_PLACEHOLDER)
            # the Colab and Binder badges (gdmcourse.course.colab) open the exercise, not its solution
            new_cell = nbformat.v4.new_markdown_cell("\n".join(new).replace("/blob/main/solutions/", "/blob/main/exercises/")
                                                     .replace("?labpath=solutions%2F", "?labpath=exercises%2F"))
        else:
            if "BEGIN SOLUTION" in cell.source or "END SOLUTION" in cell.source:
                raise MarkerError(f"{where}: solution markers in a {cell.cell_type} cell")
            new_cell = copy.deepcopy(cell)
        if tags:
            new_cell.metadata["tags"] = tags
        out.cells.append(new_cell)
    _stable_ids(out)
    return out


def _replace_blocks(lines: list[str], blocks: list[tuple[int, int, str]],
                    placeholder: Callable[[str], str]) -> list[str]:
    new, last = [], 0
    for begin, end, indent in blocks:
        new += lines[last:begin] + [placeholder(indent)]
        last = end + 1
    return new + lines[last:]


def solution_block_lines(nb: NotebookNode) -> set[str]:
    """The stripped lines of ``nb`` that occur only inside solution blocks (not elsewhere in ``nb``).

    Used by the tests to prove an exercise leaks none of them. Lines without a letter or digit
    (``)``, ``]``) are left out.
    """
    inside, outside = set(), set()
    for cell in nb.cells:
        lines = cell.source.split("\n")
        begin, end = (CODE_BEGIN, CODE_END) if cell.cell_type == "code" else (MD_BEGIN, MD_END)
        depth = 0
        for line in lines:
            s = line.strip()
            if s == begin:
                depth += 1
            elif s == end:
                depth -= 1
            elif re.search(r"\w", s):
                (inside if depth > 0 or SOLUTION_ONLY_TAG in cell.metadata.get("tags", []) else outside).add(s)
    return inside - outside


def render_exercise(solution_py: str | os.PathLike, root: str | os.PathLike | None = None) -> NotebookNode:
    """The exercise notebook that ``exercises build`` writes for ``solutions/NN_topic.py``."""
    solution_py = Path(solution_py)
    try:
        shown = solution_py.resolve().relative_to(Path(root).resolve() if root else solution_py.resolve().parent.parent)
    except ValueError:
        shown = Path(solution_py.parent.name) / solution_py.name
    return exercise_from_solution(read_py(solution_py), source_name=shown.as_posix())


def student_work(existing: NotebookNode, fresh: NotebookNode) -> list[str]:
    """Why ``existing`` (an exercise on disk) holds a student's work; [] if it is safe to overwrite.

    Work is: any executed code cell (outputs or an execution count), or any non-empty cell
    whose text is neither in the freshly generated version nor what the generator wrote
    into that cell (cell ids are content hashes, so an edited cell no longer matches its id).
    """
    reasons = []
    fresh_sources = {c.source for c in fresh.cells}
    for i, cell in enumerate(existing.cells):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            reasons.append(f"cell {i + 1} was run")
        elif cell.source.strip() and cell.source not in fresh_sources \
                and str(cell.get("id", "")).split("-")[0] != _content_hash(cell):
            reasons.append(f"cell {i + 1} was edited")
    return reasons


def _same_cells(a: NotebookNode, b: NotebookNode) -> bool:
    def key(nb: NotebookNode) -> list[tuple]:
        return [(c.cell_type, c.source, c.get("id"), tuple(c.metadata.get("tags", [])),
                 bool(c.get("outputs")), c.get("execution_count")) for c in nb.cells]
    return key(a) == key(b) and a.metadata == b.metadata


def build_exercises(solutions_dir: str | os.PathLike, exercises_dir: str | os.PathLike, *,
                    log: Callable[[str], None] = print) -> list[Path]:
    """Write ``exercises_dir/NN_topic.ipynb`` for each ``solutions_dir/NN_topic.py``.

    An existing exercise that holds a student's work (see :func:`student_work`) is first
    moved to ``NN_topic.ipynb.bak-<timestamp>``; a stray ``NN_topic.py`` twin beside it
    (JupyterLab pairing) is moved the same way. Nothing else in ``exercises_dir`` is touched.

    Returns:
        the exercise notebooks, one per solution, in order.
    Raises:
        MarkerError: a solution has unbalanced markers (nothing is written for any solution).
    """
    import nbformat

    solutions_dir, exercises_dir = Path(solutions_dir), Path(exercises_dir)
    root = solutions_dir.resolve().parent
    # Render all first, so a marker error in one solution leaves exercises/ untouched.
    rendered = [(py, render_exercise(py, root)) for py in sorted(solutions_dir.glob("[0-9]*.py"))]
    exercises_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    paths = []
    for py, fresh in rendered:
        target = exercises_dir / f"{py.stem}.ipynb"
        paths.append(target)
        twin = target.with_suffix(".py")
        if twin.exists():
            backup = _backup(twin, stamp)
            log(f"moved {twin} to {backup} (a .py twin would shadow the regenerated notebook in JupyterLab)")
        if target.exists():
            try:
                existing = nbformat.read(target, as_version=4)
            except Exception as e:
                reasons = [f"unreadable ({type(e).__name__})"]
            else:
                if _same_cells(existing, fresh):
                    log(f"unchanged  {target}")
                    continue
                reasons = student_work(existing, fresh)
            if reasons:
                backup = _backup(target, stamp)
                log(f"kept student work: moved {target} to {backup} ({'; '.join(reasons[:3])})")
        write_notebook(fresh, target)
        log(f"wrote      {target}")
    return paths


def _backup(path: Path, stamp: str) -> Path:
    backup = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while backup.exists():
        n += 1
        backup = path.with_name(f"{path.name}.bak-{stamp}-{n}")
    os.replace(path, backup)
    return backup


# ----------------------------------------------------------------------------- nbgrader

NBGRADER_SCHEMA = 3
NBGRADER_CONFIG = '''\
# nbgrader's configuration for the course source that `python -m gdmcourse exercises export-nbgrader` wrote.
c = get_config()  # noqa: F821 - nbgrader provides it
c.CourseDirectory.course_id = "gdmcourse"
c.CourseDirectory.root = __file__.rsplit("/", 1)[0]
c.Execute.timeout = 600  # seconds per cell: the exercises train small models
c.ClearSolutions.code_stub = {"python": "raise NotImplementedError"}
c.ClearSolutions.text_stub = "_Your answer here._"
'''


def check_calls(source: str) -> list[tuple[str, list[str]]]:
    """The ``check.NAME(arg, ...)`` calls of a cell: ``[(NAME, [arg source, ...]), ...]`` in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    calls = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "check"):
            calls.append((node.func.attr, [ast.get_source_segment(source, a) or "" for a in node.args]))
    return calls


def _nbgrader(cell: Any, grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False,
              points: float | None = None) -> Any:
    meta = {"grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id,
            "schema_version": NBGRADER_SCHEMA}
    if points is not None:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta
    return cell


def nbgrader_test_source(check: str, arguments: list[str]) -> str:
    """An autograded test cell: the student sees the check's verdict; the hidden part (re-inserted by
    nbgrader when it grades) asserts it with the checks imported afresh, whatever the student patched."""
    args = ", ".join(arguments)
    return (f"check.{check}({args})\n"
            "### BEGIN HIDDEN TESTS\n"
            "import importlib, sys\n"
            "for _name in [n for n in list(sys.modules) if n.split('.')[0] == 'gdmcourse']:\n"
            "    del sys.modules[_name]\n"
            f"importlib.import_module('gdmcourse.course.checks.isolated').assert_passes({check!r}, {args})\n"
            "### END HIDDEN TESTS")


def nbgrader_source(solution: NotebookNode, points: Callable[[str], float]) -> NotebookNode:
    """The nbgrader source version of a solution notebook (a new notebook).

    - code cells with ``### BEGIN SOLUTION`` blocks: nbgrader solution cells (``generate_assignment``
      replaces the blocks, as ``exercises build`` does);
    - each check cell ``check.NAME(fn)``: an autograded test cell worth the check's ``points``, asserting
      the check (see :func:`nbgrader_test_source`);
    - every other code cell: locked (nbgrader restores it when it grades);
    - markdown answers: the student's placeholder, unlocked (graded by people, outside nbgrader);
      cells tagged ``solution-only`` are dropped.
    """
    import nbformat

    student = exercise_from_solution(solution)
    out = nbformat.v4.new_notebook(metadata=copy.deepcopy(student.metadata))
    kept = [c for c in solution.cells if SOLUTION_ONLY_TAG not in c.metadata.get("tags", [])]
    for k, (cell, shown) in enumerate(zip(kept, student.cells)):
        if cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(shown.source)
            if shown.source == cell.source:
                _nbgrader(new, f"text-{k}", locked=True)
        elif cell.cell_type != "code":
            new = copy.deepcopy(shown)
        elif CODE_BEGIN in cell.source:
            new = _nbgrader(nbformat.v4.new_code_cell(cell.source), f"answer-{k}", solution=True)
        elif calls := check_calls(cell.source):
            tests = "\n".join(nbgrader_test_source(name, args) for name, args in calls)
            new = _nbgrader(nbformat.v4.new_code_cell(tests), "check-" + "-".join(n for n, _ in calls), grade=True,
                            locked=True, points=sum(points(n) for n, _ in calls))
        else:
            new = _nbgrader(nbformat.v4.new_code_cell(cell.source), f"given-{k}", locked=True)
        tags = [t for t in cell.metadata.get("tags", []) if t != SOLUTION_ONLY_TAG]
        if tags:
            new.metadata["tags"] = tags
        out.cells.append(new)
    return out


def export_nbgrader(solutions_dir: str | os.PathLike, dest: str | os.PathLike, *,
                    log: Callable[[str], None] = print) -> list[Path]:
    """Write an nbgrader course source: ``dest/source/NN_topic/NN_topic.ipynb`` per solution, and
    ``dest/nbgrader_config.py``. ``nbgrader generate_assignment NN_topic`` then makes the student
    version, ``nbgrader autograde NN_topic`` grades returned ones.

    Raises:
        MarkerError: a solution has unbalanced markers (nothing is written).
    """
    from .checks import EXERCISES
    from .notebooks import write_notebook

    dest = Path(dest)
    rendered = [(py.stem, nbgrader_source(read_py(py), lambda n: EXERCISES[n].points))
                for py in sorted(Path(solutions_dir).glob("[0-9]*.py"))]
    paths = []
    for stem, nb in rendered:
        target = dest / "source" / stem / f"{stem}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        write_notebook(nb, target)
        paths.append(target)
        log(f"wrote      {target}")
    (dest / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
    return paths

"""Course-wide checks of the stored notebooks (they pass with no notebooks and grow with the course).

- every notebooks/ and solutions/ ``.py`` has its ``.ipynb`` and the pair is in sync;
- every stored code cell was executed (nbval passes unexecuted cells silently), and no
  widget state or timing metadata is stored;
- nbval's kernels get the environment the stored outputs were made with;
- no compared cell relies on a trailing ``;`` (nbval runs cells without history, where
  ``;`` does not hide the value, so readers would see a stray repr);
- exercises/ is what ``python -m gdmcourse exercises build`` makes of solutions/, holds no
  solution text, and raises only ``NotImplementedError`` when run;
- the first code cell of every notebook imports gdmcourse.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from gdmcourse.course import execute, exercises, notebooks

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for kind in notebooks.RUNNABLE for p in (ROOT / kind).glob("[0-9]*.py"))
STORED = sorted(p for kind in notebooks.RUNNABLE for p in (ROOT / kind).glob("[0-9]*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9]*.py"))
EXERCISES = sorted((ROOT / "exercises").glob("[0-9]*.ipynb"))
EXERCISE_TIMEOUT = 120  # seconds per cell: exercises are small


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.metadata.get("tags", []))


def test_nbval_kernels_get_the_run_environment():
    """nbval's kernels inherit this process's environment: it must be the one `gdmcourse run` uses."""
    import os

    expected = execute.kernel_env()
    wrong = {k: os.environ.get(k) for k in notebooks.RUN_ENV if os.environ.get(k) != expected[k]}
    assert not wrong, f"the tests run with {wrong}, the stored outputs with {notebooks.RUN_ENV}"
    backend = os.environ.get("MPLBACKEND")
    assert not backend, (f"MPLBACKEND={backend} in the test environment: nbval's kernels would not draw "
                         "inline figures, which the stored notebooks have (unset it; use "
                         "matplotlib.use('Agg') inside unit tests instead)")


@pytest.mark.parametrize("py", SOURCES, ids=rel)
def test_pair_in_sync(py):
    ipynb = py.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{rel(py)} has no {ipynb.name}: run `python -m gdmcourse run {rel(py)}`"
    diff = notebooks.sync_diff(py, ipynb)
    assert not diff, (f"{rel(py)} and {ipynb.name} differ: edit the .py and re-run it "
                      f"(`python -m gdmcourse run {rel(py)}`)\n{diff[:3000]}")


@pytest.mark.parametrize("ipynb", STORED, ids=rel)
def test_stored_notebook_has_a_source(ipynb):
    assert ipynb.with_suffix(".py").is_file(), f"{rel(ipynb)} has no .py twin (the source of truth)"


@pytest.mark.parametrize("ipynb", STORED, ids=rel)
def test_stored_notebook_was_executed_and_is_clean(ipynb):
    nb = nbformat.read(ipynb, as_version=4)
    unexecuted = [i + 1 for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()
                  and c.get("execution_count") is None and notebooks.SKIP_TAG not in tags(c)]
    assert not unexecuted, (f"{rel(ipynb)}: code cells {unexecuted} were never executed; "
                            f"run `python -m gdmcourse run {rel(ipynb.with_suffix('.py'))}`")
    assert "widgets" not in nb.metadata, f"{rel(ipynb)} stores widget state (metadata.widgets)"
    timed = [i + 1 for i, c in enumerate(nb.cells) if "execution" in c.metadata]
    assert not timed, f"{rel(ipynb)}: cells {timed} store execution timings"


def ends_with_quiet_expression(source: str) -> bool:
    """The cell's last statement is an expression followed by ';' (IPython hides its value)."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.inputtransformer2 import TransformerManager

    code = TransformerManager().transform_cell(source)
    try:
        body = ast.parse(code).body
    except SyntaxError:
        return False
    return bool(body) and isinstance(body[-1], ast.Expr) and DisplayHook.semicolon_at_end_of_expression(code)


@pytest.mark.parametrize("py", SOURCES, ids=rel)
def test_no_compared_cell_relies_on_a_trailing_semicolon(py):
    nb = notebooks.read_py(py)
    bad = [i + 1 for i, c in enumerate(nb.cells) if c.cell_type == "code"
           and not {"nbval-ignore-output", notebooks.SKIP_TAG} & set(tags(c)) and ends_with_quiet_expression(c.source)]
    assert not bad, (f"{rel(py)}: cells {bad} end with `expression;`. nbval (and so `gdmcourse run`) "
                     "executes cells without history, where ';' does not hide the value: the stored "
                     "notebook shows its repr (e.g. `<Axes: ...>`). Write `_ = expression` instead")


@pytest.mark.parametrize("path", SOURCES + EXERCISES, ids=rel)
def test_first_code_cell_imports_gdmcourse(path):
    nb = notebooks.read_py(path) if path.suffix == ".py" else nbformat.read(path, as_version=4)
    cells = code_cells(nb)
    assert cells, f"{rel(path)} has no code cell"
    assert re.search(r"^\s*(import gdmcourse\b|from gdmcourse\b)", cells[0].source, re.MULTILINE), \
        f"{rel(path)}: the first code cell must import gdmcourse (and check its version)"


# ----------------------------------------------------------------------------------- exercises

@pytest.mark.parametrize("solution", SOLUTIONS, ids=rel)
def test_exercise_in_sync_with_solution(solution):
    exercise = ROOT / "exercises" / f"{solution.stem}.ipynb"
    hint = "run `python -m gdmcourse exercises build`"
    assert exercise.is_file(), f"no {rel(exercise)} for {rel(solution)}: {hint}"
    expected = exercises.render_exercise(solution, ROOT)
    stored = nbformat.read(exercise, as_version=4)
    assert [(c.cell_type, c.source) for c in stored.cells] == [(c.cell_type, c.source) for c in expected.cells], \
        f"{rel(exercise)} is not what {rel(solution)} generates: {hint}"


@pytest.mark.parametrize("exercise", EXERCISES, ids=rel)
def test_exercise_has_a_solution(exercise):
    assert (ROOT / "solutions" / f"{exercise.stem}.py").is_file(), \
        f"{rel(exercise)} has no solutions/{exercise.stem}.py (exercises are generated, never written by hand)"


@pytest.mark.parametrize("exercise", EXERCISES, ids=rel)
def test_exercise_leaks_no_solution(exercise):
    nb = nbformat.read(exercise, as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION"):
        assert marker not in text, f"{rel(exercise)} contains {marker!r}"
    solution = ROOT / "solutions" / f"{exercise.stem}.py"
    if solution.is_file():
        lines = {ln.strip() for ln in text.splitlines()}
        leaked = sorted(exercises.solution_block_lines(notebooks.read_py(solution)) & lines)
        assert not leaked, f"{rel(exercise)} contains solution lines: {leaked[:5]}"
    executed = [i + 1 for i, c in enumerate(code_cells(nb)) if c.outputs or c.execution_count is not None]
    assert not executed, f"{rel(exercise)}: code cells {executed} carry outputs; rebuild it"


@pytest.mark.parametrize("exercise", EXERCISES, ids=rel)
def test_exercise_raises_only_not_implemented(exercise):
    nb = nbformat.read(exercise, as_version=4)
    execute.execute(nb, exercise.parent, timeout=EXERCISE_TIMEOUT, allow_errors=True)
    errors = [(i + 1, out.ename, out.evalue) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for out in c.outputs if out.output_type == "error"]
    assert errors, f"{rel(exercise)} ran without a NotImplementedError: nothing is left for the student"
    other = [e for e in errors if e[1] != "NotImplementedError"]
    assert not other, (f"{rel(exercise)}: cells raise more than NotImplementedError: {other[:3]} "
                       "(a later cell must not depend on a value an unfinished cell never made)")

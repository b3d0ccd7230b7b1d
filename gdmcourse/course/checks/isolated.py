"""The checks as the grader calls them inside a student's kernel: freshly imported, never what a student patched.

A grading kernel first runs the student's answer cells (and the exercise's given cells, restored);
then the grader sends cells that call :func:`fresh` and :func:`grade_call`. :func:`fresh` drops every
``gdmcourse`` module the student's code could have replaced (``check.NAME = ...``,
``engine.run = ...``) from ``sys.modules`` and imports the checks again from the installed package;
:func:`grade_call` runs one check on the functions the answers defined and returns its
machine-readable record (:attr:`~gdmcourse.course.checks.engine.Verdict.record`), which the grader
reads through a channel of its own (see :mod:`gdmcourse.course.grading`), never from printed text.
nbgrader's test cells call :func:`assert_passes` the same way.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any


def fresh() -> Any:
    """The checks package imported anew from the installed files (every ``gdmcourse`` module reloaded)."""
    for name in [n for n in list(sys.modules) if n == "gdmcourse" or n.startswith("gdmcourse.")]:
        del sys.modules[name]
    return importlib.import_module("gdmcourse.course.checks")


def grade_call(name: str, arguments: list[str], namespace: dict[str, Any]) -> dict[str, Any]:
    """Run check ``name`` on the student's functions ``arguments`` (names in ``namespace``); return its record.

    A name the answers never defined (a syntax error, a cell that raised) fails with a message saying so.
    """
    checks = fresh()
    ex = checks.EXERCISES[name]
    fns = []
    for argument in arguments:
        try:
            fns.append(eval(argument, {"__builtins__": {}}, namespace))  # noqa: S307 - names from the exercise notebook
        except Exception as error:  # noqa: BLE001 - the answer cell never defined it
            return {"check": name, "status": "failed", "points": 0.0, "max_points": ex.points,
                    "message": f"{type(error).__name__}: `{argument}` is not defined (its cell raised an error, "
                               "e.g. a syntax error, or was not run)."}
    return checks.engine.run(ex, *fns, show=False).record


def assert_passes(name: str, *fns: Any) -> None:
    """nbgrader's test cell: raise ``AssertionError`` (with the check's message) unless check ``name`` passes."""
    checks = fresh()
    verdict = checks.engine.run(checks.EXERCISES[name], *fns, show=False)
    assert verdict.passed, f"{verdict.status} {name}: {verdict.message}"

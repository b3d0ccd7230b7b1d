"""Execute the course's notebooks exactly as the tests' nbval run does, and store their outputs.

:func:`run_notebook` executes a notebook's ``.py`` source in a fresh kernel of this interpreter
with the environment CI's nbval run uses (:data:`~gdmcourse.course.notebooks.RUN_ENV`), records
the outputs the way nbval records them, and stores the ``.ipynb``.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .notebooks import (DEFAULT_TIMEOUT, KERNEL_NAME, RAISES_TAG, RUN_ENV, SKIP_TAG, clean_executed, py_text,
                        read_py, write_notebook, write_text_atomic)

if TYPE_CHECKING:
    from nbformat import NotebookNode


@dataclass
class RunResult:
    """The outcome of :func:`run_notebook`.

    Attributes:
        path: the ``.py`` source that was run.
        seconds: wall time, kernel start included.
        ok: every cell ran without an error (cells tagged ``raises-exception`` may raise).
        error: a one-paragraph summary of the first failure (location, exception), else None.
        written: the ``.ipynb`` written, or None when nothing was written.
        rewrote_source: the ``.py`` was rewritten in jupytext's canonical form (same cells).
    """

    path: Path
    seconds: float
    ok: bool
    error: str | None = None
    written: Path | None = None
    rewrote_source: bool = False


def kernel_env(profile: str | None = None, device: str | None = None) -> dict[str, str]:
    """The environment of the kernels that produce stored outputs: this process's, plus :data:`RUN_ENV`.

    ``MPLBACKEND`` is removed so that ipykernel picks its inline backend, as in JupyterLab.
    """
    env = dict(os.environ)
    env.update(RUN_ENV)
    if profile is not None:
        env["GDM_PROFILE"] = profile
    if device is not None:
        env["GDM_DEVICE"] = device
    env.pop("MPLBACKEND", None)
    return env


def current_env_kernel_manager(kernel_name: str = KERNEL_NAME) -> Any:
    """An ``AsyncKernelManager`` whose ``python3`` kernel is this interpreter (``sys.executable``).

    This is what ``pytest --nbval-current-env`` does: the kernelspec comes from this
    environment's ipykernel, not from whatever ``python3`` kernelspec is installed for the
    user, so the notebook sees exactly this environment's packages.
    """
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class CurrentEnvKernelSpecManager(KernelSpecManager):
        def get_kernel_spec(self, name: str) -> Any:
            if name == kernel_name:
                return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                              **ipykernel.kernelspec.get_kernel_dict())
            return super().get_kernel_spec(name)

    return AsyncKernelManager(kernel_name=kernel_name, kernel_spec_manager=CurrentEnvKernelSpecManager())


def nbval_like_client_class() -> type:
    """A ``NotebookClient`` that records outputs the way nbval computes them.

    nbval (0.11) sends each cell with ``store_history=False``, keeps every ``display_data``,
    ``execute_result``, ``stream`` and ``error`` message of the cell in order, and ignores
    ``clear_output``, ``update_display_data`` and ipywidgets' Output-widget routing. A plain
    nbclient run differs in exactly those points, e.g. a trailing ``;`` hides a value only
    with history, and an ``interact`` figure lands inside the widget instead of the cell.
    Recording the same way makes the stored outputs what nbval compares against.
    """
    from nbclient import NotebookClient

    class NbvalLikeClient(NotebookClient):
        async def async_execute_cell(self, cell: Any, cell_index: int, execution_count: int | None = None,
                                     store_history: bool = True) -> Any:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history=False)

        def on_comm_open_jupyter_widget(self, msg: dict[str, Any]) -> None:
            return None  # no Output-widget capture: its displays stay in the cell, as in nbval

        def clear_output(self, outs: list, msg: dict[str, Any], cell_index: int) -> None:
            pass  # nbval ignores clear_output

        def _update_display_id(self, display_id: str, msg: dict[str, Any]) -> None:
            pass  # nbval ignores update_display_data

    return NbvalLikeClient


def execute(nb: NotebookNode, cwd: str | os.PathLike, *, timeout: float = DEFAULT_TIMEOUT,
            allow_errors: bool = False, env: dict[str, str] | None = None, stderr: Any = None) -> NotebookNode:
    """Execute ``nb`` in place in a fresh kernel of this interpreter, as nbval does, and return it.

    Args:
        nb: the notebook; its cells receive outputs and execution counts (1, 2, ...).
        cwd: the kernel's working directory (nbval uses the notebook's folder).
        timeout: seconds allowed per cell.
        allow_errors: go on after a failing cell instead of raising ``CellExecutionError``.
        env: the kernel's environment (default :func:`kernel_env`).
        stderr: a file for the kernel process's own stderr (default: discarded, as nbval does);
            what notebook code writes to ``sys.stderr`` still becomes cell output.
    Cells tagged ``nbval-skip`` are not run (nbval skips them too); outputs are recorded as
    nbval records them (see :func:`nbval_like_client_class`).
    """
    client = nbval_like_client_class()(
        nb, km=current_env_kernel_manager(), kernel_name=KERNEL_NAME, timeout=timeout,
        allow_errors=allow_errors, record_timing=False, store_widget_state=False,
        skip_cells_with_tag=SKIP_TAG, resources={"metadata": {"path": str(cwd)}})
    # cleanup_kc: nbclient shuts down only kernels whose manager it created itself; ours
    # comes from outside, and without this every run would leave its kernel behind
    client.execute(cwd=str(cwd), env=kernel_env() if env is None else env,
                   stderr=subprocess.DEVNULL if stderr is None else stderr, cleanup_kc=True)
    return nb


def error_cells(nb: NotebookNode) -> list[tuple[int, Any, Any]]:
    """``(index, cell, error output)`` for each code cell with an error not allowed by ``raises-exception``."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or RAISES_TAG in cell.metadata.get("tags", []):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append((i, cell, out))
                break
    return found


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _error_summary(py_path: Path, nb: NotebookNode, index: int, ename: str, evalue: str,
                   traceback: Iterable[str] | str = ()) -> str:
    """``file.py:LINE (cell N): Name: value`` plus the last lines of the traceback."""
    cell = nb.cells[index]
    text = _ANSI.sub("", "\n".join(traceback) if not isinstance(traceback, str) else traceback)
    line = None
    try:
        source = py_path.read_text(encoding="utf-8")
        start = source.find(cell.source) if cell.source else -1
        if start >= 0:
            line = source[:start].count("\n") + 1
            inner = re.findall(r"(?:Cell In\s*\[\d*\]|<cell line: \d+>|input-\d+-\w+), line (\d+)", text)
            if inner:
                line += int(inner[-1]) - 1
    except OSError:
        pass
    where = f"{py_path}:{line}" if line else str(py_path)
    tail = [ln for ln in text.strip().splitlines() if ln.strip()][-6:]
    body = "\n".join("    " + ln for ln in tail)
    return f"{where} (cell {index + 1}): {ename}: {evalue}" + (f"\n{body}" if body else "")


def run_notebook(py_path: str | os.PathLike, timeout: float = DEFAULT_TIMEOUT, profile: str | None = None,
                 device: str | None = None, *, allow_errors: bool = False,
                 output: str | os.PathLike | None = None) -> RunResult:
    """Execute a notebook's ``.py`` source headless and store the ``.ipynb`` with its outputs.

    The kernel is this interpreter (see :func:`current_env_kernel_manager`), runs in the
    notebook's folder, with ``OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=0
    GDM_PROFILE=quick GDM_DEVICE=cpu GDM_HEADLESS=1`` (:data:`RUN_ENV`), which is how CI's
    nbval run reproduces the outputs.

    Args:
        py_path: the ``.py`` (percent format) source.
        timeout: seconds allowed per cell.
        profile: override ``GDM_PROFILE`` (``"quick"`` | ``"full"``); outputs then differ from CI's.
        device: override ``GDM_DEVICE`` (``"cpu"`` | ``"cuda"`` | ``"mps"``); outputs then differ from CI's.
        allow_errors: run every cell even after an error and write the notebook anyway
            (the result is still ``ok=False``).
        output: where to write (default: the paired ``.ipynb`` beside the source).
    Returns:
        a :class:`RunResult`; on failure nothing is written unless ``allow_errors``.
    """
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    py_path = Path(py_path).resolve()
    target = py_path.with_suffix(".ipynb") if output is None else Path(output)
    start = time.perf_counter()
    try:
        original_text = py_path.read_text(encoding="utf-8")
        nb = read_py(py_path)
    except Exception as e:  # a malformed source is the author's to fix
        return RunResult(py_path, time.perf_counter() - start, False, f"{py_path}: cannot read: {e}")
    source_text = py_text(nb)
    error: str | None = None
    completed = False
    kernel_log = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
    try:
        execute(nb, py_path.parent, timeout=timeout, allow_errors=allow_errors,
                env=kernel_env(profile, device), stderr=kernel_log)
        completed = True
    except CellExecutionError as e:
        bad = error_cells(nb)
        index = bad[0][0] if bad else max(0, sum(1 for _ in nb.cells) - 1)
        error = _error_summary(py_path, nb, index, e.ename, e.evalue, e.traceback)
    except CellTimeoutError as e:
        error = f"{py_path}: a cell ran longer than {timeout:g} s ({e}); raise --timeout or shorten the cell"
    except DeadKernelError as e:
        error = f"{py_path}: the kernel died ({e}); out of memory?" + _tail(kernel_log)
    except Exception as e:  # kernel failed to start, ...
        error = f"{py_path}: {type(e).__name__}: {e}" + _tail(kernel_log)
    finally:
        kernel_log.close()
    seconds = time.perf_counter() - start
    if completed:
        bad = error_cells(nb)
        if bad:  # only possible with allow_errors
            i, _, out = bad[0]
            error = _error_summary(py_path, nb, i, out.get("ename", "?"), out.get("evalue", ""),
                                   out.get("traceback", []))
            if len(bad) > 1:
                error += f"\n  ... and {len(bad) - 1} more failing cell(s)"
    ok = completed and error is None
    written, rewrote = None, False
    if completed and (ok or allow_errors):
        write_notebook(clean_executed(nb), target)
        written = target
        # Keep the pair in sync: the .py becomes what jupytext writes for these cells (blank
        # lines), unless someone edited it while it ran.
        current = py_path.read_text(encoding="utf-8")
        if output is None and current == original_text and current != source_text:
            write_text_atomic(py_path, source_text)
            rewrote = True
    return RunResult(py_path, seconds, ok, error, written, rewrote)


def _tail(log: Any, lines: int = 8) -> str:
    """The last lines of the kernel's stderr log, indented, for an error message."""
    try:
        log.seek(0)
        tail = [ln.rstrip() for ln in log.read().splitlines()
                if ln.strip() and "running over TCP without encryption" not in ln][-lines:]
    except (OSError, ValueError):
        return ""
    return ("\n  kernel stderr:\n" + "\n".join("    " + ln for ln in tail)) if tail else ""

"""The course's own tooling: find its notebooks, execute them, generate the exercises.

The course folder holds three notebook folders::

    notebooks/NN_topic.py  + .ipynb   lecture notebooks (jupytext pair, .ipynb with outputs)
    solutions/NN_topic.py  + .ipynb   instructor solutions (jupytext pair, .ipynb with outputs)
    exercises/NN_topic.ipynb          generated from solutions/NN_topic.py, outputs cleared

The ``.py`` twin (jupytext "percent" format) is the source of truth. :func:`run_notebook`
executes it in a fresh kernel of this interpreter with the environment CI's nbval run uses
(:data:`RUN_ENV`), records the outputs the way nbval records them, and stores the
``.ipynb``; :func:`build_exercises` turns each solution into an exercise
by replacing what lies between the solution markers::

    ### BEGIN SOLUTION                 (code)      ->  raise NotImplementedError
    ### END SOLUTION
    <!-- BEGIN SOLUTION -->            (markdown)  ->  _Your answer here._
    <!-- END SOLUTION -->

and dropping cells tagged ``solution-only``. :func:`sync_check` proves a pair is in sync.

Everything heavy (jupytext, nbformat, nbclient) is imported inside the functions, so
``python -m gdmcourse list`` stays fast. The command line is in ``__main__.py``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from nbformat import NotebookNode

Kind = Literal["notebooks", "solutions", "exercises"]
KINDS: tuple[Kind, ...] = ("notebooks", "solutions", "exercises")
RUNNABLE: tuple[Kind, ...] = ("notebooks", "solutions")

# The jupytext settings of the course (also written in jupytext.toml at the course root, so that
# JupyterLab keeps each pair in sync when either side is saved; a test checks they agree).
JUPYTEXT_FORMATS = "ipynb,py:percent"
CELL_METADATA_FILTER = "tags,-all"
NOTEBOOK_METADATA_FILTER = "kernelspec,-all"

# The environment of the kernels that produce the stored outputs: the same as CI's nbval run
# (see the Makefile's TEST_ENV and tests/conftest.py). Profile and device can be overridden.
# GDM_HEADLESS=1: explorers draw their static strip only, no live widget (gdmcourse.widgets).
RUN_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
           "GDM_PROFILE": "quick", "GDM_DEVICE": "cpu", "GDM_HEADLESS": "1"}
KERNEL_NAME = "python3"
DEFAULT_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": KERNEL_NAME}
DEFAULT_TIMEOUT = 600  # seconds per cell

CODE_BEGIN, CODE_END = "### BEGIN SOLUTION", "### END SOLUTION"
MD_BEGIN, MD_END = "<!-- BEGIN SOLUTION -->", "<!-- END SOLUTION -->"
CODE_PLACEHOLDER = "raise NotImplementedError"
MD_PLACEHOLDER = "_Your answer here._"
SOLUTION_ONLY_TAG = "solution-only"
SKIP_TAG = "nbval-skip"  # nbval does not run these cells; neither does run_notebook
RAISES_TAG = "raises-exception"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class CourseError(Exception):
    """A problem the user can fix (unknown notebook, no course folder, bad markers): one-line message."""


class MarkerError(CourseError, ValueError):
    """Unbalanced, nested or malformed solution markers in a solution notebook."""


# ----------------------------------------------------------------------------- discovery

def course_root(start: str | os.PathLike | None = None) -> Path:
    """The course folder: the first folder holding ``notebooks/`` and ``solutions/``.

    Searched from ``start`` (default: the current directory) upwards, then from this
    package's location (an editable install lives inside the course folder).

    Raises:
        CourseError: no such folder was found.
    """
    def is_root(p: Path) -> bool:
        return (p / "notebooks").is_dir() and (p / "solutions").is_dir()

    here = Path(start if start is not None else Path.cwd()).resolve()
    for candidate in (here, *here.parents, Path(__file__).resolve().parent.parent):
        if is_root(candidate):
            return candidate
    raise CourseError(f"no course folder found from {here}: run this inside the course folder "
                      "(the one holding notebooks/ and solutions/)")


@dataclass(frozen=True)
class CourseItem:
    """One notebook of the course: ``kind`` (folder), ``name`` (``NN_topic``), source ``path``, ``title``.

    For notebooks and solutions ``path`` is the ``.py`` source and ``stored`` tells whether its
    ``.ipynb`` exists; for exercises ``path`` is the ``.ipynb``.
    """

    kind: Kind
    name: str
    path: Path
    title: str
    stored: bool


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")


def notebook_title(path: str | os.PathLike) -> str:
    """The text of the first markdown heading of a notebook (``.py`` percent or ``.ipynb``); "" if none.

    Parsed without jupytext, so that listing the course is fast.
    """
    path = Path(path)
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        except (OSError, ValueError):
            return ""
        for cell in cells:
            if cell.get("cell_type") == "markdown":
                source = cell.get("source", "")
                for line in (source if isinstance(source, str) else "".join(source)).splitlines():
                    if m := _HEADING.match(line):
                        return m.group(1)
        return ""
    in_markdown = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%"):
            in_markdown = "[markdown]" in line or "[md]" in line
        elif in_markdown and line.startswith("# ") and (m := _HEADING.match(line[2:])):
            return m.group(1)
    return ""


def list_course(root: str | os.PathLike | None = None) -> list[CourseItem]:
    """All notebooks of the course: lecture notebooks, solutions, exercises (each sorted by name)."""
    root = course_root() if root is None else Path(root)
    items = []
    for kind in KINDS:
        folder = root / kind
        if not folder.is_dir():
            continue
        if kind == "exercises":
            for p in sorted(folder.glob("[0-9]*.ipynb")):
                items.append(CourseItem(kind, p.stem, p, notebook_title(p), True))
        else:
            for p in sorted(folder.glob("[0-9]*.py")):
                items.append(CourseItem(kind, p.stem, p, notebook_title(p), p.with_suffix(".ipynb").is_file()))
    return items


def resolve(names: Iterable[str] = (), *, only: Literal["notebooks", "solutions"] | None = None,
            root: str | os.PathLike | None = None) -> list[Path]:
    """Map command-line names to the ``.py`` sources of notebooks and solutions.

    A name may be a number (``"01"``: both ``notebooks/01_*`` and ``solutions/01_*``), a full
    name (``"01_autoencoders"``), a topic (``"autoencoders"``) or a path to either twin
    (``"notebooks/01_autoencoders.py"``, ``".../01_autoencoders.ipynb"``). No names: everything.

    Args:
        names: the names; empty selects every notebook and solution.
        only: keep only ``"notebooks"`` or ``"solutions"``.
        root: the course folder (default :func:`course_root`).
    Returns:
        the ``.py`` files, notebooks first, without duplicates.
    Raises:
        CourseError: a name matches nothing (the message lists the known names).
    """
    if only is not None and only not in RUNNABLE:
        raise CourseError(f"--only must be one of {', '.join(RUNNABLE)}, got {only!r}")
    root = course_root() if root is None else Path(root).resolve()
    kinds = [only] if only else list(RUNNABLE)
    available = [p for k in kinds for p in sorted((root / k).glob("[0-9]*.py"))]
    names = list(names)
    if not names:
        return available
    chosen: list[Path] = []
    for name in names:
        matches = _match(name, available, root)
        if not matches:
            known = sorted({p.stem for p in available})
            where = f" in {only}/" if only else ""
            raise CourseError(f"no notebook matches {name!r}{where}; known: {', '.join(known) or '(none)'}")
        chosen += [m for m in matches if m not in chosen]
    order = {p: i for i, p in enumerate(available)}
    return sorted(chosen, key=lambda p: order.get(p, len(order)))


def _match(name: str, available: Sequence[Path], root: Path) -> list[Path]:
    given = Path(name)
    if given.suffix in (".py", ".ipynb") or len(given.parts) > 1:
        candidates = [given] if given.is_absolute() else [Path.cwd() / given, root / given]
        for path in candidates:
            path = path.resolve()
            path = path.with_suffix(".py") if path.suffix in (".py", ".ipynb") else path
            if path in available:
                return [path]
        if len(given.parts) > 1:
            return []
    stem = given.stem if given.suffix in (".py", ".ipynb") else name.strip()
    return [p for p in available
            if p.stem == stem or p.stem.startswith(stem + "_") or p.stem.split("_", 1)[-1] == stem]


# ------------------------------------------------------------------------------ jupytext

def jupytext_config() -> Any:
    """The course's jupytext configuration (a ``JupytextConfiguration``), independent of user config files."""
    from jupytext.config import JupytextConfiguration

    return JupytextConfiguration(formats=JUPYTEXT_FORMATS, cell_metadata_filter=CELL_METADATA_FILTER,
                                 notebook_metadata_filter=NOTEBOOK_METADATA_FILTER)


def read_py(py_path: str | os.PathLike) -> NotebookNode:
    """Read a percent-format ``.py`` notebook with the course's jupytext settings.

    The notebook metadata is cut to the kernelspec (``python3`` when the file names none),
    cell metadata to tags, and cells get stable ids (derived from their content) so
    regenerated notebooks do not churn.
    """
    import jupytext

    nb = jupytext.read(Path(py_path), fmt="py:percent", config=jupytext_config())
    nb.metadata = _keep(nb.metadata, ("kernelspec",))
    nb.metadata.setdefault("kernelspec", dict(DEFAULT_KERNELSPEC))
    for cell in nb.cells:
        cell.metadata = _keep(cell.metadata, ("tags",))
    _stable_ids(nb)
    return nb


def py_text(nb: NotebookNode) -> str:
    """The percent-format text of ``nb`` with the course's jupytext settings."""
    import jupytext

    return jupytext.writes(nb, "py:percent", config=jupytext_config())


def sync_diff(py: str | os.PathLike, ipynb: str | os.PathLike) -> str:
    """A unified diff between ``py`` and the percent text of ``ipynb``; "" when the pair is in sync."""
    import difflib

    import nbformat

    expected = Path(py).read_text(encoding="utf-8")
    actual = py_text(nbformat.read(Path(ipynb), as_version=4))
    if expected == actual:
        return ""
    return "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                        str(py), f"{ipynb} (as py:percent)"))


def sync_check(py: str | os.PathLike, ipynb: str | os.PathLike) -> bool:
    """True when ``jupytext.writes(read(ipynb), "py:percent")`` equals the ``.py`` file (course config)."""
    return not sync_diff(py, ipynb)


def _keep(mapping: dict, keys: Iterable[str]) -> dict:
    from nbformat import NotebookNode

    return NotebookNode({k: copy.deepcopy(mapping[k]) for k in keys if k in mapping})


def _stable_ids(nb: NotebookNode) -> None:
    """Give each cell the id ``<12 hex digits of sha1(type, source)>`` (``-2``, ``-3``... for repeats)."""
    seen: dict[str, int] = {}
    for cell in nb.cells:
        base = _content_hash(cell)
        seen[base] = seen.get(base, 0) + 1
        cell["id"] = base if seen[base] == 1 else f"{base}-{seen[base]}"


def _content_hash(cell: Any) -> str:
    return hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:12]


def write_notebook(nb: NotebookNode, path: str | os.PathLike) -> None:
    """Write ``nb`` atomically (a temporary file beside ``path``, then ``os.replace``)."""
    import nbformat

    path = Path(path)
    text = nbformat.writes(nb, version=4)
    _write_text_atomic(path, text if text.endswith("\n") else text + "\n")


def _write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    umask = os.umask(0)  # the mode open() would give, 0666 less the umask (mkstemp makes 0600)
    os.umask(umask)
    mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def clean_executed(nb: NotebookNode) -> NotebookNode:
    """Strip what changes from run to run: widget state, timings, interpreter version, widget views.

    Keeps the kernelspec, ``language_info`` without its version, the cells' tags, outputs and
    execution counts. Widget views are dropped from outputs (their state is not stored, so they
    could not render); their ``text/plain`` fallback stays, since nbval compares it (a tqdm bar's
    text shows its first state: keep bars in ``nbval-ignore-output`` cells). Works in place.
    """
    meta = _keep(nb.metadata, ("kernelspec", "language_info"))
    if "language_info" in meta:
        meta["language_info"].pop("version", None)
    nb.metadata = meta
    for cell in nb.cells:
        cell.metadata = _keep(cell.metadata, ("tags",))
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data and WIDGET_VIEW in data and len(data) > 1:
                del data[WIDGET_VIEW]
    return nb


# ----------------------------------------------------------------------------- execution

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


def _nbval_like_client_class() -> type:
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
    nbval records them (see :func:`_nbval_like_client_class`).
    """
    client = _nbval_like_client_class()(
        nb, km=current_env_kernel_manager(), kernel_name=KERNEL_NAME, timeout=timeout,
        allow_errors=allow_errors, record_timing=False, store_widget_state=False,
        skip_cells_with_tag=SKIP_TAG, resources={"metadata": {"path": str(cwd)}})
    client.execute(cwd=str(cwd), env=kernel_env() if env is None else env,
                   stderr=subprocess.DEVNULL if stderr is None else stderr)
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
            _write_text_atomic(py_path, source_text)
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


# ----------------------------------------------------------------------------- exercises

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
            # the "Open in Colab" link points at the exercise, not at its solution
            new_cell = nbformat.v4.new_markdown_cell("\n".join(new).replace(f"/{REPOSITORY}/blob/main/solutions/",
                                                                           f"/{REPOSITORY}/blob/main/exercises/"))
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


__all__ = [
    "CourseError", "CourseItem", "MarkerError", "RunResult", "build_exercises", "clean_executed",
    "course_root", "current_env_kernel_manager", "error_cells", "execute", "exercise_from_solution",
    "jupytext_config", "kernel_env", "list_course", "notebook_title", "py_text", "read_py",
    "render_exercise", "resolve", "run_notebook", "solution_block_lines", "student_work",
    "sync_check", "sync_diff", "write_notebook",
]


# ------------------------------------------------------------------------------ JupyterLab

REPOSITORY = "gdmcourse/gdmcourse"  # on GitHub: the Colab links and the Colab set-up cell install from here


def lab_command(root: str | os.PathLike, port: int = 8888, *, token: str | None = None,
                open_browser: bool = True) -> list[str]:
    """The command that starts the course's JupyterLab (``make lab`` and the browser tests use it).

    JupyterLab listens on 127.0.0.1 only, serves ``root`` and opens at ``notebooks/``; as root
    (e.g. in a container) it needs ``--allow-root``. ``token``: a fixed access token (default:
    a random one, printed in the log with the URL).
    """
    command = [sys.executable, "-m", "jupyter", "lab", "--ip=127.0.0.1", f"--port={port}",
               f"--ServerApp.root_dir={Path(root).resolve()}", "--ServerApp.default_url=/lab/tree/notebooks",
               "--ServerApp.port_retries=0"]
    if token is not None:
        command.append(f"--IdentityProvider.token={token}")
    if not open_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command

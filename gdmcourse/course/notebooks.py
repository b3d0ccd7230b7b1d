"""The course's notebooks: find them, keep each jupytext pair in sync, write them safely.

The course folder holds three notebook folders::

    notebooks/NN_topic.py  + .ipynb   lecture notebooks (jupytext pair, .ipynb with outputs)
    solutions/NN_topic.py  + .ipynb   instructor solutions (jupytext pair, .ipynb with outputs)
    exercises/NN_topic.ipynb          generated from solutions/NN_topic.py, outputs cleared

The ``.py`` twin (jupytext "percent" format) is the source of truth; :func:`sync_check`
proves a pair is in sync. Executing them is :mod:`gdmcourse.course.execute`'s job, building
the exercises :mod:`gdmcourse.course.exercises`'.

Everything heavy (jupytext, nbformat) is imported inside the functions, so
``python -m gdmcourse list`` stays fast.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
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

SKIP_TAG = "nbval-skip"  # nbval does not run these cells; neither does run_notebook
RAISES_TAG = "raises-exception"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class CourseError(Exception):
    """A problem the user can fix (unknown notebook, no course folder, bad markers): one-line message."""


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
    for candidate in (here, *here.parents, Path(__file__).resolve().parents[2]):
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
    write_text_atomic(path, text if text.endswith("\n") else text + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file beside it, then ``os.replace``), mode as open() gives."""
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
    """Strip what changes from run to run: widget state, timings, interpreter version, widget views,
    and how printed text happened to be split into stream messages.

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
        if "outputs" in cell:
            cell.outputs = _merge_streams(cell.outputs)
    return nb


def _merge_streams(outputs: list) -> list:
    """Join consecutive stream outputs of the same name (stdout, stderr) into one.

    How a kernel splits printed text into messages depends on timing; merged, the same text
    is stored the same way on every run (nbval merges them too before comparing).
    """
    merged: list = []
    for out in outputs:
        last = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and last is not None and last.get("output_type") == "stream"
                and last.get("name") == out.get("name")):
            last["text"] = "".join(last["text"]) + "".join(out["text"])
        else:
            merged.append(out)
    return merged

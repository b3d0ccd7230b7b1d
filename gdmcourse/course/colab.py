"""The notebooks' opening lines for Colab and Binder, written from one source.

The repository address lives once, in ``pyproject.toml`` (``[project.urls] Repository``), and
the version in ``gdmcourse.__version__``. From them ``python -m gdmcourse colab sync`` writes,
in every notebook, solution and exercise (both the ``.py`` twin and the stored ``.ipynb``, so
pairs stay in sync and no notebook is re-executed):

- under the title, the "Open in Colab" and "launch Binder" badges for that very file;
- at the top of the first code cell, the set-up block: on Colab only, install this version's
  wheel from the repository's GitHub release, with ``--no-deps`` so that Colab's own torch,
  numpy, ipykernel and ipywidgets stay as they are (the package's dependencies are all there);
- ``gdmcourse.require_version("X.Y")`` with the package's major.minor version.

``python -m gdmcourse colab sync --check`` (and tests/test_notebook_header.py) fail when a file
differs from what would be written. The release that the set-up cell installs is made by the
steps in the README ("Releases"): build the wheel, tag ``vX.Y.Z``, attach the wheel to the
GitHub release of that tag.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .notebooks import CourseError, _stable_ids, write_notebook, write_text_atomic

if TYPE_CHECKING:
    from nbformat import NotebookNode

SETUP_HEAD = "# Set-up: on Google Colab install the course package (does nothing elsewhere)."
_BADGES = re.compile(r"^(?P<prefix>(?:# )?)\[!\[Open In Colab\].*$", flags=re.M)
_SETUP = re.compile(re.escape(SETUP_HEAD) + r"\n.*?(?=^import gdmcourse$)", flags=re.S | re.M)
_REQUIRE = re.compile(r'gdmcourse\.require_version\("[^"]*"\)')


def repository(root: str | os.PathLike) -> str:
    """``owner/name`` of the GitHub repository named in ``pyproject.toml``'s ``[project.urls]``."""
    pyproject = Path(root) / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError as e:
        raise CourseError(f"cannot read {pyproject}: {e}") from None
    if sys.version_info >= (3, 11):
        import tomllib

        url = tomllib.loads(text).get("project", {}).get("urls", {}).get("Repository", "")
    else:  # pragma: no cover - Python 3.10: the one line is enough
        found = re.search(r'^Repository\s*=\s*"([^"]+)"', text, flags=re.M)
        url = found.group(1) if found else ""
    found = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?", url)
    if not found:
        raise CourseError(f"{pyproject}: [project.urls] Repository must be https://github.com/OWNER/NAME, got {url!r}")
    return found.group(1)


def wheel_url(repo: str, version: str) -> str:
    """Where the README's release step puts the wheel of ``version``."""
    return f"https://github.com/{repo}/releases/download/v{version}/gdmcourse-{version}-py3-none-any.whl"


def badges(repo: str, path: str) -> str:
    """The badge line for the notebook at ``path`` (relative to the course root, e.g. ``notebooks/01_x.ipynb``)."""
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{repo}/blob/main/{path}) "
            f"[![Binder](https://mybinder.org/badge_logo.svg)]"
            f"(https://mybinder.org/v2/gh/{repo}/main?labpath={path.replace('/', '%2F')})")


def setup_block(repo: str, version: str) -> str:
    """The lines of the first code cell before ``import gdmcourse``."""
    return (f"{SETUP_HEAD}\n"
            "import sys\n"
            "\n"
            'if "google.colab" in sys.modules:\n'
            "    import subprocess\n"
            "\n"
            "    # --no-deps: Colab has every package the notebooks import; keep its versions\n"
            '    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",\n'
            f'                    "{wheel_url(repo, version)}"], check=True)\n'
            "\n")


def _version() -> str:
    from .. import __version__

    return __version__


def sync_title(source: str, repo: str, path: str) -> str:
    """``source`` (a title cell's markdown, or a whole ``.py`` file) with its badge line regenerated."""
    if not _BADGES.search(source):
        raise CourseError(f"{path}: no 'Open In Colab' badge line under the title to regenerate")
    return _BADGES.sub(lambda m: m["prefix"] + badges(repo, path), source, count=1)


def sync_setup(source: str, repo: str, version: str, path: str) -> str:
    """``source`` (a first code cell, or a whole ``.py`` file) with its set-up block and version check regenerated."""
    if not _SETUP.search(source) or not _REQUIRE.search(source):
        raise CourseError(f"{path}: the first code cell must start with {SETUP_HEAD!r}, then `import gdmcourse` "
                          "and `gdmcourse.require_version(...)`")
    source = _SETUP.sub(lambda m: setup_block(repo, version), source, count=1)
    major_minor = ".".join(version.split(".")[:2])
    return _REQUIRE.sub(f'gdmcourse.require_version("{major_minor}")', source, count=1)


def sync_notebook(nb: NotebookNode, repo: str, version: str, path: str) -> bool:
    """Regenerate the badges and the set-up block of ``nb`` in place; True when anything changed."""
    title = next((c for c in nb.cells if c.cell_type == "markdown" and _BADGES.search(c.source)), None)
    code = next((c for c in nb.cells if c.cell_type == "code"), None)
    if title is None or code is None:
        raise CourseError(f"{path}: needs a title cell with the badges and a first code cell with the set-up")
    new_title, new_code = sync_title(title.source, repo, path), sync_setup(code.source, repo, version, path)
    if (new_title, new_code) == (title.source, code.source):
        return False
    title.source, code.source = new_title, new_code
    _stable_ids(nb)  # ids follow the content, as everywhere in the course
    return True


def course_files(root: Path) -> list[Path]:
    """Every file ``sync`` keeps: the ``.py`` and ``.ipynb`` of notebooks and solutions, the exercises' ``.ipynb``."""
    return [p for kind, patterns in (("notebooks", ("py", "ipynb")), ("solutions", ("py", "ipynb")),
                                     ("exercises", ("ipynb",)))
            for ext in patterns for p in sorted((root / kind).glob(f"[0-9]*.{ext}"))]


def sync(root: str | os.PathLike, *, check: bool = False) -> list[Path]:
    """Regenerate the Colab/Binder lines of every course notebook; return the files that changed.

    With ``check=True`` nothing is written: the result lists the files that are out of date.
    """
    import nbformat

    root = Path(root)
    repo, version = repository(root), _version()
    changed = []
    for path in course_files(root):
        rel = path.relative_to(root).as_posix()
        if path.suffix == ".py":
            ipynb_rel = rel[:-3] + ".ipynb"  # the badge opens the stored notebook, not the .py
            text = path.read_text(encoding="utf-8")
            new = sync_setup(sync_title(text, repo, ipynb_rel), repo, version, rel)
            if new != text:
                changed.append(path)
                if not check:
                    write_text_atomic(path, new)
        else:
            nb = nbformat.read(path, as_version=4)
            if sync_notebook(nb, repo, version, rel):
                changed.append(path)
                if not check:
                    write_notebook(nb, path)
    return changed

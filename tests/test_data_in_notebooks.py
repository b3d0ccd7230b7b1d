"""A notebook that cannot get its data stops at the first cell that needs it, and shows why.

Notebook 01 runs in a real kernel with an empty data cache and ``GDM_OFFLINE=1`` (so no mirror,
npm or apt is tried): execution stops at its data cell with ``DataError``, whose output is the
message that names the fix, not a traceback through the downloader; no later cell runs (what
``python -m gdmcourse run`` and JupyterLab's Run All both do at the first error).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from nbclient.exceptions import CellExecutionError

from gdmcourse.course import execute, notebooks

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_notebook_without_data_stops_at_its_data_cell_with_the_fix(tmp_path):
    nb = notebooks.read_py(ROOT / "notebooks" / "01_autoencoders.py")
    first_data_cell = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "load_images(" in c.source)
    env = dict(execute.kernel_env(), GDM_DATA=str(tmp_path / "empty-cache"), GDM_OFFLINE="1")
    with pytest.raises(CellExecutionError):
        execute.execute(nb, ROOT / "notebooks", timeout=120, env=env)
    errors = execute.error_cells(nb)
    assert [i for i, _, _ in errors] == [first_data_cell]
    _, _, error = errors[0]
    assert error.ename == "DataError"
    shown = ANSI.sub("", "\n".join(error.traceback))
    assert shown.startswith("DataError: mnist is not complete in")
    assert "GDM_OFFLINE=1" in shown and "python -m gdmcourse data fetch mnist" in shown
    assert "File " not in shown and "Traceback" not in shown  # the message only, no frames
    later = [c for c in nb.cells[first_data_cell + 1:] if c.cell_type == "code"]
    assert later and all(c.get("execution_count") is None and not c.get("outputs") for c in later)

"""What a reader sees in the stored notebooks without running them."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STORED = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))
BAR = re.compile(r"\d+%\|")


def _texts(path: Path):
    for cell in json.loads(path.read_text())["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                yield "".join(out["text"])
            else:
                yield "".join(out.get("data", {}).get("text/plain", ""))


@pytest.mark.parametrize("path", STORED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_stored_progress_bars_show_a_finished_run(path):
    """A stored progress bar ends on its finished frame (100%), not on a widget's first frame (0%)."""
    for text in _texts(path):
        frames = [f for f in text.replace("\r", "\n").splitlines() if BAR.search(f)]
        if frames:
            assert "100%|" in frames[-1], f"{path.name}: a stored progress bar ends at {frames[-1]!r}"

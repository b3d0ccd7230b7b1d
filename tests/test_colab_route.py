"""The Colab route and the wheel, end to end (benchmarks/bench_colab.py): the wheel and sdist
build and pass ``twine check`` with the weights inside; installed with ``--no-deps`` beside the
kernel-side versions Colab ships (ipykernel 6, ipywidgets 7), ``doctor`` finds everything and
notebook 03 runs with live widgets. Marked slow (a few minutes, packages from PyPI); `make test`
runs it, ``-m 'not slow'`` leaves it out."""

from __future__ import annotations

import importlib.util
import os
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pypi_reachable() -> bool:
    try:
        with urllib.request.urlopen("https://pypi.org/simple/tqdm/", timeout=10):
            return True
    except OSError:
        return False


@pytest.mark.slow
def test_colab_route_from_the_built_wheel(tmp_path):
    missing = [m for m in ("build", "twine", "nbclient") if importlib.util.find_spec(m) is None]
    reason = (f"needs {', '.join(missing)} (pip install -e '.[lab,dev]')" if missing
              else "" if _pypi_reachable() else "PyPI is unreachable")
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true, but {reason}")
        pytest.skip(reason)
    spec = importlib.util.spec_from_file_location("bench_colab", ROOT / "benchmarks" / "bench_colab.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    env = {k: os.environ.get(k) for k in ("GDM_HEADLESS",)}
    assert bench.main(["--keep", str(tmp_path / "work"), "--json", str(tmp_path / "steps.json")]) == 0, \
        (tmp_path / "steps.json").read_text()
    assert env == {k: os.environ.get(k) for k in env}

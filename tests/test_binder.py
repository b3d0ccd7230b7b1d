"""Binder's configuration (binder/) installs the student's environment: the package's base
dependencies and [lab], the CPU build of torch, and the package itself in postBuild."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]


def test_binder_requirements_are_the_students_environment():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {Requirement(d).name: str(Requirement(d).specifier)
              for d in project["dependencies"] + project["optional-dependencies"]["lab"]}
    lines = [ln.strip() for ln in (ROOT / "binder" / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    options = [ln for ln in lines if ln.startswith("-")]
    found = {Requirement(ln).name: str(Requirement(ln).specifier) for ln in lines if not ln.startswith("-")}
    assert found == wanted
    assert options == ["--extra-index-url https://download.pytorch.org/whl/cpu"]  # Binder has no GPU


def test_postbuild_installs_the_package_and_fetches_no_data():
    post = ROOT / "binder" / "postBuild"
    assert os.access(post, os.X_OK)
    code = "\n".join(ln for ln in post.read_text().splitlines() if not ln.lstrip().startswith("#"))
    assert re.search(r"pip install .*-e \.$", code, flags=re.M)
    assert "data fetch" not in code  # the data come on first use

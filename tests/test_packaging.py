"""The install routes agree: pyproject.toml, environment.yml, the Makefile, README and CI."""

import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch": "torch", "playwright-python": "playwright"}
# PyPI names under which conda-forge has a different package (or none)
PYPI_NAMES_CONDA_FORGE_LACKS = {"torch", "playwright"}


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_environment_yml_is_the_students_environment_with_conda_forge_names():
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    pypi = {_normalise(r.name): str(r.specifier) for r in map(Requirement, project["dependencies"] + extras["lab"])}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip_section = {}, None
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip_section = dep["pip"]
            continue
        req = Requirement(dep)
        if req.name in ("python", "pip"):
            continue
        assert req.name not in PYPI_NAMES_CONDA_FORGE_LACKS, f"conda-forge calls {req.name} something else"
        conda[_normalise(CONDA_TO_PYPI.get(req.name, req.name))] = str(req.specifier)
    assert conda == pypi  # the base dependencies and [lab]; the test tools ([dev]) are not the student's
    assert pip_section == ["-e ."]  # the package itself, its dependencies already there from conda-forge
    assert env["channels"] == ["conda-forge"]
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert Requirement(python).specifier == Requirement("python" + project["requires-python"]).specifier


def test_dependencies_by_audience():
    project = _pyproject()["project"]
    base = {Requirement(d).name for d in project["dependencies"]}
    assert base == {"torch", "numpy", "scipy", "scikit-learn", "matplotlib", "seaborn", "ipywidgets", "tqdm"}
    assert {"jupyterlab", "jupytext"} <= {Requirement(d).name for d in project["optional-dependencies"]["lab"]}
    assert {"pytest", "nbval", "playwright"} <= {Requirement(d).name for d in project["optional-dependencies"]["dev"]}
    assert 'pip install -e ".[lab,dev]"' in (ROOT / "Makefile").read_text()


def test_dependencies_are_ranges_not_pins_and_no_torchvision():
    project = _pyproject()["project"]
    for dep in project["dependencies"] + project["optional-dependencies"]["dev"]:
        req = Requirement(dep)
        assert req.name != "torchvision"
        assert all(s.operator not in ("==", "===") for s in req.specifier), dep


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", text, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_readme_gives_two_commands_and_ci_runs_the_test_one():
    commands = _readme_commands()
    assert "make lab" in commands and "make test" in commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M), "CI must run the README's test command as it is"


def test_make_test_runs_unit_tests_and_nbval_on_notebooks_and_solutions():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    for piece in ["pytest", "--nbval", "--nbval-current-env", "tests/nbval_sanitize.cfg", "tests", "notebooks",
                  "solutions", "--dist loadscope", "GDM_PROFILE=quick", "OMP_NUM_THREADS=1"]:
        assert piece in makefile.split("\ntest:", 1)[0] + recipe, piece
    # the index URLs live in one place, gdmcourse/course/torch_install.py (tests/test_torch_install.py)
    for script in [ROOT / "Makefile", ROOT / ".ci" / "run"]:
        code = "\n".join(line for line in script.read_text().splitlines() if not line.lstrip().startswith("#"))
        assert "--index-url" not in code and "download.pytorch.org" not in code, script

"""How ``make install`` chooses PyTorch (gdmcourse/course/torch_install.py): each rule, and what it
asks of the machine only when the rule before it did not decide."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gdmcourse.course import torch_install as ti

ROOT = Path(__file__).resolve().parents[1]


def never():
    raise AssertionError("this check should not have been needed")


def decide(**overrides):
    settings = dict(explicit="", system="Linux", nvidia=lambda: False, installed=lambda: False,
                    cpu_index_reachable=lambda: True, versions=never, minimum=(2, 2))
    settings.update(overrides)
    return ti.plan(**settings)


def test_explicit_torch_install_wins_and_is_split_like_a_shell():
    p = decide(explicit="torch==2.5.1 --index-url https://example.test/whl", nvidia=never, installed=never,
               cpu_index_reachable=never)
    assert p.pip_args == ("torch==2.5.1", "--index-url", "https://example.test/whl")


def test_nothing_when_torch_is_there_or_not_linux_or_an_nvidia_gpu():
    assert decide(installed=lambda: True, nvidia=never, cpu_index_reachable=never).pip_args == ()
    assert decide(system="Darwin", nvidia=never, cpu_index_reachable=never).pip_args == ()
    assert decide(system="Windows", nvidia=never, cpu_index_reachable=never).pip_args == ()
    assert decide(nvidia=lambda: True, cpu_index_reachable=never).pip_args == ()


def test_linux_without_gpu_takes_the_cpu_index():
    assert decide().pip_args == ("torch", "--index-url", ti.CPU_INDEX)


def test_cpu_index_unreachable_takes_the_newest_cpu_build_pip_offers():
    versions = ["2.15.0", "2.14.1", "2.13.0+cpu", "2.13.0", "2.1.0+cpu", "2.12.1+cu121"]
    p = decide(cpu_index_reachable=lambda: False, versions=lambda: versions)
    assert p.pip_args == ("torch==2.13.0+cpu",)
    # below the package's lower bound: not used
    assert ti.newest_cpu_build(["2.1.0+cpu"], (2, 2)) is None


def test_nothing_offered_falls_back_to_the_default_index_with_a_warning():
    p = decide(cpu_index_reachable=lambda: False, versions=lambda: ["2.14.1", "2.13.0"])
    assert p.pip_args == () and "CUDA build of several GB" in p.reason


def test_minimum_comes_from_pyproject():
    text = (ROOT / "pyproject.toml").read_text()
    assert f'"torch>={".".join(map(str, ti.minimum_torch()))}' in text


def test_the_script_runs_on_the_standard_library_alone(monkeypatch):
    # `make install` runs it as a file before the package (or anything else) is installed
    out = subprocess.run([sys.executable, "-S", "-I", str(ROOT / "gdmcourse" / "course" / "torch_install.py"),
                          "--dry-run"], capture_output=True, text=True, env={"TORCH_INSTALL": "torch==9.9"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "torch: TORCH_INSTALL is set: pip install torch==9.9"


def test_makefile_runs_it_before_the_package_and_ci_leaves_torch_to_it():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("$(VENV)/.installed:", 1)[1].split("\n\n", 1)[0]
    assert recipe.index("gdmcourse/course/torch_install.py") < recipe.index("pip install -e")
    assert 'TORCH_INSTALL="$(TORCH_INSTALL)"' in recipe
    assert "TORCH_INSTALL" not in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("answer, expected", [(None, True), (404, True), ("refused", False)])
def test_reachable(monkeypatch, answer, expected):
    import urllib.error
    import urllib.request

    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def urlopen(request, timeout):
        if answer == 404:
            raise urllib.error.HTTPError(request.full_url, 404, "Not Found", {}, None)
        if answer == "refused":
            raise urllib.error.URLError(ConnectionRefusedError(111, "refused"))
        return Response()

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    assert ti.reachable("https://example.test/") is expected

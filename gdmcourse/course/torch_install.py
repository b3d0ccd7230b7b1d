"""Install PyTorch into a fresh environment before the course package (``make install`` runs this).

On Linux, ``pip install torch`` from PyPI brings a CUDA build of several GB; a machine without
an NVIDIA GPU needs only the CPU build (about 0.2 GB). So, in this order:

1. ``TORCH_INSTALL`` is set: ``pip install $TORCH_INSTALL`` (your choice, as given).
2. torch is already installed in this environment: nothing.
3. not Linux (macOS, Windows: PyPI's wheels are already small), or an NVIDIA GPU is there
   (``nvidia-smi`` on PATH or ``/proc/driver/nvidia``): nothing here; the package's own
   ``pip install`` then takes torch from pip's default index (with CUDA on Linux).
4. Linux without an NVIDIA GPU: the CPU build from PyTorch's CPU index, :data:`CPU_INDEX`.
5. that index unreachable: the newest CPU build (a ``+cpu`` version) that pip's configured
   indexes and ``find-links`` folders offer, if any;
6. else the default index, with a warning that it may be a large CUDA build.

Runs with the standard library only (the package is not installed yet)::

    TORCH_INSTALL="..." .venv/bin/python gdmcourse/course/torch_install.py [--dry-run]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


@dataclass(frozen=True)
class Plan:
    """What to do: ``pip`` arguments after ``pip install`` (empty: install nothing here) and why."""

    pip_args: tuple[str, ...]
    reason: str


def has_nvidia_gpu() -> bool:
    """An NVIDIA driver is installed: ``nvidia-smi`` on PATH or ``/proc/driver/nvidia`` exists."""
    return shutil.which("nvidia-smi") is not None or Path("/proc/driver/nvidia").exists()


def reachable(url: str, timeout: float = 10.0) -> bool:
    """The server at ``url`` answers at all (any HTTP status counts; no answer or no DNS does not)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def pip_versions(python: str = sys.executable) -> list[str]:
    """The torch versions pip can see (configured indexes and find-links), newest first; [] on failure."""
    try:
        out = subprocess.run([python, "-m", "pip", "index", "versions", "torch"], capture_output=True,
                             text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = re.search(r"^Available versions:\s*(.+)$", out.stdout, flags=re.M)
    return [v.strip() for v in found.group(1).split(",")] if found else []


def minimum_torch(pyproject: Path = PYPROJECT) -> tuple[int, ...]:
    """The lower bound of ``torch>=X.Y`` in pyproject.toml ((0,) when there is none)."""
    try:
        found = re.search(r'"torch\s*>=\s*([0-9.]+)', pyproject.read_text(encoding="utf-8"))
    except OSError:
        found = None
    return _release(found.group(1)) if found else (0,)


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version.split("+")[0])[:3])


def newest_cpu_build(versions: Sequence[str], minimum: tuple[int, ...]) -> str | None:
    """The newest ``X.Y.Z+cpu`` version in ``versions`` that is at least ``minimum``."""
    cpu = [v for v in versions if v.endswith("+cpu") and _release(v) >= minimum]
    return max(cpu, key=_release, default=None)


def plan(*, explicit: str, system: str, nvidia: Callable[[], bool], installed: Callable[[], bool],
         cpu_index_reachable: Callable[[], bool], versions: Callable[[], list[str]],
         minimum: tuple[int, ...]) -> Plan:
    """Decide how to install torch (see the module docstring); the checks are called only when needed."""
    if explicit.strip():
        return Plan(tuple(shlex.split(explicit)), "TORCH_INSTALL is set")
    if installed():
        return Plan((), "torch is already installed here")
    if system != "Linux":
        return Plan((), f"{system}: the default wheels are small (CPU, or MPS on Apple silicon)")
    if nvidia():
        return Plan((), "an NVIDIA GPU is present: the default (CUDA) build")
    if cpu_index_reachable():
        return Plan(("torch", "--index-url", CPU_INDEX), "no NVIDIA GPU: the CPU build")
    if (local := newest_cpu_build(versions(), minimum)) is not None:
        return Plan((f"torch=={local}",), f"no NVIDIA GPU and {CPU_INDEX} unreachable: the CPU build pip offers")
    return Plan((), f"no NVIDIA GPU, but {CPU_INDEX} is unreachable and pip offers no CPU build: "
                    "torch comes from the default index (on Linux a CUDA build of several GB)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="torch_install", description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the decision, install nothing")
    args = parser.parse_args(argv)
    decision = plan(explicit=os.environ.get("TORCH_INSTALL", ""), system=platform.system(),
                    nvidia=has_nvidia_gpu, installed=lambda: importlib.util.find_spec("torch") is not None,
                    cpu_index_reachable=lambda: reachable(CPU_INDEX + "/torch/"), versions=pip_versions,
                    minimum=minimum_torch())
    command = [sys.executable, "-m", "pip", "install", *decision.pip_args]
    print(f"torch: {decision.reason}" + (f": {shlex.join(command[2:])}" if decision.pip_args else ""), flush=True)
    if not decision.pip_args or args.dry_run:
        return 0
    done = subprocess.run(command)
    if done.returncode != 0 and "--index-url" in decision.pip_args and not os.environ.get("TORCH_INSTALL"):
        # the CPU index answered but could not serve a wheel (a proxy, a new Python): the fallbacks
        local = newest_cpu_build(pip_versions(), minimum_torch())
        if local is not None:
            print(f"torch: {CPU_INDEX} failed; installing torch=={local} instead", flush=True)
            return subprocess.run([sys.executable, "-m", "pip", "install", f"torch=={local}"]).returncode
        print("torch: the CPU index failed; the default index will provide torch", flush=True)
        return 0
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())

"""The Colab route without Colab, and the wheel: build, check, install as Colab would, run notebook 03.

1. ``python -m build`` makes the wheel and the sdist; ``twine check`` must accept both, and the
   wheel must carry the shipped weights and ``checkpoints.json``.
2. A fresh virtual environment gets the kernel-side packages at the versions Google Colab ships
   (:data:`COLAB_LIKE`: an older ipykernel 6 and ipywidgets 7, IPython 7, numpy 2.0), then the
   wheel with ``pip install --no-deps``, exactly as every notebook's set-up cell does on Colab
   (so nothing Colab pins is upgraded, and the ``[lab]`` extra is not there).
3. ``python -m gdmcourse doctor`` runs there, outside any course folder.
4. Notebook 03 runs headless in a kernel of that environment (driven by this interpreter's
   nbclient), with widgets live: its explorers must produce widget views, which proves the
   widgets work with ipywidgets 7 in a kernel that is not JupyterLab's.

Prints the time and size of each step; exits 1 if any check fails. Needs the network to PyPI
(for the Colab-like packages) and ``build``/``twine`` (the ``dev`` extra)::

    python -m gdmcourse bench colab
    python benchmarks/bench_colab.py [--keep DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "03_reparameterization.ipynb"
# Kernel-side versions of a Google Colab runtime (what its kernel imports). torch is the CPU
# build this machine's pip offers (Colab's is a CUDA build of a similar version).
COLAB_LIKE = ["ipykernel==6.17.1", "ipython==7.34.0", "ipywidgets==7.7.1", "jupyter-client==6.1.12",
              "numpy==2.0.2", "scipy==1.14.1", "scikit-learn==1.6.1", "matplotlib==3.10.0",
              "seaborn==0.13.2", "tqdm==4.67.1"]
TORCH = os.environ.get("GDM_COLAB_TORCH", "torch==2.13.0+cpu")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _clean_env() -> dict[str, str]:
    """This environment without PYTHONPATH: the fresh venv must see only what it installed (a
    PYTHONPATH to the course folder would show pip its gdmcourse.egg-info, and pip would skip the wheel)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _run(command: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("env", _clean_env())
    return subprocess.run(list(command), capture_output=True, text=True, **kwargs)


def _size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


class Report:
    def __init__(self) -> None:
        self.steps: list[dict] = []
        self.failed: list[str] = []

    def step(self, name: str, seconds: float, ok: bool, detail: str = "") -> None:
        self.steps.append({"step": name, "seconds": round(seconds, 1), "ok": ok, "detail": detail})
        print(f"{'ok  ' if ok else 'FAIL'} {name:<34} {seconds:7.1f} s  {detail}", flush=True)
        if not ok:
            self.failed.append(name)


def build_and_check(work: Path, report: Report) -> Path | None:
    """Build wheel and sdist into ``work/dist``; twine check; the weights inside. Returns the wheel."""
    dist = work / "dist"
    t = time.perf_counter()
    out = _run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)])
    wheels = sorted(dist.glob("gdmcourse-*.whl"))
    report.step("build wheel + sdist", time.perf_counter() - t, out.returncode == 0 and len(wheels) == 1,
                ", ".join(f"{p.name} {p.stat().st_size / 2**20:.1f} MB" for p in sorted(dist.iterdir()))
                if out.returncode == 0 else (out.stderr or out.stdout)[-800:])
    if out.returncode != 0 or len(wheels) != 1:
        return None
    t = time.perf_counter()
    out = _run([sys.executable, "-m", "twine", "check", "--strict", *map(str, sorted(dist.iterdir()))])
    report.step("twine check --strict", time.perf_counter() - t, out.returncode == 0,
                "" if out.returncode == 0 else (out.stdout + out.stderr)[-800:])
    shipped = json.loads((ROOT / "gdmcourse" / "weights" / "checkpoints.json").read_text())
    wanted = {"gdmcourse/weights/checkpoints.json"} | {f"gdmcourse/weights/{r['file']}" for r in shipped.values()}
    with zipfile.ZipFile(wheels[0]) as z:
        missing = sorted(wanted - set(z.namelist()))
    report.step("wheel carries the weights", 0.0, not missing,
                f"{len(wanted) - 1} checkpoints + checkpoints.json" if not missing else f"missing {missing}")
    return wheels[0]


def colab_like_env(work: Path, wheel: Path, report: Report) -> Path | None:
    """A venv with Colab's kernel-side versions and the wheel installed --no-deps; returns its python."""
    venv = work / "colab-venv"
    python = venv / "bin" / "python"
    t = time.perf_counter()
    ok = _run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    out = _run([str(python), "-m", "pip", "install", "--quiet", TORCH, *COLAB_LIKE]) if ok else None
    ok = ok and out is not None and out.returncode == 0
    report.step("Colab-like packages", time.perf_counter() - t, ok,
                f"{_size_mb(venv):.0f} MB: {TORCH}, " + ", ".join(COLAB_LIKE[:3]) if ok
                else (out.stderr[-800:] if out else "venv failed"))
    if not ok:
        return None
    t = time.perf_counter()
    out = _run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)])
    frozen = _installed(python)
    untouched = all(frozen.get(_canonical(pin.split("==")[0])) == pin.split("==")[1] for pin in COLAB_LIKE)
    no_lab = "jupyterlab" not in frozen
    report.step("wheel, pip install --no-deps", time.perf_counter() - t,
                out.returncode == 0 and untouched and no_lab,
                "Colab's versions untouched, no JupyterLab" if untouched and no_lab
                else (out.stderr[-400:] or "a pinned version changed, or JupyterLab came in"))
    return python if out.returncode == 0 else None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed(python: Path) -> dict[str, str]:
    """``{canonical name: version}`` of what ``python``'s environment holds."""
    out = _run([str(python), "-m", "pip", "list", "--format=json"]).stdout
    return {_canonical(d["name"]): d["version"] for d in json.loads(out or "[]")}


def doctor(python: Path, work: Path, report: Report) -> None:
    t = time.perf_counter()
    out = _run([str(python), "-m", "gdmcourse", "doctor"], cwd=work)
    missing = [ln for ln in out.stdout.splitlines() if ln.startswith("MISSING")]
    report.step("doctor (installed wheel)", time.perf_counter() - t, out.returncode == 0,
                "everything found" if out.returncode == 0 else "; ".join(missing)[:400] or out.stderr[-400:])


def run_notebook(python: Path, work: Path, report: Report) -> None:
    """Execute notebook 03 in a kernel of the Colab-like environment, widgets live."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    kernels = work / "kernels"
    spec = kernels / "gdm-colab-like"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab-like", "language": "python"}))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = {k: v for k, v in _clean_env().items() if k not in ("GDM_HEADLESS", "MPLBACKEND")}
    env.update({"GDM_DEVICE": "cpu", "GDM_PROFILE": "quick", "OMP_NUM_THREADS": "1",
                "PYDEVD_DISABLE_FILE_VALIDATION": "1"})  # ipykernel 6 + Python 3.11: a debugger warning otherwise
    run_dir = work / "run"
    run_dir.mkdir(exist_ok=True)
    t = time.perf_counter()
    error = ""
    try:
        km = KernelManager(kernel_name="gdm-colab-like",
                           kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
        client = NotebookClient(nb, km=km, timeout=600, resources={"metadata": {"path": str(run_dir)}})
        client.execute(env=env, cwd=str(run_dir))
    except Exception as e:  # noqa: BLE001 - reported as a failed step
        error = f"{type(e).__name__}: {str(e)[-600:]}"
    views = sum(WIDGET_VIEW in out.get("data", {}) for c in nb.cells if c.cell_type == "code"
                for out in c.get("outputs", []))
    ok = not error and views > 0
    report.step("notebook 03 in the Colab-like kernel", time.perf_counter() - t, ok,
                error or f"{sum(c.cell_type == 'code' for c in nb.cells)} code cells, {views} live widget(s)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_colab", description=__doc__.splitlines()[0])
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temporary folder)")
    parser.add_argument("--json", metavar="FILE", help="also write the steps to FILE")
    args = parser.parse_args(argv)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gdm-colab-"))
    work.mkdir(parents=True, exist_ok=True)
    report = Report()
    try:
        wheel = build_and_check(work, report)
        python = colab_like_env(work, wheel, report) if wheel else None
        if python is not None:
            doctor(python, work, report)
            run_notebook(python, work, report)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    total = sum(s["seconds"] for s in report.steps)
    print(f"{'all checks passed' if not report.failed else 'FAILED: ' + ', '.join(report.failed)} in {total:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"steps": report.steps, "failed": report.failed}, indent=1) + "\n")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())

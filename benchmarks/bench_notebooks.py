"""Wall time of every lecture notebook and solution, run headless as CI runs them.

Each notebook runs in a fresh kernel with CI's settings (CPU, quick profile, one thread;
see ``gdmcourse.course.execute.run_notebook``) and its executed copy goes to a temporary folder,
so the stored outputs are not touched. Budgets (DESIGN.md, 2 cores, quick profile): a
lecture notebook <= 180 s, a solution notebook <= 60 s. Prints a table; asserts nothing.

    python -m gdmcourse bench notebooks
    python benchmarks/bench_notebooks.py [NAME...] [--timeout S]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

BUDGET_S = {"notebooks": 180.0, "solutions": 60.0}


def main(argv: Sequence[str] | None = None) -> int:
    """Time the notebooks named in ``argv`` (default all); returns 1 if one failed to run, else 0."""
    from gdmcourse.course.execute import run_notebook
    from gdmcourse.course.notebooks import course_root, resolve

    parser = argparse.ArgumentParser(prog="bench_notebooks", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME")
    parser.add_argument("--timeout", type=float, default=600, metavar="S", help="seconds per cell")
    args = parser.parse_args(argv)

    root = course_root(Path(__file__).resolve().parent)
    paths = resolve(args.names, root=root)
    if not paths:
        print("no notebooks to time")
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="gdm-bench-") as tmp:
        for path in paths:
            kind = path.parent.name
            result = run_notebook(path, timeout=args.timeout, profile="quick", device="cpu",
                                  output=Path(tmp) / f"{kind}-{path.stem}.ipynb")
            budget = BUDGET_S[kind]
            verdict = "✓" if result.ok and result.seconds <= budget else "✗"
            note = "" if result.ok else "  failed: " + (result.error or "").splitlines()[0]
            rows.append((f"{kind}/{path.stem}", result.seconds, budget, verdict, note, result.ok))
            print(f"  {kind}/{path.stem}: {result.seconds:.1f} s", file=sys.stderr, flush=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'notebook':<{width}}  {'seconds':>8}  {'budget':>6}")
    for name, seconds, budget, verdict, note, _ in rows:
        print(f"{name:<{width}}  {seconds:8.1f}  {budget:6.0f}  {verdict}{note}")
    total = sum(r[1] for r in rows)
    print(f"{'total':<{width}}  {total:8.1f}")
    return 0 if all(r[5] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

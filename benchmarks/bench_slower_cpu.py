"""Notebook times projected onto a slower CPU, calibrated against an older version of the course.

The lecture notebooks should take at most 150 s each on an idle 2-core AMD EPYC with AVX2 (one
thread, as CI runs them), a machine that is not at hand. What is known is how long the course as
of commit 0430111 (2026-11-30) took there, notebook by notebook (:data:`SLOWER_CPU`, measured
with ``python -m gdmcourse bench notebooks``: 1,031 s for the nine). This script runs that
reference version (a ``git worktree`` of the commit, importing its own package and checkpoints)
and today's notebooks on this machine, alternating notebook by notebook so that both see the
machine in the same state, and projects today's times onto the slower CPU:

    projected = today's time here × (reference time on the slower CPU / reference time here)

once with the ratio of the nine notebooks' totals and once, cautiously, with the largest ratio
of any single notebook. Writes ``benchmarks/slower_cpu.json`` (atomically) and prints a table;
asserts nothing. Needs git and a clone with the commit in its history. About 20 minutes.

    python benchmarks/bench_slower_cpu.py [NAME ...] [--out FILE]

The projection assumes the slower machine is slower by one factor for old and new notebooks
alike; the per-notebook ratios of the reference (printed) show how far that holds.

Measured on the CI-like machine (AMD EPYC with AVX-512, 2 cores, one thread). 2026-12-01, twice:
the reference took 710 and 721 s here against 1,031 s there (ratios 1.45 and 1.43; single
notebooks 1.14-1.66, and one notebook's time moves by up to a third from run to run, so
single ratios say little). 2026-12-01 again, after notebooks 04, 08 and 09 moved to the
retrained DCGAN and DDPM (benchmarks/slower_cpu.json; a DDPM training on the other core slowed
both versions alike): reference 725 s here (ratio 1.42; single notebooks 1.04-1.88), today's
notebooks here (548 s for the nine) and projected there: 01 57 s → 82, 02 60 → 85, 03 8 → 11,
04 80 → 113, 05 32 → 45, 06 92 → 130, 07 52 → 73, 08 81 → 115, 09 89 → 126 s. With each
notebook's own ratio instead, 06 is the slowest at 144 s (04 132, the others at most 111 s); with
the largest single ratio (05's 1.88, a 26 s notebook), 06, 09 and 08 would take 172, 166 and 151 s.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path

REFERENCE_COMMIT = "0430111"
# seconds per lecture notebook of the reference version on the slower CPU (idle, one thread)
SLOWER_CPU = {"01_autoencoders": 52, "02_vae": 102, "03_reparameterization": 10, "04_gan_optimality": 146,
              "05_minimax": 48, "06_wgan_spectral_norm": 88, "07_vqvae": 292, "08_ddpm": 104, "09_evaluation": 189}
BUDGET_S = 150.0


def time_notebook(root: Path, name: str, package: Path) -> float:
    """Seconds ``root``'s ``benchmarks/bench_notebooks.py`` reports for ``notebooks/<name>.py``, importing
    the course package from ``package`` (each version its own)."""
    env = {**os.environ, "PYTHONPATH": str(package), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "benchmarks/bench_notebooks.py", f"notebooks/{name}.py"], cwd=root,
                         env=env, capture_output=True, text=True)
    found = re.search(rf"notebooks/{name}: ([0-9.]+) s", run.stderr)
    if run.returncode != 0 or found is None:
        raise RuntimeError(f"{name} failed in {root}:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    return float(found.group(1))


def project(slower: dict[str, float], reference: dict[str, float], today: dict[str, float]
            ) -> tuple[dict[str, dict[str, float]], float, float]:
    """Per notebook: the reference's times on the slower CPU and here, their ratio, today's time here
    and its projections (× the ratio of the totals, and × the largest single ratio); with those two ratios.

    Raises:
        ValueError: the three tables do not name the same notebooks, or a time is not positive.
    """
    if not (set(slower) == set(reference) == set(today)) or not slower:
        raise ValueError(f"the three tables must name the same notebooks, got {sorted(slower)}, {sorted(reference)} "
                         f"and {sorted(today)}")
    if min(*slower.values(), *reference.values(), *today.values()) <= 0:
        raise ValueError("every time must be positive")
    ratios = {n: slower[n] / reference[n] for n in slower}
    overall = sum(slower.values()) / sum(reference.values())
    largest = max(ratios.values())
    rows = {n: {"reference_slower_cpu": slower[n], "reference_here": round(reference[n], 1),
                "ratio": round(ratios[n], 2), "today_here": round(today[n], 1),
                "projected": round(today[n] * overall, 1), "projected_cautious": round(today[n] * largest, 1)}
            for n in slower}
    return rows, overall, largest


def main(argv: Sequence[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_course import cpu_description, write_json

    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(prog="bench_slower_cpu", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="notebook stems (default: all nine)")
    parser.add_argument("--out", type=Path, default=root / "benchmarks" / "slower_cpu.json")
    args = parser.parse_args(argv)
    names = args.names or list(SLOWER_CPU)
    unknown = sorted(set(names) - set(SLOWER_CPU))
    if unknown:
        parser.error(f"unknown notebook(s) {', '.join(unknown)}; choose from {', '.join(SLOWER_CPU)}")

    reference, current = {}, {}
    with tempfile.TemporaryDirectory(prefix="gdm-reference-") as tmp:
        worktree = Path(tmp) / "course"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(worktree), REFERENCE_COMMIT], cwd=root,
                       check=True)
        try:
            for name in names:  # alternate, so that both versions see the machine in the same state
                reference[name] = time_notebook(worktree, name, worktree)
                current[name] = time_notebook(root, name, root)
                print(f"  {name}: reference {reference[name]:.1f} s, today {current[name]:.1f} s", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=root, check=False)

    rows, overall, largest = project({n: SLOWER_CPU[n] for n in names}, reference, current)
    print(f"\n{'notebook':24s} {'ref. slower':>11s} {'ref. here':>9s} {'ratio':>5s} {'today':>6s} "
          f"{'projected':>9s} {'cautious':>8s}")
    for n, r in rows.items():
        mark = "✓" if r["projected"] <= BUDGET_S else "✗"
        print(f"{n:24s} {r['reference_slower_cpu']:11.0f} {r['reference_here']:9.1f} {r['ratio']:5.2f} "
              f"{r['today_here']:6.1f} {r['projected']:9.1f} {r['projected_cautious']:8.1f} {mark}")
    print(f"ratio of the totals {overall:.2f}, largest single ratio {largest:.2f}; budget {BUDGET_S:.0f} s "
          "on the slower CPU")
    write_json(args.out, {"date": date.today().isoformat(), **cpu_description(), "reference_commit": REFERENCE_COMMIT,
                             "budget_slower_cpu": BUDGET_S, "ratio_of_totals": round(overall, 3),
                             "largest_ratio": round(largest, 3), "notebooks": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

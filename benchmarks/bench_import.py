"""How long ``import gdmcourse`` takes in a fresh interpreter (median of 5); budget 2 s.

Notebooks start with it and ``python -m gdmcourse list`` pays it, so it must stay cheap.
``import torch`` alone is timed too, since it is most of the cost. Prints figures; asserts nothing.

    python -m gdmcourse bench import
    python benchmarks/bench_import.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence

BUDGET_S = 2.0
SNIPPET = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def import_seconds(module: str, repeat: int = 5) -> list[float]:
    """Seconds to import ``module`` in ``repeat`` fresh interpreters (bytecode already cached)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="")
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, env=env)  # warm the caches
    times = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", SNIPPET.format(module=module)], check=True,
                             capture_output=True, text=True, env=env)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return times


def main(argv: Sequence[str] | None = None) -> int:
    """Print the median import times of gdmcourse and torch."""
    parser = argparse.ArgumentParser(prog="bench_import", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    # `import gdmcourse` alone is lazy; a notebook's first cell also pulls in torch through the
    # topic modules, so the budget applies to gdmcourse.train (torch + the package's core) too.
    for module, budget in (("gdmcourse", BUDGET_S), ("gdmcourse.train", BUDGET_S), ("torch", None)):
        times = import_seconds(module, args.repeat)
        median = statistics.median(times)
        verdict = "" if budget is None else ("  ✓" if median <= budget else "  ✗")
        limit = f"budget {budget:.1f} s" if budget is not None else "(for comparison)"
        print(f"import {module:<16} median {median:6.3f} s of {len(times)}  "
              f"(min {min(times):.3f}, max {max(times):.3f})  {limit}{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

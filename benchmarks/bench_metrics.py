"""Speed and memory of the evaluation metrics (gdmcourse.metrics) on CPU.

The course asks: FID on 10,000 × 64-dim features in <= 2 s; precision/recall on 10,000 vs
10,000 with peak extra memory <= 1 GiB (distances are computed in chunks of 1,000 rows).
Peak memory is the growth of the process's maximum resident set size (ru_maxrss) during
the call. Prints a table; asserts nothing.

    python -m gdmcourse bench metrics
    python benchmarks/bench_metrics.py [--n 10000] [--dim 64]

Measured 2026-11-23 on the course's CI-like machine (2 cores, one thread):

    FID              10000 x 64: 0.03 s
    precision/recall 10000 vs 10000 x 64, k=3: 4.9 s, peak extra memory 152 MiB
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Sequence

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    from gdmcourse import metrics

    parser = argparse.ArgumentParser(prog="bench_metrics", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=64)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(args.n, args.dim, generator=g), torch.randn(args.n, args.dim, generator=g) + 0.1
    start = time.perf_counter()
    value = metrics.fid(a, b)
    print(f"FID              {args.n} x {args.dim}: {time.perf_counter() - start:.2f} s (value {value:.3f})")
    before = _maxrss_mib()
    start = time.perf_counter()
    p, r = metrics.precision_recall(a, b, k=3)
    print(f"precision/recall {args.n} vs {args.n} x {args.dim}, k=3: {time.perf_counter() - start:.1f} s, "
          f"peak extra memory {_maxrss_mib() - before:.0f} MiB (precision {p:.3f}, recall {r:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Time-to-quality of the toy GANs of notebooks 05 and 06 on the ring of 8 Gaussians.

Each recipe of ``gdmcourse.gan.TOY_RECIPES`` is trained from 5 seeds with
:func:`gdmcourse.gan.train_toy` on one CPU thread (as CI runs the notebooks), then 2,000
samples are scored with :func:`gdmcourse.gan.mode_coverage` (a sample is high-quality within
3 std of its nearest center; a mode is covered with >= 1% of the high-quality samples). The
course asks: the non-saturating GAN covers 8/8 modes with >= 80% high-quality samples on at
least 4 of 5 seeds, trained <= 60 s; WGAN-GP covers 8/8 modes, with its high-quality share
reported. Prints a table; asserts nothing.

    python -m gdmcourse bench gan
    python benchmarks/bench_gan.py [RECIPE...] [--seeds 5] [--profile quick|full]

Measured 2026-11-23 on the course's CI-like machine (2 cores, one thread per run, quick profile):

    recipe          seconds (mean)  modes per seed   high-quality % per seed
    nonsaturating   17.6            8 8 8 6 8        93.4 92.1 92.8 92.6 92.3
    collapse        9.5             1 2 2 . .        35 60 31
    wgan-gp         28              8 8 8 7          48.5 27.4 5.6 26.5
    wgan-clip       12              7 1              5.3 0.1
    sn-hinge        17              8 8              75.9 78.1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Sequence

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    from gdmcourse import data, gan

    parser = argparse.ArgumentParser(prog="bench_gan", description=__doc__.split("\n")[0])
    parser.add_argument("recipes", nargs="*", help=f"default: all of {', '.join(gan.TOY_RECIPES)}")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--profile", choices=["quick", "full"], default="quick")
    args = parser.parse_args(argv)
    os.environ["GDM_PROFILE"] = args.profile
    torch.set_num_threads(1)
    centers, std = data.toy2d_centers("8gaussians"), data.toy2d_std("8gaussians")
    print(f"{'recipe':14s} {'steps':>6s} {'seconds':>8s}  {'modes per seed':24s} high-quality % per seed")
    for name in args.recipes or list(gan.TOY_RECIPES):
        seconds, modes, quality = [], [], []
        for seed in range(args.seeds):
            G, _, history = gan.train_toy(name, seed=seed, progress=False, device="cpu")
            m, q = gan.mode_coverage(gan.sample(G, 2000, seed=123), centers, std)
            seconds.append(history.seconds)
            modes.append(m)
            quality.append(100 * q)
        steps = gan.TOY_RECIPES[name].steps[args.profile]
        print(f"{name:14s} {steps:6d} {statistics.mean(seconds):8.1f}  {' '.join(map(str, modes)):24s} "
              f"{' '.join(f'{q:.1f}' for q in quality)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

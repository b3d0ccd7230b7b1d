"""DDPM figures of notebook 08: the 2-D toy's sample quality, and ancestral vs DDIM sampling time.

1. The swiss-roll DDPM of :func:`gdmcourse.ddpm.train_toy` (8,000 steps, one CPU thread) from
   several seeds: training time, and the energy distance between 2,000 samples and 2,000
   data points divided by that between two independent 2,000-point data samples (averaged
   over 3 sampling seeds). Target: trained <= 60 s, ratio <= 3.
2. The shipped MNIST UNet (``python -m gdmcourse train ddpm``): time to draw 64 images by
   ancestral sampling (T = 1000) and by DDIM with 50 steps, on one thread. Target: DDIM-50 at
   least 10x faster. Also the share of samples the course's MNIST classifier labels with
   > 95% confidence (real test digits: about 0.98).

Prints figures; asserts nothing.

    python -m gdmcourse bench ddpm
    python benchmarks/bench_ddpm.py [--seeds 3] [--skip-images]

Measured 2026-11-30 on the course's CI-like machine (2 cores, one thread; the other core was
running bench_vqvae for the first minute):

    toy seed 0: trained in 12.5 s, energy-distance ratio 1.10 (per sampling seed 1.92 0.82 0.57)
    toy seed 1: trained in 12.5 s, energy-distance ratio 0.89 (per sampling seed 0.48 1.37 0.83)
    toy seed 2: trained in 13.0 s, energy-distance ratio 1.13 (per sampling seed 1.97 0.76 0.68)
    toy: mean ratio over 3 training seeds 1.04 (target <= 3)
    64 images: ancestral (T = 1000) 42 s, DDIM-50 2.0 s: 21x faster; confident share 0.67 / 0.69
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    from gdmcourse import data, ddpm, metrics, recipes

    parser = argparse.ArgumentParser(prog="bench_ddpm", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--skip-images", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    means = []
    for seed in range(args.seeds):
        model, schedule, history, scale = ddpm.train_toy("swissroll", seed=seed, device="cpu", progress=False)
        real = data.toy2d("swissroll", 20_000, seed=seed) / scale
        ratios = metrics.energy_distance_ratio(
            lambda n, g: schedule.sample(model, (n, 2), generator=g, progress=False), real)
        means.append(statistics.mean(ratios))
        print(f"toy seed {seed}: trained in {history.seconds:.1f} s, energy-distance ratio {means[-1]:.2f} "
              f"(per sampling seed {' '.join(f'{r:.2f}' for r in ratios)})", flush=True)
    print(f"toy: mean ratio over {args.seeds} training seeds {statistics.mean(means):.2f} (target <= 3)")
    if args.skip_images:
        return 0
    unet = recipes.load_model("ddpm")
    linear = ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(1000))
    classifier = metrics.feature_extractor("mnist", device="cpu")

    def confident(x: torch.Tensor) -> float:
        return (classifier.probs(ddpm.to_image_range(x)).max(1).values > 0.95).float().mean().item()

    start = time.perf_counter()
    anc = linear.sample(unet, (64, 1, 28, 28), generator=torch.Generator().manual_seed(0), progress=False, clip=True)
    t_anc = time.perf_counter() - start
    start = time.perf_counter()
    ddim = linear.ddim_sample(unet, (64, 1, 28, 28), steps=50, generator=torch.Generator().manual_seed(0),
                              progress=False, clip=True)
    t_ddim = time.perf_counter() - start
    print(f"64 images: ancestral (T = 1000) {t_anc:.0f} s, DDIM-50 {t_ddim:.1f} s: {t_anc / t_ddim:.0f}x faster; "
          f"confident share {confident(anc):.2f} / {confident(ddim):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The shipped DDPM's FID-vs-training-time frontier: one training run, scored at several points.

``train`` runs the shipped recipe (:func:`gdmcourse.recipes.train_ddpm_recipe`, the same code as
``python -m gdmcourse train ddpm``) and saves the EMA weights and the elapsed training time at
every ``--every`` steps; ``score`` draws N = 1,000 DDIM-50 samples from each snapshot (one
seeded generator, the same x_T for every snapshot) and prints the FID, precision and recall
against 1,000 shuffled MNIST test digits in the course classifier's features.

A snapshot before the last is a point *during* the run (the cosine learning rate has not yet
decayed), so the frontier is that of this run, not of shorter runs. Mind the EMA's memory: at
step n the average still gives the initial weights a share d^n (d = the EMA decay), so a
snapshot means something only once n is several times 1/(1 - d).

Measured on the course's CI-like machine (AMD EPYC, AVX-512, 2 cores; training on one thread with
a core to itself), N = 1,000 DDIM-50 samples against 1,000 shuffled test digits (real-vs-real FID
23.7 at this N); the record is ``benchmarks/ddpm_frontier.json``:

    24,000 steps of batch 64, EMA 0.9995 (the shipped ddpm.pt since 2026-12-01, second version),
    6,697 s of training (1.86 CPU-hours; the times below include ~80 s of scoring per quarter):
        step  3,000 (  799 s)  FID 1552.1  precision 0.61  recall 0.03  (EMA still 0.9995^3000 = 22% init)
        step  6,000 (1,649 s)  FID  454.8  precision 0.51  recall 0.83
        step  9,000 (2,562 s)  FID  143.9  precision 0.61  recall 0.93
        step 12,000 (3,438 s)  FID   93.5  precision 0.70  recall 0.93
        step 15,000 (4,380 s)  FID   81.4  precision 0.73  recall 0.91
        step 18,000 (5,144 s)  FID   77.6  precision 0.73  recall 0.92
        step 21,000 (6,080 s)  FID   73.9  precision 0.75  recall 0.91
        step 24,000 (6,907 s)  FID   75.3  precision 0.77  recall 0.91
    8,000 steps of batch 128, EMA 0.999 (shipped before it), 4,616 s of training:
        step 2,000 (1,203 s)  FID 1175.7  precision 0.61  recall 0.10  (EMA still 0.999^2000 = 14% init)
        step 4,000 (2,434 s)  FID  217.6  precision 0.61  recall 0.89
        step 6,000 (3,540 s)  FID  113.3  precision 0.68  recall 0.91
        step 8,000 (4,618 s)  FID  100.5  precision 0.72  recall 0.91
    the run before, 5,000 steps of batch 128, EMA 0.999, 1,995 s on 2 threads: FID 139.3, 0.67, 0.91
    a 6,000-step run with EMA 0.9995, snapshot at step 2,000: FID 2023.4 (the EMA held
        0.9995^2000 = 37% of the initial weights; stopped there)

Batch 64 instead of 128: on one CPU thread a step of 64 takes 0.23 s against 0.58 s for 128
(0.4×), so the same time buys 2.5× the steps and 1.26× the images; at equal training time the
batch-64 run is ahead from the middle on (FID 93.5 at 3,438 s against 113.3 at 3,540 s). It
flattens in its last quarter (77.6, 73.9, 75.3 at steps 18,000, 21,000, 24,000; one draw of
1,000 samples each): FID 70 was not reached within 2 CPU-hours with this 0.2 M-parameter
UNet; a wider one (width 24 or 32: 0.58 and 0.80 s per step of 64) is the next thing to measure.

Measured after it, the same day and machine:

- Draws. The shipped weights, DDIM-50, five draws of 1,000 samples (seeds 0-4) against the same
  reference: FID 75.3, 68.6, 67.9, 70.2, 84.6 (mean 73.3, range 16.7; precision 0.74-0.78,
  recall 0.89-0.92). One draw at N = 1,000 moves FID by several points either way; the seed-0
  figure the benchmark records (75.3) is near the five draws' mean, which is above 70. Snapshots
  of one run are compared from the same x_T (seed 0), so their differences are less noisy.
  Ancestral sampling (T = 1,000) with seeds 0-2: 59.7, 60.4, 47.1, below DDIM-50 in each of the
  three (by 15.6, 8.2 and 20.8): the cost of DDIM's speed-up is larger than the noise of a draw.
- The spacing of DDIM's 50 levels, shipped weights, the same x_T (seed 0): evenly spaced from
  T - 1 to 0 (the sampler's) 75.3; "trailing" (999, 979, ..., 19) 74.2; quadratic up to 0.8 T
  (DDIM's choice for CIFAR-10) 72.0; quadratic up to T 79.2 (both quadratic ones have 49
  distinct levels, so one network call fewer). The differences, at most 4, are one paired draw
  each and smaller than the spread of draws: no spacing is shown to be better here.
- A width-24 UNet (0.45 M parameters, 0.59 s per step of 64 on one thread), 6,000 steps of 64,
  the same learning rate and EMA 0.9995: FID 2190.7, 1228.1, 459.6, 180.9 at steps 1,500, 3,000,
  4,500, 6,000 (3,705 s), against the width-16 run's 93.5 at 3,438 s. This does not settle the
  width: the average's window, 1/(1 - d) = 2,000 steps, is a third of this run, so at its end
  more than a fifth of the average (0.9995^3000 = 22%) still comes from the first half of
  training; a fair test of width needs a decay near 0.998 at this length, or the 2-hour length.

    python benchmarks/bench_ddpm_frontier.py train --out DIR [--every 2500]
    python benchmarks/bench_ddpm_frontier.py score DIR [--record benchmarks/ddpm_frontier.json]
    python benchmarks/bench_ddpm_frontier.py          (prints the record)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def train(out: Path, every: int) -> None:
    import torch

    from gdmcourse import recipes, train as train_mod

    out.mkdir(parents=True, exist_ok=True)
    (out / "run.json").write_text(json.dumps({"steps": recipes.DDPM_STEPS, "ema_decay": recipes.DDPM_EMA_DECAY,
                                              "width": recipes.ddpm_unet().width,
                                              "threads": torch.get_num_threads(), "every": every}))
    start = time.perf_counter()

    def snapshot(step: int, history) -> None:
        seconds = time.perf_counter() - start
        torch.save(history.ema.state_dict(), out / f"ema-{step:06d}.pt")
        (out / f"ema-{step:06d}.json").write_text(json.dumps({"step": step, "train_seconds": round(seconds, 1)}))
        print(f"step {step}: {seconds:.0f} s", flush=True)

    state, info = recipes.train_ddpm_recipe(progress=False, callbacks=[train_mod.Every(every, snapshot, last=True)])
    torch.save(state, out / "final.pt")
    (out / "final.json").write_text(json.dumps(info))
    print(json.dumps(info), flush=True)


def score(out: Path, n: int = 1000) -> list[dict[str, float]]:
    import torch

    from gdmcourse import data, metrics, recipes

    real = data.shuffled_test_set("mnist")[0].images[:n]
    extractor = metrics.feature_extractor("mnist", "cpu")
    real_features = extractor.features(real)  # once for every snapshot
    points: list[dict[str, float]] = []
    for meta in sorted(out.glob("ema-??????.json")):
        info = json.loads(meta.read_text())
        scored = meta.with_suffix(".score.json")  # a snapshot is scored once: the command can be re-run
        if not scored.exists():
            model = recipes.ddpm_unet()
            model.load_state_dict(torch.load(meta.with_suffix(".pt"), weights_only=True))
            sampler = recipes.DDPMImages(model, "cpu", ddim_steps=50)
            t0 = time.perf_counter()
            fake = sampler.sample_images(n, torch.Generator().manual_seed(0))
            figs = {k: round(v, 3) for k, v in metrics.score_samples(fake, real, extractor, real_features=real_features).items()}
            figs["sample_seconds"] = round(time.perf_counter() - t0, 1)
            scored.write_text(json.dumps(figs))
        figs = json.loads(scored.read_text())
        points.append({"step": info["step"], "train_seconds": info["train_seconds"], "fid_ddim50": figs["fid"],
                       "precision_ddim50": figs["precision"], "recall_ddim50": figs["recall"]})
        print(f"step {info['step']:6d}  trained {info['train_seconds']:7.0f} s  DDIM-50 FID {figs['fid']:6.1f}  "
              f"precision {figs['precision']:.2f}  recall {figs['recall']:.2f}  (sampled in {figs['sample_seconds']:.0f} s)",
              flush=True)
    return points


def record(out: Path, points: list[dict[str, float]], target: Path) -> None:
    """Add this run's frontier to ``target`` (``benchmarks/ddpm_frontier.json``), keyed by its recipe."""
    import torch

    from bench_course import cpu_description, write_json

    from gdmcourse import recipes

    final_path = out / "final.json"
    if not final_path.exists():
        raise SystemExit(f"{final_path} is missing: record a run's frontier once its training has finished")
    final = json.loads(final_path.read_text())
    run = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
    runs = json.loads(target.read_text()) if target.exists() else {}

    # the UNet's width as the run recorded it (runs before that record: the recipe's today)
    width = run.get("width", recipes.ddpm_unet().width)
    key = f"width {width} UNet, {final['steps']} steps of batch {final['batch_size']}, {final['weights']}"
    runs[key] = {"date": time.strftime("%Y-%m-%d"), **cpu_description(), "train_threads": run.get("threads"),
                 "torch": torch.__version__, "n_samples": 1000, "sampler": "DDIM-50, clipped x0, seed 0",
                 "reference": "data.shuffled_test_set('mnist')[:1000]", "points": points,
                 "final_train_seconds": final["train_seconds"]}
    write_json(target, runs)


def show(target: Path) -> None:
    """Print the frontiers recorded in ``target``."""
    for key, run in json.loads(target.read_text()).items():
        print(f"{key} ({run['date']}, {run['cpu_model']}):")
        for p in run["points"]:
            print(f"  step {p['step']:6d}  trained {p['train_seconds']:7.0f} s  DDIM-50 FID {p['fid_ddim50']:6.1f}  "
                  f"precision {p['precision_ddim50']:.2f}  recall {p['recall_ddim50']:.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    if not argv:  # `python -m gdmcourse bench all`: show the record, train nothing
        show(Path(__file__).resolve().parent / "ddpm_frontier.json")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--every", type=int, default=2500)
    s = sub.add_parser("score")
    s.add_argument("out", type=Path)
    s.add_argument("--record", type=Path, help="add the points to this JSON file (benchmarks/ddpm_frontier.json)")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    if args.verb == "train":
        train(args.out, args.every)
    else:
        points = score(args.out)
        if args.record:
            record(args.out, points, args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

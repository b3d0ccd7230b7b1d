"""The course's yardstick: one table of every notebook's run time and every model's quality figure.

What ``python -m gdmcourse bench`` runs (``bench all`` runs every benchmark script). It
times each lecture notebook and solution headless as CI runs them (CPU, quick profile, one
thread; budgets 180 s and 60 s), then measures each model's figure on one CPU thread:

- VAE (shipped ``vae-mnist``, notebook 02's recipe): test NLL −L_500 in nats on the first
  1,000 MNIST test digits (binarised with seed 123);
- CVAE (shipped ``cvae-mnist``): for each digit, the share of 100 samples asked for it that the
  course's classifier labels as it; ``row_accuracy_min`` is the worst digit's;
- GAN (notebook 05's non-saturating toy GAN, seed 0): modes covered of 8 and high-quality share;
- VQ-VAE (shipped ``vqvae-mnist``): perplexity and dead codes of its K = 128 codes on the
  10,000 test digits;
- DDPM toy (notebook 08's swiss roll): energy-distance ratio (samples vs data) / (data vs data);
- image models (``vae-mnist``, ``dcgan-mnist``, ``vqvae-mnist``): FID, IS, precision and recall
  of 1,000 samples against 1,000 test digits (the test set shuffled with seed 0, as in
  notebook 09) under the course's MNIST classifier, with 1,000 held-out real digits as the floor;
- ``ddpm`` with both samplers on equal terms: DDIM-50 and ancestral (T = 1,000) from the same
  1,000 starting points :math:`x_T`, scored as above (keys ``fid_ddim50``, ``fid_ancestral``, ...).

Prints the table and writes it to ``benchmarks/results.json`` (atomically) so that changes
can be compared. Asserts nothing.

    python -m gdmcourse bench
    python benchmarks/bench_course.py [--skip-notebooks] [--out FILE]
    python benchmarks/bench_course.py --keep-ddpm    (all but models.ddpm, kept with its own date)
    python benchmarks/bench_course.py --only-ddpm    (models.ddpm alone, after retraining it)

Measured 2026-12-01 on the course's CI-like machine (AMD EPYC with AVX-512, 2 cores, one
thread, a DDPM training on the other core) in one run of ``python -m gdmcourse bench``
(benchmarks/results.json): lecture notebooks 9-99 s each (06 WGAN the slowest at 99 s, then 09
at 92 s, 08 at 86 s, 04 at 82 s), 580 s for the nine, solutions 6-22 s. The machine's speed
varies from hour to hour (06 took 82, 93, 99, 104 and 117 s in runs that day; the toy DDPM's
training 24.3 s against 18.4 s in an earlier record), so compare times only within one run;
bench_slower_cpu.py projects them onto a slower CPU. VAE NLL 89.64 nats; CVAE: the classifier
reads at least 99% of every requested digit; toy GAN 8/8 modes; VQ-VAE perplexity 92.9 of 128,
no dead codes; FID / precision / recall at N = 1,000: real 23.7 / 0.90 / 0.88, VAE 275.2 / 0.75
/ 0.79, DCGAN (its generator's moving average) 144.5 / 0.59 / 0.84, VQ-VAE 205.4 / 0.73 / 0.84;
DDPM DDIM-50 75.3 / 0.77 / 0.91 (75 s to sample), ancestral (T = 1,000) from the same 1,000 x_T
59.7 / 0.77 / 0.91 (1,520 s to sample, the UNet on 64 images at a time); the 8,000-step
checkpoint before it: 100.5 and 73.8.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

BUDGET_S = {"notebooks": 180.0, "solutions": 60.0}


def notebook_times(root: Path) -> dict[str, dict[str, float | bool]]:
    from gdmcourse.course.execute import run_notebook
    from gdmcourse.course.notebooks import resolve

    out: dict[str, dict[str, float | bool]] = {}
    with tempfile.TemporaryDirectory(prefix="gdm-bench-") as tmp:
        for path in resolve([], root=root):
            kind = path.parent.name
            result = run_notebook(path, timeout=600, profile="quick", device="cpu",
                                  output=Path(tmp) / f"{kind}-{path.stem}.ipynb")
            out[f"{kind}/{path.stem}"] = {"seconds": round(result.seconds, 1), "ok": bool(result.ok),
                                          "budget": BUDGET_S[kind]}
            print(f"  {kind}/{path.stem}: {result.seconds:.1f} s{'' if result.ok else '  FAILED'}", flush=True)
    return out


def model_figures(with_ddpm: bool = True) -> dict[str, dict[str, float]]:
    import torch

    from gdmcourse import data, ddpm, gan, metrics, recipes, vae, vqvae

    torch.set_num_threads(1)
    figures: dict[str, dict[str, float]] = {}
    x_test, _ = data.load_images("mnist", "test")

    start = time.perf_counter()
    model = recipes.load_model("vae-mnist")
    x_bin = vae.dynamic_binarize(x_test[:1000], torch.Generator().manual_seed(123))
    nll = vae.iwae_nll(model, x_bin, k=500, generator=torch.Generator().manual_seed(0))
    figures["VAE"] = {"test_nll_nats": round(nll, 2), "seconds": round(time.perf_counter() - start, 1)}
    print(f"  VAE NLL {nll:.2f} nats", flush=True)

    shares = recipes.cvae_digit_agreement(recipes.load_model("cvae-mnist"), metrics.feature_extractor("mnist", "cpu"))
    figures["CVAE"] = {"row_accuracy_min": round(min(shares), 3), "row_accuracy": [round(v, 3) for v in shares]}
    print(f"  CVAE: the classifier reads the requested digit in at least {min(shares):.0%} of samples", flush=True)

    G, _, history = recipes.train_toy_gan("nonsaturating", seed=0, progress=False, device="cpu")
    modes, quality = gan.mode_coverage(gan.sample(G, 2000, seed=123), data.toy2d_centers("8gaussians"),
                                       data.toy2d_std("8gaussians"))
    figures["GAN (toy)"] = {"modes_of_8": modes, "high_quality": round(quality, 3), "train_seconds": round(history.seconds, 1)}
    print(f"  GAN modes {modes}/8", flush=True)

    vq = recipes.load_model("vqvae-mnist").vqvae
    codes = torch.cat([vq.code_map(x_test[i:i + 2000]) for i in range(0, len(x_test), 2000)])
    figures["VQ-VAE"] = {"perplexity": round(vqvae.codebook_perplexity(codes, vq.num_codes), 1),
                         "dead_codes": len(vqvae.dead_codes(codes, vq.num_codes)), "codes": vq.num_codes}

    toy, schedule, history, scale = ddpm.train_toy("swissroll", seed=0, device="cpu", progress=False)
    real = data.toy2d("swissroll", 20_000, seed=0) / scale
    ratios = metrics.energy_distance_ratio(
        lambda n, g: schedule.sample(toy, (n, 2), generator=g, progress=False), real)
    figures["DDPM (toy)"] = {"energy_distance_ratio": round(sum(ratios) / 3, 2), "train_seconds": round(history.seconds, 1)}

    extractor = metrics.feature_extractor("mnist", device="cpu")
    # as notebook 09: the test set shuffled (it is ordered by writer), the first 1,000 as reference
    shuffled = data.shuffled_test_set("mnist")[0].images
    reference = shuffled[:1000]
    scored = {"real digits": shuffled[5000:6000]}
    for name in recipes.GENERATORS:
        if name == "ddpm":
            continue
        start = time.perf_counter()
        scored[name] = recipes.generator(name).sample_images(1000, torch.Generator().manual_seed(0))
        print(f"  sampled {name} in {time.perf_counter() - start:.1f} s", flush=True)
    reference_features = extractor.features(reference)
    for name, images in scored.items():
        r = metrics.score_samples(images, reference, extractor, real_features=reference_features)
        figures.setdefault(name, {}).update({k: round(v, 3) for k, v in r.items()})

    if with_ddpm:
        figures["ddpm"] = ddpm_figures(reference, extractor, reference_features)
    return figures


def ddpm_figures(reference, extractor, reference_features=None) -> dict[str, float]:
    """The DDPM's two samplers on equal terms: the same N = 1,000 starting points x_T (one batch
    from the same seed; both samplers draw x_T first), the same reference digits."""
    import torch

    from gdmcourse import metrics, recipes

    torch.set_num_threads(1)
    figures: dict[str, float] = {}
    if reference_features is None:  # model_figures passes the ones it extracted
        reference_features = extractor.features(reference)
    for sampler, steps in (("ddim50", 50), ("ancestral", None)):
        start = time.perf_counter()
        images = recipes.generator("ddpm", ddim_steps=steps).sample_images(1000, torch.Generator().manual_seed(0),
                                                                            batch_size=1000)
        seconds = time.perf_counter() - start
        r = metrics.score_samples(images, reference, extractor, real_features=reference_features)
        figures.update({f"{k}_{sampler}": round(v, 3) for k, v in r.items()} | {f"seconds_{sampler}": round(seconds, 1)})
        print(f"  sampled ddpm ({sampler}) in {seconds:.1f} s: FID {r['fid']:.1f}", flush=True)
    return figures


def cpu_description() -> dict[str, object]:
    """The CPU the times were measured on: its model name and the vector instruction sets it has.

    The same notebooks took 1.45× longer on a 2-core AVX2 EPYC than on this CI-like machine
    (``bench_slower_cpu.py``), and this machine itself ran them 1.8× slower on one day than on
    another, so a time means little without the CPU and the date beside it. Read from /proc/cpuinfo (Linux); elsewhere
    only ``platform.processor()``.
    """
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    vector = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    return {"cpu_model": model, "cpu_vector_extensions": vector}


def write_json(out: Path, result: dict) -> None:
    """Write ``result`` to ``out`` as indented JSON, atomically (a reader never sees half a record)."""
    from gdmcourse.course.notebooks import write_text_atomic

    write_text_atomic(out, json.dumps(result, indent=1) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    from gdmcourse.course.notebooks import course_root

    parser = argparse.ArgumentParser(prog="bench_course", description=__doc__.splitlines()[0])
    parser.add_argument("--skip-notebooks", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results.json")
    parser.add_argument("--only-ddpm", action="store_true",
                        help="re-measure only models.ddpm (after retraining it) and keep the rest of --out")
    parser.add_argument("--keep-ddpm", action="store_true",
                        help="re-measure everything but models.ddpm (its ancestral sampling takes most of an hour), "
                             "keeping that entry, with its own date, from --out")
    args = parser.parse_args(argv)
    root = course_root(Path(__file__).resolve().parent)
    out = args.out or root / "benchmarks" / "results.json"
    if args.only_ddpm:
        from gdmcourse import data, metrics

        result = json.loads(out.read_text())
        reference = data.shuffled_test_set("mnist")[0].images[:1000]
        result["models"]["ddpm"] = {"date": date.today().isoformat(), "torch": torch.__version__,
                                    **ddpm_figures(reference, metrics.feature_extractor("mnist", device="cpu"))}
        write_json(out, result)
        print(f"wrote {out} (models.ddpm only)")
        return 0

    result = {"date": date.today().isoformat(), "machine": platform.machine(), **cpu_description(),
              "cpus": os.cpu_count(), "torch": torch.__version__,
              "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), "profile": "quick", "threads": 1}
    if not args.skip_notebooks:
        result["notebooks"] = notebook_times(root)
    kept = json.loads(out.read_text())["models"]["ddpm"] if args.keep_ddpm else None
    result["models"] = model_figures(with_ddpm=kept is None)
    if kept is not None:
        result["models"]["ddpm"] = kept

    if "notebooks" in result:
        print(f"{'notebook':34s} {'seconds':>8s} {'budget':>7s}")
        for name, row in result["notebooks"].items():
            mark = "✓" if row["ok"] and row["seconds"] <= row["budget"] else "✗"
            print(f"{name:34s} {row['seconds']:8.1f} {row['budget']:7.0f} {mark}")
        print(f"{'total':34s} {sum(r['seconds'] for r in result['notebooks'].values()):8.1f}")
    print(f"\n{'model':18s} figures")
    for name, figs in result["models"].items():
        print(f"{name:18s} " + ", ".join(f"{k} {v}" for k, v in figs.items()))

    write_json(out, result)
    print(f"\nwrote {out}")
    return 0 if all(r["ok"] for r in result.get("notebooks", {}).values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The invariances the mathematics guarantees, for every metric and distance, and cross-checks
against independent libraries (scikit-image's SSIM, prdc's precision/recall, diffusers' DDPM and
DDIM schedulers).

Invariances: translating both sets by the same constant, scaling (where the metric is scale-free,
or scales by a known power), permuting the rows, duplicated points, fewer samples than feature
dimensions, float32 vs float64 inputs.
"""

import numpy as np
import pytest
import torch

from gdmcourse import ddpm, gan, metrics, vqvae

SHIFTS = [1e3, 1e4, 1e6]


def _sets(n=300, m=250, d=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), 1.2 * rng.normal(size=(m, d)) + 0.3


def _perm(n, seed=1):
    return np.random.default_rng(seed).permutation(n)


def _brute_pr(real, fake, k):
    """Precision/recall from pairwise differences in float64 (an independent route: numpy, no matrix products)."""
    def radii(x):
        return np.sort(np.linalg.norm(x[:, None] - x[None], axis=-1), axis=1)[:, k]

    def inside(points, centers, r):
        return (np.linalg.norm(points[:, None] - centers[None], axis=-1) <= r[None]).any(1).mean()

    return inside(fake, real, radii(real)), inside(real, fake, radii(fake))


# ------------------------------------------------------------------------- precision / recall and k-NN radii

@pytest.mark.parametrize("shift", SHIFTS)
def test_precision_recall_translation_invariant(shift):
    real, fake = _sets()
    expected = _brute_pr(real, fake, 3)
    assert metrics.precision_recall(real, fake) == pytest.approx(expected, abs=1e-12)
    # before: float32 matrix-product distances gave (0.6775, 0.9375) at 1e3 and (1.0, 1.0) at 1e4
    assert metrics.precision_recall(real + shift, fake + shift) == pytest.approx(expected, abs=1e-12)


def test_precision_recall_scale_permutation_dtype_and_duplicates():
    real, fake = _sets()
    expected = metrics.precision_recall(real, fake)
    assert metrics.precision_recall(1e-3 * real, 1e-3 * fake) == expected
    assert metrics.precision_recall(1e5 * real, 1e5 * fake) == expected
    assert metrics.precision_recall(real[_perm(len(real))], fake[_perm(len(fake), 2)]) == expected
    assert metrics.precision_recall(torch.tensor(real, dtype=torch.float32), torch.tensor(fake, dtype=torch.float32)) \
        == pytest.approx(expected, abs=1 / len(real))
    # every point lies at distance 0 from itself, even far from the origin: the same set is fully covered
    assert metrics.precision_recall(real + 1e4, real + 1e4) == (1.0, 1.0)
    # duplicated points: each one's k nearest others include its copy (radius 0 with k = 1)
    doubled = np.concatenate([real, real])
    assert metrics.precision_recall(doubled, doubled, k=1) == (1.0, 1.0)


def test_precision_recall_fewer_samples_than_dimensions():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(20, 128)), rng.normal(size=(15, 128)) + 0.1
    assert metrics.precision_recall(real, fake, k=2) == pytest.approx(_brute_pr(real, fake, 2), abs=1e-12)


def test_precision_recall_matches_prdc():
    prdc = pytest.importorskip("prdc")
    for seed in range(3):
        real, fake = _sets(seed=seed)
        ref = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=3)
        assert metrics.precision_recall(real, fake, k=3) == pytest.approx((ref["precision"], ref["recall"]), abs=1e-12)


# ------------------------------------------------------------------------------------- FID and Fréchet

def _fid_low_rank(a, b):
    """FID through the nuclear norm: Tr (Σ_a Σ_b)^{1/2} = ‖A_cᵀ B_c‖_* / sqrt((n−1)(m−1)), A_c, B_c centred (exact for N < D)."""
    ac, bc = a - a.mean(0), b - b.mean(0)
    tr = np.linalg.svd(ac @ bc.T, compute_uv=False).sum() / np.sqrt((len(a) - 1) * (len(b) - 1))
    return ((a.mean(0) - b.mean(0)) ** 2).sum() + (ac**2).sum() / (len(a) - 1) + (bc**2).sum() / (len(b) - 1) - 2 * tr


@pytest.mark.parametrize("n,d", [(5, 64), (20, 128), (300, 8)])
def test_fid_translation_scaling_permutation_and_rank_deficiency(n, d):
    rng = np.random.default_rng(n)
    a, b = 10 * rng.normal(size=(n, d)), 11 * rng.normal(size=(n, d)) + 0.5
    expected = _fid_low_rank(a, b)
    # before: the rounding-sized eigenvalues of a singular covariance added sqrt(1e-13)-sized terms (rel. error 2e-8)
    assert metrics.fid(a, b) == pytest.approx(expected, rel=1e-12)
    assert metrics.fid(a + 1e3, b + 1e3) == pytest.approx(expected, rel=1e-12)
    assert metrics.fid(3 * a, 3 * b) == pytest.approx(9 * expected, rel=1e-12)  # d² scales with c²
    assert metrics.fid(a[_perm(n)], b) == pytest.approx(expected, rel=1e-12)
    assert metrics.fid(a.astype(np.float32), b.astype(np.float32)) == pytest.approx(expected, rel=1e-5)
    assert metrics.fid(a, a) == pytest.approx(0.0, abs=1e-12 * expected)
    assert metrics.fid(np.concatenate([a, a]), a) >= 0  # duplicates: a valid (singular) covariance


# ------------------------------------------------------------------------------------- Inception Score

def test_inception_score_does_not_depend_on_row_order():
    # 1,000 confident predictions, 100 per class, sorted by class (samples generated class by class)
    probs = np.full((1000, 10), 1e-4)
    probs[np.arange(1000), np.repeat(np.arange(10), 100)] = 1 - 9e-4
    sorted_score = metrics.inception_score(probs)
    # before: 1.000 ± 0 sorted (each split held one class), 9.45 shuffled
    assert sorted_score.mean > 9.0
    for seed in range(3):
        assert metrics.inception_score(probs[_perm(1000, seed)]) == sorted_score
    # one split: the direct formula, exp(H(p(y)) − E H(p(y|x))), for any order
    marginal = probs.mean(0)
    direct = np.exp(-(marginal * np.log(marginal)).sum() + (probs * np.log(probs)).sum(1).mean())
    assert metrics.inception_score(probs, splits=1).mean == pytest.approx(direct, rel=1e-12)
    assert metrics.inception_score(torch.tensor(probs, dtype=torch.float32), splits=1).mean == \
        pytest.approx(direct, rel=1e-5)


# ---------------------------------------------------------------------------------------------- SSIM

def _digit():
    from sklearn.datasets import load_digits

    img = load_digits().images[0]                      # 8×8 in 0..16: upsample to 24×24 in [0, 1]
    x = np.kron(img / 16.0, np.ones((3, 3)))
    y = np.clip(x + 0.1 * np.random.default_rng(0).normal(size=x.shape), 0, 1)
    return x, y


def test_ssim_matches_scikit_image():
    skm = pytest.importorskip("skimage.metrics")
    x, y = _digit()
    for data_range, scale in [(1.0, 1.0), (255.0, 255.0)]:
        ref = skm.structural_similarity(x * scale, y * scale, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, data_range=data_range)
        got = metrics.ssim(torch.tensor(x * scale)[None, None], torch.tensor(y * scale)[None, None], data_range=data_range)
        assert got.item() == pytest.approx(ref, rel=1e-9)


def test_ssim_refuses_pixel_ranges_it_would_score_wrongly():
    x, y = _digit()
    right = metrics.ssim(torch.tensor(x)[None], torch.tensor(y)[None]).item()
    # before: 0..255 with the default data range gave a silent wrong value, [−1, 1] another one
    with pytest.raises(ValueError, match=r"0\.\.255.*divide by 255.*data_range=255"):
        metrics.ssim(torch.tensor(255 * x)[None], torch.tensor(255 * y)[None])
    with pytest.raises(ValueError, match=r"\[-1, 1\].*\(x \+ 1\) / 2"):
        metrics.ssim(torch.tensor(2 * x - 1)[None], torch.tensor(2 * y - 1)[None])
    # the conversions the messages name give the right value
    assert metrics.ssim(torch.tensor(255 * x)[None], torch.tensor(255 * y)[None], data_range=255).item() == \
        pytest.approx(right, rel=1e-12)
    assert metrics.ssim(ddpm.to_image_range(torch.tensor(2 * x - 1)[None]),
                        ddpm.to_image_range(torch.tensor(2 * y - 1)[None])).item() == pytest.approx(right, rel=1e-12)
    # scale invariance with the range: (c x, c y) in [0, c] score as (x, y)
    assert metrics.ssim(torch.tensor(7 * x)[None], torch.tensor(7 * y)[None], data_range=7).item() == \
        pytest.approx(right, rel=1e-12)
    # order of the batch: per-pair values permute with it; float32 input agrees
    batch_x = torch.tensor(np.stack([x, y, x]))[:, None]
    batch_y = torch.tensor(np.stack([y, x, x]))[:, None]
    per_pair = metrics.ssim(batch_x, batch_y)
    order = torch.tensor([2, 0, 1])
    assert torch.equal(metrics.ssim(batch_x[order], batch_y[order]), per_pair[order])
    assert torch.allclose(metrics.ssim(batch_x.float(), batch_y.float()), per_pair, atol=1e-6)


# ------------------------------------------------------------------------------- energy distance, modes

@pytest.mark.parametrize("shift", [1e3, 1e8])
def test_energy_distance_translation_scaling_permutation(shift):
    a, b = _sets(200, 150, 2)
    expected = metrics.energy_distance(a, b)
    # an independent route: the pairwise differences in numpy
    def mean_dist(u, v):
        return np.linalg.norm(u[:, None] - v[None], axis=-1).mean()
    assert expected == pytest.approx(2 * mean_dist(a, b) - mean_dist(a, a) - mean_dist(b, b), rel=1e-12)
    # before: at a shift of 1e8 the matrix-product distances gave 0.315 instead of 0.288
    # (the inputs themselves round to ulp(shift) ≈ 1.5e-8 at 1e8: the tolerance is that, not the method's)
    assert metrics.energy_distance(a + shift, b + shift) == pytest.approx(expected, rel=1e-9 if shift < 1e6 else 1e-6)
    assert metrics.energy_distance(4 * a, 4 * b) == pytest.approx(4 * expected, rel=1e-12)  # D² scales with c
    assert metrics.energy_distance(a[_perm(200)], b) == pytest.approx(expected, rel=1e-12)
    assert metrics.energy_distance(a + shift, a + shift) == 0.0


def test_mode_coverage_translation_invariant():
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(8, 2, generator=g, dtype=torch.float64) * 5
    samples = centers[torch.randint(8, (500,), generator=g)] + 0.3 * torch.randn(500, 2, generator=g, dtype=torch.float64)
    expected = gan.mode_coverage(samples, centers, 0.3)
    assert gan.mode_coverage(samples + 1e6, centers + 1e6, 0.3) == expected
    assert gan.mode_coverage(samples[torch.randperm(500, generator=g)], centers, 0.3) == expected


# -------------------------------------------------------------------------------------- nearest codes

def test_nearest_codes_translation_invariant_duplicates_and_dtype():
    g = torch.Generator().manual_seed(0)
    codebook = torch.randn(16, 4, generator=g, dtype=torch.float64)
    z = torch.randn(500, 4, generator=g, dtype=torch.float64)
    expected = torch.cdist(z, codebook).argmin(1)  # a reference: the (small, centred) distances directly
    brute = ((z[:, None] - codebook[None]) ** 2).sum(-1).argmin(1)
    assert torch.equal(expected, brute)
    assert torch.equal(vqvae.nearest_codes(z, codebook), expected)
    for shift in SHIFTS[:2]:
        # float64 keeps the shifted inputs exact enough; the matrix-product shortcut did not
        assert torch.equal(vqvae.nearest_codes(z + shift, codebook + shift), expected)
    # every code is its own nearest code, also far from the origin; a duplicated code: the lower index wins
    assert torch.equal(vqvae.nearest_codes(codebook + 1e4, codebook + 1e4), torch.arange(16))
    doubled = torch.cat([codebook, codebook])
    assert torch.equal(vqvae.nearest_codes(z, doubled), expected)
    assert torch.equal(vqvae.nearest_codes(z[torch.tensor([3, 1, 2])], codebook), expected[torch.tensor([3, 1, 2])])
    agree = vqvae.nearest_codes(z.float(), codebook.float()) == expected
    assert agree.float().mean() > 0.99


def test_nearest_codes_float32_far_from_origin():
    # float32 points near 1,000 with codes 0.05 apart: the shortcut's ‖z‖² ≈ 4e6 leaves ~0.25 of rounding
    # in each squared distance (the gaps are ~0.0025); the differences lose nothing beyond the inputs' own
    g = torch.Generator().manual_seed(1)
    codebook = (torch.randn(8, 4, generator=g) * 0.05 + 1000).float()
    z = (codebook[torch.randint(8, (200,), generator=g)] + 0.005 * torch.randn(200, 4, generator=g)).float()
    expected = ((z.double()[:, None] - codebook.double()[None]) ** 2).sum(-1).argmin(1)
    assert torch.equal(vqvae.nearest_codes(z, codebook), expected)


# ------------------------------------------------------------------------------ DDPM / DDIM vs diffusers

def test_ddpm_schedule_and_posterior_match_diffusers():
    diffusers = pytest.importorskip("diffusers")
    ref = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
                                  variance_type="fixed_small", clip_sample=False)
    ours = ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(1000))
    assert torch.allclose(ours.betas.float(), ref.betas, rtol=1e-6, atol=0)
    assert torch.allclose(ours.alphas_cumprod.float(), ref.alphas_cumprod, rtol=1e-5, atol=1e-7)
    g = torch.Generator().manual_seed(0)
    xt, eps = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    ref.set_timesteps(1000)
    for t in [999, 500, 1, 0]:
        # σ_t² = β̃_t (fixed_small), checked at t = 0, 500, 999 as diffusers' own tests do
        assert ours.posterior_variance[t].item() == pytest.approx(ref._get_variance(t).item(), rel=1e-4, abs=1e-12)
        # one ancestral step without noise: the mean μ_θ(x_t, t) from the same ε̂
        mean = ours.p_mean_variance(lambda x, tt: eps, xt, t).mean
        prev = ref.step(eps, t, xt, generator=torch.Generator().manual_seed(1))
        noise_free = prev.prev_sample - (ref._get_variance(t) ** 0.5 if t > 0 else 0.0) * _diffusers_noise(xt, t)
        assert torch.allclose(mean.float(), noise_free, atol=1e-4), t
        assert torch.allclose(ours.predict_x0(xt, t, eps).float(), prev.pred_original_sample, atol=1e-4)


def _diffusers_noise(xt, t):
    from diffusers.utils.torch_utils import randn_tensor

    return randn_tensor(xt.shape, generator=torch.Generator().manual_seed(1), dtype=xt.dtype) if t > 0 else 0.0


def test_ddim_steps_match_diffusers():
    diffusers = pytest.importorskip("diffusers")

    def scheduler(T, steps):
        ref = diffusers.DDIMScheduler(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
                                      clip_sample=False, set_alpha_to_one=True, timestep_spacing="linspace")
        ref.set_timesteps(steps)
        return ref

    def run_ours(T, steps):
        seen = []

        def eps_model(x, t):
            seen.append(int(t[0]))
            return 0.1 * x

        x = ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(T)).ddim_sample(
            eps_model, (3, 2), steps, generator=torch.Generator().manual_seed(0), progress=False, device="cpu")
        return x, seen

    # the kept levels: 50 of 1,000, evenly spaced from T − 1 down to 0, as diffusers' "linspace" spacing
    _, seen = run_ours(1000, 50)
    assert seen == [int(t) for t in scheduler(1000, 50).timesteps]
    # the update x_t → x_s (η = 0): with every level kept, diffusers' previous level t − T // steps is ours too
    # (with fewer steps diffusers steps to t − T // steps, not to the next kept level, so the paths differ)
    T = 100
    ref = scheduler(T, T)
    x_ours, _ = run_ours(T, T)
    x = torch.randn((3, 2), generator=torch.Generator().manual_seed(0))
    for t in ref.timesteps:
        x = ref.step(0.1 * x, t, x, eta=0.0).prev_sample
    assert torch.allclose(x_ours, x, rtol=1e-4, atol=1e-5)

"""gdmcourse.metrics against independent routes: scipy's sqrtm and the closed form for Gaussians,
the Inception Score written out directly, brute-force k-NN precision/recall, and SSIM computed
window by window."""

import math

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm

from gdmcourse import metrics


def _random_cov(d, rng, rank=None):
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / d


def test_frechet_distance_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    for _ in range(5):
        d = 6
        m1, m2, s1, s2 = rng.normal(size=d), rng.normal(size=d), _random_cov(d, rng), _random_cov(d, rng)
        covmean = sqrtm(s1 @ s2).real
        expected = ((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)
        assert metrics.frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-8, abs=1e-9)


def test_frechet_distance_closed_forms_and_singular_covariances():
    rng = np.random.default_rng(1)
    s = _random_cov(5, rng, rank=2)  # singular: sqrtm would need an epsilon shift
    assert metrics.frechet_distance(np.zeros(5), s, np.zeros(5), s) == pytest.approx(0.0, abs=1e-7)
    # isotropic Gaussians: d² = |m1 - m2|² + d (s1 - s2)² for standard deviations s1, s2
    d2 = metrics.frechet_distance(np.zeros(3), 4 * np.eye(3), np.ones(3), 9 * np.eye(3))
    assert d2 == pytest.approx(3 + 3 * (2 - 3) ** 2)
    with pytest.raises(ValueError, match="sigma"):
        metrics.frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))


def test_fid_of_samples():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(20_000, 4, generator=g), torch.randn(20_000, 4, generator=g) + torch.tensor([1.0, 0, 0, 0])
    assert metrics.fid(a, b) == pytest.approx(1.0, abs=0.05)  # the means differ by 1, covariances ≈ I
    assert metrics.fid(a, a) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="NaN"):
        metrics.fid(a, torch.full_like(b, float("nan")))


def _is_direct(p):
    py = p.mean(0)
    return math.exp(np.mean([sum(pi * math.log(pi / q) for pi, q in zip(row, py) if pi > 0) for row in p]))


def test_inception_score_direct_formula_and_extremes():
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(5) * 0.3, size=200)
    mean, std = metrics.inception_score(p, splits=4)
    # the splits of the documented order: rows sorted lexicographically, then shuffled with seed 0
    ordered = np.array(sorted(p.tolist()))[np.random.default_rng(0).permutation(len(p))]
    expected = [_is_direct(part) for part in np.array_split(ordered, 4)]
    assert mean == pytest.approx(np.mean(expected)) and std == pytest.approx(np.std(expected))
    assert metrics.inception_score(np.full((10, 4), 0.25), splits=1)[0] == pytest.approx(1.0)
    assert metrics.inception_score(np.eye(4).repeat(3, 0), splits=1)[0] == pytest.approx(4.0)
    with pytest.raises(ValueError, match="softmax"):
        metrics.inception_score(rng.normal(size=(10, 3)))


def _brute_pr(real, fake, k):
    def radii(x):
        d = np.linalg.norm(x[:, None] - x[None], axis=-1)
        return np.sort(d, axis=1)[:, k]

    def inside(points, centers, r):
        d = np.linalg.norm(points[:, None] - centers[None], axis=-1)
        return (d <= r[None]).any(1).mean()

    return inside(fake, real, radii(real)), inside(real, fake, radii(fake))


@pytest.mark.parametrize("k", [1, 3, 5])
def test_precision_recall_matches_brute_force(k):
    rng = np.random.default_rng(k)
    real = rng.normal(size=(300, 4)).astype(np.float32)
    fake = (1.3 * rng.normal(size=(250, 4)) + 0.5).astype(np.float32)
    got = metrics.precision_recall(real, fake, k=k, chunk=64)  # chunks smaller than the sets
    assert got == pytest.approx(_brute_pr(real, fake, k), abs=1e-9)


def test_precision_recall_separate_fidelity_and_diversity():
    rng = np.random.default_rng(5)
    centers = rng.normal(scale=10, size=(10, 2))
    real = centers[rng.integers(10, size=2000)] + rng.normal(size=(2000, 2))
    dropped = centers[rng.integers(3, size=2000)] + rng.normal(size=(2000, 2))       # 3 of 10 modes
    blurred = centers[rng.integers(10, size=2000)] + 3 * rng.normal(size=(2000, 2))  # all modes, blurry
    p_drop, r_drop = metrics.precision_recall(real, dropped)
    p_blur, r_blur = metrics.precision_recall(real, blurred)
    assert p_drop > 0.9 and r_drop < 0.5
    assert p_blur < 0.6 and r_blur > 0.9


def _ssim_by_window(x, y, data_range=1.0):
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            a, b = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            ma, mb = (w * a).sum(), (w * b).sum()
            va, vb, cov = (w * (a - ma) ** 2).sum(), (w * (b - mb) ** 2).sum(), (w * (a - ma) * (b - mb)).sum()
            values.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return np.mean(values)


def test_ssim_window_by_window():
    rng = np.random.default_rng(6)
    x = rng.random((2, 1, 16, 18))
    y = np.clip(x + 0.2 * rng.normal(size=x.shape), 0, 1)
    got = metrics.ssim(torch.tensor(x), torch.tensor(y))
    assert got.shape == (2,)
    for b in range(2):
        assert got[b].item() == pytest.approx(_ssim_by_window(x[b, 0], y[b, 0]), rel=1e-10)
    assert torch.allclose(metrics.ssim(torch.tensor(x), torch.tensor(x)), torch.ones(2, dtype=torch.float64))
    assert (metrics.ssim(torch.tensor(x), torch.tensor(y)) < 1).all()
    with pytest.raises(ValueError, match="11"):
        metrics.ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))


def test_energy_distance_matches_scipy_in_one_dimension():
    from scipy.stats import energy_distance as scipy_energy

    g = np.random.default_rng(0)
    u, v = g.normal(size=300), g.normal(0.5, 2.0, size=200)
    # scipy returns the square root of 2E|X−Y| − E|X−X'| − E|Y−Y'|
    assert metrics.energy_distance(u[:, None], v[:, None]) == pytest.approx(scipy_energy(u, v) ** 2, rel=1e-9)
    x = torch.randn(100, 3, generator=torch.Generator().manual_seed(0))
    assert metrics.energy_distance(x, x) == pytest.approx(0.0, abs=1e-12)
    assert metrics.energy_distance(x, x + 1) > 0.5
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        metrics.energy_distance(x, torch.randn(10, 2))
    with pytest.raises(ValueError, match="NaN"):
        metrics.energy_distance(x * float("nan"), x)


def test_inception_score_and_precision_recall_return_named_pairs():
    probs = torch.softmax(torch.randn(40, 5, generator=torch.Generator().manual_seed(0)), dim=1)
    score = metrics.inception_score(probs, splits=4)
    assert isinstance(score, metrics.InceptionScore) and score._fields == ("mean", "std")
    mean, std = score
    assert (mean, std) == (score.mean, score.std) and 1 <= mean <= 5 and std >= 0
    g = torch.Generator().manual_seed(1)
    pr = metrics.precision_recall(torch.randn(60, 3, generator=g), torch.randn(50, 3, generator=g), k=3)
    assert isinstance(pr, metrics.PrecisionRecall) and pr._fields == ("precision", "recall")
    precision, recall = pr
    assert (precision, recall) == (pr.precision, pr.recall) and 0 <= precision <= 1 and 0 <= recall <= 1

"""Gradient estimators against analytic gradients; Gumbel-softmax against the categorical law and torch's own."""

import math

import pytest
import torch
import torch.nn.functional as F
from scipy.stats import chi2

from gdmcourse import reparam


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# Test functions with E_{z~N(μ,σ²)}[f(z)] in closed form, and its gradient (∂μ, ∂σ).
CASES = {
    # E[z²] = μ² + σ²
    "square": (lambda z: z**2, lambda m, s: (2 * m, 2 * s)),
    # E[sin z] = sin μ · e^{−σ²/2}
    "sin": (torch.sin, lambda m, s: (math.cos(m) * math.exp(-s**2 / 2), -s * math.sin(m) * math.exp(-s**2 / 2))),
    # E[e^z] = e^{μ + σ²/2}
    "exp": (torch.exp, lambda m, s: (math.exp(m + s**2 / 2), s * math.exp(m + s**2 / 2))),
}

MU, SIGMA, N, REPEATS = 0.7, 0.8, 200, 2000


def _estimates(estimator, f):
    """REPEATS independent estimates from N samples each (elementwise f, vector μ)."""
    mu, sigma = torch.full((REPEATS,), MU, dtype=torch.float64), torch.full((REPEATS,), SIGMA, dtype=torch.float64)
    g_mu, g_sigma = estimator(f, mu, sigma, N, _gen(1))
    assert g_mu.shape == (REPEATS,) and g_sigma.shape == (REPEATS,)
    return g_mu, g_sigma


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("estimator", [reparam.score_function_grad, reparam.pathwise_grad])
def test_estimators_are_unbiased(estimator, name):
    f, grad = CASES[name]
    truth = grad(MU, SIGMA)
    for estimate, exact in zip(_estimates(estimator, f), truth):
        # the mean of REPEATS estimates within 4 standard errors of the analytic gradient
        assert abs(estimate.mean().item() - exact) < 4 * estimate.std().item() / REPEATS**0.5, (estimate.mean(), exact)


@pytest.mark.parametrize("name", CASES)
def test_pathwise_has_lower_variance_than_score_function(name):
    f, _ = CASES[name]
    score = _estimates(reparam.score_function_grad, f)
    path = _estimates(reparam.pathwise_grad, f)
    for s, p in zip(score, path):
        assert p.var() < s.var()


def test_scalar_inputs_per_sample_f_and_the_known_estimator_formulas():
    # floats in, 0-d tensors out; f returning one value per sample
    g_mu, g_sigma = reparam.score_function_grad(lambda z: z**2, 1.0, 0.5, 10, _gen(2))
    assert g_mu.shape == () and g_sigma.shape == ()
    # by hand: z = μ + σε with the same ε
    eps = torch.randn(10, generator=_gen(2))
    z = 1.0 + 0.5 * eps
    torch.testing.assert_close(g_mu, (z**2 * (z - 1.0) / 0.25).mean())
    torch.testing.assert_close(g_sigma, (z**2 * ((z - 1.0) ** 2 - 0.25) / 0.125).mean())
    p_mu, p_sigma = reparam.pathwise_grad(lambda z: z**2, 1.0, 0.5, 10, _gen(2))
    torch.testing.assert_close(p_mu, (2 * z).mean())
    torch.testing.assert_close(p_sigma, (2 * z * eps).mean())
    # vector parameter, f summing over it: the gradient of E[Σ_j z_j²] = Σ_j μ_j² + σ_j²
    mu = torch.tensor([1.0, -2.0])
    p_mu, p_sigma = reparam.pathwise_grad(lambda z: (z**2).sum(-1), mu, torch.tensor([0.1, 0.1]), 20000, _gen(3))
    torch.testing.assert_close(p_mu, 2 * mu, atol=0.01, rtol=0)


def test_baseline_keeps_the_mean_and_lowers_the_variance():
    f = lambda z: z**2 + 10.0  # noqa: E731 - a large offset makes plain REINFORCE noisy
    mu, sigma = torch.full((REPEATS,), MU), torch.full((REPEATS,), SIGMA)
    plain = reparam.score_function_grad(f, mu, sigma, N, _gen(4))
    based = reparam.score_function_grad(f, mu, sigma, N, _gen(4), baseline=10.0 + MU**2 + SIGMA**2)
    assert abs(based.mu.mean().item() - 2 * MU) < 4 * based.mu.std().item() / REPEATS**0.5
    assert based.mu.var() < plain.mu.var() / 4


def test_score_function_handles_step_functions_and_pathwise_refuses_them():
    step = lambda z: (z > 0).double()  # noqa: E731 - E = Φ(μ/σ), ∂μ = φ(μ/σ)/σ
    stats = reparam.estimator_stats(reparam.score_function_grad, step, MU, SIGMA, N, REPEATS, _gen(5))
    exact = math.exp(-(MU / SIGMA) ** 2 / 2) / math.sqrt(2 * math.pi) / SIGMA
    assert abs(stats["mu_mean"] - exact) < 4 * stats["mu_std"] / REPEATS**0.5
    with pytest.raises(ValueError, match="differentiabl"):
        reparam.pathwise_grad(step, MU, SIGMA, N, _gen(5))


def test_estimator_stats_std_shrinks_like_one_over_sqrt_n():
    small = reparam.estimator_stats(reparam.score_function_grad, torch.sin, MU, SIGMA, 100, 2000, _gen(6))
    large = reparam.estimator_stats(reparam.score_function_grad, torch.sin, MU, SIGMA, 1600, 2000, _gen(7))
    assert large["mu_std"] == pytest.approx(small["mu_std"] / 4, rel=0.15)


def test_estimators_reproducible_and_validate_inputs():
    a = reparam.pathwise_grad(torch.sin, 0.3, 1.0, 50, _gen(8))
    b = reparam.pathwise_grad(torch.sin, 0.3, 1.0, 50, _gen(8))
    assert torch.equal(a.mu, b.mu) and torch.equal(a.sigma, b.sigma)
    with pytest.raises(ValueError, match="sigma"):
        reparam.score_function_grad(torch.sin, 0.0, -1.0, 10)
    with pytest.raises(ValueError, match="n must"):
        reparam.pathwise_grad(torch.sin, 0.0, 1.0, 0)


# ---- Gumbel-softmax ----------------------------------------------------------------------------

LOGITS = torch.tensor([1.0, 0.0, -1.0, 0.5])


def _argmax_counts(samples):
    return torch.bincount(samples.argmax(-1), minlength=samples.shape[-1]).double()


def _chi2_pvalue(counts, probs):
    expected = probs.double() * counts.sum()
    stat = ((counts - expected) ** 2 / expected).sum().item()
    return chi2.sf(stat, len(probs) - 1)


def test_gumbel_softmax_is_on_the_simplex():
    y = reparam.gumbel_softmax(LOGITS.expand(1000, 4), 0.5, generator=_gen(0))
    assert y.shape == (1000, 4) and (y >= 0).all()
    torch.testing.assert_close(y.sum(-1), torch.ones(1000))


def test_gumbel_softmax_argmax_follows_the_categorical_law():
    n = 20_000
    probs = F.softmax(LOGITS, -1)
    y = reparam.gumbel_softmax(LOGITS.expand(n, 4), 0.01, generator=_gen(1))
    # τ → 0: the samples are nearly one-hot...
    assert y.max(-1).values.mean() > 0.97
    # ...and the argmax is distributed as softmax(logits) (chi-square goodness of fit)
    assert _chi2_pvalue(_argmax_counts(y), probs) > 1e-3
    # a wrong law is rejected by the same test: the test can fail
    assert _chi2_pvalue(_argmax_counts(y), F.softmax(LOGITS / 2, -1)) < 1e-6


def test_gumbel_softmax_matches_torch_in_distribution():
    n = 20_000
    torch.manual_seed(0)
    theirs = F.gumbel_softmax(LOGITS.expand(n, 4), tau=1.0)
    ours = reparam.gumbel_softmax(LOGITS.expand(n, 4), 1.0, generator=_gen(2))
    # same argmax law and the same mean of the relaxed sample, per category, within 4 s.e.
    c_ours, c_theirs = _argmax_counts(ours), _argmax_counts(theirs)
    table = torch.stack([c_ours, c_theirs])
    expected = table.sum(0) * table.sum(1, keepdim=True) / table.sum()
    stat = ((table - expected) ** 2 / expected).sum().item()
    assert chi2.sf(stat, 3) > 1e-3
    se = (ours.var(0) / n + theirs.var(0) / n).sqrt()
    assert ((ours.mean(0) - theirs.mean(0)).abs() < 4 * se).all()


def test_gumbel_softmax_temperature_controls_sharpness():
    cold = reparam.gumbel_softmax(LOGITS.expand(2000, 4), 0.1, generator=_gen(3))
    hot = reparam.gumbel_softmax(LOGITS.expand(2000, 4), 10.0, generator=_gen(3))
    assert cold.max(-1).values.mean() > 0.9 > 0.4 > hot.max(-1).values.mean()
    with pytest.raises(ValueError, match="tau"):
        reparam.gumbel_softmax(LOGITS, 0.0)


def test_gumbel_softmax_hard_is_one_hot_with_the_soft_gradient():
    logits = torch.randn(6, 5, generator=_gen(4), requires_grad=True)
    weights = torch.randn(6, 5, generator=_gen(5))
    hard = reparam.gumbel_softmax(logits, 0.7, hard=True, generator=_gen(6))
    soft = reparam.gumbel_softmax(logits, 0.7, hard=False, generator=_gen(6))
    assert set(hard.detach().unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(hard.detach().sum(-1), torch.ones(6))
    assert torch.equal(hard.detach().argmax(-1), soft.detach().argmax(-1))
    (g_hard,) = torch.autograd.grad((hard * weights).sum(), logits)
    (g_soft,) = torch.autograd.grad((soft * weights).sum(), logits)
    torch.testing.assert_close(g_hard, g_soft)
    assert g_hard.abs().sum() > 0
    # reproducible with the generator
    assert torch.equal(reparam.gumbel_softmax(logits, 0.7, generator=_gen(6)), soft)

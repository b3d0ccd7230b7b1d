"""The checks of notebooks 02 (VAE / ELBO) and 03 (reparameterization) pass on the reference
solutions and fail, with a specific hint and without raising, on plausible wrong answers."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal

from checking import expect_fail, not_implemented, verdict_of
from gdmcourse import checks, reparam, vae


# ---- gaussian_kl -------------------------------------------------------------------------------

def _kl_parts(mu, logvar):
    return mu.pow(2) + logvar.exp() - 1 - logvar


WRONG_KL = {
    "missing half": (lambda mu, lv: _kl_parts(mu, lv).sum(-1), "factor ½"),
    "sign (lecture's sum)": (lambda mu, lv: 0.5 * (1 + lv - mu**2 - lv.exp()).sum(-1), "sign error"),
    "logvar as log sigma": (lambda mu, lv: 0.5 * (mu**2 + (2 * lv).exp() - 1 - 2 * lv).sum(-1), "not exp(2·logvar)"),
    "std for variance": (lambda mu, lv: 0.5 * (mu**2 + (0.5 * lv).exp() - 1 - lv).sum(-1), "standard deviation"),
    "sum over batch": (lambda mu, lv: 0.5 * _kl_parts(mu, lv).sum(), "summed over the batch"),
    "mean over batch": (lambda mu, lv: 0.5 * _kl_parts(mu, lv).sum(-1).mean(), "averaged over the batch"),
    "wrong axis": (lambda mu, lv: 0.5 * _kl_parts(mu, lv).sum(0), "wrong axis"),
    "mean over latents": (lambda mu, lv: 0.5 * _kl_parts(mu, lv).mean(-1), "do not average"),
    "missing -1": (lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv).sum(-1), "−1"),
    "log of logvar": (lambda mu, lv: 0.5 * (mu**2 + lv - 1 - lv.log()).sum(-1), "never take the log"),
    "detached": (lambda mu, lv: 0.5 * _kl_parts(mu, lv).sum(-1).detach(), "gradient"),
    "unfinished": (not_implemented, "not implemented"),
}


def test_gaussian_kl_passes_on_reference(capsys):
    assert verdict_of(capsys, checks.gaussian_kl, vae.gaussian_kl)[0].passed
    assert checks.RESULTS["gaussian_kl"].passed


@pytest.mark.parametrize("name", WRONG_KL)
def test_gaussian_kl_rejects(capsys, name):
    fn, hint = WRONG_KL[name]
    expect_fail(capsys, checks.gaussian_kl, (fn,), hint)


# ---- reparameterize ----------------------------------------------------------------------------

def _eps(mu, g):
    return torch.randn(mu.shape, generator=g)


WRONG_REPARAM = {
    "variance as std": (lambda mu, lv, g=None: mu + lv.exp() * _eps(mu, g), "σ² = exp(logvar)"),
    "logvar as log sigma": (lambda mu, lv, g=None: mu + (2 * lv).exp() * _eps(mu, g), "exp(2·logvar)"),
    "no scaling": (lambda mu, lv, g=None: mu + _eps(mu, g), "scale the noise"),
    "no mean": (lambda mu, lv, g=None: (0.5 * lv).exp() * _eps(mu, g), "add the mean"),
    "uniform noise": (lambda mu, lv, g=None: mu + (0.5 * lv).exp() * torch.rand(mu.shape, generator=g), "torch.randn"),
    "one eps for the batch": (lambda mu, lv, g=None: mu + (0.5 * lv).exp() * torch.randn(mu.shape[-1], generator=g),
                              "per example"),
    "sample, not rsample": (lambda mu, lv, g=None: Normal(mu, (0.5 * lv).exp()).sample(), "rsample"),
    "detached": (lambda mu, lv, g=None: (mu + (0.5 * lv).exp() * _eps(mu, g)).detach(), "cut the graph"),
    "ignores generator": (lambda mu, lv, g=None: mu + (0.5 * lv).exp() * torch.randn(mu.shape), "generator"),
    "sqrt of logvar": (lambda mu, lv, g=None: mu + lv.sqrt() * _eps(mu, g), "never take the log or square root"),
    "unfinished": (not_implemented, "not implemented"),
}


def test_reparameterize_passes_on_reference(capsys):
    assert verdict_of(capsys, checks.reparameterize, vae.reparameterize)[0].passed


@pytest.mark.parametrize("name", WRONG_REPARAM)
def test_reparameterize_rejects(capsys, name):
    fn, hint = WRONG_REPARAM[name]
    expect_fail(capsys, checks.reparameterize, (fn,), hint)


# ---- elbo --------------------------------------------------------------------------------------

def reference_elbo(x, logits, mu, logvar):
    return vae.bernoulli_log_likelihood(logits, x) - vae.gaussian_kl(mu, logvar)


def _bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)


WRONG_ELBO = {
    "negative elbo": (lambda x, l, m, v: -reference_elbo(x, l, m, v), "loss −ELBO"),
    "kl added": (lambda x, l, m, v: vae.bernoulli_log_likelihood(l, x) + vae.gaussian_kl(m, v), "subtract the KL"),
    "mean over pixels": (lambda x, l, m, v: -_bce(l, x).mean(1) - vae.gaussian_kl(m, v), "do not average"),
    "default bce reduction": (lambda x, l, m, v: -F.binary_cross_entropy_with_logits(l, x) - vae.gaussian_kl(m, v),
                              "reduction='none'"),
    "batch mean": (lambda x, l, m, v: reference_elbo(x, l, m, v).mean(), "do not average over the batch"),
    "no kl": (lambda x, l, m, v: vae.bernoulli_log_likelihood(l, x), "forgot the KL"),
    "kl missing half": (lambda x, l, m, v: vae.bernoulli_log_likelihood(l, x) - 2 * vae.gaussian_kl(m, v), "factor ½"),
    "logvar as log sigma": (lambda x, l, m, v: vae.bernoulli_log_likelihood(l, x) - vae.gaussian_kl(m, 2 * v),
                            "not exp(2·logvar)"),
    "log of sigmoid": (lambda x, l, m, v: (x * torch.sigmoid(l).log() + (1 - x) * (1 - torch.sigmoid(l)).log()).flatten(1).sum(1)
                       - vae.gaussian_kl(m, v), "from the logits"),
    "bce on probabilities": (lambda x, l, m, v: -F.binary_cross_entropy(torch.sigmoid(l), x, reduction="none").flatten(1).sum(1)
                             - vae.gaussian_kl(m, v), "clips each log at −100"),
    "detached": (lambda x, l, m, v: reference_elbo(x, l, m, v).detach(), "differentiably"),
    "unfinished": (not_implemented, "not implemented"),
}


def test_elbo_passes_on_reference(capsys):
    assert verdict_of(capsys, checks.elbo, reference_elbo)[0].passed


@pytest.mark.parametrize("name", WRONG_ELBO)
def test_elbo_rejects(capsys, name):
    fn, hint = WRONG_ELBO[name]
    expect_fail(capsys, checks.elbo, (fn,), hint)


# ---- iwae_bound --------------------------------------------------------------------------------

WRONG_IWAE = {
    "no log k": (lambda lw: torch.logsumexp(lw, 0), "subtract log k"),
    "mean of log weights": (lambda lw: lw.mean(0), "averages the weights inside the log"),
    "naive log mean exp": (lambda lw: lw.exp().mean(0).log(), "torch.logsumexp"),
    "max": (lambda lw: lw.max(0).values, "largest term"),
    "wrong axis": (lambda lw: torch.logsumexp(lw, 1) - math.log(lw.shape[1]), "wrong axis"),
    "batch mean": (lambda lw: (torch.logsumexp(lw, 0) - math.log(len(lw))).mean(), "do not average over the batch"),
    "minus k": (lambda lw: torch.logsumexp(lw, 0) - len(lw), "not k"),
    "unfinished": (not_implemented, "not implemented"),
}


def test_iwae_bound_passes_on_reference(capsys):
    assert verdict_of(capsys, checks.iwae_bound, vae.log_mean_exp)[0].passed


@pytest.mark.parametrize("name", WRONG_IWAE)
def test_iwae_bound_rejects(capsys, name):
    fn, hint = WRONG_IWAE[name]
    expect_fail(capsys, checks.iwae_bound, (fn,), hint)


# ---- score_function_grad -----------------------------------------------------------------------

def _score(f, mu, sigma, n, g=None, *, sigma_power_mu=2, drop_var=False, sigma_power_sigma=3, reduce="mean"):
    z = mu + sigma * torch.randn(n, generator=g)
    fz = f(z)
    s_mu = (z - mu) / sigma**sigma_power_mu
    s_sigma = ((z - mu) ** 2 - (0 if drop_var else sigma**2)) / sigma**sigma_power_sigma
    red = (lambda t: t.mean()) if reduce == "mean" else (lambda t: t.sum())
    return red(fz * s_mu), red(fz * s_sigma)


def _pathwise_as_score(f, mu, sigma, n, g=None):
    mu, sigma = mu.clone().requires_grad_(True), sigma.clone().requires_grad_(True)
    z = mu + sigma * torch.randn(n, generator=g)
    return torch.autograd.grad(f(z).mean(), (mu, sigma))


WRONG_SCORE = {
    "mu over sigma": (lambda *a: _score(*a, sigma_power_mu=1), "divide by σ², not σ"),
    "dropped -sigma^2": (lambda *a: _score(*a, drop_var=True), "dropped the −σ²"),
    "sigma power 2": (lambda *a: _score(*a, sigma_power_sigma=2), "divide by σ³"),
    "sum over samples": (lambda *a: _score(*a, reduce="sum"), "do not sum"),
    "pathwise instead": (_pathwise_as_score, "never differentiates f"),
    "ignores generator": (lambda f, mu, s, n, g=None: _score(f, mu, s, n, None), "generator"),
    "one output": (lambda *a: _score(*a)[0], "pair"),
    "unfinished": (not_implemented, "not implemented"),
}


def test_score_function_grad_passes_on_reference(capsys):
    assert verdict_of(capsys, checks.score_function_grad, reparam.score_function_grad)[0].passed
    assert verdict_of(capsys, checks.score_function_grad, _score)[0].passed  # a plain student version


@pytest.mark.parametrize("name", WRONG_SCORE)
def test_score_function_grad_rejects(capsys, name):
    fn, hint = WRONG_SCORE[name]
    expect_fail(capsys, checks.score_function_grad, (fn,), hint)


# ---- pathwise_grad -----------------------------------------------------------------------------

def _pathwise(f, mu, sigma, n, g=None, *, sigma_power=1, detach=False, reduce="mean", sample=False):
    mu, sigma = mu.clone().requires_grad_(True), sigma.clone().requires_grad_(True)
    if sample:
        z = Normal(mu, sigma).sample((n,))
    else:
        z = mu + sigma**sigma_power * torch.randn(n, generator=g)
    if detach:
        z = z.detach()
    out = f(z)
    out = out.mean() if reduce == "mean" else out.sum()
    return torch.autograd.grad(out, (mu, sigma))


WRONG_PATHWISE = {
    "sample, not rsample": (lambda *a: _pathwise(*a, sample=True), "rsample"),
    "detached": (lambda *a: _pathwise(*a, detach=True), "carry no gradient"),
    "score function instead": (lambda *a: reparam.score_function_grad(*a), "the other estimator"),
    "sigma squared": (lambda *a: _pathwise(*a, sigma_power=2), "not sigma²"),
    "sum over samples": (lambda *a: _pathwise(*a, reduce="sum"), "do not sum"),
    "ignores generator": (lambda f, mu, s, n, g=None: _pathwise(f, mu, s, n, None), "generator"),
    "unfinished": (not_implemented, "not implemented"),
}


def test_pathwise_grad_passes_on_reference(capsys):
    assert verdict_of(capsys, checks.pathwise_grad, reparam.pathwise_grad)[0].passed
    assert verdict_of(capsys, checks.pathwise_grad, _pathwise)[0].passed


@pytest.mark.parametrize("name", WRONG_PATHWISE)
def test_pathwise_grad_rejects(capsys, name):
    fn, hint = WRONG_PATHWISE[name]
    expect_fail(capsys, checks.pathwise_grad, (fn,), hint)


# ---- gumbel_softmax ----------------------------------------------------------------------------

def _gumbel(shape, g):
    return -torch.log(-torch.log(torch.rand(shape, generator=g)))


def _gs(logits, tau, hard=False, generator=None, *, noise="gumbel", scale="divide", st=True, argmax_of="sample"):
    shape = logits.shape
    if noise == "gumbel":
        g = _gumbel(shape, generator)
    elif noise == "none":
        g = torch.zeros(shape)
    elif noise == "gaussian":
        g = torch.randn(shape, generator=generator)
    elif noise == "neg":
        g = torch.log(-torch.log(torch.rand(shape, generator=generator)))
    if scale == "divide":
        y = F.softmax((logits + g) / tau, -1)
    elif scale == "logits only":
        y = F.softmax(logits / tau + g, -1)
    elif scale == "ignored":
        y = F.softmax(logits + g, -1)
    else:
        y = F.softmax((logits + g) * tau, -1)
    if not hard:
        return y
    index = (y if argmax_of == "sample" else logits).argmax(-1)
    y_hard = F.one_hot(index, shape[-1]).to(y.dtype)
    return y_hard - y.detach() + y if st else y_hard


WRONG_GUMBEL = {
    "no noise": (lambda *a, **k: _gs(*a, **k, noise="none"), "no noise"),
    "gaussian noise": (lambda *a, **k: _gs(*a, **k, noise="gaussian"), "not Gaussian"),
    "sign error": (lambda *a, **k: _gs(*a, **k, noise="neg"), "not log(−log U)"),
    "tau on logits only": (lambda *a, **k: _gs(*a, **k, scale="logits only"), "not softmax(logits / τ + g)"),
    "tau ignored": (lambda *a, **k: _gs(*a, **k, scale="ignored"), "does not depend on τ"),
    "tau multiplies": (lambda *a, **k: _gs(*a, **k, scale="multiply"), "do not multiply"),
    "hard without straight-through": (lambda *a, **k: _gs(*a, **k, st=False), "straight-through"),
    "hard argmax of logits": (lambda *a, **k: _gs(*a, **k, argmax_of="logits"), "not of the logits"),
    "softmax over batch": (lambda lg, tau, hard=False, generator=None: F.softmax((lg + _gumbel(lg.shape, generator)) / tau, 0),
                           "dim=-1"),
    "ignores generator": (lambda lg, tau, hard=False, generator=None: _gs(lg, tau, hard, None), "generator"),
    "unfinished": (not_implemented, "not implemented"),
}


def test_gumbel_softmax_passes_on_reference(capsys):
    assert verdict_of(capsys, checks.gumbel_softmax, reparam.gumbel_softmax)[0].passed
    assert verdict_of(capsys, checks.gumbel_softmax, _gs)[0].passed


@pytest.mark.parametrize("name", WRONG_GUMBEL)
def test_gumbel_softmax_rejects(capsys, name):
    fn, hint = WRONG_GUMBEL[name]
    expect_fail(capsys, checks.gumbel_softmax, (fn,), hint)

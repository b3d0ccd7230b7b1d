# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Gradients through sampling: the reparameterization trick
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/notebooks/03_reparameterization.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=notebooks%2F03_reparameterization.ipynb)
#
# *Follows lecture 003 (M. Straka, NPFL114 "Deep Generative Models"), section "VAE –
# Reparametrization Trick", and lecture 001 (V. Strizhkova), "Discrete Variational
# Auto-Encoder (dVAE)" and "DALL-E 1".*
#
# Training a VAE (notebook 02) maximises an expectation over the encoder's own samples,
# $\mathbb E_{Q_\varphi(z|x)}\big[\log P_\theta(x|z)\big]$, with respect to the parameters
# $\varphi$ of the very distribution we sample from. But a drawn sample is just a number:
# automatic differentiation cannot see how it depends on $\varphi$. In this notebook you will
#
# 1. watch the gradient stop at `Normal.sample()` and flow through `Normal.rsample()`;
# 2. derive two unbiased estimators of $\nabla_\varphi\, \mathbb E_{q_\varphi}[f(z)]$, the
#    **score-function** (REINFORCE) and the **pathwise** (reparametrization) estimator, and
#    check both against exact gradients;
# 3. measure their variance against the number of samples, and see why VAEs use the pathwise one;
# 4. handle **discrete** latents, which have no reparametrization: the Gumbel-max trick, its
#    **Gumbel-softmax** relaxation with a temperature $\tau$, and the **straight-through**
#    estimator, as in the dVAE of DALL-E.
#
# Nothing is trained here: the whole notebook runs in seconds on a CPU.

# %%
# Set-up: on Google Colab install the course package (does nothing elsewhere).
import sys

if "google.colab" in sys.modules:
    import subprocess

    # --no-deps: Colab has every package the notebooks import; keep its versions
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "https://github.com/gdmcourse/gdmcourse/releases/download/v0.1.0/gdmcourse-0.1.0-py3-none-any.whl"], check=True)

import gdmcourse

gdmcourse.require_version("0.1")

import functools
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch.distributions import Normal

from gdmcourse import plot, widgets
from gdmcourse import reparam as rp

device = gdmcourse.startup(seed=3)
plot.use_style()
print(f"device: {device.type}")

# %% [markdown]
# ## A sample has no gradient
#
# Take one latent variable with $q_\varphi = \mathcal N(\mu, \sigma^2)$, $\varphi = (\mu, \sigma)$,
# and a function $f$ of the sample (in a VAE, $f(z) = \log P_\theta(x|z)$, the decoder's
# log-likelihood). We want
#
# $$\nabla_\varphi\, \mathbb E_{z \sim q_\varphi}\big[f(z)\big].$$
#
# The obvious code draws $z$ with `torch.distributions.Normal(mu, sigma).sample()`, averages
# $f(z)$ and calls `backward()`. Here $f(z) = z^2$, $\mu = 1$, $\sigma = 0.5$:

# %%
mu = torch.tensor(1.0, requires_grad=True)
sigma = torch.tensor(0.5, requires_grad=True)
q = Normal(mu, sigma)

_ = torch.manual_seed(0)  # torch.distributions draws from the global generator
z = q.sample((5,))
print(f".sample():  requires_grad = {z.requires_grad}, grad_fn = {z.grad_fn}")
try:
    (z**2).mean().backward()
except RuntimeError as error:
    print(f"backward through .sample() -> RuntimeError: {error}")
assert not z.requires_grad and mu.grad is None and sigma.grad is None

# %% [markdown]
# `.sample()` runs under `torch.no_grad()`: the value is right, the dependence on $\mu$ and
# $\sigma$ is gone. `.rsample()` ("reparametrized sample") instead computes
#
# $$z = \mu + \sigma\,\varepsilon, \qquad \varepsilon \sim \mathcal N(0, 1),$$
#
# which is lecture 003's **reparametrization trick**: $z \sim \mathcal N(\mu, \sigma^2)$ written
# as $z \sim \mu + \sigma\cdot\mathcal N(0, 1)$. The randomness now sits in $\varepsilon$, which
# does not depend on the parameters, and $z$ is a differentiable function of $\mu$ and $\sigma$.

# %%
_ = torch.manual_seed(0)
z = q.rsample((5,))
print(f".rsample(): requires_grad = {z.requires_grad}, grad_fn = {type(z.grad_fn).__name__}")
(z**2).mean().backward()
print(f"a 5-sample estimate of the gradient of E[z²]: d/dμ = {mu.grad:.3f}, d/dσ = {sigma.grad:.3f} "
      f"(exact: 2μ = 2, 2σ = 1)")

_ = torch.manual_seed(0)
eps = torch.randn(5)
assert torch.allclose(z, mu + sigma * eps)
print("rsample() is exactly μ + σ·ε, with ε drawn from the same random stream")
assert abs(mu.grad - 2) > 0.1 * 2 and abs(sigma.grad - 1) > 0.1 * 1, (mu.grad, sigma.grad)


# %% [markdown]
# The gradient flows, but the 5-sample estimate misses the exact $(2, 1)$ by more than 10% in
# each coordinate. It is a random variable: unbiased, with a variance. The rest of the notebook is about that variance.
#
# ## Two estimators of the same gradient
#
# **Score function** (REINFORCE, likelihood ratio). Move the gradient inside the integral and
# use $\nabla_\varphi q_\varphi = q_\varphi\, \nabla_\varphi \log q_\varphi$ (the
# *log-derivative trick*):
#
# $$\nabla_\varphi\, \mathbb E_{q_\varphi}[f(z)] = \int f(z)\, \nabla_\varphi q_\varphi(z)\, dz
#   = \int f(z)\, q_\varphi(z)\, \nabla_\varphi \log q_\varphi(z)\, dz
#   = \mathbb E_{q_\varphi}\big[f(z)\, \nabla_\varphi \log q_\varphi(z)\big].$$
#
# For the Gaussian, $\log q_\varphi(z) = -\log\sigma - \frac{(z-\mu)^2}{2\sigma^2} + \text{const}$,
# so the *score* is
#
# $$\nabla_\mu \log q_\varphi(z) = \frac{z-\mu}{\sigma^2}, \qquad
#   \nabla_\sigma \log q_\varphi(z) = \frac{(z-\mu)^2 - \sigma^2}{\sigma^3},$$
#
# and with samples $z_i \sim q_\varphi$,
# $\ \hat g^{\mathrm{SF}} = \frac1n \sum_{i=1}^n f(z_i)\, \nabla_\varphi \log q_\varphi(z_i)$.
# It only *evaluates* $f$: $f$ may be a black box, a step function, a reward.
#
# **Pathwise** (reparametrization). Write the sample as a differentiable function of the
# parameters and of parameter-free noise, $z = \mu + \sigma\varepsilon$. The expectation is now
# over $\varepsilon$, whose distribution does not depend on $\varphi$, so the gradient moves
# inside and the chain rule does the rest:
#
# $$\nabla_\varphi\, \mathbb E_{q_\varphi}[f(z)] = \mathbb E_{\varepsilon}\big[\nabla_\varphi f(\mu + \sigma\varepsilon)\big]
#   = \mathbb E_{\varepsilon}\big[f'(z)\,(1,\ \varepsilon)\big], \qquad
#   \hat g^{\mathrm{PW}} = \frac1n \sum_{i=1}^n f'(z_i)\,(1,\ \varepsilon_i).$$
#
# It needs a differentiable $f$ and uses its slope at every sample.
#
# Both are a few lines of autograd. The score-function estimator is the gradient of a
# *surrogate*: $f(z)$ of a sample that carries no gradient (as from `.sample()`), times
# `log_prob(z)`, which does depend on $\mu$ and $\sigma$. The pathwise estimator is `rsample`
# followed by `backward`. We draw $\varepsilon$ from an explicit generator so that we can compare
# with the package's versions in `gdmcourse.reparam`, which implement the formulas above.

# %%
def score_function_surrogate(f, mu, sigma, n, generator):
    """Gradient of mean(f(z) · log q(z)) with f(z) held fixed: autograd gives mean(f(z) ∇log q(z))."""
    mu, sigma = mu.clone().requires_grad_(True), sigma.clone().requires_grad_(True)
    eps = torch.randn(n, generator=generator, dtype=mu.dtype)
    z = (mu + sigma * eps).detach()  # a sample: no path back to μ and σ
    surrogate = (f(z) * Normal(mu, sigma).log_prob(z)).mean()
    return torch.autograd.grad(surrogate, (mu, sigma))


def pathwise_autograd(f, mu, sigma, n, generator):
    """Gradient of mean(f(μ + σε)): autograd differentiates through the sample."""
    mu, sigma = mu.clone().requires_grad_(True), sigma.clone().requires_grad_(True)
    eps = torch.randn(n, generator=generator, dtype=mu.dtype)
    z = mu + sigma * eps  # z = μ + σ ε, differentiable in μ and σ
    return torch.autograd.grad(f(z).mean(), (mu, sigma))


def square(z):
    return z**2


MU, SIGMA = 1.0, 0.5
mu64, sigma64 = torch.tensor(MU, dtype=torch.float64), torch.tensor(SIGMA, dtype=torch.float64)
for inline, package in [(score_function_surrogate, rp.score_function_grad), (pathwise_autograd, rp.pathwise_grad)]:
    mine = torch.stack(inline(square, mu64, sigma64, 1000, torch.Generator().manual_seed(1)))
    theirs = torch.stack(tuple(package(square, mu64, sigma64, 1000, torch.Generator().manual_seed(1))))
    assert torch.allclose(mine, theirs), (inline.__name__, mine, theirs)
print("both inline versions agree with gdmcourse.reparam on the same noise")

# %% [markdown]
# ### Both are unbiased
#
# Two test functions whose expectation under $\mathcal N(\mu, \sigma^2)$ has a closed form:
#
# - $f(z) = z^2$: $\ \mathbb E[z^2] = \mu^2 + \sigma^2$, so $\nabla_\mu = 2\mu$, $\nabla_\sigma = 2\sigma$;
# - $f(z) = \sin z$: $\ \mathbb E[\sin z] = \sin\mu\; e^{-\sigma^2/2}$ (the imaginary part of
#   $\mathbb E[e^{iz}] = e^{i\mu - \sigma^2/2}$), so $\nabla_\mu = \cos\mu\; e^{-\sigma^2/2}$ and
#   $\nabla_\sigma = -\sigma \sin\mu\; e^{-\sigma^2/2}$.
#
# Each estimate below uses $N = 100{,}000$ samples, and we want its standard error from the same
# samples. The package's estimators act elementwise on a tensor `mu`: called with $N$ copies of
# $\mu$ and $n = 1$, they return $N$ independent one-sample estimates. Their mean is the
# $N$-sample estimate, their standard deviation divided by $\sqrt N$ its standard error. We
# assert that every estimate lies within 4 standard errors of the exact value.

# %%
N = 100_000
TESTS = {
    "z²": (square, lambda m, s: (2 * m, 2 * s)),
    "sin z": (torch.sin, lambda m, s: (math.cos(m) * math.exp(-s**2 / 2), -s * math.sin(m) * math.exp(-s**2 / 2))),
}
ESTIMATORS = {"score function": rp.score_function_grad, "pathwise": rp.pathwise_grad}
mu_N, sigma_N = torch.full((N,), MU, dtype=torch.float64), torch.full((N,), SIGMA, dtype=torch.float64)
one_sample_var = {}  # variance of a one-sample estimate, by (f, estimator, parameter)

print(f"{'f':6} {'estimator':15} {'∇μ estimate':>15} {'exact':>7}   {'∇σ estimate':>15} {'exact':>7}")
for f_name, (f, exact_grad) in TESTS.items():
    for seed, (e_name, estimator) in enumerate(ESTIMATORS.items()):
        grads = estimator(f, mu_N, sigma_N, 1, torch.Generator().manual_seed(10 + seed))  # N one-sample estimates
        row = f"{f_name:6} {e_name:15}"
        for param, g, exact in zip(("mu", "sigma"), grads, exact_grad(MU, SIGMA)):
            estimate, se = g.mean().item(), g.std().item() / math.sqrt(N)
            assert abs(estimate - exact) < 4 * se, (f_name, e_name, param, estimate, exact, se)
            one_sample_var[f_name, e_name, param] = g.var().item()
            row += f" {estimate:7.3f} ± {se:.3f} {exact:7.3f}  "
        print(row)
print("every estimate is within 4 standard errors of the exact gradient")
se_ratio = {(f_name, param): math.sqrt(one_sample_var[f_name, "score function", param]
                                       / one_sample_var[f_name, "pathwise", param])
            for f_name in TESTS for param in ("mu", "sigma")}
print("standard error, score function / pathwise:",
      {f"{f} ∇{'μ' if p == 'mu' else 'σ'}": round(r, 1) for (f, p), r in se_ratio.items()})
assert all(2.5 < r < 5.5 for r in se_ratio.values()), se_ratio

# %% [markdown]
# Both estimators hit the exact gradients within their error bars: both are unbiased. But the
# error bars differ: with the same $N$, the score function's are about 3 to 5 times wider.
#
# ## Variance against the number of samples
#
# An estimate from $n$ samples is a mean of $n$ independent terms, so its variance is the
# one-sample variance divided by $n$: a line of slope $-1$ on log-log axes for both estimators.
# What differs is the height of the line. We measure it with `rp.estimator_stats`: 2,000
# independent estimates for each $n$ (for $f(z) = z^2$, $\mu = 1$, $\sigma = 0.5$). The figure
# plots, on log-log axes, the variance of those estimates against $n$ (dots), for $\nabla_\mu$ on
# the left and $\nabla_\sigma$ on the right, with the one-sample variances of the previous cell
# divided by $n$ as dashed lines.

# %%
NS = [1, 3, 10, 30, 100, 300, 1000]
REPEATS = 2000
variance = {(e_name, param): [] for e_name in ESTIMATORS for param in ("mu", "sigma")}
for e_name, estimator in ESTIMATORS.items():
    for j, n in enumerate(NS):
        stats = rp.estimator_stats(estimator, square, MU, SIGMA, n, repeats=REPEATS,
                                   generator=torch.Generator().manual_seed(100 + j))
        for param in ("mu", "sigma"):
            variance[e_name, param].append(stats[f"{param}_std"] ** 2)

slopes = {key: np.polyfit(np.log(NS), np.log(v), 1)[0] for key, v in variance.items()}
ratio = {param: np.array(variance["score function", param]) / np.array(variance["pathwise", param])
         for param in ("mu", "sigma")}
for key, slope in slopes.items():
    assert abs(slope + 1) < 0.1, (key, slope)
for param in ("mu", "sigma"):
    assert ratio[param].min() > 10, (param, ratio[param])
    print(f"∇{'μ' if param == 'mu' else 'σ'}: variance ratio score function / pathwise between "
          f"{ratio[param].min():.0f} and {ratio[param].max():.0f} for every n")
print("log-log slopes of the variance against n:",
      ", ".join(f"{e} ∇{'μ' if p == 'mu' else 'σ'} {s:.1f}" for (e, p), s in slopes.items()))

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
ns = np.array(NS)
for ax, param, symbol in zip(axes, ("mu", "sigma"), ("\\mu", "\\sigma")):
    for k, e_name in enumerate(ESTIMATORS):
        ax.loglog(ns, variance[e_name, param], "o", color=f"C{k}", label=f"{e_name}, measured")
        ax.loglog(ns, one_sample_var["z²", e_name, param] / ns, "--", color=f"C{k}")
    ax.plot([], [], "--", color="grey", label="one-sample variance / $n$")
    ax.set(xlabel="number of samples $n$", ylabel=f"variance of the estimate of $\\nabla_{symbol}$",
           title=f"$\\nabla_{symbol}\\, \\mathbb{{E}}[z^2]$, $\\mu = {MU:g}$, $\\sigma = {SIGMA:g}$")
    ax.legend(fontsize="small", loc="upper right")
plt.tight_layout()
plt.show()

# %% [markdown]
# Both variances fall as $1/n$ (slope $-1$), on parallel lines. For $\nabla_\mu$ the
# score-function line sits about 20 times higher: to match the pathwise estimator's accuracy it
# needs about 20 times as many samples (and about 15 times for $\nabla_\sigma$). The dashed lines,
# the one-sample variances of the previous cell divided by $n$, predict every measured point to
# within a third, most of them to within 10%.
#
# The heights also follow exactly from the moments of $\varepsilon \sim \mathcal N(0, 1)$
# ($\mathbb E\varepsilon^2 = 1$, $\mathbb E\varepsilon^4 = 3$, $\mathbb E\varepsilon^6 = 15$,
# $\mathbb E\varepsilon^8 = 105$). With $z = \mu + \sigma\varepsilon$ a one-sample estimate of
# $\nabla_\mu$ has variance $(\mu^4 + 18\mu^2\sigma^2 + 15\sigma^4)/\sigma^2 - 4\mu^2 = 21.75$ by the
# score function, $z^2\varepsilon/\sigma$, and $4\sigma^2 = 1$ pathwise, $2z$; one of $\nabla_\sigma$
# has $(2\mu^4 + 60\mu^2\sigma^2 + 78\sigma^4)/\sigma^2 - 4\sigma^2 = 86.5$ by the score function,
# $z^2(\varepsilon^2 - 1)/\sigma$, and $4\mu^2 + 8\sigma^2 = 6$ pathwise, $2z\varepsilon$: ratios of
# 21.75 and 14.4.

# %%
exact_one_sample = {("score function", "mu"): (MU**4 + 18 * MU**2 * SIGMA**2 + 15 * SIGMA**4) / SIGMA**2 - 4 * MU**2,
                    ("pathwise", "mu"): 4 * SIGMA**2,
                    ("score function", "sigma"): (2 * MU**4 + 60 * MU**2 * SIGMA**2 + 78 * SIGMA**4) / SIGMA**2
                    - 4 * SIGMA**2,
                    ("pathwise", "sigma"): 4 * MU**2 + 8 * SIGMA**2}
for (e_name, param), exact in exact_one_sample.items():
    measured = one_sample_var["z²", e_name, param]
    print(f"one-sample variance, {e_name:14} ∇{'μ' if param == 'mu' else 'σ'}: measured {measured:6.2f}, exact {exact:6.2f}")
    assert abs(measured / exact - 1) < 0.05, (e_name, param, measured, exact)
for param, low, high in (("mu", 17, 25), ("sigma", 12, 18)):
    one_sample_ratio = one_sample_var["z²", "score function", param] / one_sample_var["z²", "pathwise", param]
    assert low < one_sample_ratio < high, (param, one_sample_ratio)
to_dashed = np.array([np.array(variance[key]) * np.array(NS) / one_sample_var["z²", key[0], key[1]]
                      for key in variance])  # measured / predicted, one row per curve
print(f"measured / dashed line: from {to_dashed.min():.2f} to {to_dashed.max():.2f}; "
      f"{(abs(to_dashed - 1) < 0.1).sum()} of {to_dashed.size} points within 10%")
assert (0.75 < to_dashed).all() and (to_dashed < 1.33).all() and (abs(to_dashed - 1) < 0.1).mean() > 0.75, to_dashed

# %% [markdown]
# The same comparison as distributions: 2,000 estimates of $\nabla_\mu \mathbb E[z^2]$ from
# $n = 10$ samples each, by both estimators, around the exact value $2\mu = 2$.

# %%
n_hist = 10
estimates = {name: estimator(square, torch.full((REPEATS,), MU), torch.full((REPEATS,), SIGMA), n_hist,
                             torch.Generator().manual_seed(7))[0] for name, estimator in ESTIMATORS.items()}
for name, g in estimates.items():
    inside = ((g - 2 * MU).abs() < 0.5).float().mean().item()
    print(f"{name:15s}: mean {g.mean().item():.3f}, std {g.std().item():.3f}, within ±0.5 of 2μ: {inside:.2f}")
assert all(abs(g.mean().item() - 2 * MU) < 4 * g.std().item() / REPEATS**0.5 for g in estimates.values())
assert estimates["score function"].std() > 3 * estimates["pathwise"].std()
share = {name: ((g - 2 * MU).abs() < 0.5).float().mean().item() for name, g in estimates.items()}
assert share["score function"] < 0.35 and share["pathwise"] > 0.8, share
assert 0.2 < share["score function"] < 0.3 and 0.85 < share["pathwise"] < 0.95, share
skewness = {name: (((g - g.mean()) / g.std()) ** 3).mean().item() for name, g in estimates.items()}
print("skewness:", {name: round(v, 2) for name, v in skewness.items()})
assert skewness["score function"] > 0.5 and abs(skewness["pathwise"]) < 0.2, skewness
plot.distributions(estimates, truth=2 * MU, xlabel="estimate of $\\nabla_\\mu \\mathbb{E}[z^2]$ from n = 10 samples",
                   title="2,000 estimates per estimator: same mean, different spread")
plt.show()

# %% [markdown]
# Both have the exact gradient as their mean (both are unbiased), but the score-function
# estimates spread several times wider and are skewed to the right, with a long tail of large
# estimates (skewness above 0.5, against about 0 for the pathwise ones): only about a quarter of
# them land within ±0.5 of $2\mu$, against nine in ten pathwise estimates. Any one of them, which is
# all a training step gets, is a much worse guess.

# %% [markdown]
# ### Where the score function's variance comes from, and what a baseline does
#
# The score has mean zero, $\mathbb E_{q_\varphi}[\nabla_\varphi \log q_\varphi(z)] =
# \nabla_\varphi \int q_\varphi(z)\, dz = \nabla_\varphi 1 = 0$. So adding a constant $c$ to $f$
# changes nothing in expectation, but every term $f(z_i)\, \nabla_\mu \log q(z_i)$ now carries
# $c\,(z_i - \mu)/\sigma^2$, noise that averages to zero. For $f(z) = z^2 + c$ the variance of a
# one-sample estimate of $\nabla_\mu$ works out to $V_0 + \big(c^2 + 2c(\mu^2 + 3\sigma^2)\big)/\sigma^2$,
# with $V_0$ its value at $c = 0$ (use $\mathbb E[z^2 (z-\mu)^2] = \sigma^2(\mu^2 + 3\sigma^2)$): it
# grows like $c^2/\sigma^2$. The pathwise estimator differentiates $f$ and never sees $c$. The
# standard fix subtracts a **baseline** $b \approx \mathbb E[f]$:
# $\frac1n \sum_i \big(f(z_i) - b\big)\, \nabla_\varphi \log q_\varphi(z_i)$
# is still unbiased for any constant $b$. Here we use the exact $b = \mathbb E[f] = \mu^2 + \sigma^2 + c$;
# in practice it is a running average of past values of $f$ (or, in reinforcement learning, a
# learned value function). The figure plots, against $c$, the standard deviation of a one-sample
# estimate of $\nabla_\mu$ by the three estimators, and the formula above as a dotted line.

# %%
OFFSETS = np.arange(0, 11)
one_sample_std = {"score function": [], "score function, baseline b = E[f]": [], "pathwise": []}
for c in OFFSETS:
    shifted = functools.partial(lambda z, c: z**2 + c, c=float(c))
    with_baseline = functools.partial(rp.score_function_grad, baseline=MU**2 + SIGMA**2 + float(c))
    for name, estimator in zip(one_sample_std, (rp.score_function_grad, with_baseline, rp.pathwise_grad)):
        # the same noise for every c (common random numbers), so the curves are smooth
        stats = rp.estimator_stats(estimator, shifted, MU, SIGMA, 1, repeats=20_000,
                                   generator=torch.Generator().manual_seed(200))
        one_sample_std[name].append(stats["mu_std"])

sf, sf_b, pw = (np.array(v) for v in one_sample_std.values())
assert sf[-1] > 4 * sf[0], sf
assert np.ptp(sf_b) < 1e-3 * sf_b[0] and np.ptp(pw) < 1e-3 * pw[0], (sf_b, pw)
assert pw[0] < sf_b[0] < sf[0], (pw[0], sf_b[0], sf[0])
assert (pw < sf_b).all() and (sf_b < sf).all(), (pw, sf_b, sf)
print(f"std of a one-sample estimate of ∇μ: score function {sf[0]:.1f} at c = 0, {sf[-1]:.0f} at c = 10; "
      f"with the baseline {sf_b[0]:.1f}; pathwise {pw[0]:.1f}, for every c")
r_squared = np.corrcoef(OFFSETS, sf)[0, 1] ** 2  # how much of the growth a straight line explains
print(f"R² of a straight line fitted to the score function's std against c: {r_squared:.4f}")
assert r_squared > 0.99, r_squared

# %%
fig, ax = plt.subplots(figsize=(6.5, 4))
for (name, values), marker in zip(one_sample_std.items(), "os^"):
    ax.plot(OFFSETS, values, marker=marker, label=name)
predicted = np.sqrt(sf[0] ** 2 + (OFFSETS**2 + 2 * OFFSETS * (MU**2 + 3 * SIGMA**2)) / SIGMA**2)
ax.plot(OFFSETS, predicted, ":", color="grey", label="score function, predicted")
assert np.allclose(sf, predicted, rtol=0.05), (sf, predicted)
ax.set(xlabel="offset $c$ added to $f(z) = z^2$", ylabel=r"std of a one-sample estimate of $\nabla_\mu$",
       title=r"$f(z) = z^2 + c$: same gradient, different noise", ylim=(0, None))
ax.legend(fontsize="small", loc="upper left")  # above the low curves, left of the rising one
plt.show()

# %% [markdown]
# The offset $c$ does not change the gradient, yet the score function's noise grows almost
# linearly in $c$ (a straight line explains more than 99% of its variation), as predicted (dotted). With the baseline the curve is flat, and lower than at
# $c = 0$; the pathwise estimator stays lowest of all, for every $c$. This is
# the general picture (Mohamed et al. 2020, "Monte Carlo gradient estimation in machine
# learning"): the score function knows only *values* of $f$ and has to discover the direction of
# improvement from their correlation with the score; the pathwise estimator reads it off
# $f'(z)$ at every sample. That is why a VAE draws $z$ with `rsample`: the trick "allows
# differentiating $z$ with respect to $\mu$ and $\sigma$" (lecture 003), and it does so cheaply.
#
# ## Discrete latents: no path through the sample
#
# Now let $z$ be one of $K$ categories, $z \sim \mathrm{Categorical}(\pi)$ with
# $\pi = \mathrm{softmax}(\ell)$ for logits $\ell$ (what an encoder outputs), written as a
# one-hot vector $e_z$. There is no useful $z = g(\ell, \varepsilon)$: every map from logits to
# one-hot vectors is piecewise constant, so its derivative is zero wherever it exists. The score
# function still works, with $\nabla_\ell \log \pi_k = e_k - \pi$ and its high variance. To get a
# pathwise estimator we first write the categorical sample as a function of noise, then relax it.
#
# ### The Gumbel-max trick
#
# Let $g_1, \dots, g_K$ be independent standard Gumbel variables,
# $g_k = -\log(-\log u_k)$ with $u_k \sim \mathcal U(0, 1)$ (`rp.sample_gumbel`). Then
#
# $$\arg\max_k\, (\ell_k + g_k) \;\sim\; \mathrm{Categorical}\big(\mathrm{softmax}(\ell)\big).$$
#
# ($\ell_k + g_k$ has density $e^{\ell_k - x} \exp(-e^{\ell_k - x})$ and distribution function
# $\exp(-e^{\ell_k - x})$, so
# $P(k \text{ wins}) = \int e^{\ell_k - x} \exp\big(-e^{-x} \sum_j e^{\ell_j}\big)\, dx
# = e^{\ell_k} / \sum_j e^{\ell_j}$.) This *is* a reparametrization: all the randomness is in
# $g$, and the logits enter by a shift. Only the final argmax has no useful derivative. We check
# the claim with 200,000 draws, next to the same argmax with Gaussian instead of Gumbel noise.
# The bars show, for each category $k$, its probability $\pi_k$ (grey) and how often it won the
# argmax with Gumbel noise (blue) and with Gaussian noise (orange).

# %%
LOGITS = torch.tensor([1.0, 0.0, -1.0, 0.5])
K = len(LOGITS)
pi = F.softmax(LOGITS, dim=-1)
M = 200_000
gumbel = rp.sample_gumbel((M, K), torch.Generator().manual_seed(20))
freq_gumbel = torch.bincount((LOGITS + gumbel).argmax(dim=-1), minlength=K) / M
gaussian = torch.randn(M, K, generator=torch.Generator().manual_seed(21))
freq_gaussian = torch.bincount((LOGITS + gaussian).argmax(dim=-1), minlength=K) / M

se = (pi * (1 - pi) / M).sqrt()
assert ((freq_gumbel - pi).abs() < 4 * se).all(), (freq_gumbel, pi)
assert ((freq_gaussian - pi).abs() > 10 * se).any(), (freq_gaussian, pi)
assert (freq_gumbel - pi).abs().max() < 0.001, (freq_gumbel - pi).abs().max()
assert freq_gaussian[0] > pi[0] + 10 * se[0] and freq_gaussian[2] < pi[2] - 10 * se[2], (freq_gaussian, pi)
print("softmax(ℓ)                  ", pi.numpy().round(3))
print("argmax(ℓ + g), Gumbel noise ", freq_gumbel.numpy().round(3))
print("argmax(ℓ + g), Gaussian     ", freq_gaussian.numpy().round(3))
one_hot = F.one_hot((LOGITS.clone().requires_grad_(True) + gumbel[0]).argmax(), K)
print(f"the one-hot sample {one_hot.tolist()} has requires_grad = {one_hot.requires_grad}")

# %%
fig, ax = plt.subplots(figsize=(7, 3.6))
index = np.arange(K)
ax.bar(index - 0.27, pi, width=0.27, label=r"$\pi = \mathrm{softmax}(\ell)$", color="grey")
ax.bar(index, freq_gumbel, width=0.27, label=r"$\arg\max_k(\ell_k + g_k)$, Gumbel $g$")
ax.bar(index + 0.27, freq_gaussian, width=0.27, label=r"$\arg\max_k(\ell_k + g_k)$, Gaussian $g$")
ax.set(xticks=index, xticklabels=[f"$k = {k + 1}$\n$\\ell_k = {v:g}$" for k, v in enumerate(LOGITS.tolist())],
       ylabel="probability / frequency", title=f"Gumbel-max trick, {M:,} draws")
ax.legend(fontsize="small", loc="upper right")  # above the bars of k = 3 and 4
plt.show()

# %% [markdown]
# With Gumbel noise the frequencies match $\mathrm{softmax}(\ell)$ within 0.001; with
# Gaussian noise the argmax follows some other law (too concentrated on the largest logit here,
# and too rarely on the smallest: Gaussian noise, with standard deviation 1 against the Gumbel's
# $\pi/\sqrt 6 \approx 1.28$, reshuffles the order of the logits less often).
# The Gumbel distribution is exactly the one that turns "add noise, take the max" into the softmax.
#
# ### Gumbel-softmax: relax the argmax
#
# Replace the argmax by a softmax at temperature $\tau > 0$ (Jang et al. 2017, "Categorical
# reparameterization with Gumbel-softmax"; Maddison et al. 2017 call it the *concrete*
# distribution):
#
# $$y = \mathrm{softmax}\big((\ell + g)/\tau\big), \qquad
#   y_k = \frac{\exp\big((\ell_k + g_k)/\tau\big)}{\sum_j \exp\big((\ell_j + g_j)/\tau\big)}.$$
#
# $y$ is a point of the probability simplex and a differentiable function of $\ell$, built from
# the same noise as the Gumbel-max sample. As $\tau \to 0$ it approaches that exact one-hot
# sample; as $\tau \to \infty$ it approaches the centre $(1/K, \dots, 1/K)$.
#
# With $K = 3$ the simplex is a triangle. Each dot below is one relaxed sample
# $y = $ `rp.gumbel_softmax(ℓ, τ)` for $\ell = (1, 0, -0.5)$, coloured by its argmax; the noise is
# the same in every panel, only $\tau$ changes. The cross is the average of the $y$, the star the
# categorical probabilities $\pi$. In a live notebook the slider below the strip sets $\tau$.

# %%
LOGITS3 = torch.tensor([1.0, 0.0, -0.5])
CORNERS = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])  # e_1, e_2, e_3 in the plane


def draw_simplex(tau, ax):
    y = rp.gumbel_softmax(LOGITS3.expand(400, 3), tau, generator=torch.Generator().manual_seed(30))
    xy = y @ CORNERS  # barycentric coordinates -> the plane
    ax.fill(*CORNERS.T, facecolor="none", edgecolor="grey")
    ax.scatter(*xy.T, c=[f"C{k}" for k in y.argmax(dim=-1).tolist()], s=7, alpha=0.6)
    ax.plot(*(y.mean(dim=0) @ CORNERS), "kx", ms=10, mew=2, label="mean of $y$")
    ax.plot(*(F.softmax(LOGITS3, dim=-1) @ CORNERS), "k*", ms=11, mfc="none", label=r"$\pi$")
    for k, (x0, y0) in enumerate(CORNERS.tolist()):
        ax.annotate(f"$e_{k + 1}$", (x0, y0), xytext=(x0 + (0.5 - x0) * -0.12, y0 + (0.29 - y0) * -0.12),
                    ha="center", va="center", color=f"C{k}")
    ax.set(xlim=(-0.12, 1.12), ylim=(-0.12, 1.0), aspect="equal", title=f"$\\tau$ = {tau:g}")
    ax.axis("off")
    ax.legend(loc="upper left", fontsize="x-small", handlelength=1)


widgets.explore(draw_simplex, static=[{"tau": tau} for tau in (0.1, 0.5, 1.0, 5.0)], panel_size=(3.2, 3.0),
                title=r"Gumbel-softmax samples $y = \mathrm{softmax}((\ell + g)/\tau)$ on the simplex, $K = 3$",
                tau=widgets.FloatLogSlider(value=1.0, base=10, min=-2, max=1, step=0.05, description="τ"))

# %%
pi3, centre = F.softmax(LOGITS3, dim=-1), torch.full((3,), 1 / 3)
simplex = {}
for tau in (0.1, 0.5, 1.0, 5.0):
    y = rp.gumbel_softmax(LOGITS3.expand(400, 3), tau, generator=torch.Generator().manual_seed(30))  # as drawn
    simplex[tau] = {"near a corner": (y.max(dim=-1).values > 0.9).float().mean().item(),
                    "to the centre": (y - centre).norm(dim=-1).mean().item(),
                    "mean to π": (y.mean(dim=0) - pi3).norm().item(),
                    "mean to the centre": (y.mean(dim=0) - centre).norm().item(),
                    "colours": torch.bincount(y.argmax(dim=-1), minlength=3) / 400}
for tau, row in simplex.items():
    print(f"τ = {tau:<3g}: near a corner {row['near a corner']:.2f}, mean distance to the centre "
          f"{row['to the centre']:.2f}; the cross is {row['mean to π']:.2f} from π and "
          f"{row['mean to the centre']:.2f} from the centre")
print("share of each colour:", simplex[0.1]["colours"].numpy().round(3), " π:", pi3.numpy().round(3))
taus = list(simplex)
assert simplex[0.1]["near a corner"] > 0.8, simplex[0.1]
assert all(torch.equal(simplex[tau]["colours"], simplex[0.1]["colours"]) for tau in taus)
assert ((simplex[0.1]["colours"] - pi3).abs() < 3 * (pi3 * (1 - pi3) / 400).sqrt()).all()
assert simplex[0.1]["mean to π"] < 0.2 * (pi3 - centre).norm().item(), simplex[0.1]
assert all(simplex[a]["to the centre"] > simplex[b]["to the centre"] for a, b in zip(taus, taus[1:]))
assert all(simplex[a]["mean to π"] < simplex[b]["mean to π"] for a, b in zip(taus, taus[1:]))
assert simplex[5.0]["to the centre"] < 0.25 * simplex[0.1]["to the centre"], simplex
assert simplex[5.0]["mean to the centre"] < 0.5 * simplex[5.0]["mean to π"], simplex[5.0]

# %% [markdown]
# At $\tau = 0.1$ nearly nine samples in ten lie near a corner (largest weight above 0.9):
# almost one-hot. The colours are the same in every panel, since dividing by $\tau$ does not
# change which entry of $\ell + g$ is largest, and the share of each colour is close to its
# categorical probability (within three standard errors of 400 draws); at $\tau = 0.1$ the cross
# sits next to the star. As $\tau$ grows the samples are pulled inwards (their mean distance to
# the centre falls from panel to panel), and at $\tau = 5$ they crowd around the centre: the
# relaxed samples no longer look like categories, and their mean has moved from $\pi$ towards
# $(1/3, 1/3, 1/3)$, to which it is now much closer.
# Low temperature is faithful but, as we will measure, gives noisy gradients: the softmax is
# nearly flat in the corners and very steep on the way between them.
#
# ### Straight-through: one-hot forward, relaxed backward
#
# Often the next layer needs a genuine one-hot vector (a token, one row of a code book). The
# **straight-through** Gumbel-softmax estimator (Jang et al. 2017) uses the hard sample
# $z = \mathrm{one\_hot}(\arg\max_k y_k)$ in the forward pass and the gradient of the soft $y$ in
# the backward pass:
#
# $$z_{\mathrm{ST}} = z + y - \mathrm{sg}(y),$$
#
# where $\mathrm{sg}$ ("stop gradient", `.detach()`) is the identity forward and has zero
# derivative. The value of $z_{\mathrm{ST}}$ is exactly $z$; its derivative is $\partial y/\partial \ell$.
# `rp.gumbel_softmax(..., hard=True)` does this:

# %%
w = torch.tensor([0.3, -1.0, 2.0, 0.5])  # a downstream use of the sample: f(y) = w·y
logits = LOGITS.clone().requires_grad_(True)
y_soft = rp.gumbel_softmax(logits, 0.5, generator=torch.Generator().manual_seed(40))
y_hard = rp.gumbel_softmax(logits, 0.5, hard=True, generator=torch.Generator().manual_seed(40))
(grad_soft,) = torch.autograd.grad(y_soft @ w, logits)
(grad_hard,) = torch.autograd.grad(y_hard @ w, logits)

assert torch.equal(y_hard.detach(), F.one_hot(y_soft.argmax(), K).float())
assert torch.allclose(grad_hard, grad_soft)
print("soft y, τ = 0.5:       ", y_soft.detach().numpy().round(3))
print("hard=True, forward:    ", y_hard.detach().numpy().round(3) + 0.0, f"(grad_fn: {type(y_hard.grad_fn).__name__})")
print("gradient of w·y, soft: ", grad_soft.numpy().round(3) + 0.0)
print("gradient of w·y, hard: ", grad_hard.numpy().round(3) + 0.0)

# %% [markdown]
# The forward value is an exact one-hot vector, the gradient is the soft sample's. The
# straight-through estimator is biased (the gradient belongs to a different function than the
# one evaluated), but the forward pass now sees the real discrete objective.
#
# ### The price of the relaxation: bias against variance
#
# Measure it. Take an objective that depends on the sample non-linearly,
# $f(y) = \lVert y - c\rVert^2$ for a fixed $c \in \mathbb R^K$. The discrete objective is
# $\mathbb E_{k \sim \pi}[f(e_k)] = \sum_k \pi_k v_k$ with $v_k = f(e_k)$, and its exact gradient is
# $\nabla_\ell = \pi \odot (v - \pi^\top v)$. For a range of $\tau$ we draw 50,000 samples,
# compute each sample's gradient $\nabla_\ell f(y)$ (soft and straight-through), and record
# (1) the objective the forward pass sees, (2) the bias $\lVert \mathbb E[\hat g] - \nabla_\ell \rVert$
# and (3) the spread of one sample's gradient, $\sqrt{\operatorname{tr}\operatorname{Cov}\hat g}$,
# next to the unbiased score-function estimator $f(e_k)\,(e_k - \pi)$. The figure plots the three
# against $\tau$ on log axes, for Gumbel-softmax (circles) and straight-through (squares), with
# the discrete objective (dashed, left), the Monte Carlo noise level of a bias measured from
# 50,000 samples (dotted, middle) and the score function's spread (dashed, right).

# %%
C = torch.tensor([0.9, 0.1, 0.6, 0.2])
v = ((torch.eye(K) - C) ** 2).sum(dim=-1)  # v_k = f(e_k)
exact_objective = (pi * v).sum().item()
exact_gradient = pi * (v - (pi * v).sum())
n_draws = 50_000
TAUS = np.geomspace(0.05, 10, 12)

curves = {name: {"objective": [], "bias": [], "std": []} for name in ("Gumbel-softmax", "straight-through")}
for tau in TAUS:
    for name, hard in (("Gumbel-softmax", False), ("straight-through", True)):
        per_sample_logits = LOGITS.expand(n_draws, K).clone().requires_grad_(True)  # one row per sample
        y = rp.gumbel_softmax(per_sample_logits, float(tau), hard=hard, generator=torch.Generator().manual_seed(41))
        f_y = ((y - C) ** 2).sum(dim=-1)
        (g,) = torch.autograd.grad(f_y.sum(), per_sample_logits)  # row i: the gradient of f(y_i)
        curves[name]["objective"].append(f_y.mean().item())
        curves[name]["bias"].append((g.mean(dim=0) - exact_gradient).norm().item())
        curves[name]["std"].append(g.var(dim=0).sum().sqrt().item())

k = torch.multinomial(pi, n_draws, replacement=True, generator=torch.Generator().manual_seed(42))
e_k = F.one_hot(k, K).float()
g_sf = v[k, None] * (e_k - pi)  # score function: f(e_k) ∇ log π_k
sf_bias, sf_std = (g_sf.mean(dim=0) - exact_gradient).norm().item(), g_sf.var(dim=0).sum().sqrt().item()
noise_floor = np.array(curves["Gumbel-softmax"]["std"]) / math.sqrt(n_draws)

soft, st = curves["Gumbel-softmax"], curves["straight-through"]
assert soft["bias"][-1] > 5 * soft["bias"][0] and soft["std"][0] > 10 * soft["std"][-1], soft
assert all(abs(o - exact_objective) < 0.01 for o in st["objective"]), st["objective"]
assert abs(soft["objective"][0] - exact_objective) < 0.05 < abs(soft["objective"][-1] - exact_objective)
assert sf_bias < 4 * sf_std / math.sqrt(n_draws)
print(f"discrete objective E[f] = {exact_objective:.3f}; at τ = {TAUS[0]:.2f} / {TAUS[-1]:g} the relaxed one is "
      f"{soft['objective'][0]:.3f} / {soft['objective'][-1]:.3f}, straight-through sees {st['objective'][0]:.3f}")
print(f"Gumbel-softmax gradient: bias {soft['bias'][0]:.2f} -> {soft['bias'][-1]:.2f}, "
      f"std {soft['std'][0]:.2g} -> {soft['std'][-1]:.2g} from τ = {TAUS[0]:.2f} to {TAUS[-1]:g}; "
      f"score function: std {sf_std:.1f}, no bias")


def crossing(spread):
    """The τ where a spread curve crosses the score function's, interpolated on the log-log axes."""
    above = np.log(np.array(spread)) - math.log(sf_std)  # > 0 where the spread is larger
    i = int(np.flatnonzero(np.diff(np.sign(above)))[0])
    t = above[i] / (above[i] - above[i + 1])
    return math.exp(math.log(TAUS[i]) + t * (math.log(TAUS[i + 1]) - math.log(TAUS[i])))


st_noise = np.array(st["std"]) / math.sqrt(n_draws)
cross = {"Gumbel-softmax": crossing(soft["std"]), "straight-through": crossing(st["std"])}
print("the spread overtakes the score function's below τ =", {k: round(v, 2) for k, v in cross.items()},
      f"; Gumbel-softmax bias at τ = {TAUS[0]:.2f}: {soft['bias'][0] / noise_floor[0]:.1f}× the noise level")
assert (np.diff(soft["bias"]) > 0).all() and (np.diff(soft["std"]) < 0).all(), soft
assert soft["bias"][0] < 2.5 * noise_floor[0], (soft["bias"][0], noise_floor[0])
assert 0.1 < cross["Gumbel-softmax"] < 0.2 and 0.25 < cross["straight-through"] < 0.45, cross
assert (np.array(st["bias"]) > 2 * st_noise).all() and (np.array(st["std"]) > np.array(soft["std"])).all(), st

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
for name, style in (("Gumbel-softmax", "o-"), ("straight-through", "s-")):
    for ax, key in zip(axes, ("objective", "bias", "std")):
        ax.plot(TAUS, curves[name][key], style, ms=4, label=name)
axes[0].axhline(exact_objective, color="k", ls="--", label=r"discrete $\sum_k \pi_k f(e_k)$")
axes[1].plot(TAUS, noise_floor, ":", color="grey", label="Monte Carlo noise level (std / $\\sqrt{n}$)")
axes[2].axhline(sf_std, color="C3", ls="--", label="score function (unbiased)")
axes[0].set(xscale="log", xlabel=r"temperature $\tau$", ylabel=r"mean of $f(y)$",
            title="objective seen by the forward pass")
axes[1].set(xscale="log", yscale="log", xlabel=r"temperature $\tau$",
            ylabel=r"$\|\mathbb{E}[\hat g] - \nabla_\ell\|$", title="bias of the gradient")
axes[2].set(xscale="log", yscale="log", xlabel=r"temperature $\tau$",
            ylabel=r"$\sqrt{\mathrm{tr}\,\mathrm{Cov}\,\hat g}$", title="spread of a one-sample gradient")
for ax in axes:
    ax.legend(fontsize="small", loc="lower left")
plt.tight_layout()
plt.show()

# %% [markdown]
# The temperature trades bias for variance. At high $\tau$ the relaxed samples sit near the
# centre of the simplex: the forward pass optimises a different objective (left), the gradient
# is biased (middle), but calm (right). As $\tau \to 0$ the relaxed objective approaches the
# discrete one and the bias falls steadily towards the Monte Carlo noise level (dotted; at
# $\tau = 0.05$ it is less than 2.5 times that level), while the spread grows steadily and, below
# $\tau \approx 0.15$, overtakes the score function's. The straight-through estimator always
# evaluates the true discrete objective, but its gradient is biased at every $\tau$ (by more than
# twice its own noise level) and noisier than the soft one at every $\tau$: its spread passes the
# score function's already below $\tau \approx 1/3$. In practice one starts warm ($\tau \approx 1$) and anneals $\tau$ down during training.
#
# ## Where this is used: the dVAE of DALL-E
#
# Lecture 001 presents the discrete VAE behind DALL-E 1 (Ramesh et al. 2021): an encoder maps a
# 256×256 image to a 32×32 grid of tokens, each one of 8192 code words; the decoder maps the grid
# back to an image; a transformer then learns to generate the tokens after the text's tokens. The
# gradient must cross the discrete choice of a token, and there are two ways:
#
# - **VQ-VAE** (van den Oord et al. 2017) takes the code word nearest to the encoder's output and
#   copies the gradient from the decoder's input to the encoder's output ("copy gradients from
#   decoder input $z$ to the encoder output", lecture 001): a straight-through estimator for a
#   deterministic choice. Notebook 07 builds it, with its code-book and commitment losses.
# - **DALL-E's dVAE** lets the encoder output logits over the 8192 code words at each of the
#   32×32 positions, and trains with the Gumbel-softmax relaxation: the decoder receives the
#   relaxed mixture $\sum_k y_k\, E_k$ of the code words' embeddings $E_k$, $\tau$ is annealed from 1 to
#   1/16 so that the relaxation is tight by the end, and the ELBO's KL term is taken against a
#   uniform prior over the code words.
#
# Lecture 001's slide on the dVAE mixes the two: its bullets "introduced in VQ-VAE 1 and
# VQ-VAE-2", "vector quantization maps to 8k code words" and "copy gradients from decoder input
# $z$ to the encoder output" describe VQ-VAE. The dVAE was introduced with DALL-E (Ramesh et al.
# 2021), and it has neither a vector quantizer nor copied gradients: it uses the Gumbel-softmax
# relaxation of this notebook.
#
# Here is that bottleneck, with a random stand-in for the encoder's logits, an 8×8 grid and 512
# code words:

# %%
B, H, W, N_CODES, D = 2, 8, 8, 512, 16
gen = torch.Generator().manual_seed(50)
encoder_logits = torch.randn(B, H, W, N_CODES, generator=gen).to(device).requires_grad_(True)
codebook = torch.randn(N_CODES, D, generator=gen).to(device).requires_grad_(True)
largest_weight = {}
for tau in (1.0, 1 / 16):
    y = rp.gumbel_softmax(encoder_logits, tau, generator=torch.Generator().manual_seed(51))  # (B, H, W, K)
    decoder_input = y @ codebook  # (B, H, W, D): a mixture of code vectors at each position
    largest_weight[tau] = y.max(dim=-1).values.mean().item()
    print(f"τ = {tau:<6g}: decoder input {tuple(decoder_input.shape)}, largest weight per position: "
          f"{largest_weight[tau]:.2f} on average")
loss = decoder_input.pow(2).mean()  # stands in for the decoder's reconstruction loss
loss.backward()
assert encoder_logits.grad.abs().sum() > 0 and codebook.grad.abs().sum() > 0
hard_input = codebook[y.argmax(dim=-1)]  # (B, H, W, D): the one code word of the hard sample at τ = 1/16
gap = ((decoder_input - hard_input).norm(dim=-1) / hard_input.norm(dim=-1)).mean().item()
tokens = encoder_logits.argmax(dim=-1)  # (B, H, W): the transformer's tokens, argmax of the logits, no noise
print(f"at τ = 1/16 the decoder input is on average {100 * gap:.0f}% (relative distance) from that code word")
print(f"gradients reach the encoder's logits and the code book; tokens {tuple(tokens.shape)}, "
      f"{tokens.unique().numel()} distinct codes used")
assert largest_weight[1.0] < 0.5 and largest_weight[1 / 16] > 0.9, largest_weight
assert gap < 0.15, gap

# %% [markdown]
# At $\tau = 1$ the decoder sees blends of many code words (the largest weight averages less than
# a half); at $\tau = 1/16$ each position puts almost all its weight on one code word (more than
# 0.9 on average, and the decoder's input is on average less than 15% away from that code word,
# in relative distance), so the decoder
# trained on relaxed inputs also works on the hard tokens that the transformer will later
# generate. The tokens the transformer is trained on are the argmax of the encoder's logits,
# without Gumbel noise (`tokens` above).
#
# ### Summary
#
# - `Normal.sample()` cuts the graph; `Normal.rsample()` computes $z = \mu + \sigma\varepsilon$ and
#   lets gradients reach $\mu$ and $\sigma$ (lecture 003's reparametrization trick).
# - Two unbiased estimators of $\nabla_\varphi \mathbb E_{q_\varphi}[f(z)]$: the score function
#   $\mathbb E[f(z)\,\nabla_\varphi \log q_\varphi(z)]$ needs only values of $f$; the pathwise
#   $\mathbb E[\nabla_\varphi f(\mu + \sigma\varepsilon)]$ needs $f'$. Both match the exact gradients.
# - Both variances fall as $1/n$; the pathwise one was about 20 times lower here. The score
#   function's variance grows with an offset of $f$; a baseline removes that part.
# - Categorical samples have no pathwise gradient. The Gumbel-max trick writes them as
#   $\arg\max(\ell + g)$; Gumbel-softmax relaxes the argmax at temperature $\tau$ (low $\tau$:
#   little bias, much variance); straight-through uses the one-hot forward and the soft backward.
# - DALL-E's dVAE trains its 8192-word token bottleneck with Gumbel-softmax; VQ-VAE
#   (notebook 07) uses a straight-through copy of gradients instead.

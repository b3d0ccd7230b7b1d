# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise 03 · Gradients through sampling
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/solutions/03_reparameterization.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=solutions%2F03_reparameterization.ipynb)
#
# *Goes with notebook 03 and lecture 003, "VAE – Reparametrization Trick"; the last part with
# lecture 001, "Discrete Variational Auto-Encoder (dVAE)".*
#
# You will write the three gradient estimators of notebook 03 yourself:
#
# 1. the score-function (REINFORCE) estimator,
# 2. the pathwise (reparametrization) estimator,
# 3. the Gumbel-softmax relaxation of a categorical sample, with its straight-through variant,
#
# then compare the variance of the first two and use the third to learn a categorical
# distribution by gradient descent. Fill in each cell that says `raise NotImplementedError`, run
# it, then run the check cell below it: it prints `PASSED` or `FAILED` with a hint.

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

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from gdmcourse import checks as check
from gdmcourse import plot

device = gdmcourse.startup(seed=0)
plot.use_style()


# %% [markdown]
# All three parts estimate $\nabla_\varphi\, \mathbb E_{z \sim q_\varphi}[f(z)]$ from samples. In
# parts 1 and 2, $q_\varphi = \mathcal N(\mu, \sigma^2)$ with $\varphi = (\mu, \sigma)$; `mu` and
# `sigma` are 0-d tensors, `f` maps a tensor of samples of shape `(n,)` to values of shape `(n,)`,
# and both functions return the pair `(grad_mu, grad_sigma)` of 0-d tensors. Draw the noise
# with the given `generator`, `eps = torch.randn(n, generator=generator)`, so that results are
# reproducible.
#
# ## 1. The score-function estimator
#
# With the log-derivative trick,
# $\nabla_\varphi \mathbb E_{q_\varphi}[f(z)] = \mathbb E_{q_\varphi}\big[f(z)\, \nabla_\varphi \log q_\varphi(z)\big]$,
# and for the Gaussian
#
# $$\hat g_\mu = \frac1n \sum_{i=1}^n f(z_i)\, \frac{z_i - \mu}{\sigma^2}, \qquad
#   \hat g_\sigma = \frac1n \sum_{i=1}^n f(z_i)\, \frac{(z_i - \mu)^2 - \sigma^2}{\sigma^3}, \qquad
#   z_i = \mu + \sigma\varepsilon_i,\ \varepsilon_i \sim \mathcal N(0, 1).$$
#
# Only *evaluate* `f`: the check also tries a step function, which has no useful derivative.

# %%
def score_function_grad(f, mu: torch.Tensor, sigma: torch.Tensor, n: int,
                        generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    ### BEGIN SOLUTION
    eps = torch.randn(n, generator=generator, dtype=mu.dtype).to(mu.device)
    z = mu + sigma * eps
    f_z = f(z)
    grad_mu = (f_z * (z - mu) / sigma**2).mean()
    grad_sigma = (f_z * ((z - mu) ** 2 - sigma**2) / sigma**3).mean()
    return grad_mu, grad_sigma
    ### END SOLUTION


# %%
check.score_function_grad(score_function_grad)


# %% [markdown]
# ## 2. The pathwise estimator
#
# Write the sample as $z = \mu + \sigma\varepsilon$ with `mu` and `sigma` that require grad, and
# let autograd differentiate the sample mean of $f$:
#
# $$\hat g = \nabla_{\mu, \sigma}\ \frac1n \sum_{i=1}^n f(\mu + \sigma\varepsilon_i).$$
#
# Work on copies (`mu.detach().clone().requires_grad_(True)`) and return the gradients from
# `torch.autograd.grad(objective, (mu, sigma))`. This is what `Normal(mu, sigma).rsample()` does;
# `.sample()` would cut the graph.

# %%
def pathwise_grad(f, mu: torch.Tensor, sigma: torch.Tensor, n: int,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    ### BEGIN SOLUTION
    mu = mu.detach().clone().requires_grad_(True)
    sigma = sigma.detach().clone().requires_grad_(True)
    eps = torch.randn(n, generator=generator, dtype=mu.dtype).to(mu.device)
    z = mu + sigma * eps
    grad_mu, grad_sigma = torch.autograd.grad(f(z).mean(), (mu, sigma))
    return grad_mu, grad_sigma
    ### END SOLUTION


# %%
check.pathwise_grad(pathwise_grad)

# %% [markdown]
# ### Compare their variance
#
# Both estimators are unbiased. For $f(z) = z^2$ with $\mu = 1$, $\sigma = 0.5$ (exact gradient
# $(2\mu, 2\sigma) = (2, 1)$), we repeat each estimate 1,000 times with $n = 10$ and with
# $n = 100$ samples and look at the spread.

# %%
mu, sigma = torch.tensor(1.0), torch.tensor(0.5)
spread = {}
for name, estimator in (("score function", score_function_grad), ("pathwise", pathwise_grad)):
    for n in (10, 100):
        generator = torch.Generator().manual_seed(n)
        estimates = torch.stack([torch.stack(estimator(lambda z: z**2, mu, sigma, n, generator))
                                 for _ in range(1000)])  # (1000, 2): (grad_mu, grad_sigma)
        spread[name, n] = estimates.std(dim=0)
        print(f"{name:14}  n = {n:3}: mean ({estimates[:, 0].mean():.2f}, {estimates[:, 1].mean():.2f}), "
              f"std ({spread[name, n][0]:.2f}, {spread[name, n][1]:.2f})")
assert all((spread["pathwise", n] < spread["score function", n] / 2).all() for n in (10, 100))
assert all((spread[name, 100] < spread[name, 10] / 2).all() for name in ("score function", "pathwise"))
shrink = torch.stack([spread[name, 10] / spread[name, 100] for name in ("score function", "pathwise")])
assert ((2.5 < shrink) & (shrink < 4.0)).all(), shrink  # √10 ≈ 3.16
print("the pathwise estimates are far less spread out; ten times the samples shrink the spread about √10-fold")


# %% [markdown]
# **Question.** Why does the score-function estimator have the larger variance, and why does
# subtracting a constant baseline $b$ from $f$, $\frac1n\sum_i \big(f(z_i) - b\big)\nabla_\varphi \log q_\varphi(z_i)$,
# leave it unbiased but can reduce its variance a lot?

# %% [markdown]
# <!-- BEGIN SOLUTION -->
# The score-function estimator uses only *values* of $f$: it learns in which direction $f$
# increases from the correlation between $f(z_i)$ and the score $\nabla_\varphi \log q_\varphi(z_i)$,
# which is large and zero-mean noise for each single sample. Any part of $f$ that does not vary
# with $z$ (an offset) is multiplied by that noise and adds variance without adding information.
# The pathwise estimator uses the derivative $f'(z_i)$, which points in the right direction for
# every sample; here $f'(z) = 2z$ varies little over the samples.
#
# A baseline is unbiased because the score has mean zero:
# $\mathbb E_{q_\varphi}[b\, \nabla_\varphi \log q_\varphi(z)] = b\, \nabla_\varphi \int q_\varphi(z)\, dz = b\, \nabla_\varphi 1 = 0$.
# Choosing $b \approx \mathbb E[f]$ removes the offset of $f$, and with it the noise term
# $\mathbb E[f]\,\nabla_\varphi \log q_\varphi(z)$ whose variance grows with $\mathbb E[f]^2$.
# <!-- END SOLUTION -->

# %% [markdown]
# ## 3. Gumbel-softmax and straight-through
#
# For a categorical latent with logits $\ell$ (last dimension, $K$ categories), draw Gumbel noise
# $g_k = -\log(-\log u_k)$, $u_k \sim \mathcal U(0, 1)$, and return the relaxed sample
#
# $$y = \mathrm{softmax}\big((\ell + g)/\tau\big).$$
#
# By the Gumbel-max trick, $\arg\max_k y_k$ is an exact sample of
# $\mathrm{Categorical}(\mathrm{softmax}(\ell))$. With `hard=True` return the **straight-through**
# version: the one-hot vector of $\arg\max_k y_k$ in the forward pass, the gradient of $y$ in the
# backward pass, $z + y - \mathrm{sg}(y)$ with $\mathrm{sg}$ = `.detach()`.
#
# Draw $u$ with `torch.rand(logits.shape, generator=generator)` (then move it to
# `logits.device`), and keep it away from 0 so that the logarithms stay finite
# (`u.clamp_min(torch.finfo(u.dtype).tiny)`). `F.one_hot(index, K)` makes one-hot vectors.

# %%
def gumbel_softmax(logits: torch.Tensor, tau: float, hard: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    ### BEGIN SOLUTION
    u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype).to(logits.device)
    g = -torch.log(-torch.log(u.clamp_min(torch.finfo(u.dtype).tiny)))
    y = F.softmax((logits + g) / tau, dim=-1)
    if hard:
        y_hard = F.one_hot(y.argmax(dim=-1), y.shape[-1]).to(y.dtype)
        y = y_hard - y.detach() + y
    return y
    ### END SOLUTION


# %%
check.gumbel_softmax(gumbel_softmax)

# %% [markdown]
# ## 4. Put it together: learn a categorical distribution
#
# A latent takes one of $K = 5$ values $k = 0, \dots, 4$ with probabilities
# $\pi = \mathrm{softmax}(\ell)$, and costs $f(k) = (k - 2.3)^2$. We minimise
# $\mathbb E_{k \sim \pi}[f(k)]$ over the logits by gradient descent, with your straight-through
# Gumbel-softmax ($\tau = 0.5$, 64 samples per step): the forward pass evaluates the true cost of
# one-hot samples, the backward pass uses the relaxed gradient. The best distribution puts all its
# mass on $k = 2$, at cost $f(2) = 0.09$. The figure plots the expected cost of the current $\pi$
# after each step, with that optimum as a dashed line.

# %%
values = torch.arange(5.0)
cost = (values - 2.3) ** 2  # f(k)
logits = torch.zeros(5, requires_grad=True)
optimizer = torch.optim.Adam([logits], lr=0.1)
noise = torch.Generator().manual_seed(3)
expected_cost = []
for step in range(200):
    z = gumbel_softmax(logits.expand(64, 5), 0.5, hard=True, generator=noise)  # (64, 5) one-hot
    loss = (z @ cost).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    expected_cost.append((F.softmax(logits.detach(), dim=-1) @ cost).item())

probs = F.softmax(logits.detach(), dim=-1)
print("learned π:", probs.numpy().round(2))
assert probs.argmax() == 2 and probs[2] > 0.9, probs
assert expected_cost[0] > 1.5 and expected_cost[-1] < cost.min().item() + 0.01, (expected_cost[0], expected_cost[-1])
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(expected_cost, label=r"$\mathbb{E}_{k\sim\pi}[f(k)]$")
ax.axhline(cost.min().item(), color="grey", ls="--", label="optimum, all mass on $k = 2$")
ax.set(xlabel="step", ylabel="expected cost", title="straight-through Gumbel-softmax, τ = 0.5")
ax.legend(loc="upper right")  # the curve falls at the left
plt.show()

# %% [markdown]
# The expected cost falls from above 1.5 after the first step to within 0.01 of the optimum: the
# straight-through gradients, biased as they are, lead the logits to the best category.

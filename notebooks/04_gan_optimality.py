# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · GANs: the optimal discriminator and what the generator minimises
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/notebooks/04_gan_optimality.ipynb)
#
# *Follows lecture 001 (V. Strizhkova), "Generative Adversarial Networks: Optimality";
# lecture 003 (M. Straka, NPFL114), "Generative Adversarial Networks", the non-saturating
# loss and "Deep Convolutional GAN"; lecture 002, "Conditional GANs".*
#
# A generator $G$ turns noise $z \sim p(z)$ into samples; a discriminator $D(x) \in (0, 1)$
# says how likely $x$ is to be real. They play
#
# $$\min_G \max_D\; V(G, D) = \mathbb E_{x \sim p_{data}}\big[\log D(x)\big] + \mathbb E_{z \sim p(z)}\big[\log\big(1 - D(G(z))\big)\big].$$
#
# In this notebook you will
#
# 1. derive the **optimal discriminator** $D^*_G = p_{data} / (p_{data} + p_G)$ and verify it
#    twice: on known densities, and against a discriminator *trained* on samples;
# 2. show numerically that at $D^*_G$ the game's value is
#    $C(G) = 2\,\mathrm{JSD}(p_{data} \,\|\, p_G) - \log 4$, minimal exactly when $p_G = p_{data}$;
# 3. see why the generator loss $\log(1 - D(G(z)))$ **saturates** and how the non-saturating
#    loss $-\log D(G(z))$ fixes it;
# 4. train GANs: a 1-D toy where $D$ ends at $\tfrac12$, a DCGAN on MNIST, and a
#    **conditional** GAN that draws the digit you ask for.

# %%
# Set-up: on Google Colab install the course package (does nothing elsewhere).
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "gdmcourse @ git+https://github.com/gdmcourse/gdmcourse@v0.1"], check=True)

import gdmcourse

gdmcourse.require_version("0.1")

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.distributions import Categorical, MixtureSameFamily, Normal

from gdmcourse import gan, nets, plot, train

device = gdmcourse.startup(seed=4)
plot.use_style()
print(f"device: {device.type}")

# %% [markdown]
# ## The optimal discriminator
#
# Write the generator's part as an expectation over its own distribution $p_G$ (the law of
# $G(z)$) and both as one integral (lecture 001):
#
# $$V(G, D) = \int_X \Big(p_{data}(x) \log D(x) + p_G(x) \log\big(1 - D(x)\big)\Big)\, dx .$$
#
# $D$ may take any value at each $x$ separately, so we maximise the integrand pointwise. With
# $a = p_{data}(x)$, $b = p_G(x)$ and $f(y) = a \log y + b \log(1 - y)$,
#
# $$f'(y) = \frac{a}{y} - \frac{b}{1-y} = 0 \iff y = \frac{a}{a+b}, \qquad f''(y) = -\frac{a}{y^2} - \frac{b}{(1-y)^2} < 0,$$
#
# so the maximum is at
#
# $$\boxed{D^*_G(x) = \frac{p_{data}(x)}{p_{data}(x) + p_G(x)}}$$
#
# Where only the data has mass $D^* = 1$, where only the generator has mass $D^* = 0$, and
# $D^* = \tfrac12$ wherever the two densities agree.
#
# **Check 1: known densities.** Take a data density with two bumps and a generator that is
# one broad Gaussian; on a grid of $x$, compare `gan.optimal_discriminator` with a brute-force
# maximisation of $f$ over 100,001 candidate values of $y$.

# %%
p_data = MixtureSameFamily(Categorical(torch.tensor([0.5, 0.5])),
                           Normal(torch.tensor([-2.0, 1.5]), torch.tensor([0.5, 0.8])))
p_model = Normal(torch.tensor(0.0), torch.tensor(1.5))

xs = torch.linspace(-5, 5, 401)
a, b = p_data.log_prob(xs).exp(), p_model.log_prob(xs).exp()
d_star = gan.optimal_discriminator(a, b)

ys = torch.linspace(0, 1, 100_001, dtype=torch.float64)[1:-1]
# f(y) = a log y + b log(1 - y) for every point and candidate: (401, 99,999), in float64
# because f is flat near its maximum
f = a.double()[:, None] * ys.log() + b.double()[:, None] * (1 - ys).log()
d_brute = ys[f.argmax(dim=1)]
gap = (d_star.double() - d_brute).abs().max().item()
assert gap <= 1e-5, gap
print("D* and the brute-force argmax agree at all 401 points to within the candidate spacing 1e-05")

# %%
fig, ax = plt.subplots(figsize=(8, 3.6))
ax.plot(xs, a, label="$p_{data}$")
ax.plot(xs, b, label="$p_G$")
ax.set(xlabel="$x$", ylabel="density")
ax2 = ax.twinx()
ax2.plot(xs, d_star, "k", lw=2, label="$D^*_G$")
ax2.axhline(0.5, color="k", ls=":", lw=1)
ax2.set(ylabel="$D^*_G(x)$", ylim=(0, 1))
ax2.grid(False)
fig.legend(loc="upper right", bbox_to_anchor=(0.88, 0.88))
ax.set_title("the optimal discriminator for a fixed generator")
plt.show()

# %% [markdown]
# The two agree to the brute-force grid's resolution. $D^*$ is close to 1 on the data's two
# bumps, close to 0 in the tails and the gap that only $p_G$ covers, and crosses $\tfrac12$
# exactly where the densities cross.
#
# **Check 2: a trained discriminator.** A network never sees densities, only samples. Train a
# small MLP with the discriminator's loss (the negated value of the game, i.e. binary
# cross-entropy with label 1 for data and 0 for generated samples, `gan.discriminator_loss`)
# on 20,000 samples from each distribution, and overlay $D = \sigma(\text{logit})$ on $D^*$.

# %% tags=["nbval-ignore-output"]
n = 20_000
real = p_data.sample((n, 1))
fake = p_model.sample((n, 1))
x_all = torch.cat([real, fake])
is_real = torch.cat([torch.ones(n), torch.zeros(n)]).bool()

disc = nets.MLP((1,), (), hidden=(64, 64))


def disc_loss(model, batch):
    x, r = batch
    logits = model(x)
    return gan.discriminator_loss(logits[r], logits[~r])


hist = train.fit(disc, disc_loss, (x_all, is_real), epochs=8, batch_size=256, lr=3e-3, schedule="cosine",
                 seed=0, progress=False, device=device)
with torch.no_grad():
    d_trained = torch.sigmoid(disc.to("cpu")(xs[:, None]))
mass = (a + b) / 2  # where there are samples to learn from
inside = mass > 0.02
err = (d_trained - d_star).abs()
print(f"final training loss {hist.loss[-1]:.3f} nats; |D - D*| where (p_data + p_G)/2 > 0.02: "
      f"mean {err[inside].mean().item():.3f}, max {err[inside].max().item():.3f}")

# %%
assert err[inside].mean() < 0.03 and err[inside].max() < 0.1, (err[inside].mean(), err[inside].max())
print("where (p_data + p_G)/2 > 0.02 the trained D is within 0.1 of D* everywhere, 0.03 on average")
fig, ax = plt.subplots(figsize=(8, 3.6))
ax.plot(xs, d_star, "k", lw=2, label="$D^*_G = p_{data}/(p_{data}+p_G)$")
ax.plot(xs, d_trained, "C3--", lw=2, label="trained $D = \\sigma(\\mathrm{MLP}(x))$")
ax.fill_between(xs, 0, 1, where=~inside, color="0.9", label="hardly any samples")
ax.set(xlabel="$x$", ylabel="$D(x)$", ylim=(0, 1), title="a discriminator trained on samples finds $D^*$")
ax.legend(loc="lower left", fontsize="small")
plt.show()

# %% [markdown]
# Where there are samples, the trained network lands on the formula (here within 0.03 on
# average); far out in the tails it has nothing to learn from and just extrapolates.
# The value of its loss is meaningful too, which is the next section.
#
# ## What the generator minimises: $C(G) = 2\,\mathrm{JSD} - \log 4$
#
# Put $D^*_G$ back into the game (lecture 001):
#
# $$\begin{aligned}
# C(G) = \max_D V(G, D) &= \mathbb E_{p_{data}}\Big[\log \frac{p_{data}}{p_{data} + p_G}\Big]
#                         + \mathbb E_{p_G}\Big[\log \frac{p_G}{p_{data} + p_G}\Big] \\
#   &= \mathrm{KL}\Big(p_{data} \,\Big\|\, \tfrac{p_{data} + p_G}{2}\Big) + \mathrm{KL}\Big(p_G \,\Big\|\, \tfrac{p_{data} + p_G}{2}\Big) - \log 4
#    = 2\,\mathrm{JSD}(p_{data} \,\|\, p_G) - \log 4 ,
# \end{aligned}$$
#
# (multiply both fractions by 2 inside the logarithms and pay $2 \log 2 = \log 4$ for it). JSD is
# non-negative and zero only for equal distributions, so the generator's best answer to a
# perfect discriminator is $p_G = p_{data}$, where $C = -\log 4$ and $D^* \equiv \tfrac12$.
#
# We check the identity numerically on a fine grid (Riemann sums, so both sides are
# discrete distributions over 2,001 bins): once by evaluating $V(G, D^*)$ directly, once with
# `gan.generator_criterion` (which computes JSD), while the generator's mean $\mu$ slides across.

# %%
grid = torch.linspace(-8, 8, 2001, dtype=torch.float64)
pd = p_data.log_prob(grid.float()).double().exp()
pd = pd / pd.sum()


def value_at_optimum(pg):
    """V(G, D*) computed directly from the game's definition, on the grid."""
    d = gan.optimal_discriminator(pd, pg)
    one_minus_d = gan.optimal_discriminator(pg, pd)  # = p_G/(p_data + p_G), without rounding 1 - D to 0
    keep_d, keep_g = pd > 0, pg > 0  # 0 · log 0 = 0
    return (pd[keep_d] * d[keep_d].log()).sum() + (pg[keep_g] * one_minus_d[keep_g].log()).sum()


mus = torch.linspace(-4, 4, 81)
direct, via_jsd = [], []
for mu in mus:
    pg = Normal(mu.double(), torch.tensor(1.0, dtype=torch.float64)).log_prob(grid).exp()
    pg = pg / pg.sum()
    direct.append(value_at_optimum(pg).item())
    via_jsd.append(gan.generator_criterion(pd, pg).item())
direct, via_jsd = np.array(direct), np.array(via_jsd)
assert np.abs(direct - via_jsd).max() < 1e-12
print("V(G, D*) = 2 JSD - log 4 for all 81 generators, to 1e-12")
print(f"C(G) against itself: {gan.generator_criterion(pd, pd).item():.6f}; -log 4 = {-math.log(4):.6f}")

# %%
fig, ax = plt.subplots(figsize=(7, 3.6))
ax.plot(mus, direct, "C0", lw=3, alpha=0.5, label="$V(G, D^*_G)$, direct")
ax.plot(mus, via_jsd, "k--", label="$2\\,\\mathrm{JSD}(p_{data}\\|p_G) - \\log 4$")
ax.axhline(-math.log(4), color="C3", ls=":", label="$-\\log 4$ (only at $p_G = p_{data}$)")
ax.set(xlabel="generator mean $\\mu$ ($p_G = \\mathcal{N}(\\mu, 1)$)", ylabel="$C(G)$",
       title="the generator's criterion at the optimal discriminator")
ax.legend(fontsize="small")
plt.show()

# %% [markdown]
# The two routes agree to rounding error. No Gaussian $\mathcal N(\mu, 1)$ reaches
# $-\log 4$ (the data has two bumps); the best single Gaussian sits between the bumps,
# slightly towards the heavier-tailed right one. Note also how flat $C$ gets far away: when
# the supports barely overlap, JSD is stuck near $\log 2$ (notebook 06 makes this the
# starting point of Wasserstein GANs).
#
# ## Saturation: why nobody trains $G$ on $\log(1 - D(G(z)))$
#
# The discriminator outputs a logit $\ell$ and $D = \sigma(\ell)$. The generator's gradient
# reaches its parameters through $\ell$, so compare the two generator losses' derivatives
# with respect to $\ell$:
#
# $$\frac{\partial}{\partial \ell} \log\big(1 - \sigma(\ell)\big) = -\sigma(\ell) = -D, \qquad
#   \frac{\partial}{\partial \ell} \big({-\log \sigma(\ell)}\big) = -\big(1 - \sigma(\ell)\big) = -(1 - D).$$
#
# Early in training the discriminator easily rejects the samples, $D(G(z)) \approx 0$: the
# **minimax** loss then has gradient $\approx 0$ (it saturates), exactly when the generator
# most needs a signal. The **non-saturating** loss $-\log D(G(z))$ (lecture 003) has the same
# fixed point but gradient $\approx -1$ there. We differentiate the package's losses with
# autograd and overlay the formulas.

# %%
logits = torch.linspace(-8, 8, 161, requires_grad=True)
n_l = len(logits)
# the losses are means over the batch: scale back to per-sample derivatives
g_mm, = torch.autograd.grad(gan.generator_loss_minimax(logits) * n_l, logits)
g_ns, = torch.autograd.grad(gan.generator_loss_nonsaturating(logits) * n_l, logits)
D = torch.sigmoid(logits).detach()
assert torch.allclose(g_mm, -D, atol=1e-6) and torch.allclose(g_ns, -(1 - D), atol=1e-6)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
axes[0].plot(D, torch.log1p(-D), label="minimax: $\\log(1 - D)$ (minimised)")
axes[0].plot(D, -torch.log(D), label="non-saturating: $-\\log D$")
axes[0].set(xlabel="$D(G(z))$", ylabel="generator loss", ylim=(-5, 5), title="the two generator losses")
axes[1].plot(D, g_mm.abs(), lw=3, alpha=0.6, label="minimax, autograd")
axes[1].plot(D, g_ns.abs(), lw=3, alpha=0.6, label="non-saturating, autograd")
axes[1].plot(D, D, "k:", label="$D$ and $1 - D$ (formulas)")
axes[1].plot(D, 1 - D, "k:")
axes[1].axvspan(0, 0.05, color="C3", alpha=0.1, label="early training")
axes[1].set(xlabel="$D(G(z))$", ylabel="$|\\partial\\, \\mathrm{loss} / \\partial \\ell|$",
            title="gradient reaching the generator")
for ax in axes:
    ax.legend(fontsize="small")
fig.tight_layout()
plt.show()
for d in [0.001, 0.01, 0.5]:
    ell = math.log(d / (1 - d))
    print(f"D(G(z)) = {d:<5}: |grad| minimax {d:.3f}, non-saturating {1 - d:.3f}  (logit {ell:+.2f})")

# %% [markdown]
# At $D(G(z)) = 0.001$ the minimax loss passes on a thousandth of the gradient the
# non-saturating one does. Both losses are written with `F.logsigmoid`
# ($\log(1 - \sigma(\ell)) = \log\sigma(-\ell)$) so they stay finite for any logit; computing
# `torch.log(1 - torch.sigmoid(l))` gives `-inf` once $\sigma(\ell)$ rounds to 1.

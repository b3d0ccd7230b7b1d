# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · GANs: the optimal discriminator and what the generator minimises
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/notebooks/04_gan_optimality.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=notebooks%2F04_gan_optimality.ipynb)
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
# 4. read the discriminator as a density-ratio estimator, and see what the non-saturating
#    loss minimises instead of the JSD;
# 5. train GANs: a 1-D toy whose discriminator ends at $\tfrac12$ without the game being
#    over, a DCGAN on MNIST built to Radford et al.'s rules, and a **conditional** GAN that
#    draws the digit you ask for.

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

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.distributions import Categorical, MixtureSameFamily, Normal

from gdmcourse import gan, nets, plot, recipes, train

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
# The two agree to the brute-force grid's resolution. $D^*$ rises to about 0.8 on the data's
# left bump and about 0.65 on the right one (where $p_G$ has mass too), falls close to 0 in
# the tails and in the gap that only $p_G$ covers, and crosses $\tfrac12$ exactly where the
# densities cross.
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
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
plt.show()

# %% [markdown]
# Where there are samples, the trained network lands on the formula (the printed error: about
# 0.01 on average, under 0.03 everywhere); far out in the tails it has nothing to learn from
# and just extrapolates.
#
# **The density-ratio trick (lecture 004).** Read the boxed formula backwards:
# $D^*/(1 - D^*) = p_{data}/p_G$. A classifier trained to tell samples of two distributions
# apart therefore *estimates the ratio of their densities* without ever estimating either
# density, and with $D = \sigma(\ell)$ the ratio is simply $e^{\ell}$: the logit estimates
# $\log p_{data}(x) - \log p_G(x)$. This is how adversarial variational Bayes and many
# likelihood-free methods use a discriminator. We compare the trained network's logit with
# the true log-ratio.

# %%
with torch.no_grad():
    log_ratio_trained = disc(xs[:, None])            # ℓ(x) = log D/(1 - D), shape (401,)
log_ratio_true = (p_data.log_prob(xs) - p_model.log_prob(xs))  # log p_data/p_G
core = (a > 0.02) & (b > 0.02)  # both densities have samples there: the ratio is learnable
ratio_err = (log_ratio_trained - log_ratio_true).abs()
print(f"|logit - log(p_data/p_G)| where both densities exceed 0.02: median {ratio_err[core].median():.3f}, "
      f"max {ratio_err[core].max():.3f} (the true log-ratio there spans "
      f"{log_ratio_true[core].min():.1f} to {log_ratio_true[core].max():.1f})")

# %%
assert ratio_err[core].median() < 0.15 and ratio_err[core].max() < 0.6, ratio_err[core]
print("the logit tracks log(p_data/p_G) to within 0.15 (median) where both distributions have samples")
fig, ax = plt.subplots(figsize=(8, 3.4))
ax.plot(xs, log_ratio_true, "k", lw=2, label="$\\log p_{data}(x)/p_G(x)$")
ax.plot(xs, log_ratio_trained, "C3--", lw=2, label="trained logit $\\ell(x) = \\log D/(1-D)$")
ax.fill_between(xs, -8, 4, where=~core, color="0.9", label="one density < 0.02")
ax.set(xlabel="$x$", ylabel="log density ratio", ylim=(-8, 4), title="a classifier's logit estimates a log density ratio")
ax.legend(loc="lower center", fontsize="small")
plt.show()

# %% [markdown]
# The dashed logit follows the true log-ratio across the region where both distributions
# have samples (unshaded), including the sign changes where the densities cross; outside it,
# the ratio is set by tails the classifier never saw. The value of the discriminator's loss
# is meaningful too, which is the next section.
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
# $-\log 4$ (the data has two bumps). $C$ has a local minimum on *each* bump and a local
# maximum between them: the global minimum sits on the right bump ($\mu \approx 1.2$,
# whose width 0.8 is closer to the generator's 1 than the left bump's 0.5), the other one on
# the left bump ($\mu \approx -1.4$). A generator that moves its mean by gradient descent on
# $C$ settles on whichever bump it starts nearer to and has to climb over the ridge to reach
# the better one: one bump covered, one missed, a first glimpse of mode collapse (notebook
# 05). Far from both bumps $C$ climbs back towards 0, the value for disjoint supports
# ($\mathrm{JSD} = \log 2$; notebook 06 makes this the starting point of Wasserstein GANs).

# %%
inner = range(1, len(mus) - 1)
minima = [mus[i].item() for i in inner if via_jsd[i] < via_jsd[i - 1] and via_jsd[i] < via_jsd[i + 1]]
maxima = [mus[i].item() for i in inner if via_jsd[i] > via_jsd[i - 1] and via_jsd[i] > via_jsd[i + 1]]
best = mus[via_jsd.argmin()].item()
print(f"local minima of C at mu = {[round(m, 1) for m in minima]}, the global one at {best:.1f}; "
      f"local maximum at {[round(m, 1) for m in maxima]}")
assert len(minima) == 2 and len(maxima) == 1 and minima[0] < maxima[0] < minima[1]
assert abs(minima[0] - (-1.4)) <= 0.2 and abs(best - 1.2) <= 0.2 and best == minima[1]  # the right bump wins
assert (np.diff(via_jsd[:mus.tolist().index(minima[0]) + 1]) < 0).all()  # left of the left bump: C falls towards it
assert via_jsd.min() > -math.log(4) + 0.3 and max(via_jsd[0], via_jsd[-1]) > -0.4  # far away: near 0, not -log 4

# %% [markdown]
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
axes[0].legend(fontsize="small")
axes[1].legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)
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
#
# **Same fixed point, different divergence.** The lecture says the two losses have "the same
# fixed-point dynamics"; they do not minimise the same thing. With the discriminator at
# $D^*$ and held fixed while the generator moves (as in alternating training), Arjovsky &
# Bottou (2017, theorem 2.5) show
#
# $$\nabla_\theta\, \mathbb E_{x \sim p_\theta}\big[-\log D^*(x)\big]
#   = \nabla_\theta \Big[\mathrm{KL}(p_\theta \,\|\, p_{data}) - 2\,\mathrm{JSD}(p_{data} \,\|\, p_\theta)\Big],$$
#
# while the minimax loss $\mathbb E_{p_\theta}[\log(1 - D^*)]$ has the gradient of
# $2\,\mathrm{JSD}$ alone. The non-saturating generator thus follows the *reverse* KL, which
# charges heavily for mass where the data has none and little for a mode it misses (one
# reason GANs drop modes, notebook 05), and it is pushed *away* from the data by the
# $-2\,\mathrm{JSD}$ term. We check both identities with the Gaussian generator
# $p_\mu = \mathcal N(\mu, 1.5^2)$ of check 1: finite differences in $\mu$ of integrals on
# a fine grid, $D^*$ frozen at $\mu_0 = 0.5$.

# %%
xg = torch.linspace(-14, 14, 56_001, dtype=torch.float64)
log_pd = p_data.log_prob(xg.float()).double()  # float32 is enough for the density's log


def log_pg(mu):
    return Normal(torch.tensor(mu, dtype=torch.float64), torch.tensor(1.5, dtype=torch.float64)).log_prob(xg)


def integral(values):
    return torch.trapezoid(values, xg).item()


def kl(log_p, log_q):
    return integral(log_p.exp() * (log_p - log_q))


def jsd(log_p, log_q):
    log_m = torch.logaddexp(log_p, log_q) - math.log(2)
    return 0.5 * kl(log_p, log_m) + 0.5 * kl(log_q, log_m)


mu0, h = 0.5, 1e-3
neg_log_d0 = torch.logaddexp(log_pd, log_pg(mu0)) - log_pd   # −log D*(x) at μ0, frozen
log_1m_d0 = log_pg(mu0) - torch.logaddexp(log_pd, log_pg(mu0))  # log(1 − D*(x)) at μ0, frozen


def central_difference(f):
    return (f(mu0 + h) - f(mu0 - h)) / (2 * h)


grad_ns = central_difference(lambda mu: integral(log_pg(mu).exp() * neg_log_d0))
grad_rev = central_difference(lambda mu: kl(log_pg(mu), log_pd) - 2 * jsd(log_pd, log_pg(mu)))
grad_mm = central_difference(lambda mu: integral(log_pg(mu).exp() * log_1m_d0))
grad_jsd = central_difference(lambda mu: 2 * jsd(log_pd, log_pg(mu)))
print(f"d/dmu at mu0 = {mu0}: non-saturating loss {grad_ns:+.6f}, KL(p_G||p_data) - 2 JSD {grad_rev:+.6f}")
print(f"                     minimax loss        {grad_mm:+.6f}, 2 JSD                     {grad_jsd:+.6f}")

# %%
assert abs(grad_ns - grad_rev) < 1e-5 and abs(grad_mm - grad_jsd) < 1e-5, (grad_ns, grad_rev, grad_mm, grad_jsd)
assert grad_ns < -0.02 and grad_mm > 0.02, (grad_ns, grad_mm)  # opposite signs
print("both identities hold to 1e-5; at mu0 = 0.5 the two generator losses even pull the mean in opposite directions.")

# %% [markdown]
# The finite differences agree with the divergences to six digits. And here the two
# "equivalent" losses disagree in sign: gradient descent on the minimax loss moves the mean
# left (towards the left bump, the direction in which $2\,\mathrm{JSD}$ falls for this wider
# generator, $\sigma = 1.5$; the $\sigma = 1$ curve of $C(G)$ above falls the other way at
# $\mu = 0.5$), the non-saturating loss moves it right. Same fixed point, different paths, and which local optimum a generator
# reaches can depend on the loss it is trained with.

# %% [markdown]
# ## A GAN in one dimension: a discriminator at ½ is not proof of equilibrium
#
# Now let a generator learn $p_{data}$ from samples. The generator is a small MLP from
# $z \sim \mathcal N(0, 1)$ to $x$, the discriminator another; `gan.train_gan` alternates one
# discriminator step on `discriminator_loss` with one generator step on the non-saturating
# loss (Adam with $\beta_1 = 0$, learning rates decaying to 0; notebook 05 explains why).
# If training reaches the equilibrium, $p_G = p_{data}$ and the discriminator can do no
# better than $D \equiv \tfrac12$. The converse does not hold, as we will see.

# %% tags=["nbval-ignore-output"]
x_data = p_data.sample((20_000, 1))
torch.manual_seed(0)
G1 = gan.toy_generator(latent_dim=1, hidden=(64, 64), out_dim=1)
D1 = gan.toy_discriminator(hidden=(64, 64), in_dim=1)
hist1 = gan.train_gan(G1, D1, x_data, loss="nonsaturating", steps=2000, batch_size=256, lr_g=2e-3, lr_d=2e-3,
                      betas=(0.0, 0.9), seed=0, device=device)
samples1 = gan.sample(G1, 20_000, seed=1).squeeze(1)
with torch.no_grad():
    d_final = torch.sigmoid(D1.to("cpu")(xs[:, None]))
print(f"trained in {hist1.seconds:.0f} s; final losses: D {hist1.d_loss[-1]:.3f}, G {hist1.g_loss[-1]:.3f} "
      f"(log 4 = {math.log(4):.3f}, log 2 = {math.log(2):.3f} at the equilibrium)")

# %%
in_data = p_data.log_prob(xs).exp() > 0.05
assert (d_final[in_data] - 0.5).abs().max() < 0.15, (d_final[in_data] - 0.5).abs().max()
print("where p_data > 0.05 the trained discriminator is within 0.15 of 1/2")
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
axes[0].hist(samples1, bins=120, range=(-5, 5), density=True, alpha=0.6, label="generator samples")
axes[0].plot(xs, p_data.log_prob(xs).exp(), "k", label="$p_{data}$")
axes[0].set(xlabel="$x$", ylabel="density", title="what the generator learned")
axes[0].legend(fontsize="small")
axes[1].plot(xs, d_final, "C3", label="trained $D$")
axes[1].axhline(0.5, color="k", ls=":", label="$D^* = 1/2$ when $p_G = p_{data}$")
axes[1].fill_between(xs, 0, 1, where=~in_data, color="0.9", label="$p_{data} < 0.05$")
axes[1].set(xlabel="$x$", ylabel="$D(x)$", ylim=(0, 1), title="the discriminator at the end")
axes[1].legend(fontsize="small")
fig.tight_layout()
plt.show()

# %% [markdown]
# The generator has found both bumps; where the data lives the discriminator sits at
# $\tfrac12$ and its loss ends near $\log 4$, the value of $-V$ at the equilibrium. But
# look at the histogram: the generator puts too much mass on the left bump's outer flank
# ($x \approx -3$) and between the bumps. Why does $D$ not object? Its learning rate decayed linearly
# to 0 (`lr_decay`), so at the end it has stopped learning, and a frozen $D \approx \tfrac12$
# says nothing about $p_G$. **Probe:** train a *fresh* discriminator, with the recipe that
# found $D^*$ to within 0.03 in check 2, on the final generator's samples against new data,
# and compare it with $D^*$ computed from $p_{data}$ and a kernel density estimate of $p_G$.

# %% tags=["nbval-ignore-output"]
from scipy.stats import gaussian_kde

real_probe, fake_probe = p_data.sample((n, 1)), gan.sample(G1, n, seed=2)
torch.manual_seed(5)
probe = nets.MLP((1,), (), hidden=(64, 64))
hist_probe = train.fit(probe, disc_loss, (torch.cat([real_probe, fake_probe]), is_real), epochs=8, batch_size=256,
                       lr=3e-3, schedule="cosine", seed=0, progress=False, device=device)
with torch.no_grad():
    d_probe = torch.sigmoid(probe.to("cpu")(xs[:, None]))
p_g_kde = torch.tensor(gaussian_kde(samples1.numpy())(xs.numpy()), dtype=torch.float32)
d_star_kde = gan.optimal_discriminator(p_data.log_prob(xs).exp(), p_g_kde)
print(f"fresh discriminator: final loss {hist_probe.loss[-1]:.4f} nats (log 4 = {math.log(4):.4f})")
for x0 in (-3.0, -2.5, -1.0, 0.5, 1.5):
    i = int(torch.argmin((xs - x0).abs()))
    print(f"x = {x0:+.1f}: D* (KDE of p_G) {d_star_kde[i]:.2f}, fresh D {d_probe[i]:.2f}, D at the end of training {d_final[i]:.2f}")

# %%
off = in_data & ((d_star_kde - 0.5).abs() > 0.1)   # where p_G and p_data still differ
assert off.sum() >= 10, off.sum()
assert ((d_probe - 0.5).sign() == (d_star_kde - 0.5).sign())[off].float().mean() > 0.9
assert (d_probe - 0.5).abs()[off].mean() > 0.07 and (d_final - 0.5).abs()[off].mean() < 0.05
assert (d_probe[off] < 0.45).float().mean() > 0.5  # mostly where the generator has too much mass
assert hist_probe.loss[-1] < math.log(4) - 0.005, hist_probe.loss[-1]
print(f"at the {int(off.sum())} grid points where D* differs from 1/2 by over 0.1, the fresh discriminator")
print("leans the same way as D* (by %.2f on average), while the trained one stays at 1/2 (%.2f)"
      % ((d_probe - 0.5).abs()[off].mean(), (d_final - 0.5).abs()[off].mean()))
fig, ax = plt.subplots(figsize=(8, 3.4))
ax.plot(xs, d_star_kde, "k", lw=2, label="$D^*$ from $p_{data}$ and a KDE of $p_G$")
ax.plot(xs, d_probe, "C2--", lw=2, label="fresh discriminator on the final samples")
ax.plot(xs, d_final, "C3", lw=1.5, label="discriminator at the end of training")
ax.axhline(0.5, color="k", ls=":", lw=1)
ax.fill_between(xs, 0, 1, where=~in_data, color="0.9", label="$p_{data} < 0.05$")
ax.set(xlabel="$x$", ylabel="$D(x)$", ylim=(0, 1), title="a fresh discriminator still tells the two apart")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
plt.show()

# %% [markdown]
# The fresh discriminator (dashed) falls to about 0.35-0.4 where the generator has too much
# mass (the left flank, between the bumps), following $D^*$ (the printed values), and its
# loss ends below $\log 4$. The
# discriminator at the end of training (red) is flat at $\tfrac12$ because it stopped
# learning, not because it cannot tell the two apart. Training was *not* at the equilibrium:
# the generator is close, not equal, to $p_{data}$. A loss of $\log 4$ from a stalled
# discriminator is no evidence of convergence, one more reason notebook 09 judges
# generators by their samples.
#
# ## A DCGAN on MNIST
#
# For images, the **Deep Convolutional GAN** (Radford et al. 2016, lecture 003) replaces the
# MLPs with convolutional networks. The lecture's slide says only "a convolutional network
# (with batch normalization)" for the discriminator; the paper's rules, which
# `recipes.DCGAN` follows, are:
#
# | rule (Radford et al., section 3) | generator `nets.DCGANGenerator` | discriminator `nets.DCGANDiscriminator(batch_norm=True, hidden=None)` |
# |---|---|---|
# | strided convolutions, no pooling | transposed convolutions, 7 → 14 → 28 | stride-2 convolutions, 28 → 14 → 7 |
# | batch normalization | after every layer but the output | after every layer but the input |
# | no fully connected hidden layers | only the projection of $z$ to a $7\times7$ map | the $7\times7$ map goes straight to the logit |
# | activations | ReLU, `tanh` output (images scaled to $[-1, 1]$) | leaky ReLU, slope 0.2 |
# | initialisation, optimiser | $\mathcal N(0, 0.02^2)$; Adam, learning rate $2\cdot10^{-4}$, $\beta_1 = 0.5$, batch 128 | same |
#
# Where we depart: two resolution steps for $28\times28$ digits instead of four for
# $64\times64$ images, 32 and 64 channels instead of 128 to 1024, and learning rates that
# decay linearly to 0 from larger starts, the generator's four times the discriminator's
# ($4\cdot10^{-3}$ and $10^{-3}$, a two time-scale update): with equal rates the
# discriminator pulls ahead in our short runs. The shipped weights trained with both rates
# at $10^{-3}$ scored FID 261 (see below for the measure); these rates did far better
# (`recipes.DCGANRecipe` lists every run we tried; two runs of one recipe can differ by tens).
# And the shipped generator is not the last iterate of training but the **moving average**
# of the generator's weights, $\bar\theta \leftarrow d\,\bar\theta + (1 - d)\,\theta$ after every
# step with $d = 0.9995$ (Yazıcı et al. 2019): the players of a GAN circle rather than settle
# (notebook 05 shows the orbit), and the average sits nearer the middle of the circle.
# Lecture 003's "historical averaging" (Salimans et al. 2016) uses the same average
# differently: as a penalty that pulls each player towards it during training; here
# training is left alone and the average is only read out at the end. The
# shipped `dcgan-mnist` checkpoint is this recipe trained for `recipes.DCGAN.steps` steps by
# `python -m gdmcourse train dcgan-mnist`. Here we train the same networks for a few hundred
# steps to watch the start, then load the shipped weights.

# %%
import dataclasses

from gdmcourse import data, metrics, weights

images, labels = data.load_images("mnist", "train")
images = 2 * images - 1  # tanh outputs live in [-1, 1]
dcgan_steps = {"quick": 180, "full": recipes.DCGAN.steps}[gdmcourse.profile()]
torch.manual_seed(0)
G, D = recipes.DCGAN.networks()
print(D)
print(f"generator: {sum(p.numel() for p in G.parameters()):,} parameters; "
      f"discriminator: {sum(p.numel() for p in D.parameters()):,}")
assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules()) == 1
assert [m.out_features for m in D.modules() if isinstance(m, torch.nn.Linear)] == [1]  # no hidden FC layer


# %% tags=["nbval-ignore-output"]
def grid_of_samples(step, generator):
    return (gan.sample(generator, 32, seed=0) + 1) / 2  # the same noise at every snapshot


hist_dc = recipes.DCGAN.train(G, D, images, steps=dcgan_steps, seed=0, device=device, callback=grid_of_samples,
                              callback_every=dcgan_steps // 3)
print(f"{dcgan_steps} steps of batch 128 ({dcgan_steps * 128 / len(images):.2f} epochs) in {hist_dc.seconds:.0f} s")

# %%
assert len(hist_dc.snapshots) == 3 and all(torch.isfinite(s).all() for _, s in hist_dc.snapshots)
first, final = hist_dc.snapshots[0][1], hist_dc.snapshots[-1][1]
# the share of bright pixels is near MNIST's (about 0.13 of pixels > 0.5) from the first snapshot on:
# what changes is how they are arranged (the grids below)
bright = [(s > 0.5).float().mean().item() for _, s in hist_dc.snapshots]
print("share of pixels > 0.5 at the three snapshots:", [round(b, 3) for b in bright])
assert 0.03 < bright[-1] < 0.3, bright
fig, axes = plt.subplots(1, 3, figsize=(14, 3.2))
for ax, (step, grid) in zip(axes, hist_dc.snapshots):
    plot.image_grid(grid, nrow=8, ax=ax, title=f"after {step} steps ({step * 128 / len(images):.2f} epochs)")
plt.show()

# %% [markdown]
# The same 32 noise vectors decoded at three points of the short run: grey blobs become
# strokes on a dark background within a fraction of an epoch. Now the shipped weights, the
# same recipe trained to the end. We score 1,000 of its samples with the Fréchet distance in
# the course classifier's features against 1,000 test digits (notebook 09 explains the
# measure; 1,000 held-out real digits score about 24 on it).

# %% tags=["nbval-ignore-output"]
dcgan = recipes.generator("dcgan-mnist", device)
record = weights.registry()["dcgan-mnist"]
print(f"dcgan-mnist: {record['steps']} steps in {record['train_seconds']:.0f} s on {record['threads']} CPU thread(s)")
for r in record["fid_1000_by_step"]:
    print(f"step {r['step']}: FID {r['fid']:7.1f} (moving average), {r['fid_raw_generator']:6.1f} (raw generator)")
reference = data.shuffled_test_set("mnist")[0].images[:1000]  # the course's FID reference
extractor = metrics.feature_extractor("mnist", device)
shipped_samples = dcgan.sample_images(1000, torch.Generator().manual_seed(0))
reference_features = extractor.features(reference)
shipped_features, shipped_probs = extractor.features_and_probs(shipped_samples)  # one pass for both
fid_dcgan = metrics.fid(shipped_features, reference_features)
confident = (shipped_probs.max(1).values > 0.9).float().mean().item()
print(f"FID of 1,000 samples: {fid_dcgan:.1f}; the classifier is > 90% sure of a digit for {confident:.0%} of them")

# %%
fids_during = [r["fid"] for r in record["fid_1000_by_step"]]
raw_during = [r["fid_raw_generator"] for r in record["fid_1000_by_step"]]
assert abs(fid_dcgan - fids_during[-1]) < 1, (fid_dcgan, fids_during)  # the same measurement as the record's
assert min(raw_during) < raw_during[-1] < raw_during[0], raw_during  # the raw generator: not best at the end
assert all(a > b for a, b in zip(fids_during, fids_during[1:])), fids_during  # the average: better at every point
assert abs(recipes.DCGAN.ema_decay ** 1250 - 0.54) < 0.01  # the initial weights' share after 1,250 steps
# how much FID moves between draws of 1,000 samples of this one generator
fid_draws = [metrics.fid(extractor.features(dcgan.sample_images(1000, torch.Generator().manual_seed(s))), reference_features)
             for s in range(1, 5)]
print("FID of four other draws of 1,000 samples:", [round(f, 1) for f in fid_draws])
spread = max(fid_draws + [fid_dcgan]) - min(fid_draws + [fid_dcgan])
print(f"spread of the five draws: {spread:.1f}")
assert raw_during[-1] - fids_during[-1] > spread, (raw_during, fids_during, spread)  # averaging helped
assert fids_during[-2] - fids_during[-1] < spread and abs(min(raw_during) - fids_during[-1]) < spread
assert confident > 0.6, confident
plot.image_grid(shipped_samples[:40], nrow=10, title="40 samples of the shipped DCGAN")
plt.show()

# %% [markdown]
# The shipped generator draws recognisable digits for most $z$ (the classifier is sure of a
# digit for the share printed above), but some strokes are broken or ambiguous. The record
# scores it at four points of training, and the raw generator beside it. The raw
# generator's FID fell, reached its best before the end and rose again: GAN training need
# not improve monotonically. The average's fell at every point (its first score is poor:
# after 1,250 steps the average still holds $0.9995^{1250} \approx 54\%$ of the initial
# weights). How much of this is the model, and how much the draw of 1,000 samples? Five
# draws from the shipped generator (the score above and the four printed after it) spread
# over the range printed: the average ends further below the raw generator's last score
# than that, so averaging helped; but the average's last two scores, and its end against
# the raw generator's best, differ by less, so those differences are within the noise of
# one draw. One score of 1,000 samples cannot rank nearby checkpoints: score several draws
# before picking one. Notebook 09 compares this FID with the course's other models.
#
# **Latent interpolation.** Radford et al. walk in $z$-space between two samples to show
# that the generator has not memorised images: the path should pass through plausible
# digits, changing smoothly, rather than jumping or fading between two stored pictures.

# %%
g_interp = torch.Generator().manual_seed(7)
z_ends = torch.randn(4, dcgan.model.latent_dim, generator=g_interp)  # two pairs of endpoints
ts = torch.linspace(0, 1, 9)[:, None]
z_path = torch.cat([(1 - ts) * z_ends[0] + ts * z_ends[1], (1 - ts) * z_ends[2] + ts * z_ends[3]])
with torch.no_grad():
    path = ((dcgan.model(z_path.to(device)) + 1) / 2).clamp(0, 1).cpu()
for row in (path[:9], path[9:]):
    steps_ = (row[1:] - row[:-1]).flatten(1).norm(dim=1)
    print("pixel distance between neighbours along a path:", steps_.numpy().round(1))
    assert steps_.max() < 0.5 * (row[-1] - row[0]).norm(), steps_   # no single jump makes the change
plot.image_grid(path, nrow=9, row_labels=["path 1", "path 2"], col_labels=[f"{t:.2f}" for t in ts.squeeze(1).tolist()],
                title="DCGAN: decoding (1 − t) z_a + t z_b, t from 0 to 1")
plt.show()

# %% [markdown]
# Along each row the digit morphs step by step (no single step makes more than half of the
# row's total change, asserted for both paths), and the in-between images are digit-like strokes rather than
# a cross-fade of the two ends.
#
# ## A conditional GAN: ask for a digit
#
# A **conditional GAN** (lecture 002) gives both players the label $y$: the generator models
# $p(x \mid y)$ from $(z, y)$, and the discriminator judges pairs $(x, y)$, so a sharp "7" with
# the label 3 is rejected too. Here the generator gets a one-hot $y$ concatenated to $z$, and the
# discriminator is a *projection* discriminator (Miyato & Koyama 2018):
# $\mathrm{logit} = w^\top h(x) + \mathrm{embed}(y)^\top h(x)$. The label is a strong hint:
# in the quick profile a narrower version of the recipe, trained for under a minute, is
# enough for the course's classifier to read most requested digits.

# %% tags=["nbval-ignore-output"]
# the quick profile: the recipe with half the channels and batch 64, so that a minute suffices
QUICK = gdmcourse.profile() == "quick"
cgan_recipe = dataclasses.replace(recipes.DCGAN, width=16, batch_size=64) if QUICK else recipes.DCGAN
cgan_steps = {"quick": 800, "full": recipes.DCGAN.steps}[gdmcourse.profile()]
torch.manual_seed(0)
G_c, D_c = cgan_recipe.networks(num_classes=10)
hist_c = cgan_recipe.train(G_c, D_c, images, labels=labels, steps=cgan_steps, seed=0, device=device)
print(f"{cgan_steps} steps in {hist_c.seconds:.0f} s")

# %%
wanted = torch.arange(10).repeat(6)  # each row: the digits 0..9
digits = (gan.sample(G_c, len(wanted), labels=wanted, seed=3) + 1) / 2
assert digits.shape == (60, 1, 28, 28)
# does the course's classifier read the requested digit? (chance: 10%)
wanted_many = torch.arange(10).repeat(50)
agree = (extractor.probs((gan.sample(G_c, len(wanted_many), labels=wanted_many, seed=4) + 1) / 2).argmax(1)
         == wanted_many).float().reshape(50, 10).mean(0)
print("classifier agrees with the requested digit:", {d: round(a, 2) for d, a in enumerate(agree.tolist())})
print(f"on average {agree.mean():.0%}")
assert agree.mean() > 0.9 and agree.argmin() == 9, agree  # chance is 0.1
plot.image_grid(digits, nrow=10, title="conditional DCGAN: columns are the requested digits 0, 1, ..., 9", scale=0.7)
plt.show()

# %% [markdown]
# Each column is one requested digit, and every image has its own noise vector $z$: the label
# fixes *what* is drawn, $z$ *how* (slant, thickness). The classifier reads the requested
# digit in more than nine of ten of 500 samples on average (the printed shares; chance is
# 10%), but not equally for every digit: the short training leaves the 9s the roughest.
#
# ## Summary
#
# - For a fixed generator the best discriminator is $D^*_G = p_{data}/(p_{data} + p_G)$; a
#   trained discriminator finds it where there are samples.
# - At $D^*_G$ the game's value is $2\,\mathrm{JSD}(p_{data}\|p_G) - \log 4$: the generator
#   minimises a Jensen–Shannon divergence, with its minimum at $p_G = p_{data}$.
# - Read backwards, $D^*/(1 - D^*) = p_{data}/p_G$: a classifier's logit estimates a log
#   density ratio (the density-ratio trick).
# - The minimax generator loss saturates when the discriminator wins; the non-saturating
#   loss $-\log D(G(z))$ has the same fixed point and strong gradients where they are needed,
#   but it follows $\mathrm{KL}(p_G \| p_{data}) - 2\,\mathrm{JSD}$, not the JSD.
# - A discriminator at $\tfrac12$ that has stopped learning proves nothing; a fresh one can
#   still tell the generator from the data.
# - DCGANs bring the same game to images, with Radford et al.'s architectural rules; walking
#   between two codes changes the digit smoothly; conditioning on a label lets you choose
#   what is drawn.

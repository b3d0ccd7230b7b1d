# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Wasserstein GANs, Lipschitz critics and spectral normalization
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/notebooks/06_wgan_spectral_norm.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=notebooks%2F06_wgan_spectral_norm.ipynb)
#
# *Follows lecture 003 (M. Straka, NPFL114), "Wasserstein GAN" with the parallel-lines
# example, "BigGAN Ingredients – Hinge Loss" and "– Spectral Normalization"; and lecture 004
# (R. Isachenko), the Kantorovich–Rubinstein duality, the gradient penalty and the critic's
# spectral norm.*
#
# Notebook 04 showed that at the optimal discriminator a GAN's generator minimises the
# Jensen–Shannon divergence. Here you will
#
# 0. see JSD as one f-divergence, estimated by a discriminator through its variational
#    (Fenchel) lower bound, checked numerically;
# 1. see JSD fail where it matters most, on distributions whose supports do not overlap, and
#    the Earth-Mover (Wasserstein-1) distance $W$ behave (the parallel-lines example), and a
#    saturated discriminator's vanishing gradient next to a critic's constant slope;
# 2. learn why $W$'s dual form needs a **1-Lipschitz critic**, and the three ways to get one:
#    weight clipping, a gradient penalty, spectral normalization;
# 3. compute a layer's spectral norm by **power iteration** by hand, watch its estimate of
#    $\sigma$ converge at the rate $(\sigma_2/\sigma_1)^{4k}$, and compare it with PyTorch's `spectral_norm`;
# 4. bound a network's Lipschitz constant by the product of its layers' norms, and compare
#    the bound with the gradients the network really has;
# 5. train the three kinds of critic on the ring of 8 Gaussians (clipping with Adam and with
#    the original RMSProp) and look at their contours;
# 6. train a WGAN-GP on MNIST digits and watch the critic's estimate of $W$ and its slope.

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
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn
from torch.nn.utils import parametrizations

from gdmcourse import gan, nets, plot
from gdmcourse import wgan

device = gdmcourse.startup(seed=6)
plot.use_style()
print(f"device: {device.type}")

# %% [markdown]
# ## The f-divergence view: a discriminator estimates a divergence
#
# JSD is one member of a family (lecture 004). For a convex $f$ with $f(1) = 0$, the
# **f-divergence** of $P$ from $Q$ (densities $p$, $q$) is
#
# $$D_f(P \,\|\, Q) = \mathbb E_{x\sim Q}\, f\!\left(\frac{p(x)}{q(x)}\right):\qquad
#   f(u) = u\log u \text{ gives } \mathrm{KL}(P\|Q), \quad
#   f(u) = \tfrac12\big[u\log u - (u+1)\log\tfrac{u+1}{2}\big] \text{ gives } \mathrm{JSD}(P\|Q).$$
#
# It needs both densities. The **Fenchel conjugate** $f^*(t) = \sup_u\, ut - f(u)$ turns it
# into something samples can estimate: since $f(u) = \sup_t\, tu - f^*(t)$, choosing one $t =
# T(x)$ for each $x$ can only do worse than the supremum, so for *every* function $T$
#
# $$D_f(P\,\|\,Q) \;\ge\; \sup_T\; \mathbb E_{x\sim P}[T(x)] - \mathbb E_{x\sim Q}[f^*(T(x))],$$
#
# with equality at $T^*(x) = f'\big(p(x)/q(x)\big)$ (lecture 004; Nguyen et al. 2010, Nowozin et
# al. 2016). A network $T$ trained to maximise the right-hand side on samples is a
# discriminator, and its objective estimates the divergence. For the JSD,
# $f^*(t) = -\tfrac12\log(2 - e^{2t})$ and $T^* = \tfrac12\log\frac{2p}{p+q} = \tfrac12\log 2D^*$,
# with $D^* = p/(p+q)$ the optimal GAN discriminator of notebook 04: the GAN's discriminator
# is this bound's critic in disguise. (Lecture 004 writes $\pi$ for the data and $p$ for the
# model; here $P$ and $Q$.)
#
# `wgan.F_DIVERGENCES` holds $f$, $f^*$ and $T^*$ for KL and JS, and
# `wgan.fenchel_lower_bound(T(x_P), T(x_Q), name)` the bound from samples. We check it on two
# 1-D Gaussians, $P = \mathcal N(0, 1)$ and $Q = \mathcal N(1, 1.5^2)$: the bound at $T^*$
# (by quadrature, and from 20,000 samples of each) against the divergence computed
# independently (KL in closed form, JSD as $\tfrac12\mathrm{KL}(P\|M) + \tfrac12\mathrm{KL}(Q\|M)$
# with scipy's `quad`), and the bound for the worse critics $T = cT^*$, $c \ne 1$.
#
# *Figure: for KL (left) and JSD (right), the lower bound (solid) for the critics $cT^*$ against
# the scale $c$ from 0 to 2, with the independently computed divergence dashed: the bound
# stays below the dashed line and touches it at $c = 1$.*

# %%
from scipy import integrate, stats

P, Q = stats.norm(0, 1), stats.norm(1, 1.5)
independent = {
    # KL(N(m1, s1²) ‖ N(m2, s2²)) = log(s2/s1) + (s1² + (m1 − m2)²)/(2 s2²) − 1/2
    "kl": math.log(1.5 / 1) + (1 + (0 - 1) ** 2) / (2 * 1.5**2) - 0.5,
    "js": integrate.quad(lambda x: 0.5 * P.pdf(x) * math.log(2 * P.pdf(x) / (P.pdf(x) + Q.pdf(x)))
                         + 0.5 * Q.pdf(x) * math.log(2 * Q.pdf(x) / (P.pdf(x) + Q.pdf(x))), -20, 20, limit=200)[0],
}
xs = torch.linspace(-15, 15, 30_001, dtype=torch.float64)
p, q = torch.as_tensor(P.pdf(xs.numpy())), torch.as_tensor(Q.pdf(xs.numpy()))
g = torch.Generator().manual_seed(0)
x_p = torch.as_tensor(P.ppf(torch.rand(20_000, generator=g, dtype=torch.float64).numpy()))
x_q = torch.as_tensor(Q.ppf(torch.rand(20_000, generator=g, dtype=torch.float64).numpy()))
ratio = lambda x: torch.as_tensor(P.pdf(x.numpy()) / Q.pdf(x.numpy()))

scales = np.linspace(0, 2, 81)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
print("divergence   independent   bound at T* (quadrature)   bound at T* (20k samples)   best c")
for ax, (name, div) in zip(axes, wgan.F_DIVERGENCES.items()):
    T = div.critic(p / q)
    bounds = np.array([torch.trapezoid(p * c * T - q * div.conjugate(c * T), xs).item() for c in scales])
    sampled = wgan.fenchel_lower_bound(div.critic(ratio(x_p)), div.critic(ratio(x_q)), name).item()
    best = scales[bounds.argmax()]
    print(f"{name:10s} {independent[name]:12.6f} {bounds[40]:18.6f} {sampled:27.4f} {best:14.2f}")
    ax.plot(scales, bounds, label="$\\mathbb{E}_P[cT^*] - \\mathbb{E}_Q[f^*(cT^*)]$")
    ax.axhline(independent[name], color="k", ls="--", lw=1, label=f"{name.upper()}$(P\\|Q)$, computed independently")
    ax.set(xlabel="scale $c$ of the critic $cT^*$", ylabel="nats", title=f"the Fenchel bound for {name.upper()}",
           ylim=(min(0, bounds.min()) - 0.02, independent[name] * 1.6))
    ax.legend(fontsize="small", loc="lower center")
    assert abs(bounds[40] - independent[name]) < 1e-6        # the bound at T* is the divergence
    assert best == 1.0 and (np.delete(bounds, 40) < independent[name]).all()  # below it for every other c
    assert abs(sampled - independent[name]) < 0.02           # and 20k samples estimate it
fig.tight_layout()
plt.show()
# the JS critic is the GAN discriminator in disguise: T* = ½ log 2D*, D* = p/(p+q)
assert torch.allclose(wgan.F_DIVERGENCES["js"].critic(p / q), 0.5 * torch.log(2 * p / (p + q)))


# %% [markdown]
# At $c = 1$ both bounds equal the divergences computed independently (to $10^{-6}$, the
# quadrature's error), every other scale gives less, and 20,000 samples of each distribution
# estimate them to within 0.02 nats. This is how a GAN's discriminator "measures" a divergence:
# only through the best critic it can find, and only where samples land. The next section shows
# where that breaks.
#
# ## EM vs JSD on parallel lines
#
# Let $P_0$ be uniform on the segment $\{0\} \times [0, 1]$ and $P_\theta$ uniform on
# $\{\theta\} \times [0, 1]$ (lecture 003). For every $\theta \ne 0$ the two supports are
# disjoint, so
#
# $$\mathrm{JSD}(P_0 \,\|\, P_\theta) = \begin{cases} 0 & \theta = 0\\ \log 2 & \theta \ne 0\end{cases}, \qquad
#   W(P_0, P_\theta) = \inf_{\gamma \in \Pi(P_0, P_\theta)} \mathbb E_{(x, y)\sim\gamma}\|x - y\| = |\theta| .$$
#
# (The slide prints the JSD's value as "$\log_2$": with natural logarithms, as everywhere in
# this course, it is $\log 2 \approx 0.693$ nats, the largest value a JSD can take.)
# The best transport plan moves each point $(0, z)$ straight across to $(\theta, z)$. A
# generator with parameter $\theta$ trained on JSD gets no gradient at all (JSD is flat) until
# it hits $\theta = 0$ exactly; on $W$ it gets the gradient $\operatorname{sign}\theta$ everywhere.
# Below, besides the formulas, an independent estimate from samples: 500 points on each
# line, matched one-to-one at the least total distance (an optimal transport plan between
# two empirical distributions, found by scipy's `linear_sum_assignment`).
#
# *Figure: the two distances between the parallel lines against $\theta$: $W = |\theta|$ (a V),
# JSD flat at $\log 2$ (dotted level) with a single point at 0 for $\theta = 0$, and crosses
# for $W$ estimated from samples, on the V.*

# %%
def em_from_samples(theta, n=500, seed=0):
    """W(P_0, P_theta) from n samples of each line: the cost of the best one-to-one matching."""
    g = torch.Generator().manual_seed(seed)
    a = torch.stack([torch.zeros(n), torch.rand(n, generator=g)], dim=1)
    b = torch.stack([torch.full((n,), theta), torch.rand(n, generator=g)], dim=1)
    cost = torch.cdist(a, b).numpy()
    rows, cols = linear_sum_assignment(cost)
    return cost[rows, cols].mean()


thetas = torch.linspace(-1, 1, 201)
probe = [-0.8, -0.3, 0.1, 0.6]
w_samples = [em_from_samples(t) for t in probe]

fig, ax = plt.subplots(figsize=(7, 3.6))
ax.plot(thetas, wgan.parallel_lines_wasserstein(thetas), lw=2, label="$W(P_0, P_\\theta) = |\\theta|$")
ax.plot(thetas[thetas != 0], wgan.parallel_lines_jsd(thetas[thetas != 0]), ".", ms=3, color="C1",
        label="JSD$(P_0 \\| P_\\theta)$ (nats)")
ax.plot([0], [0], "o", color="C1")
ax.plot(probe, w_samples, "kx", ms=9, label="$W$ from 500 + 500 samples (optimal matching)")
ax.axhline(math.log(2), color="C1", ls=":", lw=1)
ax.set(xlabel="$\\theta$", ylabel="distance", title="parallel lines: EM is continuous, JSD jumps")
ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
plt.show()
assert np.allclose(w_samples, np.abs(probe), atol=0.02), w_samples
assert (wgan.parallel_lines_jsd(thetas[thetas != 0]) == math.log(2)).all()  # flat: no gradient anywhere

# %% [markdown]
# ## The dual form needs a Lipschitz critic
#
# The infimum over transport plans is intractable in high dimension. The
# Kantorovich–Rubinstein duality (lecture 004) turns it into a supremum over functions:
#
# $$W(p_{data}, p_G) = \sup_{\|f\|_L \le 1}\; \mathbb E_{x\sim p_{data}}[f(x)] - \mathbb E_{x\sim p_G}[f(x)] .$$
#
# (Lecture 003's slide writes the second term as $\mathbb E_{y\sim q}[f(x)]$; it is $\mathbb E_{y\sim q}[f(y)]$.)
# So the discriminator becomes a **critic** $f$ with no sigmoid, trained to maximise the
# difference of its mean scores (`wgan.critic_loss` is the negative, to minimise), and the
# generator minimises $-\mathbb E_z[f(G(z))]$. The constraint is essential: without it,
# $f \mapsto c f$ multiplies the objective by $c$, and the supremum is $+\infty$ for any two
# different distributions. A network is $K$-Lipschitz when $\|f(x) - f(y)\| \le K\|x - y\|$, i.e.
# (where differentiable) when $\|\nabla_x f\| \le K$ everywhere. Three ways to enforce it:
#
# | method | how | the catch |
# |---|---|---|
# | weight clipping (WGAN) | clamp every weight into $[-c, c]$ after each step | a crude box: capacity is lost, and $c$ trades slow learning against exploding gradients |
# | gradient penalty (WGAN-GP) | add $\lambda\, \mathbb E_{\hat x}\big[(\|\nabla_{\hat x} f(\hat x)\|_2 - 1)^2\big]$ on random points $\hat x$ between real and generated samples | a soft constraint, only where $\hat x$ lands; a second backward pass |
# | spectral normalization | divide each weight matrix by its largest singular value $\sigma(W)$ | guarantees $\|f\|_L \le \prod_k \sigma(W_k) = 1$, but the bound is loose: the real slopes are often far below 1 |
#
# The last two need care: a gradient *of a gradient* (`create_graph=True`) for the penalty,
# and the largest singular value of every layer at every step for spectral normalization.
#

# %% [markdown]
# ## A saturated discriminator vs a critic: the generator's gradient
#
# Lecture 003 shows the figure of Arjovsky et al. (2017, Figure 2): when the real and the
# generated distributions are far apart, a discriminator trained to optimality saturates
# ($D \approx 1$ on the data, $D \approx 0$ on the samples) and the generator's gradient
# through it vanishes, while a Wasserstein critic keeps a constant slope. We repeat it in 1-D:
# data $\mathcal N(2, 0.3^2)$, generated samples $\mathcal N(-2, 0.3^2)$, 512 of each; a
# discriminator (MLP, 2 hidden layers of 64) trained for 300 full-batch Adam steps with the GAN
# loss, and a critic of the same shape trained as long with the WGAN-GP loss. Then we
# differentiate the generator's losses with respect to a generated point $x$: the minimax
# $\log(1 - D(x))$, the non-saturating $-\log D(x)$ (notebook 04) and the critic's $-f(x)$.
#
# *Figure: left, the discriminator's $D(x)$ and the critic's $f(x)$ (right axis) over $x$, with
# the data (right bump) and the generated samples (left bump) as histograms; right, the size
# of each generator loss's gradient in $x$ on a log scale: the minimax loss's is tiny over the
# generated samples, the critic's is close to 1 everywhere between the bumps.*

# %%
g = torch.Generator().manual_seed(0)
real_1d = (2 + 0.3 * torch.randn(512, 1, generator=g))
fake_1d = (-2 + 0.3 * torch.randn(512, 1, generator=g))
torch.manual_seed(0)
disc = nets.MLP((1,), (), hidden=(64, 64), activation=nn.LeakyReLU)
crit = nets.MLP((1,), (), hidden=(64, 64), activation=nn.LeakyReLU)
opt_disc, opt_crit = torch.optim.Adam(disc.parameters(), lr=1e-3), torch.optim.Adam(crit.parameters(), lr=1e-3)
for step in range(300):
    opt_disc.zero_grad()
    gan.discriminator_loss(disc(real_1d), disc(fake_1d)).backward()
    opt_disc.step()
    opt_crit.zero_grad()
    (wgan.critic_loss(crit(real_1d), crit(fake_1d))
     + 10 * wgan.gradient_penalty(crit, real_1d, fake_1d, generator=g)).backward()
    opt_crit.step()

x = torch.linspace(-3.5, 3.5, 701)[:, None].requires_grad_(True)
logits, scores = disc(x), crit(x)
generator_losses = {"minimax: $\\log(1 - D(x))$": -F.softplus(logits),       # log(1 − σ(l)) = −softplus(l)
                    "non-saturating: $-\\log D(x)$": F.softplus(-logits),     # −log σ(l) = softplus(−l)
                    "critic: $-f(x)$": -scores}
grads = {k: torch.autograd.grad(v.sum(), x, retain_graph=True)[0].squeeze(1).abs().detach()
         for k, v in generator_losses.items()}
xs_1d = x.detach().squeeze(1)

fig, axes = plt.subplots(1, 2, figsize=(12, 4))
axes[0].hist(real_1d.squeeze(1), bins=30, density=True, alpha=0.3, color="C2", label="data")
axes[0].hist(fake_1d.squeeze(1), bins=30, density=True, alpha=0.3, color="C3", label="generated")
axes[0].plot(xs_1d, torch.sigmoid(logits).detach(), color="C0", label="discriminator $D(x)$")
axes[0].set(xlabel="$x$", ylabel="density / $D(x)$", title="a saturated discriminator and a critic")
twin = axes[0].twinx()
twin.plot(xs_1d, scores.detach(), color="C1", label="critic $f(x)$ (right axis)")
twin.set_ylabel("critic score $f(x)$")
twin.grid(False)
lines = axes[0].get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
axes[0].legend(lines, [l.get_label() for l in lines], fontsize="small", loc="upper left", bbox_to_anchor=(0, -0.18), ncol=2)
for (name, grad), colour in zip(grads.items(), ["C0", "C2", "C1"]):
    axes[1].semilogy(xs_1d, grad.clamp_min(1e-12), color=colour, label=name)
axes[1].axvspan(-2.6, -1.4, color="C3", alpha=0.1, label="where the generated samples are")
axes[1].set(xlabel="generated point $x$", ylabel="$|\\partial\\, \\mathrm{loss}_G / \\partial x|$",
            title="the generator's gradient")
axes[1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(0, -0.18), ncol=2)
fig.tight_layout()
plt.show()

at_fakes = (xs_1d > -2.6) & (xs_1d < -1.4)
between = (xs_1d > -1.5) & (xs_1d < 1.5)
median = {k.split(":")[0]: v[at_fakes].median().item() for k, v in grads.items()}
print("median |gradient| over the generated samples: " + ", ".join(f"{k} {v:.2g}" for k, v in median.items()))
print(f"D(x) on the generated samples ≤ {torch.sigmoid(logits).detach().squeeze()[at_fakes].max().item():.2g}")
critic_slope = grads["critic: $-f(x)$"]
print(f"critic's |f'(x)| between the bumps: {critic_slope[between].min().item():.3f} … {critic_slope[between].max().item():.3f}")
assert median["minimax"] < 1e-3 and torch.sigmoid(logits).detach().squeeze()[at_fakes].max() < 0.01  # saturated
assert 0.8 < critic_slope[between].min() and critic_slope[between].max() < 1.5  # the critic's slope stays near 1
assert median["non-saturating"] > 1 and median["critic"] > 1000 * median["minimax"]


# %% [markdown]
# Over the generated samples the saturated discriminator says $D(x) < 0.01$ and the minimax
# loss's gradient is, in the median, below $10^{-3}$, less than a thousandth of the critic's:
# the generator learns almost nothing from it. The critic's slope
# stays between 0.8 and 1.5 over the whole gap, so every generated point is pulled towards the
# data with about the same force, however far away it is. The non-saturating loss (notebook 04)
# also escapes the vanishing here, but its gradient is the slope of the discriminator's logit,
# which nothing bounds; the critic's is held near 1 by the penalty.
#
# ## Power iteration
#
# $\sigma(W) = \max_{\|v\| = 1}\|Wv\|$, the largest singular value. Power iteration finds it
# by alternately applying $W^\top$ and $W$ and normalising:
#
# $$v \leftarrow \frac{W^\top u}{\|W^\top u\|}, \qquad u \leftarrow \frac{Wv}{\|Wv\|}, \qquad \sigma \approx u^\top W v .$$
#
# Writing the start vector in the basis of left singular vectors, each round trip multiplies
# the $i$-th coefficient by $\sigma_i^2$; after $k$ iterations everything but the first has
# shrunk relative to it by $(\sigma_i/\sigma_1)^{2k}$, and the error of $\sigma$ falls like
# $(\sigma_2/\sigma_1)^{4k}$ (the estimate is quadratic in the error of the vectors). We
# measure this on random Gaussian $256\times128$ matrices, against `torch.linalg.matrix_norm(W, ord=2)`.
#
# *Figure: the relative error of the power-iteration estimate (log scale) against the number of
# iterations, one line per random matrix, with the level $10^{-4}$ dotted.*

# %%
def relative_errors(W, iters, seed):
    """Relative error of power iteration's sigma after 1..iters iterations from one random start."""
    exact = torch.linalg.matrix_norm(W, ord=2)
    u = torch.randn(W.shape[0], generator=torch.Generator().manual_seed(seed), dtype=W.dtype)
    errors = []
    for _ in range(iters):
        sigma, u, v = wgan.power_iteration(W, 1, u=u)
        errors.append(((sigma - exact).abs() / exact).item())
    return np.array(errors)


fig, ax = plt.subplots(figsize=(7.5, 4))
print("seed  σ2/σ1   iterations to relative error ≤ 1e-4")
needed, gaps = [], []
for seed in range(10):
    W = torch.randn(256, 128, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    s = torch.linalg.svdvals(W)
    errors = relative_errors(W, 500, seed=100 + seed)
    k = int(np.argmax(errors <= 1e-4)) + 1 if (errors <= 1e-4).any() else None
    needed.append(k)
    gaps.append((s[1] / s[0]).item())
    print(f"{seed:4d}  {(s[1] / s[0]).item():.4f}  {k}")
    line, = ax.semilogy(np.arange(1, 501), np.maximum(errors, 1e-16), lw=1)
ax.axhline(1e-4, color="k", ls=":", lw=1)
ax.set(xlabel="iterations $k$", ylabel="relative error of $\\sigma$",
       title="power iteration on 10 random 256×128 Gaussian matrices", ylim=(1e-16, 1))
plt.show()
assert all(k is not None and k <= 500 for k in needed)
assert 0.95 < min(gaps) and max(gaps) < 0.995 and 24 <= min(needed) and max(needed) >= 100  # dozens to hundreds
assert np.corrcoef(gaps, needed)[0, 1] > 0.4  # the closer σ2/σ1 is to 1, the more iterations (noisy: random starts)


# %% [markdown]
# Random Gaussian matrices have their top singular values close together
# ($\sigma_2/\sigma_1 \approx 0.95$–$0.99$), so dozens to hundreds of iterations are needed to
# reach $10^{-4}$: the closer the ratio to 1, the slower (compare the printed columns). To see
# that the ratio alone sets the speed, give a matrix a chosen spectrum, $W = U\,\mathrm{diag}(\sigma)\,V^\top$
# with random orthogonal $U, V$ and $\sigma_2/\sigma_1 = \rho$, and overlay the predicted slope $\rho^{4k}$.
#
# *Figure: relative error (log scale) against iterations for four spectral gaps ρ, each with its
# predicted slope $\rho^{4k}$ dotted in the same colour; the curves for $\rho \le 0.9$ level off at
# float64's rounding floor, $\rho = 0.97$ is still falling at the right edge.*

# %%
def matrix_with_gap(rho, m=256, n=128, seed=0):
    """A random m×n matrix with singular values 1, rho, rho·0.9, rho·0.9², ..."""
    g = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(m, n, generator=g, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    s = torch.cat([torch.ones(1, dtype=torch.float64), rho * 0.9 ** torch.arange(n - 1, dtype=torch.float64)])
    return U @ torch.diag(s) @ V.T


fig, ax = plt.subplots(figsize=(7.5, 4))
ks = np.arange(1, 151)
for i, rho in enumerate([0.5, 0.8, 0.9, 0.97]):
    errors = relative_errors(matrix_with_gap(rho), 150, seed=1)
    ax.semilogy(ks, np.maximum(errors, 1e-17), color=f"C{i}", label=f"$\\sigma_2/\\sigma_1$ = {rho}")
    k0 = int(np.flatnonzero(errors > 1e-12)[-1])  # anchor the predicted slope in the asymptotic regime
    ax.semilogy(ks, errors[k0] * rho ** (4 * (ks - ks[k0])), color=f"C{i}", ls=":", lw=1)
ax.set(xlabel="iterations $k$", ylabel="relative error of $\\sigma$", ylim=(1e-17, 1),
       title="the spectral gap sets the speed (dotted: slope $\\rho^{4k}$)")
ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
plt.show()

for rho in [0.5, 0.8, 0.9, 0.97]:
    errors = relative_errors(matrix_with_gap(rho), 150, seed=1)
    window = np.flatnonzero((errors < 1e-3) & (errors > 1e-12))  # past the start, above the rounding floor
    slope = np.polyfit(window, np.log(errors[window]), 1)[0]
    print(f"ρ = {rho}: measured log-error slope {slope:.4f} per iteration, predicted 4 log ρ = {4 * math.log(rho):.4f}")
    assert abs(slope / (4 * math.log(rho)) - 1) < 0.1
    assert rho > 0.9 or errors[-1] < 1e-13  # ρ ≤ 0.9 reach the rounding floor within 150 iterations

# %% [markdown]
# Each curve falls along its dotted slope (the measured slopes match $4\log\rho$ within 10%);
# those with $\rho \le 0.9$ then level off at float64's rounding floor, $\rho = 0.97$ is still
# falling after 150 iterations.
# Spectral normalization in training does **one** iteration per step, but carries $u$ over
# from the previous step: the weights change little between steps, so the carried vector
# stays close to converged. PyTorch's `torch.nn.utils.parametrizations.spectral_norm` does
# exactly that; we check that after enough forward passes its normalized weight is
# $W/\sigma$ with our $\sigma$.

# %%
W = torch.randn(64, 32, generator=torch.Generator().manual_seed(3))
layer = nn.Linear(32, 64, bias=False)
with torch.no_grad():
    layer.weight.copy_(W)
layer = parametrizations.spectral_norm(layer)  # one power iteration per forward pass in training mode
for _ in range(300):
    layer(torch.zeros(1, 32))
torch_sigma = (W.norm() / layer.weight.norm()).item()  # W_sn = W / sigma
ours, _, _ = wgan.power_iteration(W, 300, generator=torch.Generator().manual_seed(0))
exact = torch.linalg.matrix_norm(W, ord=2).item()
print(f"sigma: torch spectral_norm {torch_sigma:.4f}, our power iteration {ours.item():.4f}, "
      f"exact (SVD) {exact:.4f}")
print(f"largest singular value of the normalized weight: "
      f"{torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item():.4f}")
assert abs(torch_sigma - exact) < 1e-3 * exact and abs(ours.item() - exact) < 1e-3 * exact
assert abs(torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item() - 1) < 1e-3


# %% [markdown]
# ## A network's Lipschitz constant: the bound and the truth
#
# For a chain of layers $f = W_{K+1} \circ a_K \circ W_K \circ \dots \circ a_1 \circ W_1$ with
# 1-Lipschitz activations (ReLU, leaky ReLU, tanh), the Lipschitz constants multiply
# (lecture 004):
#
# $$\|f\|_L \le \prod_{k=1}^{K+1} \sigma(W_k) .$$
#
# `wgan.lipschitz_upper_bound(model)` computes this product. The true constant is the
# largest gradient norm anywhere; we measure $\|\nabla_x f(x)\|$ at 10,000 random points
# (`wgan.gradient_norm`, one autograd call) for the same MLP critic with and without spectral
# normalization.

# %%
def toy_critic(spectral_norm):
    torch.manual_seed(0)
    net = nets.MLP((2,), (), hidden=(128, 128, 128), activation=nn.LeakyReLU)
    if spectral_norm:
        for module in net.modules():
            if isinstance(module, nn.Linear):
                parametrizations.spectral_norm(module)
        net.train()
        with torch.no_grad():
            for _ in range(200):  # let the power iterations converge
                net(torch.zeros(1, 2))
    return net.eval()


points = 3 * torch.randn(10_000, 2, generator=torch.Generator().manual_seed(1))
print("critic                 Lipschitz bound   max ‖∇f‖ measured   mean ‖∇f‖")
looseness = {}
for sn in [False, True]:
    critic = toy_critic(sn)
    bound = wgan.lipschitz_upper_bound(critic)
    norms = wgan.gradient_norm(critic, points)
    assert norms.max().item() <= bound * (1 + 1e-4)
    looseness[sn] = bound / norms.max().item()
    print(f"{'spectral-normalized' if sn else 'plain (PyTorch init)':22s} {bound:15.3f} {norms.max().item():19.3f} "
          f"{norms.mean().item():11.3f}")
assert min(looseness.values()) > 10 and norms.max().item() < 0.1  # tens of times loose; the SN critic is flat

# %% [markdown]
# The bound holds, but it is very loose: the layers' top singular directions do not line up,
# and ReLU-like units switch off half the signal, so the real gradients are tens of times
# smaller than the product of the norms (the cell checks more than 10 times, for both). That is the
# price of spectral normalization: a spectrally normalized critic is guaranteed 1-Lipschitz but,
# at initialisation, is effectively much flatter than 1, and it can only use part of its
# range. The gradient penalty instead asks for $\|\nabla f\| = 1$ where it matters.
#
# ## The hinge loss
#
# Spectrally normalized GANs (SN-GAN, BigGAN) usually train the discriminator with the
# **hinge loss** (lecture 003), a maximum-margin classifier on the scores,
#
# $$L_D = \mathbb E_x\big[\max(0, 1 - D(x))\big] + \mathbb E_z\big[\max(0, 1 + D(G(z)))\big], \qquad
#   L_G = -\mathbb E_z\big[D(G(z))\big],$$
#
# which stops pushing a sample once its score is beyond the margin, instead of the critic
# loss's unbounded push. The per-sample terms, from the package's losses.
#
# *Figure: the loss of one real and one generated sample against its score $D(x)$: the hinge
# terms (solid) are zero beyond the margins $D = 1$ (real) and $D = -1$ (generated), the critic
# loss's terms (dotted) are straight lines that never stop decreasing.*

# %%
s = torch.linspace(-3, 3, 121)
per_real = [wgan.hinge_discriminator_loss(v[None], torch.tensor([-10.0])).item() for v in s]
per_fake = [wgan.hinge_discriminator_loss(torch.tensor([10.0]), v[None]).item() for v in s]
fig, ax = plt.subplots(figsize=(7, 3.4))
ax.plot(s, per_real, label="hinge, real sample: $\\max(0, 1 - D)$")
ax.plot(s, per_fake, label="hinge, generated sample: $\\max(0, 1 + D)$")
ax.plot(s, -s, "C0:", label="critic loss, real: $-D$")
ax.plot(s, s, "C1:", label="critic loss, generated: $+D$")
ax.set(xlabel="score $D(x)$", ylabel="loss term", title="hinge vs Wasserstein critic loss")
ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
plt.show()
per_real, per_fake = torch.tensor(per_real), torch.tensor(per_fake)
assert (per_real[s >= 1] == 0).all() and (per_fake[s <= -1] == 0).all()  # no push beyond the margin
assert torch.allclose(per_real[s < 1], 1 - s[s < 1]) and torch.allclose(per_fake[s > -1], 1 + s[s > -1])

# %% [markdown]
# ## Three Lipschitz critics on the ring of 8 Gaussians
#
# Now train a WGAN three ways on the data of notebook 05, with the same generator and critic
# networks (MLPs, 3 hidden layers of 128) and Adam with $\beta = (0, 0.9)$; the clipped WGAN
# also with RMSProp, the optimiser of the original algorithm (Arjovsky et al. 2017, Algorithm 1,
# the one lecture 003 shows: RMSProp with learning rate $5\cdot10^{-5}$, $c = 0.01$, 5 critic
# steps; the authors report that momentum-based optimisers such as Adam made the clipped
# critic unstable). Lecture 003 also warns that the constraint "by truncation is not very
# effective"; we measure how much.
#
# | recipe | critic loss | constraint | critic steps per generator step | optimiser, learning rate | generator steps (quick) |
# |---|---|---|---|---|---|
# | `wgan-clip` | $\overline{f(\tilde x)} - \overline{f(x)}$ | weights clipped to $[-0.01, 0.01]$ | 5 | Adam, $10^{-3}$ | 300 |
# | `wgan-clip-rmsprop` | the same | the same | 5 | RMSProp, $10^{-3}$ | 300 |
# | `wgan-gp` | $\overline{f(\tilde x)} - \overline{f(x)} + 10\,\mathrm{GP}$ | gradient penalty, $\lambda = 10$ | 5 | Adam, $10^{-3}$ | 1000 |
# | `sn-hinge` | hinge loss | spectral normalization of every layer | 1 | Adam, $2\cdot10^{-3}$ | 1500 |
#
# (Arjovsky et al. use a learning rate of $5\cdot10^{-5}$ and Gulrajani et al. $10^{-4}$; to fit
# a CPU budget the runs here use the larger rates of the table, decaying linearly to 0, and
# batches of 128.) During the WGAN-GP run we record the mode coverage every 50
# generator steps. Afterwards we draw each critic's contours over the data.
#
# *Figure (after training): four panels, one per recipe, each the critic's score as filled
# contours over $[-3, 3]^2$ (colour bar on its right) with the data (white) and 500 generated
# samples (red) on top, and the modes covered and high-quality share under the recipe's name.*

# %%
from gdmcourse import data, gan, recipes

# the settings the table above states
table = {"wgan-clip": ("adam", 1e-3, 5, 300), "wgan-clip-rmsprop": ("rmsprop", 1e-3, 5, 300),
         "wgan-gp": ("adam", 1e-3, 5, 1000), "sn-hinge": ("adam", 2e-3, 1, 1500)}
for name, (optimiser, lr, n_critic, quick_steps) in table.items():
    r = recipes.TOY_GANS[name]
    assert (r.optimizer, r.lr_g, r.lr_d, r.n_critic, r.steps["quick"], r.batch_size) == \
        (optimiser, lr, lr, n_critic, quick_steps, 128), (name, r)
assert recipes.TOY_GANS["wgan-gp"].betas == (0.0, 0.9) and recipes.TOY_GANS["sn-hinge"].spectral_norm

# %% tags=["nbval-ignore-output"]

centers, std = data.toy2d_centers("8gaussians"), data.toy2d_std("8gaussians")
real = data.toy2d("8gaussians", 2000, seed=1)


def coverage(step, generator):
    return gan.mode_coverage(gan.sample(generator, 1000, seed=step), centers, std)


critics = {}
for name in ["wgan-clip", "wgan-clip-rmsprop", "wgan-gp", "sn-hinge"]:
    G, D, history = recipes.train_toy_gan(name, seed=0, device=device,
                                          callback=coverage if name == "wgan-gp" else None, callback_every=50)
    samples = gan.sample(G, 2000, seed=123)
    critics[name] = (G, D.to("cpu"), history, samples, gan.mode_coverage(samples, centers, std))
    modes, hq = critics[name][4]
    print(f"{name:17s} {len(history.g_loss)} generator steps in {history.seconds:.0f} s: "
          f"modes {modes}/8, high-quality {100 * hq:.1f}%")

# %%
assert critics["wgan-gp"][4][0] >= 7 and critics["sn-hinge"][4][0] >= 7, {k: v[4] for k, v in critics.items()}
assert critics["wgan-clip"][4][1] < 0.3 and critics["wgan-clip-rmsprop"][4][1] < 0.3
print("WGAN-GP and the spectrally normalized hinge GAN cover at least 7 of 8 modes (here: see the titles); "
      "the clipped WGANs' samples are mostly off the modes (< 30% high-quality), with either optimiser")

grid = torch.linspace(-3, 3, 121)
X, Y = torch.meshgrid(grid, grid, indexing="xy")
grid_points = torch.stack([X.flatten(), Y.flatten()], 1)
fig, axes = plt.subplots(1, 4, figsize=(20, 5.4))
for ax, (name, (G, D, history, samples, (modes, hq))) in zip(axes, critics.items()):
    with torch.no_grad():
        scores = D(grid_points).reshape(X.shape)
    im = ax.contourf(X, Y, scores, levels=20, cmap="viridis")
    fig.colorbar(im, ax=ax, fraction=0.046, label="critic score $f(x)$")
    ax.scatter(real[:, 0], real[:, 1], s=2, color="white", label="data")
    ax.scatter(samples[:500, 0], samples[:500, 1], s=3, color="C3", label="samples")
    ax.set(title=f"{name}\n{modes}/8 modes, {100 * hq:.0f}% high-quality", xlabel="$x_1$", ylabel="$x_2$",
           aspect="equal")
fig.tight_layout(rect=(0, 0.07, 1, 1))
# below the panels, on grey so that the white data points show
fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=2, markerscale=4, facecolor="0.6")
plt.show()

# how much each critic's score varies over the square, and its input-gradient norms there
print("critic              score range   ‖∇f‖ median / max over the grid")
spread, slopes = {}, {}
for name, (G, D, *_ ) in critics.items():
    with torch.no_grad():
        scores = D(grid_points)
    spread[name] = (scores.max() - scores.min()).item()
    slopes[name] = wgan.gradient_norm(D, grid_points)
    print(f"{name:18s} {spread[name]:11.4f}   {slopes[name].median().item():.4f} / {slopes[name].max().item():.4f}")
for clipped in ["wgan-clip", "wgan-clip-rmsprop"]:
    assert spread[clipped] < 0.1 * spread["wgan-gp"] and slopes[clipped].max() < 0.1  # flat, whatever the optimiser
    assert spread[clipped] < 0.005  # a few thousandths at most over the whole square
assert 0.5 < slopes["wgan-gp"].median() < 1.5
assert slopes["sn-hinge"].max() <= 1 + 1e-3  # spectral normalization: at most 1, as guaranteed
assert slopes["sn-hinge"].max() < 0.5  # ... and in fact far below it
with torch.no_grad():
    on_data, over_square = critics["wgan-gp"][1](real).mean().item(), critics["wgan-gp"][1](grid_points).mean().item()
print(f"WGAN-GP critic: mean score on the data {on_data:.3f}, over the square {over_square:.3f}")
assert on_data > over_square + 0.5  # the landscape rises towards the data

# %% [markdown]
# The clipped critics (first two panels) can only represent very flat functions: with every
# weight in $[-0.01, 0.01]$ their scores vary by a few thousandths at most over the whole square (less than a
# tenth of the gradient-penalty critic's range, as the cell checks), their gradients are below
# 0.1 everywhere, and this holds with RMSProp as with Adam: the optimiser does not rescue the
# clipping. The gradient-penalty critic
# (third) is a landscape rising towards the data (its mean score on the data is well above its
# mean over the square), with a median slope of about 1 over the square; the spectrally
# normalized critic (right) is guaranteed 1-Lipschitz, and its largest measured slope, about
# 0.3, is far below that bound: with the hinge loss it only needs to separate the data from
# the samples by a margin.
#
# **Why WGAN-GP sharpens slowly.** The high-quality share of WGAN-GP grows much more slowly
# than the modes get covered.
#
# *Figure: for the WGAN-GP run, the share of high-quality samples and of modes covered (in %)
# every 50 generator steps.*

# %%
steps, cover = zip(*critics["wgan-gp"][2].snapshots)
fig, ax = plt.subplots(figsize=(7, 3.4))
ax.plot(steps, [100 * hq for _, hq in cover], ".-", label="high-quality samples (%)")
ax.plot(steps, [100 * m / 8 for m, _ in cover], ".-", label="modes covered (% of 8)")
ax.set(xlabel="generator step (5 critic steps each)", ylabel="%", ylim=(0, 105),
       title="WGAN-GP on 8 Gaussians: coverage comes first, precision slowly")
ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
plt.show()
modes_seq = [m for m, _ in cover]
hq_seq = [hq for _, hq in cover]
first_modes = steps[next(i for i, m in enumerate(modes_seq) if m >= 7)]
first_hq = steps[next(i for i, q in enumerate(hq_seq) if q >= 0.25)]
print(f"≥ 7 modes first at step {first_modes}; ≥ 25% high-quality first at step {first_hq}; "
      f"final {modes_seq[-1]}/8 modes, {100 * hq_seq[-1]:.0f}% high-quality")
assert first_hq - first_modes >= 300 and all(m == 8 for m in modes_seq[-5:]) and hq_seq[-1] < 0.6
settled = steps[max(i for i, m in enumerate(modes_seq) if m < 8) + 1]
print(f"8 modes at every snapshot from step {settled} on")
assert steps[-1] - settled >= 200  # settled for the last 200 steps or more
assert any(b < a for a, b in zip(modes_seq, modes_seq[1:]))  # before that the count falls back at times

# %% [markdown]
# The number of modes covered jumps up and down at first and settles at 8 for the last 200
# steps or more (from the step printed above); seven or more modes are covered at least 300 generator steps before a quarter of the
# samples are high-quality, and at the end fewer than 60% are. Tightening each mode to its std
# of 0.02 is slow. The
# critic is held at gradient norm $\approx 1$ *everywhere* along the lines between samples
# and data, so near a mode it cannot become steep: a sample at distance $d$ from its mode
# contributes only about $d$ to the estimated $W$, and the generator's gradient towards the
# mode has the same size whether the sample is 1 or 0.05 away. Shrinking a blob of width 0.1
# to 0.02 thus asks for many small, noisy steps, and with five critic steps per generator
# step each of them is expensive. A longer run (the `full` profile) gives it those steps; the
# non-saturating GAN of notebook 05, whose discriminator can become arbitrarily sharp,
# reached 92% high-quality samples in its run, but without the WGAN's guarantee of useful gradients.
#
# ## WGAN-GP on digits
#
# The same loss trains image generators: Gulrajani et al. (2017) show WGAN-GP samples of MNIST,
# CIFAR-10 and LSUN, made by convolutional networks trained for 200,000 generator steps. Here it
# trains a digit generator in about half a minute on one CPU core, with small MLPs instead
# (`recipes.WGAN_GP_MNIST`, through the same `gan.train_gan` loop with `wgan.LOSSES["wgan-gp"]`):
#
# | | Gulrajani et al., MNIST | here |
# |---|---|---|
# | generator | convolutional, sigmoid output | MLP $z \in \mathbb R^{32} \to 128 \to 256 \to 784$ pixels, ReLU, `tanh` output (images scaled to $[-1, 1]$) |
# | critic | convolutional, leaky ReLU, no batch norm | MLP $784 \to 256 \to 128 \to 1$, leaky ReLU (slope 0.2), no batch norm |
# | loss | critic loss $+\,10\,\mathrm{GP}$, 5 critic steps per generator step | the same |
# | optimiser | Adam, $10^{-4}$, $\beta = (0.5, 0.9)$, batch 50 | Adam, $10^{-3}$ decaying linearly to 0, $\beta = (0.5, 0.9)$, batch 64 |
# | generator steps | 200,000 | 500 (quick profile), 5,000 (full) |
#
# The critic has no batch normalization on purpose (Gulrajani et al., section 4): the penalty
# constrains the gradient of each example's score with respect to that example, and batch norm
# would make every score depend on the whole batch. (Lecture 004's recap slide writes
# $W(\pi\|p) = \mathbb E_\pi f - \mathbb E_p f + \lambda\,\mathrm{GP}$. The penalty belongs to the loss
# the critic *minimises*, $\mathbb E_p f - \mathbb E_\pi f + \lambda\,\mathrm{GP}$ (Gulrajani et al.,
# eq. 3), so in the objective it maximises it enters with a minus sign; and the sum is not $W$:
# only the trained critic's $\mathbb E_\pi f - \mathbb E_p f$ estimates $W$.)
#
# What we record:
#
# - every 10 generator steps, the critic's estimate $\hat W = \overline{f(x)} - \overline{f(G(z))}$ on
#   1,000 held-out test digits and 1,000 fixed noise vectors (Arjovsky et al. 2017, Figure 3, show
#   this estimate falling as the samples get better);
# - at four steps, 12 samples from the same noise, and the share of 1,000 samples the course's
#   digit classifier (`metrics.feature_extractor`, notebook 09) assigns to one digit with
#   probability above 0.9; the same share for the untrained generator and for real test digits;
# - the critic's gradient norm at 1,000 random interpolates $\hat x$ between test digits and
#   samples, before and after training: the penalty asks for 1 there.

# %%
from gdmcourse import metrics

recipe = recipes.WGAN_GP_MNIST
digits, _ = data.load_images("mnist", "train")
test_digits, _ = data.load_images("mnist", "test")
extractor = metrics.feature_extractor("mnist", device)
wgan_steps = recipe.steps[gdmcourse.profile()]
rows_at = [50, 100, 250, wgan_steps]
torch.manual_seed(0)
G_img, D_img = recipe.networks()
G_img, D_img = G_img.to(device), D_img.to(device)
print(D_img)
print(f"generator: {sum(p.numel() for p in G_img.parameters()):,} parameters; "
      f"critic: {sum(p.numel() for p in D_img.parameters()):,}")
assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D_img.modules())  # no batch norm
assert (recipe.n_critic, recipe.gp_weight, recipe.betas, recipe.batch_size) == (5, 10.0, (0.5, 0.9), 64)

real_eval = (2 * test_digits[:1000] - 1).to(device)  # held out: the critic never trains on them
z_eval = torch.randn(1000, recipe.latent_dim, generator=torch.Generator().manual_seed(1)).to(device)
eps_eval = torch.rand(1000, 1, 1, 1, generator=torch.Generator().manual_seed(2)).to(device)


def confident(images):
    """The share of images (in [0, 1]) the classifier puts in one class with probability > 0.9."""
    return (extractor.probs(images).max(1).values > 0.9).float().mean().item()


@torch.no_grad()
def track(step, G):
    """Ŵ on the held-out digits and z_eval; at the steps of rows_at also 12 samples and the confident share."""
    fake = G(z_eval)
    w_hat = (D_img(real_eval).mean() - D_img(fake).mean()).item()
    if step not in rows_at:
        return w_hat, None, None
    images = (fake.cpu() + 1) / 2
    return w_hat, images[:12], confident(images)


def slope_at_interpolates(G):
    """‖∇f(x̂)‖ at x̂ = ε x + (1 − ε) G(z), the same ε, x and z each time."""
    with torch.no_grad():
        fake = G(z_eval)
    return wgan.gradient_norm(D_img, eps_eval * real_eval + (1 - eps_eval) * fake)


w_start = track(0, G_img)[0]
share_untrained = confident((G_img(z_eval).detach().cpu() + 1) / 2)
slope_untrained = slope_at_interpolates(G_img).mean().item()

# %% tags=["nbval-ignore-output"]
hist_img = recipe.train(G_img, D_img, 2 * digits - 1, steps=wgan_steps, seed=0, device=device,
                        callback=track, callback_every=10)
print(f"{wgan_steps} generator steps ({recipe.n_critic} critic steps each, batch {recipe.batch_size}) "
      f"in {hist_img.seconds:.0f} s")

# %% [markdown]
# *Figure: left, the critic's estimate $\hat W$ against the generator step (every 10 steps), its peak marked; right,
# 12 samples from the same 12 noise vectors after 50, 100, 250 and all steps (one row each; the
# row label gives the share of 1,000 samples the classifier reads confidently at that step).*

# %%
steps_w = [0] + [s for s, _ in hist_img.snapshots]
w_hat = np.array([w_start] + [w for _, (w, _, _) in hist_img.snapshots])
rows = {s: (images, share) for s, (_, images, share) in hist_img.snapshots if images is not None}
peak = int(w_hat.argmax())
slopes = slope_at_interpolates(G_img)
share_real = confident(test_digits[:1000])
w_rows, shares = [w_hat[steps_w.index(s)] for s in rows_at], [rows[s][1] for s in rows_at]
dip_at = int(w_hat[1:steps_w.index(50) + 1].argmin()) + 1  # the lowest value of steps 10-50
dip = w_hat[dip_at]
print(f"W-hat: {w_hat[0]:.3f} before training, peak {w_hat[peak]:.3g} at step {steps_w[peak]}, "
      f"dip to {dip:.3g} at step {steps_w[dip_at]}, {w_hat[-1]:.3g} at the end")
print("step   W-hat   confidently read")
for s, w, share in zip(rows_at, w_rows, shares):
    print(f"{s:4d} {w:7.3g} {100 * share:10.1f}%")
print(f"confidently read: untrained generator {100 * share_untrained:.1f}%, real test digits {100 * share_real:.1f}%")
print(f"critic's ‖∇f‖ at the interpolates: mean {slopes.mean().item():.3f} "
      f"(10-90%: {slopes.quantile(0.1).item():.3f} to {slopes.quantile(0.9).item():.3f}); "
      f"before training {slope_untrained:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(14, 4.4), gridspec_kw={"width_ratios": [1, 1.3]})
axes[0].plot(steps_w, w_hat, label="$\\hat W$: 1,000 test digits vs 1,000 samples")
axes[0].plot(steps_w[peak], w_hat[peak], "o", color="C3", label=f"peak, step {steps_w[peak]}")
axes[0].set(xlabel="generator step (5 critic steps each)", ylabel="$\\hat W = \\overline{f(x)} - \\overline{f(G(z))}$",
            title="the critic's estimate of W during training")
axes[0].legend(fontsize="small", loc="lower right")
plot.image_grid(torch.cat([rows[s][0] for s in rows_at]), nrow=12, ax=axes[1],
                row_labels=[f"step {s}\n{100 * rows[s][1]:.0f}% read" for s in rows_at],
                title="WGAN-GP samples: the same 12 noise vectors at four steps")
fig.tight_layout()
plt.show()

at = {s: i for i, s in enumerate(steps_w)}
assert abs(w_hat[0]) < 0.5 and steps_w[peak] <= 100   # Ŵ starts near 0 and peaks early
assert dip < 0.2 * w_hat[peak] and w_hat[at[30]:at[100] + 1].max() > 0.9 * w_hat[peak]  # dips, climbs back
assert w_hat[-1] < 0.6 * w_hat[peak] and w_hat[at[100]:].min() > 1  # then falls well below its peak, not to 0
assert w_rows[0] > w_rows[1] > w_rows[2] > w_rows[3]  # falling over the four rows ...
assert shares[0] < 0.05 and shares[1] < shares[3] and shares[3] > 0.45  # ... while the samples become digits
assert share_untrained < 0.05 and share_real > 0.95
assert 1 < slopes.mean().item() < 1.3 and slope_untrained < 0.2  # the penalty pulls the slope to about 1

# %% [markdown]
# The critic's estimate $\hat W$ starts at 0 (an untrained critic scores everything alike) and
# jumps to its peak within the first hundred generator steps, while the samples are grey blobs,
# easy to tell apart from digits (at step 50 the classifier reads none). In this run it then
# dips for a moment to under a fifth of the peak (the printed dip) as generator and critic adjust to
# each other, climbs back to about the peak by step 100, and from there falls as the samples
# turn into digits: over the four rows it decreases while the share of samples
# the classifier reads confidently grows from none at step 50 to more than 45% at the end (the
# table above; real test digits score over 95%, the untrained generator almost none). This is
# the property Arjovsky et al. advertise: unlike a GAN discriminator's loss, the critic's
# estimate tracks sample quality. After step 100 it stays well above 0: the samples are still
# far from the data.
#
# The samples themselves are rough MLP digits: thick, blotchy strokes with speckles around them;
# some are clearly readable, many are broken strokes or shapes between two digits. 500 steps
# of a small MLP is a short run: notebook 04's shipped DCGAN, a convolutional net trained for
# 5,000 steps, has 69% of its samples read confidently by the same classifier.
#
# At the interpolates the critic's gradient norm was about 0.1 before training and is now close
# to 1, a little above it on average (between 1 and 1.3): the penalty holds the slope near 1 where
# it is applied, while the critic's own loss pulls for steeper slopes, so the constraint is
# only approximate. $\hat W$ is therefore an estimate, not the exact distance: the mean
# difference of scores of one critic that is roughly 1-Lipschitz and trained for a few hundred steps.
#
# ## Summary
#
# - An f-divergence is at least $\mathbb E_P[T] - \mathbb E_Q[f^*(T)]$ for every critic $T$, with
#   equality at $T^* = f'(p/q)$; the GAN discriminator is the JSD's critic.
# - A saturated discriminator gives the minimax generator almost no gradient; a critic keeps
#   a slope near 1.
# - On disjoint supports JSD is stuck at $\log 2$; the EM distance $|\theta|$ still measures how
#   far apart the distributions are and gives a gradient.
# - The dual form of $W$ requires a 1-Lipschitz critic; clipping, a gradient penalty or
#   spectral normalization provide it, with very different critics.
# - Power iteration finds a layer's spectral norm at a rate set by $\sigma_2/\sigma_1$;
#   `spectral_norm` runs one step per forward pass and carries $u$ along.
# - The product of the layers' spectral norms bounds a network's Lipschitz constant, loosely.
# - On digits, a WGAN-GP critic's estimate of $W$ peaks early and falls as the samples become
#   digits, and the penalty holds its slope near 1 at the interpolates.

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
# 1. see JSD fail where it matters most, on distributions whose supports do not overlap, and
#    the Earth-Mover (Wasserstein-1) distance $W$ behave (the parallel-lines example);
# 2. learn why $W$'s dual form needs a **1-Lipschitz critic**, and the three ways to get one:
#    weight clipping, a gradient penalty, spectral normalization;
# 3. compute a layer's spectral norm by **power iteration** by hand, watch it converge at the
#    rate $(\sigma_2/\sigma_1)^{2k}$, and compare it with PyTorch's `spectral_norm`;
# 4. bound a network's Lipschitz constant by the product of its layers' norms, and compare
#    the bound with the gradients the network really has;
# 5. train the three kinds of critic on the ring of 8 Gaussians and look at their contours.

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
from scipy.optimize import linear_sum_assignment
from torch import nn
from torch.nn.utils import parametrizations

from gdmcourse import nets, plot
from gdmcourse import wgan

device = gdmcourse.startup(seed=6)
plot.use_style()
print(f"device: {device.type}")


# %% [markdown]
# ## EM vs JSD on parallel lines
#
# Let $P_0$ be uniform on the segment $\{0\} \times [0, 1]$ and $P_\theta$ uniform on
# $\{\theta\} \times [0, 1]$ (lecture 003). For every $\theta \ne 0$ the two supports are
# disjoint, so
#
# $$\mathrm{JSD}(P_0 \,\|\, P_\theta) = \begin{cases} 0 & \theta = 0\\ \log 2 & \theta \ne 0\end{cases}, \qquad
#   W(P_0, P_\theta) = \inf_{\gamma \in \Pi(P_0, P_\theta)} \mathbb E_{(x, y)\sim\gamma}\|x - y\| = |\theta| .$$
#
# The best transport plan moves each point $(0, z)$ straight across to $(\theta, z)$. A
# generator with parameter $\theta$ trained on JSD gets no gradient at all (JSD is flat) until
# it hits $\theta = 0$ exactly; on $W$ it gets the gradient $\operatorname{sign}\theta$ everywhere.
# Below, besides the formulas, an independent estimate from samples: 500 points on each
# line, matched one-to-one at the least total distance (an optimal transport plan between
# two empirical distributions, found by scipy's `linear_sum_assignment`).

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
ax.legend(fontsize="small")
plt.show()
assert np.allclose(w_samples, np.abs(probe), atol=0.02), w_samples


# %% [markdown]
# ## The dual form needs a Lipschitz critic
#
# The infimum over transport plans is intractable in high dimension. The
# Kantorovich–Rubinstein duality (lecture 004) turns it into a supremum over functions:
#
# $$W(p_{data}, p_G) = \sup_{\|f\|_L \le 1}\; \mathbb E_{x\sim p_{data}}[f(x)] - \mathbb E_{x\sim p_G}[f(x)] .$$
#
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
# | spectral normalization | divide each weight matrix by its largest singular value $\sigma(W)$ | bounds the network by $\prod_k \sigma(W_k) = 1$, often far more than needed |
#
# The last two need care: a gradient *of a gradient* (`create_graph=True`) for the penalty,
# and the largest singular value of every layer at every step for spectral normalization.
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
needed = []
for seed in range(10):
    W = torch.randn(256, 128, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    s = torch.linalg.svdvals(W)
    errors = relative_errors(W, 500, seed=100 + seed)
    k = int(np.argmax(errors <= 1e-4)) + 1 if (errors <= 1e-4).any() else None
    needed.append(k)
    print(f"{seed:4d}  {(s[1] / s[0]).item():.4f}  {k}")
    line, = ax.semilogy(np.arange(1, 501), np.maximum(errors, 1e-16), lw=1)
ax.axhline(1e-4, color="k", ls=":", lw=1)
ax.set(xlabel="iterations $k$", ylabel="relative error of $\\sigma$",
       title="power iteration on 10 random 256×128 Gaussian matrices", ylim=(1e-16, 1))
plt.show()
assert all(k is not None and k <= 500 for k in needed)


# %% [markdown]
# Random Gaussian matrices have their top singular values close together
# ($\sigma_2/\sigma_1 \approx 0.95$–$0.99$), so dozens to hundreds of iterations are needed to
# reach $10^{-4}$: the closer the ratio to 1, the slower (compare the printed columns). To see
# that the ratio alone sets the speed, give a matrix a chosen spectrum, $W = U\,\mathrm{diag}(\sigma)\,V^\top$
# with random orthogonal $U, V$ and $\sigma_2/\sigma_1 = \rho$, and overlay the predicted slope $\rho^{4k}$:

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
ax.legend(fontsize="small")
plt.show()

# %% [markdown]
# Each curve falls along its dotted slope until it hits float64's rounding floor.
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
for sn in [False, True]:
    critic = toy_critic(sn)
    bound = wgan.lipschitz_upper_bound(critic)
    norms = wgan.gradient_norm(critic, points)
    assert norms.max().item() <= bound * (1 + 1e-4)
    print(f"{'spectral-normalized' if sn else 'plain (PyTorch init)':22s} {bound:15.3f} {norms.max().item():19.3f} "
          f"{norms.mean().item():11.3f}")

# %% [markdown]
# The bound holds, but it is very loose: the layers' top singular directions do not line up,
# and ReLU-like units switch off half the signal, so the real gradients are tens of times
# smaller than the product of the norms. That is the
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
# loss's unbounded push. The per-sample terms, from the package's losses:

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
ax.legend(fontsize="small")
plt.show()

# %% [markdown]
# ## Three Lipschitz critics on the ring of 8 Gaussians
#
# Now train a WGAN three ways on the data of notebook 05, with the same generator and critic
# networks (MLPs, 3 hidden layers of 128) and Adam with $\beta = (0, 0.9)$:
#
# | recipe | critic loss | constraint | critic steps per generator step |
# |---|---|---|---|
# | `wgan-clip` | $\overline{f(\tilde x)} - \overline{f(x)}$ | weights clipped to $[-0.01, 0.01]$ | 5 |
# | `wgan-gp` | $\overline{f(\tilde x)} - \overline{f(x)} + 10\,\mathrm{GP}$ | gradient penalty, $\lambda = 10$ | 5 |
# | `sn-hinge` | hinge loss | spectral normalization of every layer | 1 |
#
# (Gulrajani et al. use a learning rate of $10^{-4}$; to fit a CPU budget we use $10^{-3}$,
# decaying linearly to 0.) During the WGAN-GP run we record the mode coverage every 50
# generator steps. Afterwards we draw each critic's contours over the data.

# %% tags=["nbval-ignore-output"]
from gdmcourse import data, gan, recipes

centers, std = data.toy2d_centers("8gaussians"), data.toy2d_std("8gaussians")
real = data.toy2d("8gaussians", 2000, seed=1)


def coverage(step, generator):
    return gan.mode_coverage(gan.sample(generator, 1000, seed=step), centers, std)


critics = {}
for name in ["wgan-clip", "wgan-gp", "sn-hinge"]:
    G, D, history = recipes.train_toy_gan(name, seed=0, device=device,
                                          callback=coverage if name == "wgan-gp" else None, callback_every=50)
    samples = gan.sample(G, 2000, seed=123)
    critics[name] = (G, D.to("cpu"), history, samples, gan.mode_coverage(samples, centers, std))
    modes, hq = critics[name][4]
    print(f"{name:10s} {len(history.g_loss)} generator steps in {history.seconds:.0f} s: "
          f"modes {modes}/8, high-quality {100 * hq:.1f}%")

# %%
assert critics["wgan-gp"][4][0] >= 7 and critics["sn-hinge"][4][0] >= 7, {k: v[4] for k, v in critics.items()}
assert critics["wgan-clip"][4][1] < 0.3
print("WGAN-GP and the spectrally normalized hinge GAN cover at least 7 of 8 modes (here: see the titles); "
      "the clipped WGAN's samples are mostly off the modes (< 30% high-quality)")

grid = torch.linspace(-3, 3, 121)
X, Y = torch.meshgrid(grid, grid, indexing="xy")
fig, axes = plt.subplots(1, 3, figsize=(15, 5))
for ax, (name, (G, D, history, samples, (modes, hq))) in zip(axes, critics.items()):
    with torch.no_grad():
        scores = D(torch.stack([X.flatten(), Y.flatten()], 1)).reshape(X.shape)
    im = ax.contourf(X, Y, scores, levels=20, cmap="viridis")
    fig.colorbar(im, ax=ax, fraction=0.046, label="critic score $f(x)$")
    ax.scatter(real[:, 0], real[:, 1], s=2, color="white", label="data")
    ax.scatter(samples[:500, 0], samples[:500, 1], s=3, color="C3", label="samples")
    ax.set(title=f"{name}: {modes}/8 modes, {100 * hq:.0f}% high-quality", xlabel="$x_1$", ylabel="$x_2$",
           aspect="equal")
axes[0].legend(loc="lower left", fontsize="x-small", markerscale=3)
fig.tight_layout()
plt.show()

# %% [markdown]
# The clipped critic (left) can only represent very flat functions: with every weight in
# $[-0.01, 0.01]$ its scores barely vary, and its gradients give the generator little to go
# on. The gradient-penalty critic (middle) is a smooth landscape rising towards the data,
# with slopes of about 1 between samples and data; the spectrally normalized critic (right)
# is guaranteed 1-Lipschitz, and with the hinge loss it only needs to separate the data from
# the samples by a margin.
#
# **Why WGAN-GP sharpens slowly.** The high-quality share of WGAN-GP grows much more slowly
# than the modes get covered:

# %%
steps, cover = zip(*critics["wgan-gp"][2].snapshots)
fig, ax = plt.subplots(figsize=(7, 3.4))
ax.plot(steps, [100 * hq for _, hq in cover], ".-", label="high-quality samples (%)")
ax.plot(steps, [100 * m / 8 for m, _ in cover], ".-", label="modes covered (% of 8)")
ax.set(xlabel="generator step (5 critic steps each)", ylabel="%", ylim=(0, 105),
       title="WGAN-GP on 8 Gaussians: coverage comes first, precision slowly")
ax.legend(fontsize="small")
plt.show()

# %% [markdown]
# All eight modes are found early; tightening each mode to its std of 0.02 is slow. The
# critic is held at gradient norm $\approx 1$ *everywhere* along the lines between samples
# and data, so near a mode it cannot become steep: a sample at distance $d$ from its mode
# contributes only about $d$ to the estimated $W$, and the generator's gradient towards the
# mode has the same size whether the sample is 1 or 0.05 away. Shrinking a blob of width 0.1
# to 0.02 thus asks for many small, noisy steps, and with five critic steps per generator
# step each of them is expensive. A longer run (the `full` profile), a smaller learning
# rate at the end, or the one-sided penalty $\max(0, \|\nabla f\| - 1)^2$ help; the
# non-saturating GAN of notebook 05, whose discriminator can become arbitrarily sharp,
# reaches higher precision in the same time but without the WGAN's guarantee of useful gradients.
#
# ## Summary
#
# - On disjoint supports JSD is stuck at $\log 2$; the EM distance $|\theta|$ still measures how
#   far apart the distributions are and gives a gradient.
# - The dual form of $W$ requires a 1-Lipschitz critic; clipping, a gradient penalty or
#   spectral normalization provide it, with very different critics.
# - Power iteration finds a layer's spectral norm at a rate set by $\sigma_2/\sigma_1$;
#   `spectral_norm` runs one step per forward pass and carries $u$ along.
# - The product of the layers' spectral norms bounds a network's Lipschitz constant, loosely.

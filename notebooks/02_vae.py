# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Variational autoencoders and the ELBO
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/notebooks/02_vae.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=notebooks%2F02_vae.ipynb)
#
# *Follows lecture 003 (M. Straka, NPFL114 "Deep Generative Models"), sections "Variational
# AutoEncoders", "VAE – Reparametrization Trick" and "VAE – Another Derivation"; lecture 001
# (V. Strizhkova), the closed-form KL of the VAE; lecture 002, "Conditional VAEs".*
#
# Notebook 01 ended with a puzzle: decoding a *random* code of an autoencoder does not give
# a digit, because nothing tells us where in code space the digits live. A variational
# autoencoder fixes this by making the code a random variable with a known prior. In this
# notebook you will
#
# 1. derive the evidence lower bound (ELBO) in two ways;
# 2. check the identity $\log p(x) = \text{ELBO} + D_\textrm{KL}(q \,\|\, p(z|x))$ on a model
#    whose posterior is known exactly;
# 3. compare the closed-form Gaussian KL with its Monte Carlo estimate;
# 4. train a VAE on MNIST and look at samples, reconstructions, latent traversals and
#    interpolations;
# 5. estimate its test negative log-likelihood in nats with the importance-weighted bound;
# 6. see the β trade-off and count the latent units the model actually uses;
# 7. condition the VAE on the digit label.
#
# The quick profile runs in about two minutes on one CPU thread.

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
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from gdmcourse import data, plot, train, widgets
from gdmcourse import vae as V

device = gdmcourse.startup(seed=2)
plot.use_style()
PROFILE = gdmcourse.profile()
QUICK = PROFILE == "quick"
print(f"device: {device.type}, profile: {PROFILE}")

# %% [markdown]
# ## 1. From an autoencoder to a latent-variable model
#
# We now assume a generative story: draw a code $z \sim P(z) = \mathcal N(0, I)$, then an
# image $x \sim P_\theta(x \mid z)$, whose parameters a **decoder** network computes from $z$.
# The model's likelihood of an image is $P_\theta(x) = \int P_\theta(x \mid z) P(z)\,dz$, and
# to train it we would need the posterior $P_\theta(z \mid x)$: both are intractable for a
# neural decoder. We therefore approximate the posterior by a trainable **encoder**
# $Q_\phi(z \mid x) = \mathcal N(\mu_\phi(x), \operatorname{diag}\sigma_\phi^2(x))$, the
# probabilistic version of the encoder of notebook 01.
#
# **Derivation 1: via the KL divergence to the posterior.** Define the ELBO as
# $\mathcal L(\theta, \phi; x) = \log P_\theta(x) - D_\textrm{KL}\big(Q_\phi(z|x) \,\|\, P_\theta(z|x)\big)$.
# Since $\log P_\theta(x)$ does not depend on $z$,
#
# $$\begin{aligned}
# \mathcal L(\theta, \phi; x)
# &= \mathbb E_{Q_\phi(z|x)}\big[\log P_\theta(x) + \log P_\theta(z|x) - \log Q_\phi(z|x)\big] \\
# &= \mathbb E_{Q_\phi(z|x)}\big[\log P_\theta(x, z) - \log Q_\phi(z|x)\big] \\
# &= \mathbb E_{Q_\phi(z|x)}\big[\log P_\theta(x|z) + \log P(z) - \log Q_\phi(z|x)\big] \\
# &= \mathbb E_{Q_\phi(z|x)}\big[\log P_\theta(x|z)\big] - D_\textrm{KL}\big(Q_\phi(z|x) \,\|\, P(z)\big).
# \end{aligned}$$
#
# **Derivation 2: via Jensen's inequality.** For the concave $\log$,
# $\log \mathbb E[Y] \ge \mathbb E[\log Y]$, so
#
# $$\log P(x) = \log \mathbb E_{P(z)}\big[P(x|z)\big]
# = \log \mathbb E_{Q(z|x)}\Big[P(x|z) \frac{P(z)}{Q(z|x)}\Big]
# \ge \mathbb E_{Q(z|x)}\Big[\log P(x|z) + \log\frac{P(z)}{Q(z|x)}\Big] = \mathcal L.$$
#
# Both end at the same bound. The first one also tells us **how loose** it is:
#
# $$\boxed{\ \log P_\theta(x) = \mathcal L(\theta, \phi; x) + D_\textrm{KL}\big(Q_\phi(z|x) \,\|\, P_\theta(z|x)\big)\ }$$
#
# so the gap is exactly the KL divergence from the encoder to the true posterior, and
# maximising $\mathcal L$ over $\phi$ pulls $Q_\phi$ towards the posterior while maximising it
# over $\theta$ raises the bound, and with it (usually) the likelihood. A VAE minimises
# $-\mathcal L = \mathbb E_Q[-\log P_\theta(x|z)] + D_\textrm{KL}(Q \,\|\, P(z))$: a
# **reconstruction loss** plus a **latent loss**.

# %% [markdown]
# ## 2. The identity, checked on a model with a tractable posterior
#
# In the linear-Gaussian model (probabilistic PCA)
# $P(z) = \mathcal N(0, I_d)$, $P(x|z) = \mathcal N(Wz + b, \sigma^2 I_D)$, everything is known in
# closed form: $P(x) = \mathcal N(b, WW^\top + \sigma^2 I)$ and
# $P(z|x) = \mathcal N(m(x), \Sigma)$ with $\Sigma = (I + W^\top W/\sigma^2)^{-1}$
# (`gdmcourse.vae.LinearGaussianModel`). We give $W$ orthogonal columns so that $\Sigma$ is
# diagonal and a diagonal Gaussian $Q$ can match the posterior exactly. For several $Q$ we
# compute the exact ELBO, $\log P(x)$, their gap, and the closed-form
# $D_\textrm{KL}(Q \,\|\, P(z|x))$.

# %%
g = torch.Generator().manual_seed(0)
Q_, _ = torch.linalg.qr(torch.randn(5, 2, generator=g, dtype=torch.float64))
lgm = V.LinearGaussianModel(Q_ * torch.tensor([2.0, 1.0], dtype=torch.float64),
                            torch.randn(5, generator=g, dtype=torch.float64), sigma=0.5)
x = lgm.sample(1, generator=g)                                  # one observation, (1, 5)
m, cov = lgm.posterior(x)
post_logvar = cov.diagonal().log()[None]                        # (1, 2): Σ is diagonal
assert torch.allclose(cov, torch.diag(cov.diagonal()), atol=1e-12)

candidates = {
    "true posterior": (m, post_logvar),
    "mean shifted by 0.5": (m + 0.5, post_logvar),
    "variance × 4": (m, post_logvar + math.log(4)),
    "variance ÷ 4": (m, post_logvar - math.log(4)),
    "prior N(0, I)": (torch.zeros_like(m), torch.zeros_like(m)),
}
log_px = lgm.log_marginal(x).item()
rows = []
print(f"log p(x) = {log_px:.4f} nats\n")
print(f"{'q':22s} {'ELBO':>9s} {'gap':>8s} {'KL(q||p(z|x))':>14s}")
for name, (q_mu, q_logvar) in candidates.items():
    elbo_q = lgm.elbo(x, q_mu, q_logvar).item()
    kl_q = lgm.kl_to_posterior(x, q_mu, q_logvar).item()
    assert abs((log_px - elbo_q) - kl_q) < 1e-9, name          # log p(x) = ELBO + KL, exactly
    rows.append((name, elbo_q, log_px - elbo_q, kl_q))
    print(f"{name:22s} {elbo_q:9.4f} {log_px - elbo_q:8.4f} {kl_q:14.4f}")
assert abs(rows[0][2]) < 1e-9 and all(r[1] < rows[0][1] for r in rows[1:])
print("\nlog p(x) = ELBO + KL(q || p(z|x)) holds for every q; the gap vanishes at the true posterior.")

# %% [markdown]
# The left panel shows the table (bars: the gap; dots: the KL computed independently); the right one moves the mean of $Q$ along the first latent
# axis (variance fixed at the posterior's) and plots the ELBO against $\log P(x)$.

# %%
shifts = torch.linspace(-2, 2, 81, dtype=torch.float64)
elbo_curve = torch.stack([lgm.elbo(x, m + torch.tensor([[s, 0.0]], dtype=torch.float64), post_logvar)[0]
                          for s in shifts])
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
names = [r[0] for r in rows]
ax1.barh(names, [r[2] for r in rows], color="C0", label="gap: log p(x) − ELBO")
ax1.plot([r[3] for r in rows], names, "o", color="C3", label="closed-form KL(q ‖ p(z|x))")
ax1.invert_yaxis()
ax1.set_xlabel("nats")
ax1.set_title("the gap is the KL to the posterior")
ax1.legend(loc="center right", fontsize=8)
ax2.plot(shifts, elbo_curve, label="ELBO")
ax2.axhline(log_px, color="k", ls="--", label="log p(x)")
ax2.set_xlabel("shift of q's mean along $z_1$ from the posterior mean")
ax2.set_ylabel("nats")
ax2.set_title("the ELBO touches log p(x) only at the posterior")
ax2.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# The ELBO is a quadratic in the shift here, and its maximum is exactly $\log P(x)$: the bound
# is tight when, and only when, $Q$ is the true posterior.

# %% [markdown]
# ## 3. The KL term: closed form vs Monte Carlo
#
# For $Q = \mathcal N(\mu, \operatorname{diag}\sigma^2)$ and the prior $\mathcal N(0, I)$ the
# latent loss has a closed form (Kingma & Welling 2014, appendix B):
#
# $$D_\textrm{KL}\big(Q \,\|\, \mathcal N(0, I)\big) = -\frac12 \sum_{j=1}^{J} \big(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\big).$$
#
# We could also estimate it, like the reconstruction term, from samples:
# $\frac1n \sum_i \log Q(z_i) - \log P(z_i)$ with $z_i \sim Q$. Its error shrinks like
# $1/\sqrt n$; the closed form has no error at all, which is why a VAE uses it.

# %%
mu_q = torch.tensor([1.0, -0.5, 0.3, 0.0])
logvar_q = torch.tensor([0.3, -1.0, 0.0, -2.0])
kl_exact = V.gaussian_kl(mu_q, logvar_q).item()
R = 200                                                          # independent repetitions per n
ns = [10, 30, 100, 300, 1000, 3000]
g = torch.Generator().manual_seed(1)
rmse = []
for n in ns:
    est = V.kl_monte_carlo(mu_q.expand(R, 4), logvar_q.expand(R, 4), n, g)   # (R,)
    rmse.append((est - kl_exact).pow(2).mean().sqrt().item())
print(f"closed-form KL = {kl_exact:.4f} nats")
for n, e in zip(ns, rmse):
    print(f"n = {n:5d}: RMS error of the Monte Carlo estimate {e:.3g}, × √n = {e * math.sqrt(n):.2f}")

# %%
fig, ax = plt.subplots(figsize=(5, 3.6))
ax.loglog(ns, rmse, "o-", label="Monte Carlo, RMS error")
ax.loglog(ns, [rmse[0] * math.sqrt(ns[0] / n) for n in ns], "k--", label=r"$\propto 1/\sqrt{n}$")
ax.set_xlabel("number of samples n")
ax.set_ylabel("RMS error (nats)")
ax.set_title("Monte Carlo KL vs the closed form")
ax.legend()
plt.show()

# %% [markdown]
# The error follows the $1/\sqrt n$ line: a hundredfold more samples buy one more correct digit.

# %% [markdown]
# ## 4. A VAE on MNIST
#
# **Model.** The encoder is an MLP $784 \to 512 \to 256 \to 2J$ (ELU between layers) that
# outputs $(\mu, \log\sigma^2)$ with $J = 32$; the decoder $J \to 256 \to 512 \to 784$
# outputs one logit $\ell_d$ per pixel of a Bernoulli
# $P_\theta(x|z)$, so $\log P_\theta(x|z) = \sum_d x_d \ell_d - \operatorname{softplus}(\ell_d)$.
# The reconstruction term is estimated with one sample drawn by the **reparametrization trick**
# $z = \mu + \sigma \odot \varepsilon$, $\varepsilon \sim \mathcal N(0, I)$, which lets
# gradients flow to $\mu$ and $\sigma$; the KL term uses the closed form above.
#
# **Data.** A Bernoulli likelihood needs binary pixels: we **dynamically binarise**, drawing
# each pixel as $\operatorname{Bernoulli}(\text{intensity})$ anew in every mini-batch
# (a standard choice that also fights overfitting). Adam's learning rate follows a cosine
# from $10^{-3}$ down to $2\cdot10^{-4}$ (`gdmcourse.vae.RECIPES`).
#
# **Training takes minutes**, longer than this notebook should: in the quick profile we load
# the weights that `python -m gdmcourse train vae-mnist` made with exactly the recipe below
# (the record in `gdmcourse/weights/checkpoints.json` holds its command, time and test
# NLL), and the full profile trains it here. The same code does both.

# %%
X_train, y_train = data.load_images("mnist", "train")
X_test, y_test = data.load_images("mnist", "test")
recipe = V.RECIPES[PROFILE]
print(recipe)

# %% tags=["nbval-ignore-output"]
from gdmcourse import recipes, weights

if QUICK:
    model = recipes.load_model("vae-mnist").to(device)
    record = weights.registry()["vae-mnist"]
    epoch_loss = record["epoch_neg_elbo"]
    print(f"loaded vae-mnist: {record['epochs']} epochs, trained in {record['train_seconds']:.0f} s "
          f"on {record['threads']} CPU thread(s) by `{record['command']}`")
else:
    torch.manual_seed(0)
    model = recipe.model().to(device)
    history = train.fit(model, V.vae_loss(generator=torch.Generator().manual_seed(3)), X_train,
                        epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr, lr_min=recipe.lr_min,
                        schedule=recipe.schedule)
    epoch_loss = history.epochs["loss"]
    print(f"training took {history.seconds:.0f} s")
print(f"parameters: {sum(p.numel() for p in model.parameters()):,}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(range(1, len(epoch_loss) + 1), epoch_loss, "o-", ms=3)
ax.set(xlabel="epoch", ylabel="training −ELBO (nats per image)", title="the VAE's training curve")
plt.show()
assert epoch_loss[-1] < 100 and epoch_loss[-1] < min(epoch_loss[:-1]) + 0.5, epoch_loss
print(f"training −ELBO fell from {epoch_loss[0]:.1f} to {epoch_loss[-1]:.1f} nats per image, below 100.")

# %% [markdown]
# **Samples, reconstructions.** Decoding $z \sim \mathcal N(0, I)$ now gives digit-like
# images: the KL term made the encoder put its codes where the prior puts its mass, exactly
# what the plain autoencoder of notebook 01 lacked. We show Bernoulli *means*
# $\operatorname{sigmoid}(\ell)$, and let the course's MNIST classifier (notebook 09) say how
# many of 1,000 samples it reads as a digit with over 90% confidence.

# %%
model.eval()
x_bin = V.dynamic_binarize(X_test[:1000], torch.Generator().manual_seed(123))   # fixed test set
with torch.no_grad():
    samples = model.sample(40, torch.Generator().manual_seed(4)).cpu()
    recon = torch.sigmoid(model(x_bin[:20].to(device))).cpu()
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.4))
plot.image_grid(samples, nrow=10, ax=ax1, title="samples: decode z ~ N(0, I)")
plot.image_grid(torch.cat([x_bin[:10], recon[:10], x_bin[10:20], recon[10:20]]), nrow=10, ax=ax2,
                row_labels=["test", "recon.", "test", "recon."], title="binarised test images and their reconstructions")
plt.show()
from gdmcourse import metrics

digit_reader = metrics.feature_extractor("mnist", device)
with torch.no_grad():
    many = model.sample(1000, torch.Generator().manual_seed(40)).cpu()
sure_samples = (digit_reader.probs(many).max(1).values > 0.9).float().mean().item()
sure_real = (digit_reader.probs(X_test[:1000]).max(1).values > 0.9).float().mean().item()
print(f"classifier > 90% sure of a digit: {sure_samples:.0%} of 1,000 samples, {sure_real:.0%} of 1,000 test digits")
assert 0.5 < sure_samples < sure_real, (sure_samples, sure_real)

# %% [markdown]
# The classifier is sure of a digit for most samples, but for fewer than for real test digits
# (the shares printed above): some samples are in-between or malformed shapes, as the grid
# shows. The reconstructions keep each test digit's identity and shape, smoothed.
#
# **Latent traversals.** Start from the code $\mu(x)$ of one test image and sweep one
# coordinate from −3 to 3 while keeping the others fixed. We take the four coordinates whose
# posterior means vary most across the test set.

# %%
with torch.no_grad():
    mu_test = model.encode(x_bin.to(device))[0].cpu()
top_dims = mu_test.var(dim=0).argsort(descending=True)[:4].tolist()
values = torch.linspace(-3, 3, 9).tolist()
grid = V.latent_traversal(model, mu_test[0], top_dims, values)     # (4, 9, 1, 28, 28)
plot.image_grid(grid.flatten(0, 1), nrow=len(values), row_labels=[f"$z_{{{j}}}$" for j in top_dims],
                col_labels=[f"{v:+.2f}" for v in values],
                title="one code, one latent coordinate (row) swept from −3 to 3 (columns)")
plt.show()

# %%
# smoothness: the largest change between neighbouring columns, relative to the whole sweep
neighbour = (grid[:, 1:] - grid[:, :-1]).flatten(2).norm(dim=2).max(dim=1).values   # (4,)
sweep = (grid[:, -1] - grid[:, 0]).flatten(1).norm(dim=1)                          # (4,)
print("largest neighbour step / whole sweep, per row:", (neighbour / sweep).numpy().round(2))
assert (neighbour < 0.5 * sweep).all(), neighbour / sweep


# %% [markdown]
# Each row changes the image gradually (no step between neighbouring columns makes even half
# of the row's total change, asserted above): stroke width and slant, or a gradual change of
# identity, here from a 0 or a curved stroke into this test image's 7. The decoder is smooth
# along the prior's axes. In a live kernel, the explorer below has sliders for two of these
# coordinates.

# %%
def draw_code(ax, a, b):
    z = mu_test[0].clone()
    z[top_dims[0]], z[top_dims[1]] = a, b
    with torch.no_grad():
        img = torch.sigmoid(model.decode(z[None].to(device))).cpu()
    plot.image_grid(img, nrow=1, ax=ax, title=f"z[{top_dims[0]}]={a:.1f}, z[{top_dims[1]}]={b:.1f}")


widgets.explore(draw_code, static=[{"a": -2.0, "b": -2.0}, {"a": 0.0, "b": 0.0}, {"a": 2.0, "b": 2.0}],
                panel_size=(2.2, 2.4), a=(-3.0, 3.0, 0.25), b=(-3.0, 3.0, 0.25))

# %% [markdown]
# **Interpolation.** Decode $(1 - t)\,\mu(x_a) + t\,\mu(x_b)$ for pairs of test images.

# %%
pairs = [(0, 1), (2, 3), (4, 7)]
ts = torch.linspace(0, 1, 11)
with torch.no_grad():
    codes = torch.cat([(1 - ts[:, None]) * mu_test[a] + ts[:, None] * mu_test[b] for a, b in pairs])
    interp = torch.sigmoid(model.decode(codes.to(device))).cpu()
plot.image_grid(interp, nrow=len(ts), row_labels=[f"{y_test[a]} → {y_test[b]}" for a, b in pairs],
                col_labels=[f"{t:.1f}" for t in ts.tolist()],
                title="decoding (1 − t) μ(x_a) + t μ(x_b): rows are pairs of test images, columns t")
plt.show()
confidence = digit_reader.probs(interp).max(1).values.reshape(len(pairs), len(ts))
print("classifier confidence along each path:\n", confidence.numpy().round(2))
assert (confidence > 0.5).all(), confidence
assert (confidence[:, 1:-1].min(dim=1).values < 0.95).all(), confidence  # each path dips where the digit switches

# %% [markdown]
# Every intermediate code decodes to an image the classifier reads as one digit with over
# 50% confidence (asserted): the KL term keeps the codes of different digits in one
# connected region around the origin. Each path's confidence dips near its middle, where the
# identity switches from one digit to the other (one endpoint, this VAE's decoding of a test
# 9, is also read with only about 51% confidence).

# %% [markdown]
# ## 5. Test log-likelihood with the importance-weighted bound
#
# The ELBO is only a lower bound, off by the KL to the posterior. Burda, Grosse &
# Salakhutdinov (2016) tighten it by averaging $k$ importance weights
# $w_i = P_\theta(x, z_i)/Q_\phi(z_i|x)$, $z_i \sim Q_\phi(z|x)$:
#
# $$\mathcal L_k(x) = \mathbb E\Big[\log \frac1k \sum_{i=1}^k w_i\Big], \qquad
# \mathcal L = \mathcal L_1 \le \mathcal L_k \le \mathcal L_{k+1} \le \log P_\theta(x).$$
#
# Jensen's inequality (derivation 2) applies to each average, and the average of $k$ weights
# has less spread, so it loses less; as $k \to \infty$, $\mathcal L_k \to \log P_\theta(x)$.
# $-\mathcal L_{k}$ for large $k$ is the standard estimate of the **test negative
# log-likelihood** (NLL) in nats, on 1000 test images binarised once with a fixed seed.

# %% tags=["nbval-ignore-output"]
ks = [1, 10, 100, 500]
nll = {}
start = time.perf_counter()
for k in ks:
    nll[k] = V.iwae_nll(model, x_bin, k, generator=torch.Generator().manual_seed(5))
    print(f"k = {k:3d}: −L_k = {nll[k]:.2f} nats")
print(f"evaluation took {time.perf_counter() - start:.0f} s")

# %%
assert nll[500] <= 92, nll
assert nll[1] > nll[10] > nll[100] > nll[500], nll
assert 2 < nll[1] - nll[500] < 6 and nll[1] - nll[10] > 0.5 * (nll[1] - nll[500]), nll
print("the bound tightens as k grows (most of it by k = 10), and −L_500 ≤ 92 nats.")

# %%
fig, ax = plt.subplots(figsize=(5, 3.6))
ax.semilogx(ks, [nll[k] for k in ks], "o-", label="this VAE, −L_k")
ax.axhline(86.76, color="k", ls="--", label="Burda et al. 2016, VAE, k=5000")
ax.set_xlabel("number of importance samples k")
ax.set_ylabel("test NLL estimate (nats)")
ax.set_title("−L_k decreases towards −log p(x)")
ax.legend()
plt.show()

# %% [markdown]
# The estimate drops by about 3.6 nats from $k = 1$ (the ELBO) to $k = 500$, most of it by
# $k = 10$, and changes less and less per tenfold $k$ (how much of the gap to $\log p(x)$
# remains, no finite $k$ can tell). Burda et al.
# (2016, table 1) report 86.76 nats for their VAE with one stochastic layer (784-200-200-50,
# tanh, trained for 3,280 passes over the data). Ours, about 90 nats, has wider deterministic
# layers but 32 latent units and 30 epochs, and is scored with $k = 500$ instead of 5,000 on
# the first 1,000 test images only.

# %% [markdown]
# ## 6. The β trade-off and posterior collapse
#
# The KL term asks every $Q_\phi(z|x)$ to look like the prior. A latent coordinate that is
# not worth its KL cost is switched off: its posterior equals the prior for every input, and
# the decoder ignores it (**posterior collapse** of that unit). Burda et al. call unit $j$
# **active** when $\operatorname{Cov}_x\big(\mathbb E_{Q(z|x)}[z_j]\big) > 10^{-2}$.

# %% tags=["nbval-ignore-output"]
n_active = V.active_units(model, x_bin)
unit_var = mu_test.var(dim=0).sort(descending=True).values
print(f"active units: {n_active} of {model.latent_dim}; "
      f"variance of the posterior means from {unit_var[0]:.2f} down to {unit_var[-1]:.3f}")

# %%
collapsed = int((unit_var < 1e-3).sum())
assert 16 <= n_active < model.latent_dim and 1 <= collapsed <= model.latent_dim - n_active, (n_active, collapsed)
print(f"{n_active} active units; {model.latent_dim - n_active} inactive, {collapsed} of them fully collapsed "
      "(variance of their means < 1e-3).")
fig, ax = plt.subplots(figsize=(6, 3.4))
ax.bar(range(1, len(unit_var) + 1), unit_var.numpy())
ax.axhline(1e-2, color="k", ls="--", label="activity threshold 0.01")
ax.set_yscale("log")
ax.set_xlabel("latent unit (sorted)")
ax.set_ylabel(r"$\mathrm{Var}_x\, \mathbb{E}_{q(z|x)}[z_j]$")
ax.set_title("how much each latent unit varies across test images")
ax.legend()
plt.show()

# %% [markdown]
# About 18 units vary strongly across images (variance of their means near 1, the
# prior's), a few more weakly. After 30 epochs a quarter of the 32 units are inactive by
# Burda's criterion, and half of those have collapsed completely (variance of their means
# below $10^{-3}$: their mean barely moves from image to image, so they carry almost no
# information about $x$). The model found about 24 directions worth their
# KL cost; a larger KL weight switches off more, as we see next.

# %% [markdown]
# Weighting the KL by $\beta$ (the β-VAE of Higgins et al. 2017),
# $\mathbb E_Q[\log P_\theta(x|z)] - \beta D_\textrm{KL}(Q \,\|\, P(z))$, moves along this
# trade-off: $\beta > 1$ buys a code closer to the prior (fewer active units, blurrier
# reconstructions), $\beta < 1$ sharper reconstructions at the price of a code the prior
# matches less well. A short comparison: one epoch on 20,000 images for each of four β.

# %% tags=["nbval-ignore-output"]
x_eval = x_bin.to(device)
beta_results = {}
betas = (0.5, 1.0, 2.0, 4.0)
for beta in betas:
    torch.manual_seed(6)
    m_beta = recipe.model().to(device)
    train.fit(m_beta, V.vae_loss(beta, generator=torch.Generator().manual_seed(7)), X_train[:20_000],
              epochs=1, batch_size=recipe.batch_size, lr=recipe.lr, schedule="cosine", progress=False)
    m_beta.eval()
    with torch.no_grad():
        terms = m_beta.loss(x_eval, generator=torch.Generator().manual_seed(8))
        mu_b, logvar_b = m_beta.encode(x_eval)
        kl_per_unit = (0.5 * (mu_b.pow(2) + logvar_b.exp() - 1 - logvar_b)).mean(dim=0).cpu()   # (J,)
    beta_results[beta] = (terms["rec"].item(), terms["kl"].item(), kl_per_unit)
    print(f"β = {beta}: reconstruction {terms['rec'].item():.1f} nats, KL {terms['kl'].item():.1f} nats, "
          f"units with KL > 0.1 nat: {int((kl_per_unit > 0.1).sum())}, "
          f"active units (Burda) {V.active_units(m_beta, x_bin)}")

# %%
rates = [beta_results[b][1] for b in betas]         # KL, "rate"
distortions = [beta_results[b][0] for b in betas]   # −log p(x|z), "distortion"
informative = [int((beta_results[b][2] > 0.1).sum()) for b in betas]
assert all(r1 > r2 for r1, r2 in zip(rates, rates[1:])), rates                     # KL falls with β
assert all(d1 < d2 for d1, d2 in zip(distortions, distortions[1:])), distortions   # reconstruction worsens
assert informative[-1] < informative[0], informative
print("each step up in β: smaller KL and worse reconstruction; units carrying > 0.1 nat:",
      dict(zip(betas, informative)))
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
ax1.plot(rates, distortions, "k-", lw=1, zorder=1)
for beta, (rec, kl, units) in beta_results.items():
    ax1.scatter(kl, rec, s=60, label=f"β = {beta}", zorder=2)
    ax2.plot(range(1, len(units) + 1), units.sort(descending=True).values.numpy(), "o-", ms=3, label=f"β = {beta}")
ax1.set_xlabel("rate: KL(q(z|x) ‖ p(z)) (nats)")
ax1.set_ylabel("distortion: −log p(x|z) (nats)")
ax1.set_title("rate–distortion trade-off of the β-VAE")
ax1.legend()
ax2.axhline(0.1, color="k", ls="--", label="0.1 nat")
ax2.set_yscale("log")
ax2.set_xlabel("latent unit (sorted)")
ax2.set_ylabel("mean KL of the unit (nats)")
ax2.set_title("KL per latent unit")
ax2.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)  # outside: the curves fill the panel
plt.tight_layout()
plt.show()

# %% [markdown]
# Left: each β is one point of the rate–distortion curve; larger β moves the model left (less
# information in the code) and up (worse reconstructions), monotonically over the four
# values. Right: the KL per latent unit, sorted; larger β concentrates the KL in fewer units,
# and the others stay close to the prior (under 0.1 nat each), on their way to collapse. After a single epoch the encoder means
# have not settled yet, so Burda's variance criterion still counts most units as active; the
# per-unit KL shows the collapse earlier.

# %% [markdown]
# ## 6b. Fashion-MNIST: a two-dimensional latent space
#
# The same model trains on Fashion-MNIST (clothes instead of digits). We keep the grey levels
# as Bernoulli targets in $[0, 1]$ (no binarisation) and take a **two-dimensional** code, so
# that we can draw the whole latent space, as in notebook 01. There, the autoencoder's codes
# formed thin clusters with holes between them; here the KL term pulls every posterior
# $Q_\phi(z|x)$ towards $\mathcal N(0, I)$. What it does *not* promise is that the codes of
# all images together, the **aggregate posterior** $q(z) = \frac1N \sum_n Q_\phi(z|x_n)$,
# equal the prior: the KL is paid per image and traded against reconstruction, so $q(z)$ can
# be wider or narrower than $\mathcal N(0, I)$, and shaped differently. We measure both.

# %% tags=["nbval-ignore-output"]
F_train, _ = data.load_images("fashion-mnist", "train")
F_test, f_labels = data.load_images("fashion-mnist", "test")
n_fashion = 30_000 if QUICK else len(F_train)
torch.manual_seed(13)
vae2d = V.VAE.mlp(latent_dim=2, hidden=recipe.hidden).to(device)
fashion_history = train.fit(vae2d, V.vae_loss(binarize=False, generator=torch.Generator().manual_seed(14)),
                            F_train[:n_fashion], epochs=3 if QUICK else 20, batch_size=recipe.batch_size,
                            lr=recipe.lr, schedule="cosine")
vae2d.eval()
with torch.no_grad():
    moments = [vae2d.encode(F_test[i:i + 1000].to(device)) for i in range(0, 10_000, 1000)]
mu_fashion = torch.cat([m.cpu() for m, _ in moments])
sigma2_fashion = torch.cat([lv.exp().cpu() for _, lv in moments])
# the aggregate posterior's variance per axis: Var(mu) + E[sigma^2] (law of total variance)
aggregate_var = mu_fashion.var(0) + sigma2_fashion.mean(0)
inside = (mu_fashion.norm(dim=1) < 3).float().mean().item()  # N(0, I) puts 98.9% of its mass there
print(f"training loss of the last batch {fashion_history.loss[-1]:.1f} nats")
print(f"posterior means: mean {mu_fashion.mean(0).numpy().round(2)}, std {mu_fashion.std(0).numpy().round(2)}, "
      f"{100 * inside:.1f}% within radius 3")
print(f"posterior std, mean over images: {sigma2_fashion.sqrt().mean(0).numpy().round(2)}; "
      f"aggregate posterior variance per axis: {aggregate_var.numpy().round(2)} (prior: 1)")

# %%
# the prior's most probable region, the disc of radius 1, holds 1 − e^{−1/2} = 39% of N(0, I)
near_origin = (mu_fashion.norm(dim=1) < 1).float().mean().item()
print(f"codes within radius 1 of the origin: {near_origin:.1%} (the prior puts {1 - math.exp(-0.5):.1%} there)")
assert fashion_history.loss[-1] < fashion_history.loss[0]
assert mu_fashion.mean(0).abs().max() < 0.5, mu_fashion.mean(0)            # centred on the prior's mean
assert (aggregate_var > 1.5).all(), aggregate_var                          # but wider than the prior
assert (sigma2_fashion.sqrt().mean(0) < 0.5).all(), sigma2_fashion.mean(0)  # each posterior much narrower
assert near_origin < 0.5 * (1 - math.exp(-0.5)), near_origin               # and hollow in the middle
assert near_origin < (1 - math.exp(-0.5)) / 3, near_origin                   # "fewer than a third" (about a quarter)
print("the codes are centred at the origin, but the aggregate posterior is wider than the prior in both axes,")
print("each image's posterior is far narrower than N(0, I), and the prior's densest region holds under half")
print("the share of codes the prior would put there.")

# %%
from scipy.stats import norm

fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
plot.scatter2d(mu_fashion, f_labels, ax=axes[0], s=2, title="posterior means of the Fashion-MNIST test set",
               xlabel=r"$\mu_1$", ylabel=r"$\mu_2$", names=data.CLASS_NAMES["fashion-mnist"])
axes[0].add_patch(plt.Circle((0, 0), 2.0, fill=False, color="k", ls="--", lw=1))  # N(0, I): 86% inside r = 2
quantiles = torch.tensor(norm.ppf(np.linspace(0.03, 0.97, 15)), dtype=torch.float32)
grid2d = torch.stack(torch.meshgrid(quantiles, quantiles.flip(0), indexing="xy"), dim=-1).reshape(-1, 2)
with torch.no_grad():
    manifold = torch.sigmoid(vae2d.decode(grid2d.to(device))).cpu()
plot.image_grid(manifold, nrow=15, ax=axes[1], title=r"decoded prior quantiles $\Phi^{-1}(u_1), \Phi^{-1}(u_2)$",
                col_labels=[f"{q:.1f}" if i % 2 == 0 else "" for i, q in enumerate(quantiles.tolist())],
                row_labels=[f"{q:.1f}" if i % 2 == 0 else "" for i, q in enumerate(quantiles.flip(0).tolist())])
axes[1].set(xlabel=r"$z_1$", ylabel=r"$z_2$")
plt.tight_layout()
plt.show()

# %% [markdown]
# Left: the test set's posterior means, coloured by class, with the circle of radius 2 that
# holds 86% of the prior's mass. The ten classes share one connected region around the
# origin, instead of the scattered islands of notebook 01, and similar garments are
# neighbours (shirts, pullovers and coats overlap; sandals, sneakers and ankle boots form
# their own arc). But the region is not the prior's round ball: it is a **ring**, open on the
# right where no garment's code lies (a horseshoe), about 1.5 times wider than
# $\mathcal N(0, I)$ along each axis (aggregate variance ≈ 2.2), with a nearly empty centre:
# about a quarter as many codes lie within radius 1 as the prior would put there (fewer than
# a third; the printed shares). Right: the decoded prior quantiles. The centre of the
# grid, the prior's most probable region, decodes to faint, blurred in-between garments,
# because almost no image's code lives there. Sampling $z \sim \mathcal N(0, I)$ lands there
# often: this mismatch between the aggregate posterior and the prior (Hoffman & Johnson 2016,
# "ELBO surgery") is one reason VAE samples look worse than reconstructions, and a reason for
# learned priors (notebook 07's PixelCNN over codes is one).

# %% [markdown]
# ## 7. A conditional VAE
#
# A conditional VAE (lecture 002) feeds the label $y$ to both networks,
# $Q_\phi(z|x, y)$ and $P_\theta(x|z, y)$, and maximises
# $\mathbb E_{Q_\phi(z|x,y)}[\log P_\theta(x|z,y)] - D_\textrm{KL}(Q_\phi(z|x,y) \,\|\, P(z))$.
# Since the decoder is told the digit, $z$ only needs to encode the *style*; sampling $z$ from
# the prior and choosing $y$ generates the digit we ask for. How small should the code be? A
# large code can carry the identity too, and then the decoder may learn to ignore $y$ for
# some $z$; a two-dimensional code ($J = 2$) has room for little more than slant and width,
# and leaves the identity to the label. `gdmcourse.vae.CVAE_RECIPE` is the VAE's networks with
# $J = 2$; as for the VAE, the quick profile loads the weights `python -m gdmcourse train
# cvae-mnist` made with it, and the full profile trains it here.

# %% tags=["nbval-ignore-output"]
print(V.CVAE_RECIPE)
if QUICK:
    cvae = recipes.load_model("cvae-mnist").to(device)
    cvae_record = weights.registry()["cvae-mnist"]
    print(f"loaded cvae-mnist: {cvae_record['epochs']} epochs, trained in {cvae_record['train_seconds']:.0f} s")
else:
    torch.manual_seed(9)
    cvae = V.CVAE_RECIPE.conditional_model().to(device)
    train.fit(cvae, V.vae_loss(generator=torch.Generator().manual_seed(10)), (X_train, y_train),
              epochs=V.CVAE_RECIPE.epochs, batch_size=V.CVAE_RECIPE.batch_size, lr=V.CVAE_RECIPE.lr,
              lr_min=V.CVAE_RECIPE.lr_min, schedule=V.CVAE_RECIPE.schedule)
cvae.eval()
with torch.no_grad():
    yb = y_test[:1000]
    elbo_right = cvae.elbo(x_eval, yb, generator=torch.Generator().manual_seed(11)).mean().item()
    elbo_wrong = cvae.elbo(x_eval, (yb + 1) % 10, generator=torch.Generator().manual_seed(11)).mean().item()
print(f"test ELBO with the right labels {elbo_right:.1f} nats, with wrong labels (y+1) {elbo_wrong:.1f} nats")

# %%
assert elbo_right > elbo_wrong + 5, (elbo_right, elbo_wrong)
print("the conditional model explains a test image better when it is told the right digit.")

# %% [markdown]
# **Does each row show the requested digit?** We ask for 100 samples of each digit and let
# the course's MNIST classifier (notebook 09's yardstick, 99% accurate on test digits) read
# them.

# %%
from gdmcourse import metrics

digit_agreement = recipes.cvae_digit_agreement(cvae, metrics.feature_extractor("mnist", device))
print("classifier reads the requested digit:", {d: round(a, 2) for d, a in enumerate(digit_agreement)})
assert min(digit_agreement) >= 0.9, digit_agreement
print(f"for every digit at least {min(digit_agreement):.0%} of the samples")

n_per = 8
rows_ = [cvae.sample(n_per, digit, torch.Generator().manual_seed(12)).cpu() for digit in range(10)]
plot.image_grid(torch.cat(rows_), nrow=n_per, row_labels=[f"y = {d}" for d in range(10)],
                title="CVAE: row = requested digit, column = one shared z")
plt.show()

# %% [markdown]
# Each row shows the requested digit (the classifier agrees for at least 99% of the samples of
# every digit; the assert asks for 90%), and each column keeps the same $z$: the code carries the style (slant,
# thickness, width) and the label carries the identity.

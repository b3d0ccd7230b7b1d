# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise 02 · Variational autoencoders and the ELBO
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/solutions/02_vae.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=solutions%2F02_vae.ipynb)
#
# *Goes with notebook 02 and lecture 003, "Variational AutoEncoders" and "VAE – Reparametrization Trick".*
#
# You will write the four formulas a VAE is made of:
#
# 1. the closed-form KL divergence from $q = \mathcal N(\mu, \operatorname{diag}\sigma^2)$ to the prior $\mathcal N(0, I)$,
# 2. the reparametrization trick,
# 3. the per-example ELBO,
# 4. the importance-weighted bound $\mathcal L_k$ from log-weights,
#
# and then train a small VAE with them on the 8×8 digits of scikit-learn (a few seconds on a
# CPU). Fill in each cell that says `raise NotImplementedError`, run it, then run the check
# cell below it: it prints `PASSED` or `FAILED` with a hint.

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
import torch
import torch.nn.functional as F

from gdmcourse import checks as check
from gdmcourse import data, plot, train
from gdmcourse.vae import VAE, dynamic_binarize

device = gdmcourse.startup(seed=0)
plot.use_style()


# %% [markdown]
# ## 1. The KL term in closed form
#
# For $q = \mathcal N(\mu, \operatorname{diag}\sigma^2)$ and $p(z) = \mathcal N(0, I)$ with
# $J$ latent dimensions,
#
# $$D_\textrm{KL}\big(q \,\|\, p\big) = -\frac12 \sum_{j=1}^{J} \big(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\big).$$
#
# The encoder predicts `logvar` $= \log\sigma^2$ (any real number, so $\sigma^2 = e^{\text{logvar}} > 0$).
# `mu` and `logvar` have shape `(B, J)`; return one KL per example, shape `(B,)`.

# %%
def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=-1)
    ### END SOLUTION


# %%
check.gaussian_kl(gaussian_kl)


# %% [markdown]
# ## 2. The reparametrization trick
#
# $$z = \mu + \sigma \odot \varepsilon, \qquad \sigma = \exp\big(\tfrac12 \log\sigma^2\big), \quad \varepsilon \sim \mathcal N(0, I).$$
#
# Draw $\varepsilon$ with the given `generator` on the CPU, then move it to the input's device
# (`torch.randn(mu.shape, generator=generator).to(mu.device)`), so that the sample is
# reproducible, the same on a GPU and, unlike `torch.normal(mu, sigma)`, gradients flow to
# `mu` and `logvar`.

# %%
def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    ### BEGIN SOLUTION
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
    return mu + torch.exp(0.5 * logvar) * eps
    ### END SOLUTION


# %%
check.reparameterize(reparameterize)


# %% [markdown]
# ## 3. The ELBO of one example
#
# With one sample $z \sim q_\phi(z|x)$ and a Bernoulli decoder that outputs one logit
# $\ell_d$ per pixel,
#
# $$\mathcal L(\theta, \phi; x) \approx \log p_\theta(x|z) - D_\textrm{KL}\big(q_\phi(z|x) \,\|\, p(z)\big),
# \qquad \log p_\theta(x|z) = \sum_d x_d \ell_d - \operatorname{softplus}(\ell_d).$$
#
# `x` are binary images `(B, C, H, W)`, `logits` the decoder's output of the same shape,
# `mu`, `logvar` `(B, J)`. Return one ELBO per example, `(B,)`. Use your `gaussian_kl`, and
# compute the log-likelihood from the logits (never `log(sigmoid(·))`, which underflows).

# %%
def elbo(x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    log_px_z = (x * logits - F.softplus(logits)).flatten(start_dim=1).sum(dim=1)
    return log_px_z - gaussian_kl(mu, logvar)
    ### END SOLUTION


# %%
check.elbo(elbo)


# %% [markdown]
# ## 4. The importance-weighted bound
#
# With $k$ samples $z_i \sim q_\phi(z|x)$ and log-weights
# $\log w_i = \log p_\theta(x|z_i) + \log p(z_i) - \log q_\phi(z_i|x)$,
#
# $$\mathcal L_k(x) = \log \frac1k \sum_{i=1}^{k} w_i = \operatorname{logsumexp}_i(\log w_i) - \log k.$$
#
# `log_weights` has shape `(k, B)`; return `(B,)`. The weights themselves are $e^{-100}$ or
# smaller for MNIST, so never exponentiate them directly: `torch.logsumexp` is stable.

# %%
def iwae_bound(log_weights: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    return torch.logsumexp(log_weights, dim=0) - math.log(log_weights.shape[0])
    ### END SOLUTION


# %%
check.iwae_bound(iwae_bound)

# %% [markdown]
# **Question.** Why do we subtract $\log k$, and why is $\mathcal L_k \ge \mathcal L_1$ (the
# ELBO) for every $k$?

# %% [markdown]
# <!-- BEGIN SOLUTION -->
# $\frac1k\sum_i w_i$ is an *average* of $k$ unbiased estimates of $p(x)$
# ($\mathbb E_q[w] = \int q\, p(x, z)/q \, dz = p(x)$); `logsumexp` gives the log of the *sum*,
# so subtracting $\log k$ turns it into the log of the mean. Without it the "bound" would grow by
# $\log k$ and exceed $\log p(x)$. By Jensen, $\mathbb E[\log \bar w_k] \le \log \mathbb E[\bar w_k] = \log p(x)$,
# so $\mathcal L_k$ is a lower bound; and because the average of $k$ weights is less spread
# out than one weight, the concave $\log$ loses less to Jensen's gap:
# $\mathcal L_k \le \mathcal L_{k+1}$ (Burda et al. 2016, theorem 1), with $\mathcal L_1$ the ELBO
# and $\mathcal L_k \to \log p(x)$ as $k \to \infty$.
# <!-- END SOLUTION -->

# %% [markdown]
# ## 5. Put it together: a VAE on the 8×8 digits
#
# Your `reparameterize` and `elbo` train the networks of `gdmcourse.vae.VAE` (an MLP encoder
# that outputs $(\mu, \log\sigma^2)$ and an MLP decoder that outputs logits). The cell then
# evaluates the test ELBO and your $\mathcal L_{50}$ from the same model: $\mathcal L_{50}$
# should be the larger (tighter) bound.

# %% tags=["nbval-ignore-output"]
X_train, _ = data.load_images("digits", "train")
X_test, _ = data.load_images("digits", "test")
model = VAE.mlp((1, 8, 8), latent_dim=4, hidden=(128,)).to(device)
noise = torch.Generator().manual_seed(1)


def loss_fn(m, batch):
    x = dynamic_binarize(batch[0], noise)
    mu, logvar = m.encode(x)
    return -elbo(x, m.decode(reparameterize(mu, logvar, noise)), mu, logvar).mean()


history = train.fit(model, loss_fn, X_train, epochs=40, batch_size=64, lr=3e-3)
x_test = dynamic_binarize(X_test, torch.Generator().manual_seed(2)).to(device)
with torch.no_grad():
    g, k = torch.Generator().manual_seed(3), 50
    mu, logvar = model.encode(x_test)
    z = reparameterize(mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape), g)   # (k, B, J)
    logits = model.decode(z)                                                          # (k, B, 1, 8, 8)
    log_px_z = (x_test * logits - F.softplus(logits)).flatten(start_dim=2).sum(-1)
    log_pz = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)
    log_qz = -0.5 * ((z - mu).pow(2) / logvar.exp() + logvar + math.log(2 * math.pi)).sum(-1)
    test_elbo = elbo(x_test, logits[0], mu, logvar).mean().item()
    test_iwae = iwae_bound(log_px_z + log_pz - log_qz).mean().item()
print(f"test ELBO {test_elbo:.1f} nats, L_50 {test_iwae:.1f} nats per 8×8 image")
assert test_iwae > test_elbo, "L_k should be at least the ELBO"
plot.image_grid(torch.cat([x_test[:12].cpu(), torch.sigmoid(model(x_test[:12])).cpu(),
                           model.sample(12, torch.Generator().manual_seed(4)).cpu()]), nrow=12,
                title="test images / reconstructions / samples")
plt.show()

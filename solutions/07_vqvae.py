# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise 07 · Vector quantization: nearest codes, straight-through, VQ losses, perplexity
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/solutions/07_vqvae.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=solutions%2F07_vqvae.ipynb)
#
# *Goes with notebook 07, lecture 003 ("VQ-VAE") and lecture 001 ("Discrete Variational
# Auto-Encoder").*
#
# You will write
#
# 1. `nearest_codes`: the index of each vector's nearest codebook entry,
# 2. `straight_through`: quantized vectors that pass the decoder's gradient to the encoder,
# 3. `vq_loss`: the codebook and commitment losses with their stop-gradients,
# 4. `perplexity`: how evenly a codebook is used,
#
# and then put them together into a vector quantizer and train a small VQ-VAE with it. Fill
# in each cell that says `raise NotImplementedError`, run it, then run the check cell below
# it: it prints `PASSED` or `FAILED` with a hint.

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
from torch import nn

from gdmcourse import checks as check
from gdmcourse import data, plot, vqvae

device = gdmcourse.startup(seed=0)
plot.use_style()


# %% [markdown]
# ## 1. Nearest codes
#
# For vectors `z` of shape `(..., D)` and a codebook `(K, D)`, return the index of the
# nearest code for every vector, shape `(...)`:
#
# $$k = \arg\min_j \|z - e_j\|_2 .$$
#
# `torch.cdist` gives all distances between two `(N, D)` and `(K, D)` sets (flatten the
# leading dims first and restore them at the end), or expand
# $\|z - e_j\|^2 = \|z\|^2 - 2 z \cdot e_j + \|e_j\|^2$ yourself.

# %%
def nearest_codes(z, codebook):
    """Indices (...) of the nearest codebook rows for z (..., D)."""
    ### BEGIN SOLUTION
    flat = z.reshape(-1, z.shape[-1])
    return torch.cdist(flat, codebook).argmin(dim=1).reshape(z.shape[:-1])
    ### END SOLUTION


# %%
check.nearest_codes(nearest_codes)


# %% [markdown]
# ## 2. The straight-through estimator
#
# Given the encoder outputs `z` and their nearest codes `codes` (same shape), return $z_q$
# whose **value** is `codes` but whose **gradient** flows to `z` unchanged:
#
# $$z_q = z + \mathrm{sg}[\,\text{codes} - z\,], \qquad \mathrm{sg} = \texttt{.detach()} .$$

# %%
def straight_through(z, codes):
    """Forward: codes. Backward: the gradient of z_q copied to z."""
    ### BEGIN SOLUTION
    return z + (codes - z).detach()
    ### END SOLUTION


# %%
check.straight_through(straight_through)


# %% [markdown]
# ## 3. The VQ losses
#
# $$L_{VQ} = \underbrace{\|\mathrm{sg}[z] - e\|^2}_{\text{codebook: moves the codes}} + \beta\,\underbrace{\|z - \mathrm{sg}[e]\|^2}_{\text{commitment: moves the encoder}},$$
#
# each squared error averaged over all elements (`F.mse_loss`). Both terms have the same
# *value*; what differs is which side receives the gradient.

# %%
def vq_loss(z, codes, beta=0.25):
    """Codebook loss + beta * commitment loss."""
    ### BEGIN SOLUTION
    return F.mse_loss(z.detach(), codes) + beta * F.mse_loss(z, codes.detach())
    ### END SOLUTION


# %%
check.vq_loss(vq_loss)


# %% [markdown]
# ## 4. Perplexity of code usage
#
# With $p_k$ the fraction of the entries of `indices` (any shape) equal to $k$,
#
# $$\mathrm{perplexity} = \exp\Big(-\sum_{k: p_k > 0} p_k \log p_k\Big),$$
#
# between 1 (one code used for everything) and `num_codes` (all used equally). Return a
# Python float. (`torch.bincount(..., minlength=num_codes)` counts.)

# %%
def perplexity(indices, num_codes):
    """exp(entropy) of the code usage in indices."""
    ### BEGIN SOLUTION
    p = torch.bincount(indices.reshape(-1), minlength=num_codes).double()
    p = p[p > 0] / p.sum()
    return math.exp(-(p * p.log()).sum().item())
    ### END SOLUTION


# %%
check.perplexity(perplexity)


# %% [markdown]
# ## 5. Use them: your own quantizer inside a VQ-VAE
#
# `MyQuantizer` below puts your functions together exactly as `vqvae.VectorQuantizer` does
# without EMA: nearest codes, the losses, the straight-through output. We swap it into the
# course's `vqvae.VQVAE` (K = 64 codes) and train for 400 steps, resetting dead codes every
# 50 steps. Perplexity is computed with your function. The figure shows eight training digits
# (top row) and your VQ-VAE's reconstructions of them from their code maps (bottom row).

# %%
class MyQuantizer(nn.Module):
    def __init__(self, num_codes, dim, beta=0.25):
        super().__init__()
        self.num_codes, self.dim, self.beta, self.ema = num_codes, dim, beta, False
        self.codebook = nn.Parameter(torch.empty(num_codes, dim).uniform_(-1 / num_codes, 1 / num_codes))

    def forward(self, z):
        indices = nearest_codes(z.detach(), self.codebook.detach())
        codes = self.codebook[indices]
        return straight_through(z, codes), vq_loss(z, codes, self.beta), indices


torch.manual_seed(0)
model = vqvae.VQVAE(num_codes=64, code_dim=8, width=16)
model.quantizer = MyQuantizer(64, 8)
X_train, _ = data.load_images("mnist", "train")
history = vqvae.train_vqvae(model, X_train[:10_000], steps=400, batch_size=64, lr=1e-3, reset_every=50,
                            log_every=100, seed=0, progress=False)
with torch.no_grad():
    used = model.code_map(X_train[:2000])
assert history.recon[-1] < 0.5 * history.recon[0] and perplexity(used, 64) > 16, (history.recon, perplexity(used, 64))
print("your quantizer trains a VQ-VAE: the reconstruction error more than halved, and the perplexity of its\n"
      "64 codes on 2,000 training digits is above 16")
# the figure: eight training digits (top row) and your VQ-VAE's reconstructions of them from their code maps (bottom)
plot.image_grid(torch.cat([X_train[:8], model.reconstruct(X_train[:8])]), nrow=8, title="your VQ-VAE",
                row_labels=["digit", "reconstruction"])
plt.show()


# %% [markdown]
# ## 6. The EMA codebook, with dead codes reset
#
# Instead of a loss for the codebook, VQ-VAE (appendix A.1) can move each code to the running
# mean of the encoder outputs assigned to it. With decay $\gamma$, for every code $k$:
#
# 1. assign each $z_i$ to its nearest code (your `nearest_codes`); $n_k$ = how many, $s_k$ = their sum;
# 2. $N_k \leftarrow \gamma N_k + (1-\gamma)\, n_k$ and $m_k \leftarrow \gamma m_k + (1-\gamma)\, s_k$;
# 3. $e_k = m_k / N_k$;
# 4. a code whose $N_k$ fell below `dead_below` is **dead**: restart it at a random encoder output,
#    `z[torch.randint(len(z), (n_dead,), generator=generator)]` (moved to `z.device`), with
#    $N_k = 1$ and $m_k = e_k$.
#
# Return new tensors `(codebook, count, total)`; do not change the inputs in place. The check
# compares steps 1–3 with a loop over the codes, looks at the resets, then runs your step 60
# times on four clusters with every code started in one corner: a healthy codebook covers
# them all.

# %%
def ema_codebook_step(codebook, count, total, z, decay, dead_below, generator=None):
    ### BEGIN SOLUTION
    indices = nearest_codes(z, codebook)
    one_hot = F.one_hot(indices, len(codebook)).to(z.dtype)
    count = decay * count + (1 - decay) * one_hot.sum(0)
    total = decay * total + (1 - decay) * one_hot.T @ z
    codebook = total / count[:, None]
    dead = (count < dead_below).nonzero().flatten()
    if len(dead):
        rows = z[torch.randint(len(z), (len(dead),), generator=generator).to(z.device)]
        codebook, count, total = codebook.clone(), count.clone(), total.clone()
        codebook[dead], total[dead], count[dead] = rows, rows, 1.0
    return codebook, count, total
    ### END SOLUTION


# %%
check.ema_codebook_step(ema_codebook_step)

# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · VQ-VAE: discrete codes with a healthy codebook
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/notebooks/07_vqvae.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=notebooks%2F07_vqvae.ipynb)
#
# *Follows lecture 003 (M. Straka, NPFL114), "VQ-VAE", "Modeling Latent Structure" (VQ-VAE-2,
# VQGAN, DALL-E), and lecture 001, "Discrete Variational Auto-Encoder (dVAE)" and PixelCNN.*
#
# A VQ-VAE's latent is a **grid of discrete symbols**: the encoder's output at each position
# is replaced by the nearest of $K$ learned code vectors. Here you will
#
# 1. quantize vectors to their nearest code and see the codebook's Voronoi cells;
# 2. pass gradients through the non-differentiable quantizer with the **straight-through
#    estimator**, and check that they arrive;
# 3. read the **codebook and commitment losses** and their stop-gradients;
# 4. train a VQ-VAE on MNIST three ways (plain, EMA codebook, EMA + dead-code reset) and
#    measure the codebook's **perplexity** and **dead codes** as training runs;
# 5. look at the **code map** of an image;
# 6. sample code maps uniformly and from a learned **PixelCNN prior**, and see why the prior
#    is needed;
# 7. place VQ-VAE-2, VQGAN and DALL-E on the same map.
#
# The package module is `gdmcourse.vqvae`; the exercise (`exercises/07_vqvae.ipynb`) has you
# write the quantization, the straight-through step, the losses and the perplexity yourself.

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

from gdmcourse import data, plot, recipes
from gdmcourse import vqvae

device = gdmcourse.startup(seed=7)
plot.use_style()
print(f"device: {device.type}")

# %% [markdown]
# ## 1. Nearest-code quantization
#
# A codebook holds $K$ vectors $e_1, \dots, e_K \in \mathbb R^D$. An encoder output $z_e$ is
# replaced by its nearest code,
#
# $$k = \arg\min_j \|z_e - e_j\|_2, \qquad z_q = e_k .$$
#
# `vqvae.nearest_codes` computes all distances at once from
# $\|z - e_j\|^2 = \|z\|^2 - 2 z\cdot e_j + \|e_j\|^2$ (one matrix product). In 2-D the codes cut
# the plane into **Voronoi cells**: every point of a cell is sent to the same code.

# %%
g = torch.Generator().manual_seed(0)
codebook = torch.randn(8, 2, generator=g) * 1.2
grid = torch.stack(torch.meshgrid(torch.linspace(-3, 3, 300), torch.linspace(-3, 3, 300), indexing="xy"), dim=-1)
cells = vqvae.nearest_codes(grid, codebook)
z = torch.randn(12, 2, generator=g) * 1.3
k = vqvae.nearest_codes(z, codebook)
fig, ax = plt.subplots(figsize=(4.6, 4.2))
ax.imshow(cells, origin="lower", extent=(-3, 3, -3, 3), cmap="tab10", alpha=0.35, vmin=0, vmax=9)
for zi, e in zip(z, codebook[k]):
    ax.annotate("", xy=e.tolist(), xytext=zi.tolist(), arrowprops=dict(arrowstyle="->", color="0.3"))
ax.scatter(*z.T, s=14, color="k", label="encoder outputs $z_e$")
ax.scatter(*codebook.T, s=90, marker="*", color="C3", label="codes $e_k$")
ax.set(xlabel="dimension 1", ylabel="dimension 2", title="each $z_e$ goes to its nearest code")
ax.legend(loc="lower right", fontsize=8)
plt.show()
brute = torch.cdist(z, codebook).argmin(1)
print(f"indices {k.tolist()}; same as argmin of torch.cdist: {torch.equal(k, brute)}")

# %% [markdown]
# ## 2. The straight-through estimator
#
# $\arg\min$ is piecewise constant: its derivative is 0 almost everywhere, so the
# reconstruction loss cannot teach the encoder anything through $z_q = e_k$. VQ-VAE (like the
# dVAE of lecture 001) **copies the gradient** from the decoder's input $z_q$ to the encoder's
# output $z_e$:
#
# $$z_q = z_e + \mathrm{sg}[e_k - z_e] \qquad\Rightarrow\qquad \text{forward: } z_q = e_k, \quad
#   \text{backward: } \frac{\partial L}{\partial z_e} = \frac{\partial L}{\partial z_q} ,$$
#
# where $\mathrm{sg}$ (stop-gradient, `.detach()`) is the identity forwards and has zero
# derivative. Check it: for a loss $L = \|z_q - y\|^2$ the gradient reaching $z_e$ should be
# exactly $2(z_q - y)$, computed at the *code*, not at $z_e$.

# %%
z_e = torch.tensor([[0.3, -0.4]], requires_grad=True)
y = torch.tensor([[1.0, 1.0]])
e = codebook[vqvae.nearest_codes(z_e.detach(), codebook)]
z_q = z_e + (e - z_e).detach()
loss = (z_q - y).pow(2).sum()
loss.backward()
print(f"z_e = {z_e.detach().numpy().round(3)}, z_q = {z_q.detach().numpy().round(3)} (the code)")
print(f"gradient at z_e: {z_e.grad.numpy().round(4)}; 2 (z_q − y) = {(2 * (e - y)).numpy().round(4)}")
z_plain = z_e.detach().clone().requires_grad_(True)
e_plain = codebook[torch.cdist(z_plain, codebook).argmin(1)]
print(f"without the trick, does z_e get a gradient? {e_plain.requires_grad}")

# %% [markdown]
# ## 3. The losses
#
# The gradient copy teaches the encoder, but nothing yet moves the codes. VQ-VAE's loss for an
# image $x$ is
#
# $$L = \underbrace{-\log p(x \mid z_q)}_{\text{reconstruction}} + \underbrace{\|\mathrm{sg}[z_e] - e_k\|^2}_{\text{codebook}}
#   + \beta\,\underbrace{\|z_e - \mathrm{sg}[e_k]\|^2}_{\text{commitment}}, \qquad \beta = 0.25 .$$
#
# - the **codebook** term moves each used code towards the encoder outputs assigned to it
#   (the encoder is held fixed by $\mathrm{sg}$): it is k-means, done by gradient descent;
# - the **commitment** term keeps the encoder close to its codes (the codes are held fixed),
#   so its outputs do not drift away from the codebook and grow without bound.
#
# Our decoder's output is the mean of a Gaussian with fixed variance, so the reconstruction
# term is a mean squared error. `vqvae.VectorQuantizer` returns $z_q$ (with the
# straight-through gradient), the two VQ terms and the indices.
#
# **EMA codebook.** The VQ-VAE paper's appendix replaces the codebook term by exponential
# moving averages: each code becomes the running mean of the encoder outputs assigned to it,
# $e_k = m_k / N_k$ with $N_k \leftarrow \gamma N_k + (1 - \gamma)n_k$ and
# $m_k \leftarrow \gamma m_k + (1 - \gamma)\sum_{i: k_i = k} z_{e,i}$ (`ema=True`, $\gamma = 0.99$).
#
# **Codebook health.** A code no encoder output picks gets no gradient and no EMA update:
# it is **dead**, and stays dead. We measure the usage of the codes over recent batches with
# the **perplexity** $\exp(-\sum_k p_k\log p_k)$ (1 if one code is used for everything, $K$ if all
# are used equally) and the number of dead codes. A standard repair (Jukebox, Dhariwal et al.
# 2020) moves dead codes onto random recent encoder outputs (`vqvae.reset_dead_codes`).
#
# ## 4. Training on MNIST, three ways
#
# The model (`vqvae.VQVAE`): two strided convolutions take a 28×28 digit to a **7×7 grid** of
# $D = 16$-dimensional vectors, quantized with $K = 128$ codes; transposed convolutions decode.
# Its sizes and optimiser settings are `recipes.VQVAE`, the recipe the shipped `vqvae-mnist`
# checkpoint (notebook 09) is trained with.
# We train it for 1,000 Adam steps three times: with the plain codebook loss, with the EMA
# codebook, and with the EMA codebook plus a reset of dead codes every 50 steps. Every 50
# steps the history records the mean losses and the code usage over those 50 batches.

# %%
X_train, y_train = data.load_images("mnist", "train")
X_test, y_test = data.load_images("mnist", "test")
VARIANTS = {"plain": dict(ema=False, reset_every=0), "EMA": dict(ema=True, reset_every=0),
            "EMA + reset": dict(ema=True, reset_every=50)}
K = recipes.VQVAE.num_codes  # 128

# %% tags=["nbval-ignore-output"]
models, histories = {}, {}
for name, opts in VARIANTS.items():
    torch.manual_seed(0)
    model = recipes.VQVAE.model(ema=opts["ema"]).to(device)
    histories[name] = recipes.VQVAE.train(model, X_train, steps=1000, reset_every=opts["reset_every"], log_every=50,
                                          seed=0)
    models[name] = model
    h = histories[name]
    print(f"{name:12s} {h.seconds:5.1f} s: reconstruction MSE {h.recon[-1]:.4f}, perplexity {h.perplexity[-1]:5.1f}, "
          f"dead codes {h.dead[-1]:3d}/{K}, codes reset {h.resets[-1]}")

# %%
final = {name: (h.recon[-1], h.perplexity[-1], h.dead[-1]) for name, h in histories.items()}
assert final["EMA + reset"][1] >= 64 and final["EMA + reset"][2] <= 0.05 * K, final
assert final["plain"][1] < final["EMA + reset"][1] and final["EMA"][2] > 0.5 * K, final
assert final["EMA + reset"][0] < min(final["plain"][0], final["EMA"][0]), final
print("EMA + reset: perplexity ≥ 64 of 128 and at most 5% dead codes, with the lowest reconstruction error;\n"
      "the EMA codebook alone leaves more than half the codes dead")

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
for name, h in histories.items():
    axes[0].plot(h.step, h.perplexity, label=name)
    axes[1].plot(h.step, h.dead, label=name)
    axes[2].plot(h.step, h.recon, label=name)
axes[0].axhline(K, color="0.6", ls=":", lw=1)
axes[0].set(xlabel="training step", ylabel="perplexity", title=f"code usage over 50 batches (K = {K})")
axes[1].set(xlabel="training step", ylabel="codes", title="dead codes over 50 batches")
axes[2].set(xlabel="training step", ylabel="mean squared error", title="reconstruction", yscale="log")
for ax in axes:
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
with torch.no_grad():
    usage = torch.stack([torch.bincount(m.code_map(X_test[:2000].to(device)).flatten().cpu(), minlength=K)
                         for m in models.values()]).double()
share = usage / usage.sum(1, keepdim=True)
order = share.mean(0).argsort(descending=True)  # codes from most to least used, over all three runs
unused = {name: int((u == 0).sum()) for name, u in zip(models, usage)}
print("codes no test vector uses (2,000 test digits, 98,000 vectors):", unused)
assert unused["EMA"] > unused["plain"] > unused["EMA + reset"] and unused["EMA + reset"] <= 0.05 * K, unused
ax = plot.heatmap(share[:, order].log10().clamp(min=-5), cmap="magma", annot=False, yticklabels=list(models),
                  xticklabels=False, xlabel=f"the {K} codes, most used first", ylabel="",
                  title="share of test vectors per code (log₁₀; −5 = unused)")
ax.figure.set_size_inches(12, 2.2)
plt.show()

# %% [markdown]
# The same story on the test set: each row is one run, each column one code. The EMA
# codebook alone leaves the most codes unused (black), the plain codebook fewer, and with
# resets nearly every code carries a share of the vectors.
#
# All three start the same way: the codes are initialised in a tiny box
# ($\pm 1/K$) while the encoder's outputs are spread much wider, so at first nearly every
# vector picks one or two codes and the rest are dead.
#
# - **Plain**: the codebook term only moves codes that are used; the dead ones come back one
#   by one, when the moving encoder outputs happen to land near them. Usage climbs slowly.
# - **EMA**: the used codes track their vectors fast, so the encoder settles on the few codes
#   alive early; most codes never receive a vector and stay dead for good.
# - **EMA + reset**: every 50 steps the dead codes are moved onto encoder outputs of the
#   current batch; after the first reset almost all codes are in use, and the richer
#   codebook gives the lowest reconstruction error.
#
# ## 5. The code map of an image
#
# Each digit becomes a 7×7 grid of integers in $0..127$: 49 symbols of 7 bits each, against
# 784 real-valued pixels. Below: test digits, their code maps (each code a colour, the
# index printed), and the decoding of those codes.

# %%
vq = models["EMA + reset"].eval()
x = X_test[:4].to(device)
maps = vq.code_map(x).cpu()
recon = vq.reconstruct(x).cpu()
fig, axes = plt.subplots(3, 4, figsize=(9, 7))
for j in range(4):
    axes[0, j].imshow(x[j, 0].cpu(), cmap="gray")
    axes[1, j].imshow(maps[j], cmap="tab20", vmin=0, vmax=K - 1)
    for (r, c), v in np.ndenumerate(maps[j].numpy()):
        axes[1, j].text(c, r, str(v), ha="center", va="center", fontsize=6)
    axes[2, j].imshow(recon[j, 0], cmap="gray", vmin=0, vmax=1)
for ax, label in zip(axes[:, 0], ["image", "code map (7×7)", "decoded codes"]):
    ax.set_ylabel(label)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
plt.show()
with torch.no_grad():
    test_mse = F.mse_loss(vq.reconstruct(X_test[:1000].to(device)).cpu(), X_test[:1000]).item()
assert test_mse < 0.01, test_mse
print("test reconstruction MSE below 0.01 (per pixel in [0, 1]), from 49 symbols of 7 bits per digit")

# %% [markdown]
# The background is one or two codes repeated; the strokes use many. Neighbouring positions
# are strongly dependent (a stroke continues), which is exactly what a prior has to learn.
#
# ## 6. Sampling: why VQ-VAE needs a prior
#
# A VQ-VAE is trained with a *uniform* prior over codes (its KL term is then the constant
# $\log K$ per position and drops out). To generate we need code maps that look like those of
# real digits. Two ways to draw a 7×7 map:
#
# - **uniformly**, every position independent: $p(k) = \prod_i \frac1K$;
# - from an **autoregressive prior** $p(k) = \prod_i p(k_i \mid k_{<i})$ in raster order,
#   learned from the code maps of the training set. We use a small PixelCNN
#   (`vqvae.PixelCNNPrior`): masked convolutions that only see positions above and to the
#   left, as in VQ-VAE; VQ-VAE-2 uses a bigger one, VQGAN and DALL-E a transformer.

# %% tags=["nbval-ignore-output"]
with torch.no_grad():
    train_maps = torch.cat([vq.code_map(X_train[i:i + 2000].to(device)).cpu() for i in range(0, len(X_train), 2000)])
torch.manual_seed(1)
prior = recipes.VQVAE.prior().to(device)
prior_losses = recipes.VQVAE.train_prior(prior, train_maps, steps=1200)
with torch.no_grad():
    test_nll = prior.nll(vq.code_map(X_test[:2000].to(device))).item()
print(f"prior NLL on test code maps: {test_nll:.2f} nats per position (uniform: log K = {math.log(K):.2f})")

# %%
assert test_nll < 0.6 * math.log(K), test_nll
print(f"the prior needs less than 60% of the uniform prior's log K = {math.log(K):.2f} nats per position "
      f"({49 * math.log2(K):.0f} bits per digit)")

# %%
uniform_maps = torch.randint(K, (32, 7, 7), generator=torch.Generator().manual_seed(2))
prior_maps = prior.sample(32, generator=torch.Generator().manual_seed(3)).cpu()
fig, axes = plt.subplots(1, 2, figsize=(12, 3.4))
plot.image_grid(vq.decode_codes(uniform_maps.to(device)).cpu(), nrow=8, ax=axes[0], title="decoded uniform code maps")
plot.image_grid(vq.decode_codes(prior_maps.to(device)).cpu(), nrow=8, ax=axes[1], title="decoded PixelCNN-prior code maps")
plt.show()

# %% [markdown]
# Uniform code maps decode to texture: every code is a plausible *piece* of a stroke, but
# placed independently they never make a digit. Samples from the prior put strokes where
# strokes continue and leave background where it belongs; most look like digits, some are
# malformed (a five-layer PixelCNN fitted for a minute). The decoder is the same in both
# rows: all the structure between the 49 positions comes from the prior.
#
# ## 7. The family: VQ-VAE-2, VQGAN, DALL-E
#
# All of them keep this notebook's recipe, an autoencoder with a discrete grid of codes and a
# separately trained prior over the grids, and change the pieces (lecture 003):
#
# | model | code grid | decoder trained with | prior over codes |
# |---|---|---|---|
# | VQ-VAE (van den Oord et al. 2017) | one grid, e.g. 32×32 for 128×128 images, K = 512 | reconstruction (MSE) | PixelCNN |
# | VQ-VAE-2 (Razavi et al. 2019) | a hierarchy: 64×64 bottom, 32×32 top for 256×256 images | reconstruction | PixelCNN with self-attention per level, the lower conditioned on the upper |
# | VQGAN (Esser et al. 2021) | 16×16, K = 1024 | reconstruction + perceptual loss + patch **GAN** discriminator | **transformer** (GPT-style) over the raster sequence |
# | DALL-E (Ramesh et al. 2021) | 32×32, K = 8192 (dVAE, Gumbel-softmax relaxation instead of straight-through) | reconstruction | transformer over **text tokens followed by image tokens** |
#
# VQGAN's adversarial decoder lets a coarser grid carry sharp images, which makes the
# transformer's sequence short enough to model; DALL-E conditions that transformer on text.
# Latent diffusion (notebook 08's process run on an autoencoder's latent grid) is the next
# step on this map.
#
# ## Summary
#
# - Quantization sends each encoder output to its nearest code; the straight-through
#   estimator copies the decoder's gradient to the encoder across the argmin.
# - The codebook term (or its EMA form) moves codes to the data; the commitment term keeps
#   the encoder near its codes.
# - Codebooks die easily: measure perplexity and dead codes while training; EMA updates with
#   dead-code resets kept all 128 codes alive here.
# - A VQ-VAE alone cannot sample: a prior over code maps (PixelCNN here, transformers in
#   VQGAN and DALL-E) supplies the structure between positions.

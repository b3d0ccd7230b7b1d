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
# 6. sample code maps uniformly and from a learned **PixelCNN prior** (the course's shipped
#    `vqvae-mnist` checkpoint), and measure why the prior is needed;
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

from gdmcourse import data, metrics, plot, recipes, weights
from gdmcourse import vqvae

device = gdmcourse.startup(seed=7)
plot.use_style()
PROFILE = gdmcourse.profile()
QUICK = PROFILE == "quick"
print(f"device: {device.type}, profile: {PROFILE}")

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
#
# The figure shows eight random codes (stars) in the plane, the cell of each shaded in its own
# colour, and twelve encoder outputs (dots) with an arrow to the code each one is sent to.

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
ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
plt.show()
brute = torch.cdist(z, codebook).argmin(1)
assert torch.equal(k, brute), (k, brute)
print(f"indices {k.tolist()}: the same as the argmin of torch.cdist's distances")

# %% [markdown]
# ## 2. The straight-through estimator
#
# $\arg\min$ is piecewise constant: its derivative is 0 almost everywhere, so the
# reconstruction loss cannot teach the encoder anything through $z_q = e_k$. VQ-VAE
# **copies the gradient** from the decoder's input $z_q$ to the encoder's output $z_e$
# (lecture 001's dVAE slide: "copy gradients from decoder input $z$ to the encoder output"):
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
assert torch.allclose(z_e.grad, 2 * (e - y)) and not torch.allclose(z_e.grad, 2 * (z_e.detach() - y)), z_e.grad
assert not e_plain.requires_grad
print("the gradient reaching z_e is 2 (z_q − y), evaluated at the code; the plain lookup passes none")

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
# **Codebook health.** A code no encoder output picks gets no gradient, and the EMA does not
# move it either: it is **dead**, and stays dead. We measure the usage of the codes over recent batches with
# the **perplexity** $\exp(-\sum_k p_k\log p_k)$ (1 if one code is used for everything, $K$ if all
# are used equally) and the number of dead codes. A standard repair (Jukebox, Dhariwal et al.
# 2020) moves dead codes onto random recent encoder outputs (`vqvae.reset_dead_codes`).
#
# ## 4. Training on MNIST, three ways
#
# The model (`vqvae.VQVAE`): two strided convolutions take a 28×28 digit to a **7×7 grid** of
# $D = 16$-dimensional vectors, quantized with $K = 128$ codes; transposed convolutions decode.
# Its sizes and optimiser settings are `recipes.VQVAE`, the recipe the shipped `vqvae-mnist`
# checkpoint (sections 5 and 6, and notebook 09) is trained with.
#
# All three variants start the same way: the codes are initialised in a tiny box
# ($\pm 1/K$), while the untrained encoder's outputs are spread much wider, so at first nearly
# every vector picks one of a handful of codes and the rest are dead. Check it on a fresh model:

# %%
X_train, y_train = data.load_images("mnist", "train")
X_test, y_test = data.load_images("mnist", "test")
VARIANTS = {"plain": dict(ema=False, reset_every=0), "EMA": dict(ema=True, reset_every=0),
            "EMA + reset": dict(ema=True, reset_every=50)}
K = recipes.VQVAE.num_codes  # 128
STEPS = 400 if QUICK else 1000

torch.manual_seed(0)
fresh = recipes.VQVAE.model(ema=True)
with torch.no_grad():
    z_fresh = fresh.encode(X_train[:512])
    fresh_perplexity = vqvae.codebook_perplexity(fresh.code_map(X_train[:512]), K)
code_box = fresh.quantizer.codebook.abs().max().item()
print(f"codes within ±{code_box:.4f} (1/K = {1 / K:.4f}); encoder outputs: standard deviation "
      f"{z_fresh.std():.3f}, largest |value| {z_fresh.abs().max():.3f}")
print(f"perplexity of the untrained model's code usage on 512 digits: {fresh_perplexity:.2f} of {K}")
assert code_box <= 1 / K and z_fresh.std() > 10 / K, (code_box, z_fresh.std())
assert fresh_perplexity < 4, fresh_perplexity

# %% [markdown]
# The encoder's outputs have a standard deviation more than ten times the half-width $1/K$ of
# the box that holds every code, and the untrained model uses the equivalent of fewer than
# four codes. We train the model for
# 400 Adam steps (1,000 in the full profile) three times: with the plain codebook loss,
# with the EMA codebook, and with the EMA codebook plus a reset of dead codes every 50
# steps. Every 50 steps the history records the mean losses and the code usage over those
# 50 batches.

# %% tags=["nbval-ignore-output"]
models, histories = {}, {}
for name, opts in VARIANTS.items():
    torch.manual_seed(0)
    model = recipes.VQVAE.model(ema=opts["ema"]).to(device)
    histories[name] = recipes.VQVAE.train(model, X_train, steps=STEPS, reset_every=opts["reset_every"], log_every=50,
                                          seed=0)
    models[name] = model
    h = histories[name]
    print(f"{name:12s} {h.seconds:5.1f} s: reconstruction MSE {h.recon[-1]:.4f}, perplexity {h.perplexity[-1]:5.1f}, "
          f"dead codes {h.dead[-1]:3d}/{K}, codes reset {h.resets[-1]}")

# %%
final = {name: (h.recon[-1], h.perplexity[-1], h.dead[-1]) for name, h in histories.items()}
assert final["EMA + reset"][1] >= 64 and final["EMA + reset"][2] <= 0.05 * K, final
assert final["plain"][1] < final["EMA + reset"][1] and final["EMA"][2] > 0.5 * K, final
assert final["EMA + reset"][0] < 0.9 * min(final["plain"][0], final["EMA"][0]), final
print("EMA + reset: perplexity ≥ 64 of 128 and at most 5% dead codes, with a reconstruction error at least 10%\n"
      "below the other two; the EMA codebook alone leaves more than half the codes dead")

# %% [markdown]
# The figure follows the three runs over training: the perplexity of the code usage (left; the
# dotted line is $K$, every code used equally), the number of codes no vector chose in each
# window of 50 batches (middle), and the reconstruction error (right, log scale).

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
for name, h in histories.items():
    axes[0].plot(h.step, h.perplexity, label=name)
    axes[1].plot(h.step, h.dead, label=name)
    axes[2].plot(h.step, h.recon, label=name)
axes[0].axhline(K, color="0.6", ls=":", lw=1)
axes[0].set(xlabel="training step", ylabel="perplexity", title=f"code usage over 50 batches (K = {K})")
axes[1].set(xlabel="training step", ylabel="dead codes", title="dead codes over 50 batches")
axes[2].set(xlabel="training step", ylabel="mean squared error per pixel", title="reconstruction", yscale="log")
fig.tight_layout()
fig.legend(*axes[0].get_legend_handles_labels(), loc="center left", bbox_to_anchor=(1.0, 0.5),
           title="codebook update")
plt.show()

# %%
plain, ema, reset = histories["plain"], histories["EMA"], histories["EMA + reset"]
first_reset = reset.step.index(50)
assert all(h.perplexity[0] < 5 for h in histories.values()), [h.perplexity[0] for h in histories.values()]
assert plain.perplexity[-1] > 3 * plain.perplexity[0] and plain.dead[-1] < plain.dead[0] - 10, (plain.perplexity, plain.dead)
assert min(ema.dead[1:]) > 0.75 * K, ema.dead
assert max(reset.dead[first_reset + 1:]) <= 0.05 * K, reset.dead
peak = max(range(len(reset.perplexity)), key=reset.perplexity.__getitem__)
assert peak == first_reset + 1 and reset.perplexity[-1] < 0.9 * reset.perplexity[peak], reset.perplexity
print("all three start with a perplexity below 5; the plain codebook's usage climbs (perplexity ×3, >10 codes revived);\n"
      "the EMA codebook keeps more than 3/4 of its codes dead throughout; after the first reset at most 5% stay dead,\n"
      "and the reset run's perplexity peaks in the window right after it, then ends more than 10% below that peak")

# %% [markdown]
# Read the curves with that start in mind:
#
# - **Plain**: the codebook term only moves codes that are used; the dead ones come back one
#   by one, when the moving encoder outputs happen to land near them. Usage climbs slowly.
# - **EMA**: the used codes track their vectors fast, so the encoder settles on the few codes
#   alive early; most codes never receive a vector and stay dead.
# - **EMA + reset**: every 50 steps the dead codes are moved onto encoder outputs of the
#   current batch; after the first reset almost all codes are in use, and the richer
#   codebook gives the lowest reconstruction error. Its perplexity peaks in the window right
#   after that reset and then drifts down while no code dies again: all codes stay in use,
#   but less evenly, as the encoder comes to favour some of them.
#
# The same story on the test set. The heat map below has one row per run and one column per
# code, ordered from the most to the least used over the three runs; the colour is the share
# of test vectors sent to that code (log scale, clipped at $10^{-5}$: black = unused).

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
                  xticklabels=False, xlabel=f"the {K} codes, most used first", ylabel="codebook update",
                  title="share of test vectors per code (log₁₀; −5 = unused)")
ax.collections[0].colorbar.set_label("log₁₀ share")
ax.figure.set_size_inches(12, 2.2)
plt.show()

# %% [markdown]
# The EMA codebook alone leaves the most codes unused (black), the plain codebook fewer, and
# with resets at most 5% of the codes go unused on the test set.
#
# ## 5. The code map of an image
#
# From here on we use the course's shipped checkpoint `vqvae-mnist`: the same recipe as the
# "EMA + reset" run, trained for 2,000 steps, together with the PixelCNN prior of section 6
# fitted to its code maps (`python -m gdmcourse train vqvae-mnist` made both; the command,
# the sha256 and the training time are in `gdmcourse/weights/checkpoints.json`).
#
# Each digit becomes a 7×7 grid of integers in $0..127$: 49 symbols of 7 bits each, against
# 784 real-valued pixels. The figure shows four test digits (top row), their code maps with
# each position's code index printed on a colour that follows the index (20 colours for 128
# codes, so neighbouring indices share a colour; read the numbers) (middle row), and the
# decoding of those codes (bottom row).

# %%
record = weights.registry()["vqvae-mnist"]
assert record["steps"] == recipes.VQVAE.steps == 2000 and record["prior_steps"] == recipes.VQVAE.prior_steps == 3000, record
shipped = recipes.load_model("vqvae-mnist").to(device)
vq, prior = shipped.vqvae, shipped.prior
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
print(f"test reconstruction MSE {test_mse:.4f} per pixel in [0, 1], from 49 symbols of 7 bits per digit")
assert test_mse < 0.005, test_mse

# %% [markdown]
# A code is not a picture of its 4×4 patch. Look at the background: positions whose patch is
# blank still carry many different codes. Each position's code is computed from an
# 18×18-pixel window of the image (the encoder's receptive field: 4, then 10, then 18 pixels
# through its three spatial convolutions), so it also describes the strokes nearby and, near
# the edge, where the position lies: a blank image already gives the first convolution
# nonzero outputs (its biases), so the zero padding the second convolution adds at the
# image's edge looks different from blank paper. We check that window from the gradient of one position's encoder output with respect
# to the pixels, then count, over 2,000 test digits, the codes used at blank and at inked
# positions, and finally look at the positions whose whole 18×18 window is blank.

# %%
pixels = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0)).to(device).requires_grad_(True)
vq.encode(pixels)[0, 3, 3].sum().backward()  # the encoder output at position (3, 3)
seen = pixels.grad[0, 0].abs().cpu() > 0
rows, cols = seen.any(dim=1).nonzero().flatten(), seen.any(dim=0).nonzero().flatten()
print(f"position (3, 3) of the code map depends on pixel rows {rows.min()}..{rows.max()} and columns "
      f"{cols.min()}..{cols.max()}; its own patch is rows and columns 12..15")
assert rows.max() - rows.min() + 1 == 18 and cols.max() - cols.min() + 1 == 18, (rows, cols)
test_maps = recipes.code_maps(vq, X_test[:2000])
blank = F.avg_pool2d(X_test[:2000], 4)[:, 0] == 0  # (2000, 7, 7): the 4×4 patch has no ink
for where, codes in (("blank", test_maps[blank]), ("inked", test_maps[~blank])):
    print(f"{where} positions ({len(codes):,}): {codes.unique().numel()} distinct codes, "
          f"perplexity {vqvae.codebook_perplexity(codes, K):.1f}")
blank_perplexity = vqvae.codebook_perplexity(test_maps[blank], K)
assert test_maps[blank].unique().numel() > 100 and blank_perplexity > 30, blank_perplexity
assert blank_perplexity < vqvae.codebook_perplexity(test_maps[~blank], K)
print("blank patches use more than 100 different codes (perplexity above 30), inked ones still more")
# the 18×18 window of position (r, c) is pixel rows 4r − 7 .. 4r + 10 (and the same columns), zero outside the image
window_ink = F.avg_pool2d(F.pad(X_test[:2000], (7, 7, 7, 7)), 18, stride=4)[:, 0]  # (2000, 7, 7)
blank_window = window_ink == 0
codes_at = {(r, c): test_maps[:, r, c][blank_window[:, r, c]].unique().tolist()
            for r in range(7) for c in range(7) if blank_window[:, r, c].sum() >= 20}
border_codes = sorted({k for codes in codes_at.values() for k in codes})
print(f"{len(codes_at)} positions have an entirely blank window in at least 20 of the digits; their codes: {border_codes}")
with torch.no_grad():
    blank_first_layer = vq.encoder[1](vq.encoder[0](torch.zeros(1, 1, 28, 28, device=device)))
assert blank_first_layer.abs().max() > 0.05, blank_first_layer.abs().max()
assert all(len(codes) == 1 for codes in codes_at.values()), codes_at
assert all(r in (0, 6) or c in (0, 6) for r, c in codes_at) and len(border_codes) >= 4, codes_at
print("a blank window (common only on the edge of the map) gives one code per position, and the edge positions\n"
      "use at least four different codes; a blank image does not give zero outputs after the first convolution")

# %% [markdown]
# An entirely blank window is common only on the edge of the code map. There each position
# always gets the same code, but the edge positions do not all share one code: with nothing
# in the window to describe, the code records where the position lies.
#
# Neighbouring positions are strongly dependent (a stroke continues), which is exactly what
# a prior has to learn; section 6 measures how much.
#
# ## 6. Sampling: why VQ-VAE needs a prior
#
# A VQ-VAE is trained with a *uniform* prior over codes (its KL term is then the constant
# $\log K$ per position and drops out). To generate we need code maps that look like those of
# real digits. Two ways to draw a 7×7 map:
#
# - **uniformly**, every position independent: $p(k) = \prod_i \frac1K$;
# - from an **autoregressive prior** $p(k) = \prod_i p(k_i \mid k_{<i})$ in raster order,
#   learned from the code maps of the training set. The shipped checkpoint holds a small
#   PixelCNN (`vqvae.PixelCNNPrior`): masked convolutions that only see positions above and
#   to the left, as in VQ-VAE; VQ-VAE-2 uses a bigger one, VQGAN and DALL-E a transformer. It
#   was fitted by maximum likelihood to the code maps of all 60,000 training digits,
#   `recipes.VQVAE.train_prior(prior, recipes.code_maps(vq, X_train), steps=3000)`.
#
# Its negative log-likelihood on the test digits' code maps says how much it learnt. Part of
# that is only that some codes are more frequent than others at each position; to see what
# the dependence between positions adds, compare with the entropy of each position's own
# code frequencies (measured on the same 2,000 maps, which favours it).

# %%
with torch.no_grad():
    test_nll = prior.nll(test_maps.to(device)).item()
frequencies = F.one_hot(test_maps.flatten(1), K).double().mean(dim=0)  # (49, K): each position's code shares
position_entropy = -(frequencies * frequencies.clamp(min=1e-12).log()).sum(dim=1).mean().item()
print(f"prior NLL on test code maps: {test_nll:.2f} nats per position (uniform: log K = {math.log(K):.2f}; "
      f"independent positions with their own code frequencies: {position_entropy:.2f}); "
      f"{49 * test_nll / math.log(2):.0f} against {49 * math.log2(K):.0f} bits per digit")
assert test_nll < 0.6 * math.log(K), test_nll
assert test_nll < position_entropy - 1, (test_nll, position_entropy)
print("the prior needs less than 60% of the uniform prior's log K nats per position, and more than 1 nat less\n"
      "than independent positions with their own code frequencies: that nat comes from the neighbours")

# %% [markdown]
# Now draw 200 maps each way and decode them with the same decoder. The figure shows the
# first 32 of each: decoded uniform code maps (left) and decoded maps drawn from the prior
# (right).

# %%
N_SAMPLES = 200
uniform_maps = torch.randint(K, (N_SAMPLES, 7, 7), generator=torch.Generator().manual_seed(2))
prior_maps = prior.sample(N_SAMPLES, generator=torch.Generator().manual_seed(3)).cpu()
uniform_images = vq.decode_codes(uniform_maps.to(device)).cpu()
prior_images = vq.decode_codes(prior_maps.to(device)).cpu()
fig, axes = plt.subplots(1, 2, figsize=(12, 3.4))
plot.image_grid(uniform_images[:32], nrow=8, ax=axes[0], title="decoded uniform code maps")
plot.image_grid(prior_images[:32], nrow=8, ax=axes[1], title="decoded PixelCNN-prior code maps")
plt.show()

# %% [markdown]
# Uniform code maps decode to texture: every code is a plausible *piece* of a stroke, but
# placed independently the pieces do not join into digits. Samples from the prior put strokes where
# strokes continue and leave background where it belongs; many look like digits, some are
# malformed. The decoder is the same in both: all the structure between the 49 positions
# comes from the prior. Two measurements say the same. The prior itself finds uniform maps
# far less likely than even a uniform prior would ($\log K$ nats per position), and its own
# samples about as likely as real maps. And seen through the course's MNIST classifier
# (notebook 09), against 200 real test digits, the decoded uniform maps are far from the
# digits (FID) and cover almost none of them (recall), while the prior's samples cover most.

# %%
real_images = X_test[2000:2000 + N_SAMPLES]
classifier = metrics.feature_extractor("mnist")
with torch.no_grad():
    nll_of = {"uniform maps": prior.nll(uniform_maps.to(device)).item(),
              "prior samples": prior.nll(prior_maps.to(device)).item(), "test maps": test_nll}
scores = {"uniform": metrics.score_samples(uniform_images, real_images, classifier, splits=5),
          "prior": metrics.score_samples(prior_images, real_images, classifier, splits=5),
          "real": metrics.score_samples(X_test[:N_SAMPLES], real_images, classifier, splits=5)}
print("prior NLL (nats per position):", {k: round(v, 2) for k, v in nll_of.items()})
for name, s in scores.items():
    print(f"{name:8s} FID {s['fid']:7.1f}   recall {s['recall']:.2f}   precision {s['precision']:.2f}")
assert nll_of["uniform maps"] > math.log(K) > 2 * nll_of["prior samples"], nll_of
assert abs(nll_of["prior samples"] - test_nll) < 0.25, nll_of
assert scores["uniform"]["fid"] > 3 * scores["prior"]["fid"] > 3 * scores["real"]["fid"], scores
assert scores["uniform"]["recall"] < 0.1 and scores["prior"]["recall"] > 0.6, scores
assert scores["real"]["fid"] > 100 and scores["uniform"]["precision"] > 0.75, scores

# %% [markdown]
# At $N = 200$ every FID is biased upwards (real test digits against other real test digits
# score above 100, far from 0; notebook 09 explains why), so compare the rows, not the numbers with
# papers. Precision, the share of samples that land near some real digit in the
# classifier's feature space, is high even for the uniform texture (above 0.75): a classifier's features
# can be fooled by pieces of strokes, which is why notebook 09 reads precision together with
# recall and FID.
#
# ## 7. The family: VQ-VAE-2, VQGAN, DALL-E
#
# All of them keep this notebook's recipe, an autoencoder with a discrete grid of codes and a
# separately trained prior over the grids, and change the pieces (lecture 003):
#
# | model | code grid | decoder trained with | prior over codes |
# |---|---|---|---|
# | VQ-VAE (van den Oord et al. 2017) | one grid, e.g. 32×32 for 128×128 images, K = 512 | reconstruction (MSE) | PixelCNN |
# | VQ-VAE-2 (Razavi et al. 2019) | a hierarchy: 64×64 bottom, 32×32 top for 256×256 images, K = 512 each | reconstruction | one PixelCNN per level: the top one with self-attention, the bottom one conditioned on the top codes (no attention: too costly at 64×64) |
# | VQGAN (Esser et al. 2021) | 16×16 for 256×256 images, K = 1024 | reconstruction + perceptual loss + patch **GAN** discriminator | **transformer** (GPT-style) over the raster sequence |
# | DALL-E (Ramesh et al. 2021) | 32×32 for 256×256 images, K = 8192 (dVAE, Gumbel-softmax relaxation instead of straight-through) | an ELBO: reconstruction + KL to a uniform prior over the codes | transformer over **text tokens followed by image tokens** |
#
# VQGAN's adversarial decoder lets a coarser grid carry sharp images, which makes the
# transformer's sequence short enough to model; DALL-E conditions that transformer on text.
# Latent diffusion (notebook 08's process run on an autoencoder's latent grid) is the next
# step on this map.
#
# *Where this departs from lecture 001.* Its "Discrete Variational Auto-Encoder (dVAE)" slide
# gives DALL-E's sizes (a 32×32 grid, 8k code words) but credits them to VQ-VAE and VQ-VAE-2
# and trains them with VQ-VAE's nearest-code quantization and copied gradients. DALL-E's dVAE
# (Ramesh et al. 2021, section 2.1) does neither: its encoder outputs logits over the 8,192
# codes, and training relaxes the categorical choice with the Gumbel-softmax (notebook 03), so
# gradients flow without a straight-through copy.
#
# *Where this departs from lecture 003.* Its VQ-VAE-2 slide says the latents "are modeled
# recursively as another VQ-VAE, until finally a PixelCNN is used for the last latents". In
# the paper (Razavi et al. 2019, Algorithm 2) every level gets its own autoregressive prior:
# a PixelCNN over the top codes, and a second one over the bottom codes conditioned on the
# top ones; sampling runs the top prior, then the bottom prior, then the decoder.
#
# ## Summary
#
# - Quantization sends each encoder output to its nearest code; the straight-through
#   estimator copies the decoder's gradient to the encoder across the argmin.
# - The codebook term (or its EMA form) moves codes to the data; the commitment term keeps
#   the encoder near its codes.
# - Codebooks die easily: measure perplexity and dead codes while training; EMA updates with
#   dead-code resets kept at most 5% of the 128 codes dead here, the EMA codebook alone more
#   than half.
# - A code describes a neighbourhood of the image, not its own patch.
# - A VQ-VAE alone cannot sample: a prior over code maps (PixelCNN here, transformers in
#   VQGAN and DALL-E) supplies the structure between positions.

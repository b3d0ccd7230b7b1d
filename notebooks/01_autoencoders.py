# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Autoencoders
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/notebooks/01_autoencoders.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=notebooks%2F01_autoencoders.ipynb)
#
# *Follows lecture 003 (M. Straka, NPFL114 "Deep Generative Models"), section "AutoEncoders",
# and lecture 001 (V. Strizhkova), "Autoencoders (non-variational)".*
#
# An autoencoder learns features without labels by squeezing each input through a narrow
# **code** and rebuilding it. In this notebook you will
#
# 1. train an under-complete autoencoder on MNIST and look at what it keeps;
# 2. check, with principal angles, that a *linear* autoencoder learns exactly the subspace
#    that PCA finds;
# 3. turn it into a **denoising** autoencoder;
# 4. draw a 2-D latent space coloured by digit, and interpolate between codes;
# 5. see why decoding *random* codes does not give new digits, which is the motivation for
#    the variational autoencoder of notebook 02.
#
# Everything runs on a laptop CPU in about a minute (the `quick` profile); with a GPU the
# `full` profile trains longer on all 60,000 images.

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
import numpy as np
import torch
import torch.nn.functional as F
from scipy.linalg import subspace_angles
from scipy.stats import spearmanr

from gdmcourse import autoencoder as ae
from gdmcourse import data, metrics, plot, train, widgets

device = gdmcourse.startup(seed=42)
plot.use_style()
PROFILE = gdmcourse.profile()
QUICK = PROFILE == "quick"
print(f"device: {device.type}, profile: {PROFILE}")

# %% [markdown]
# ## Data
#
# MNIST: 28×28 grey-scale digits with intensities scaled to $[0, 1]$. The first call copies
# or downloads the files into the course's data cache (`python -m gdmcourse data fetch mnist`
# does the same from a terminal). The quick profile trains on 20,000 of the 60,000 training
# images. The figure shows the first 32 of them.

# %%
X_train, y_train = data.load_images("mnist", "train")
X_test, y_test = data.load_images("mnist", "test")
N_TRAIN = 20_000 if QUICK else len(X_train)
X_train, y_train = X_train[:N_TRAIN], y_train[:N_TRAIN]
print(f"train {tuple(X_train.shape)}, test {tuple(X_test.shape)}, "
      f"values in [{X_train.min():.0f}, {X_train.max():.0f}]")
plot.image_grid(X_train[:32], nrow=16, title="MNIST training images")
plt.show()


# %% [markdown]
# ## An under-complete autoencoder
#
# An **encoder** $f_\phi$ maps an image $x \in \mathbb R^{784}$ to a code
# $z = f_\phi(x) \in \mathbb R^{d}$ with $d \ll 784$, and a **decoder** $g_\theta$ maps it back,
# $\hat x = g_\theta(z)$. Both are trained together to minimise the reconstruction error
#
# $$L(\phi, \theta) = \frac1B \sum_{b=1}^{B} \lVert \hat x_b - x_b \rVert_2^2,
# \qquad \hat x_b = g_\theta(f_\phi(x_b)).$$
#
# Because $d$ is small, the network cannot copy its input: it has to find the few directions
# of variation that matter. Our encoder is an MLP $784 \to 256 \to 16$ and the decoder its
# mirror, ending in a sigmoid so that $\hat x \in [0, 1]^{784}$
# (`gdmcourse.autoencoder.mlp_autoencoder`).

# %%
def mse_loss(model, batch):
    x = batch[0]
    return ae.reconstruction_loss(model(x), x)


LATENT = 16
EPOCHS = 5 if QUICK else 30
model = ae.mlp_autoencoder((1, 28, 28), LATENT, hidden=(256,)).to(device)
print(model)
print(f"parameters: {sum(p.numel() for p in model.parameters()):,}")

# %% tags=["nbval-ignore-output"]
history = train.fit(model, mse_loss, X_train, epochs=EPOCHS, batch_size=128, lr=2e-3,
                    val_data=X_test[:2000])
test_error = train.evaluate(model, mse_loss, X_test)["loss"]
print(f"test reconstruction error: {test_error:.2f} (squared error per image, summed over 784 pixels)")

# %% [markdown]
# How good is that? A baseline with the same budget of 16 numbers per image is PCA: project
# onto the 16 directions of largest variance and back. We compute it once here and study it
# properly in the next section.

# %%
mean, components, variances = ae.pca(X_train, LATENT)


def pca_reconstruct(x, mean, components):
    """Project onto the principal subspace and back: x̂ = x̄ + (x − x̄) Vᵀ V."""
    flat = x.reshape(len(x), -1) - mean
    return (mean + flat @ components.T @ components).reshape(x.shape)


pca_error = ae.reconstruction_loss(pca_reconstruct(X_test, mean, components), X_test).item()
print(f"PCA with {LATENT} components, test reconstruction error: {pca_error:.1f}")

# %%
with torch.no_grad():
    ae_errors = (model(X_test.to(device)).cpu() - X_test).pow(2).flatten(1).sum(1)  # (10000,) per image
pca_errors = (pca_reconstruct(X_test, mean, components) - X_test).pow(2).flatten(1).sum(1)
closer = (ae_errors < pca_errors).float().mean().item()
spread = (ae_errors.quantile(0.99) / ae_errors.median()).item()
print(f"the autoencoder is closer than PCA on {100 * closer:.0f}% of the test images; its worst 1% of images "
      f"have {spread:.1f}× its median error")
assert test_error < 0.85 * pca_error, (test_error, pca_error)
assert history.val["loss"][-1] < history.val["loss"][0]
assert closer > 0.9 and spread > 2.5, (closer, spread)
print("the non-linear autoencoder beats PCA with the same code size by more than 15%, and on more than 90%\n"
      "of the test images; its error on the worst 1% is more than 2.5 times the median")


def mid_grey(images):
    """Share of pixels between 0.25 and 0.75: blur turns black and white into grey."""
    return ((images > 0.25) & (images < 0.75)).float().mean().item()


with torch.no_grad():
    grey = {"test images": mid_grey(X_test[:1000]),
            "PCA": mid_grey(pca_reconstruct(X_test[:1000], mean, components).clamp(0, 1)),
            "autoencoder": mid_grey(model(X_test[:1000].to(device)).cpu())}
worst = ae_errors >= ae_errors.quantile(0.99)  # the autoencoder's worst 1% of test images
ink_amount = X_test.flatten(1).sum(dim=1)  # total brightness of each test image
heavier = (ink_amount[worst].median() / ink_amount.median()).item()
loopy = torch.isin(y_test[worst], torch.tensor([2, 3, 8])).float().mean().item()
print("share of mid-grey pixels (0.25 to 0.75):", {k: round(v, 2) for k, v in grey.items()})
print(f"the worst 1%: {100 * loopy:.0f}% are 2s, 3s or 8s; their median ink is {heavier:.2f}× that of all test images")
assert 0.35 < grey["autoencoder"] / grey["PCA"] < 0.65 and grey["test images"] < grey["autoencoder"], grey
assert loopy > 0.5 and heavier > 1.2, (loopy, heavier)

# %% [markdown]
# The figure: on the left, the training and validation reconstruction error per epoch, with
# PCA's test error as a dashed line; on the right, twelve test images, their PCA
# reconstructions and the autoencoder's, one row each.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.2), gridspec_kw={"width_ratios": [1, 2.2]})
plot.loss_curves(history, ax=axes[0], title="reconstruction error", ylabel="squared error per image")
axes[0].axhline(pca_error, color="grey", ls="--", label=f"PCA, {LATENT} components")
axes[0].legend()
with torch.no_grad():
    x = X_test[:12]
    rows = torch.cat([x, pca_reconstruct(x, mean, components).clamp(0, 1), model(x.to(device)).cpu()])
plot.image_grid(rows, nrow=12, ax=axes[1], title="test images and their reconstructions from 16 numbers",
                row_labels=["test image", "PCA", "autoencoder"])
plt.tight_layout()

# %% [markdown]
# The autoencoder's reconstructions are sharper than PCA's at the same code size (about half
# as many mid-grey pixels, though still more than the test images have), and closer to the
# image on more than 90% of the test digits: the non-linear decoder can bend its
# 16-dimensional output surface to follow the data, while PCA is limited to a flat subspace.
# Both still lose detail, and unevenly: the autoencoder's worst 1% of test digits have more
# than two and a half times its median error. Most of them are 2s, 3s and 8s, with more ink
# than the typical test image (median over 1.2 times as much): long, looping strokes leave more
# pixels to get wrong. 16 numbers do not describe every image.
#
# ## A linear autoencoder finds the PCA subspace
#
# Remove the non-linearities and the biases: $\hat x = W_d W_e x$ with
# $W_e \in \mathbb R^{d \times D}$, $W_d \in \mathbb R^{D \times d}$. On centred data
# $X \in \mathbb R^{N \times D}$ (rows $x_n - \bar x$) the loss is
# $\frac1N\lVert X - X W_e^\top W_d^\top \rVert_F^2$, the error of a rank-$d$ approximation of $X$.
# By the Eckart–Young theorem the best rank-$d$ approximation is the truncated SVD,
# $X V_d V_d^\top$, where the columns of $V_d$ are the top $d$ principal directions. Baldi &
# Hornik (1989) showed more: every local minimum of the linear autoencoder is global, and at
# it $W_d W_e = V_d V_d^\top$, the orthogonal projection onto the principal subspace.
#
# Note what is *not* determined: any invertible $A$ gives the same product
# $(W_d A^{-1})(A W_e)$. So the decoder's columns need not be the principal components
# themselves, only span the same subspace. The right comparison is between **subspaces**,
# and its measure is the set of **principal angles** $\theta_1 \le \dots \le \theta_d$
# between them: all zero when the subspaces coincide, near $90°$ for unrelated ones
# (`scipy.linalg.subspace_angles`).
#
# We keep $d = 6$, where the spectrum has a gap after the 6th eigenvalue: $\lambda_6/\lambda_7$ is
# larger than any ratio of neighbours from $\lambda_2$ to $\lambda_6$ (a small gap makes the
# subspace ill-determined and gradient descent slow). We centre the data as PCA does, so that
# no bias is needed.

# %%
D_LINEAR = 6
X_lin = X_train[:10_000].reshape(10_000, -1)
X_centred = X_lin - X_lin.mean(dim=0)
_, V, lambdas = ae.pca(X_centred, D_LINEAR + 1)
print("top eigenvalues of the covariance:", np.round(lambdas.numpy(), 2))
ratios = (lambdas[:-1] / lambdas[1:]).numpy()  # λ_i / λ_{i+1}, i = 1..6
print("ratios of neighbours λ_i/λ_(i+1):", np.round(ratios, 2))
assert ratios[D_LINEAR - 1] > 1.25 and ratios[D_LINEAR - 1] > ratios[1:D_LINEAR - 1].max(), ratios

# %% tags=["nbval-ignore-output"]
linear = ae.linear_autoencoder((784,), D_LINEAR).to(device)
linear_history = train.fit(linear, mse_loss, X_centred, epochs=60, batch_size=1000, lr=1e-2,
                           schedule="cosine")
print(f"final training loss: {linear_history.loss[-1]:.3f}")

# %%
W_d = linear.decoder.layers[0].weight.detach().cpu().double().numpy()  # (784, 6)
V_d = V[:D_LINEAR].T.double().numpy()                                # (784, 6)
angles = np.sort(np.degrees(subspace_angles(W_d, V_d)))  # θ_1 ≤ … ≤ θ_6 (scipy returns them descending)
random_basis = torch.randn(784, D_LINEAR, generator=torch.Generator().manual_seed(0)).double().numpy()
random_angles = np.sort(np.degrees(subspace_angles(random_basis, V_d)))
print("principal angles (degrees), linear AE:", np.round(angles, 3), " random subspace:", np.round(random_angles, 1))
assert angles.max() < 0.5, angles
assert random_angles.min() > 75.0, random_angles
pca_loss = ae.reconstruction_loss(X_centred @ V[:D_LINEAR].T @ V[:D_LINEAR], X_centred).item()
linear_loss = train.evaluate(linear, mse_loss, X_centred)["loss"]
assert abs(linear_loss - pca_loss) < 0.01 * pca_loss, (linear_loss, pca_loss)
print("largest principal angle to the PCA subspace: < 0.5° (a random subspace: > 75°)")
print(f"loss of the linear autoencoder is within 1% of PCA's optimum {pca_loss:.2f}")
# the decoder's columns themselves: neither the principal components, nor orthogonal, nor ordered by variance
columns = W_d / np.linalg.norm(W_d, axis=0)
cosines = np.abs(columns.T @ columns)[~np.eye(D_LINEAR, dtype=bool)]
to_nearest_pc = np.degrees(np.arccos(np.abs(columns.T @ V_d).max(axis=1).clip(max=1)))
variance_along = ((X_centred.double().numpy() @ columns) ** 2).mean(axis=0)
print("angle from each decoder column to its nearest principal component (degrees):", np.round(to_nearest_pc, 1))
print(f"largest |cos| between two decoder columns: {cosines.max():.2f}; "
      "data variance along each column:", np.round(variance_along, 2))
assert to_nearest_pc.min() > 25, to_nearest_pc
assert cosines.max() > 0.1, cosines
assert not np.all(np.diff(variance_along) <= 0), variance_along
print("no decoder column lies within 25° of a principal component, some pairs are more than 5° off a right\n"
      "angle, and the variance along the columns does not decrease from first to last")

# %% [markdown]
# The figure: on the left, the six principal angles between the decoder's subspace and the
# PCA subspace (blue), and between a random 6-dimensional subspace and the PCA subspace (grey),
# in increasing order and on a log scale; in the middle the six principal components, on the right the six decoder
# columns, each drawn as an image (grey is 0, white positive, black negative).

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.3), gridspec_kw={"width_ratios": [1, 1.3, 1.3]})
index = np.arange(1, D_LINEAR + 1)
axes[0].bar(index - 0.2, random_angles, width=0.4, color="lightgrey", label="random subspace")
axes[0].bar(index + 0.2, angles, width=0.4, label="linear autoencoder")
axes[0].set(xlabel="principal angle index $i$", ylabel=r"$\theta_i$ (degrees, log scale)", yscale="log",
            ylim=(0.01, 100), xticks=index, title="angles to the PCA subspace")
axes[0].legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.42), ncol=2)  # below the x-label


def as_images(columns):
    """Show directions in pixel space: grey is 0, white positive, black negative."""
    return columns / columns.abs().amax(dim=1, keepdim=True) * 0.5 + 0.5


plot.image_grid(as_images(V[:D_LINEAR]).reshape(-1, 1, 28, 28), nrow=D_LINEAR, ax=axes[1],
                title="principal components")
plot.image_grid(as_images(torch.tensor(W_d.T).float()).reshape(-1, 1, 28, 28), nrow=D_LINEAR, ax=axes[2],
                title="decoder columns of the linear AE")
plt.tight_layout()

# %% [markdown]
# The left panel is the check: all six angles are below half a degree, while a random
# 6-dimensional subspace sits at more than $75°$ from the PCA one. The two right panels show
# the non-uniqueness: the decoder's columns are *other* images than the principal components
# (mixtures of them, none within $25°$ of a component, not orthogonal, and not ordered by
# variance), yet they span the same space. So a linear autoencoder is PCA in disguise; depth and non-linearity are what the
# autoencoder above adds.
#
# ## Denoising autoencoder
#
# Feed the network a corrupted input $\tilde x$ and ask for the clean $x$
# (lecture 003: "when $x + \varepsilon$ is used as input, autoencoders can perform denoising"):
#
# $$\tilde x = \operatorname{clamp}(x + \sigma\varepsilon,\ 0,\ 1),\quad \varepsilon \sim \mathcal N(0, I),
# \qquad L = \frac1B\sum_b \lVert g_\theta(f_\phi(\tilde x_b)) - x_b \rVert^2 .$$
#
# The clamp keeps $\tilde x$ a valid image (the slide's $x + \varepsilon$ without it could leave
# $[0, 1]$). A fresh $\varepsilon$ is drawn for every batch, so the network never sees the same
# corruption twice and cannot memorise it. Since copying the input no longer minimises the loss,
# a denoising autoencoder need not even be under-complete: lecture 001's "features need to be
# lower dimensional than the data" is a rule for the plain autoencoder. Ours is an MLP
# $784 \to 256 \to 32$, with a code twice as long as above. The figure shows ten clean test
# digits and the same digits corrupted with $\sigma = 0.5$.

# %%
NOISE = 0.5
noise = torch.Generator().manual_seed(1)
plot.image_grid(torch.cat([X_test[:10], ae.corrupt(X_test[:10], NOISE, noise)]), nrow=10,
                title=f"clean and corrupted test images (σ = {NOISE})", row_labels=["clean", "corrupted"])
plt.show()

# %% tags=["nbval-ignore-output"]
dae = ae.mlp_autoencoder((1, 28, 28), 32, hidden=(256,)).to(device)
dae_noise = torch.Generator().manual_seed(2)
dae_history = train.fit(dae, lambda m, b: ae.denoising_loss(m, b[0], NOISE, dae_noise),
                        X_train, epochs=EPOCHS, batch_size=128, lr=2e-3)
x_clean = X_test[:1000]
x_noisy = ae.corrupt(x_clean, NOISE, torch.Generator().manual_seed(3))
with torch.no_grad():
    x_denoised = dae(x_noisy.to(device)).cpu()
psnr_noisy = ae.psnr(x_noisy, x_clean).mean().item()
psnr_denoised = ae.psnr(x_denoised, x_clean).mean().item()
print(f"PSNR of the noisy images: {psnr_noisy:.1f} dB, after denoising: {psnr_denoised:.1f} dB")

# %%
mse_ratio = ((x_noisy - x_clean).pow(2).mean() / (x_denoised - x_clean).pow(2).mean()).item()
ink = x_clean > 0.1  # stroke pixels, and their faint rims
ink_share = ink.float().mean().item()
error_on_ink = ((x_denoised - x_clean).pow(2)[ink].sum() / (x_denoised - x_clean).pow(2).sum()).item()
print(f"PSNR gain {psnr_denoised - psnr_noisy:.1f} dB; mean squared error {mse_ratio:.1f}× smaller; "
      f"{100 * error_on_ink:.0f}% of the remaining error lies on the {100 * ink_share:.0f}% of pixels with ink")
assert 6 < psnr_denoised - psnr_noisy < 8.5, (psnr_noisy, psnr_denoised)
assert 4 < mse_ratio < 7, mse_ratio
assert error_on_ink > 3 * ink_share, (error_on_ink, ink_share)
print("denoising improves the PSNR by 6 to 8.5 dB and cuts the mean squared error 4- to 7-fold;\n"
      "what error remains sits on the strokes, not in the background")
background = ~ink
lit = {name: (x[background] > 0.25).float().mean().item() for name, x in (("noisy", x_noisy), ("denoised", x_denoised))}
print(f"background pixels brighter than 0.25: {100 * lit['noisy']:.0f}% in the noisy input, "
      f"{100 * lit['denoised']:.0f}% after denoising")
assert lit["denoised"] < 0.1 < 0.25 < lit["noisy"], lit

# %% [markdown]
# The figure shows twelve noisy test inputs, the denoiser's outputs and the clean digits, one
# row each.

# %%
plot.image_grid(torch.cat([x_noisy[:12], x_denoised[:12], x_clean[:12]]), nrow=12,
                title="denoising test digits (σ = 0.5)", row_labels=["noisy input", "denoised", "clean"])
plt.show()

# %% [markdown]
# Peak signal-to-noise ratio, $\mathrm{PSNR} = 10\log_{10}(1/\mathrm{MSE})$ in dB (here the
# mean over images of each image's PSNR), rises by about 7 dB; the mean squared error over all
# pixels drops about five-fold. The denoiser has learnt what digits look like, so it can tell
# stroke from noise: the background comes out nearly clean (fewer than 10% of its pixels stay
# brighter than 0.25, against more than a quarter in the noisy input), and the error that
# remains sits on the strokes (their exact width and brightness, and strokes the noise hid).
#
# ## A 2-D latent space
#
# With $d = 2$ we can look at the whole latent space at once. On the left of the figure each
# test image is a point, coloured by its label, which the autoencoder never saw; on the right,
# the decoder's output at each point of a 15×15 grid over the box between the 1% and 99%
# quantiles of the training codes on each axis (dashed on the left; it holds 96% of the
# training codes).

# %% tags=["nbval-ignore-output"]
ae2 = ae.mlp_autoencoder((1, 28, 28), 2, hidden=(512, 128)).to(device)
ae2_history = train.fit(ae2, mse_loss, X_train, epochs=EPOCHS, batch_size=128, lr=2e-3)
Z_test = ae.encode(ae2, X_test)
Z_train = ae.encode(ae2, X_train)
print(f"test reconstruction error with d = 2: {train.evaluate(ae2, mse_loss, X_test)['loss']:.1f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
plot.scatter2d(Z_test, y_test, ax=axes[0], s=2, title="test codes $z = f(x)$, coloured by label")
lo, hi = Z_train.quantile(0.01, dim=0), Z_train.quantile(0.99, dim=0)
axes[0].add_patch(plt.Rectangle(lo.tolist(), *(hi - lo).tolist(), fill=False, ls="--", color="k", lw=1))
grid = torch.stack(torch.meshgrid(torch.linspace(lo[0], hi[0], 15), torch.linspace(hi[1], lo[1], 15),
                                  indexing="xy"), dim=-1).reshape(-1, 2)
with torch.no_grad():
    decoded = ae2.decode(grid.to(device)).cpu()
plot.image_grid(decoded, nrow=15, ax=axes[1], title="decoder $g(z)$ on a 15×15 grid over the dashed box")
axes[1].set(xlabel=f"$z_1$ from {lo[0]:.1f} to {hi[0]:.1f}", ylabel=f"$z_2$ from {hi[1]:.1f} (top) to {lo[1]:.1f}")
plt.tight_layout()

# %% [markdown]
# Digits of one class form clusters, so the code captures the identity of a digit without ever
# seeing a label: the label of a test digit's 5 nearest training codes gives its class far
# more often than chance. But the clusters are elongated, several overlap in the middle, and
# the codes fill the box very unevenly. The grid of decoded codes on the right shows
# blurry in-between shapes; we measure where they lie, against how mixed the labels of the
# nearby training codes are and how sparse the codes are there.

# %%
nearest5 = torch.cdist(Z_test[:2000], Z_train).topk(5, largest=False).indices  # (2000, 5)
knn_accuracy = (y_train[nearest5].mode(dim=1).values == y_test[:2000]).float().mean().item()
elongation = []  # per class: the ratio of the two standard deviations along the principal axes
for digit in range(10):
    s_small, s_large = torch.linalg.eigvalsh(torch.cov(Z_test[y_test == digit].T)).sqrt()
    elongation.append((s_large / s_small).item())
near = torch.cdist(grid, Z_train).topk(50, largest=False)  # the 50 training codes nearest each grid point
radius = near.values[:, -1]  # distance to the 50th: large where the codes are sparse
label_shares = F.one_hot(y_train[near.indices], 10).float().mean(dim=1)  # (225, 10)
mixing = 1 - label_shares.max(dim=1).values  # 0 where all 50 share one label
greyness = (4 * decoded * (1 - decoded)).flatten(1).mean(dim=1)  # 0 for black/white pixels, 1 for mid-grey
classifier = metrics.feature_extractor("mnist")
confidence = classifier.probs(decoded).max(dim=1).values
radius_spread = (radius.quantile(0.9) / radius.quantile(0.1)).item()
in_box = ((Z_train >= lo) & (Z_train <= hi)).all(dim=1).float().mean().item()
centre = Z_test.median(dim=0).values
around_centre = (Z_test - centre).norm(dim=1).topk(500, largest=False).indices  # the 500 test codes nearest it
centre_shares = torch.bincount(y_test[around_centre], minlength=10) / 500
rho = {name: float(spearmanr(greyness.numpy(), v.numpy())[0]) for name, v in (("label mixing", mixing),
                                                                              ("sparseness", radius))}
rho_conf = float(spearmanr(confidence.numpy(), mixing.numpy())[0])
print(f"5-nearest-neighbour accuracy of 2,000 test codes: {knn_accuracy:.2f} (chance 0.10); "
      f"the box holds {100 * in_box:.0f}% of the training codes")
print("labels of the 500 test codes nearest the median code, share per digit:", np.round(centre_shares.numpy(), 2))
print("elongation per class (sd along the long axis / sd along the short one):", np.round(elongation, 1))
print(f"distance from a grid point to its 50th nearest training code: 90th percentile {radius_spread:.1f}× the 10th")
print("rank correlation of the decoded images' greyness with", {k: round(v, 2) for k, v in rho.items()},
      f"; of the classifier's confidence with label mixing {rho_conf:.2f}")
assert knn_accuracy > 0.5 and np.median(elongation) > 1.8, (knn_accuracy, elongation)
assert radius_spread > 3, radius_spread
assert rho["label mixing"] > 0.3 and rho["sparseness"] < 0.1 and rho_conf < -0.5, (rho, rho_conf)
assert rho["sparseness"] < -0.1, rho
assert 0.94 < in_box < 0.98, in_box
assert (centre_shares > 0.15).sum() >= 3 and centre_shares.max() < 0.5, centre_shares


# %% [markdown]
# The codes of a class lie closer together than chance (5-nearest-neighbour accuracy above
# 0.5, against 0.1), in clusters about twice as long as they are wide. Several overlap in the
# middle: among the 500 test codes nearest the median code, three digits have more than 15%
# each and none has half. How sparse the codes are varies across the box: the distance $r$ from a
# grid point to its 50th nearest training code varies more than three-fold between the 10th and
# the 90th percentile of the grid (so the density of codes, proportional to $1/r^2$, more than
# nine-fold). The blurry in-between shapes lie where the clusters
# overlap, not where the codes are sparse: a decoded image is the greyer the more mixed the
# labels of the 50 training codes nearest to it (a positive rank correlation), while the sparse
# outskirts decode to crisper shapes (a negative rank correlation of greyness with that distance);
# and the classifier is least sure of the decoded digit where the labels mix. Nothing in the loss asked the latent space
# to be filled evenly or the classes to be kept apart.
#
# Move through the latent space yourself: the sliders pick $z = (z_1, z_2)$, the panel shows
# $g(z)$. (For readers without a running kernel, the strip shows $g(z)$ at three corners of the
# box and at the median test code.)

# %%
def draw_decoded(z1, z2, ax):
    with torch.no_grad():
        image = ae2.decode(torch.tensor([[z1, z2]], device=device)).cpu()
    plot.image_grid(image, nrow=1, ax=ax, title=f"$g(z)$, $z$ = ({z1:.1f}, {z2:.1f})")


z_lo, z_hi = lo.tolist(), hi.tolist()
z_median = Z_test.median(dim=0).values.tolist()
corners = [(z_lo[0], z_lo[1]), (z_lo[0], z_hi[1]), (z_hi[0], z_hi[1]), tuple(z_median)]
widgets.explore(draw_decoded, static=[{"z1": a, "z2": b} for a, b in corners], panel_size=(2.4, 2.6),
                z1=widgets.FloatSlider(value=0.0, min=z_lo[0], max=z_hi[0], step=0.05, description="$z_1$"),
                z2=widgets.FloatSlider(value=0.0, min=z_lo[1], max=z_hi[1], step=0.05, description="$z_2$"))

# %% [markdown]
# ## Interpolation
#
# Walk in a straight line between the 16-dimensional codes of two test images (a 1 and a 7),
# $z(t) = (1 - t)\, z_a + t\, z_b$, and decode; compare with fading pixels,
# $(1 - t)\, x_a + t\, x_b$. The figure shows ten steps from $t = 0$ (left) to $t = 1$ (right),
# the decoded codes in the top row and the faded pixels in the bottom one.

# %%
a, b = X_test[y_test == 1][0], X_test[y_test == 7][0]
t = torch.linspace(0, 1, 10)[:, None]
with torch.no_grad():
    z_a, z_b = model.encode(torch.stack([a, b]).to(device)).cpu()
    latent_path = model.decode(((1 - t) * z_a + t * z_b).to(device)).cpu()
pixel_path = (1 - t[:, :, None, None]) * a + t[:, :, None, None] * b
plot.image_grid(torch.cat([latent_path, pixel_path]), nrow=10, title="from 1 to 7",
                row_labels=["through the code", "in pixel space"])
plt.show()


# %% [markdown]
# Pixel interpolation cross-fades two images: the middle frames hold two half-bright strokes,
# a 1 and a 7 laid over each other. The latent path morphs one shape into the other instead,
# with more of its ink bright. We measure the brightness of the ink (pixels
# above 0.1) in the two middle frames.

# %%
def bright_share(frames):
    ink = frames > 0.1
    return ((frames > 0.75) & ink).sum().item() / ink.sum().item()  # share of the ink that is bright


middle = slice(4, 6)  # t = 4/9 and 5/9
print(f"share of the ink brighter than 0.75 in the middle frames: through the code "
      f"{bright_share(latent_path[middle]):.2f}, in pixel space {bright_share(pixel_path[middle]):.2f}")
assert bright_share(pixel_path[middle]) < 0.1 and bright_share(latent_path[middle]) > 2 * bright_share(pixel_path[middle])

# %% [markdown]
# In the middle frames, under a tenth of the faded pixels' ink is brighter than 0.75, and more
# than twice that share of the decoded path's.
#
# ## Why an autoencoder is not a generative model
#
# To *generate*, we would pick a new code $z$ and decode it. But which $z$? The autoencoder
# defines no distribution over codes. The natural guess, a Gaussian with the training codes'
# mean and covariance, lands mostly in the holes between the clusters. We measure it: for
# random codes and for real test codes, the distance to the nearest training code.

# %% tags=["nbval-ignore-output"]
Z16_train = ae.encode(model, X_train)
Z16_test = ae.encode(model, X_test[:1000])
gaussian = torch.distributions.MultivariateNormal(Z16_train.mean(0), torch.cov(Z16_train.T))
Z_random = gaussian.sample((1000,))
nearest = lambda z: torch.cdist(z, Z16_train).min(dim=1).values
d_test, d_random = nearest(Z16_test), nearest(Z_random)
far = (d_random > d_test.quantile(0.95)).float().mean().item()
print(f"median distance to the nearest training code: test images {d_test.median():.2f}, "
      f"random codes {d_random.median():.2f}")
print(f"{100 * far:.0f}% of random codes are farther from every training code than 95% of test images")

# %%
assert d_random.median() > 1.4 * d_test.median() and far > 0.5, (d_test.median(), d_random.median(), far)
print("random codes lie much farther from the training codes than real images do; most of them (> 50%)\n"
      "farther than 95% of the test images' codes")
with torch.no_grad():
    samples = model.decode(Z_random.to(device)).cpu()
    decoded_test = model.decode(Z16_test.to(device)).cpu()
confident = {"random codes": (classifier.probs(samples).max(1).values > 0.9).float().mean().item(),
             "test codes": (classifier.probs(decoded_test).max(1).values > 0.9).float().mean().item()}
print("share of decoded images the classifier labels with confidence > 0.9:",
      {k: round(v, 2) for k, v in confident.items()})
assert confident["random codes"] < 0.65 and confident["test codes"] > 0.85, confident

# %% [markdown]
# The figure shows 24 of the decoded random codes.

# %%
plot.image_grid(samples[:24], nrow=12, title="decoding codes drawn from a Gaussian fitted to the training codes")
plt.show()

# %% [markdown]
# Some decoded samples look like digits, many are smudges between classes: the classifier is
# confident (probability above 0.9) about fewer than 65% of them, against more than 85% of the
# decodings of real test codes. The decoder
# was only trained on codes of real images, and the Gaussian puts its mass elsewhere. The
# autoencoder is a good *compressor* (lecture 001: "no way to produce any new content").
#
# The fix is to make the distribution of codes part of the model: choose a prior $p(z)$, say
# $\mathcal N(0, I)$, and train the encoder so that codes of real images *fill* that prior.
# That is the variational autoencoder of **notebook 02**, where the reconstruction loss above
# reappears as the first term of the ELBO.
#
# ### Summary
#
# - An under-complete autoencoder learns a compressed code without labels; non-linear ones
#   beat PCA at the same code size.
# - A linear autoencoder trained with squared error spans the PCA subspace (principal angles
#   ≈ 0°), though its weights are not the principal components themselves.
# - Training on corrupted inputs gives a denoiser.
# - The latent space has holes, so decoding random codes does not sample new data.

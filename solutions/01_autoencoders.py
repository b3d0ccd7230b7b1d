# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise 01 · Autoencoders
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/solutions/01_autoencoders.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=solutions%2F01_autoencoders.ipynb)
#
# *Goes with notebook 01 and lecture 003, "AutoEncoders".*
#
# You will build a denoising autoencoder from its parts:
#
# 1. the encoder and the decoder networks,
# 2. the reconstruction loss,
# 3. the corruption of the input,
#
# and then train it on the 8×8 digits of scikit-learn (it takes a few seconds on a CPU).
# Fill in each cell that says `raise NotImplementedError`, run it, then run the check cell
# below it: it prints `PASSED` or `FAILED` with a hint.

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
import torch
from torch import nn

from gdmcourse import checks as check
from gdmcourse import data, plot, train

device = gdmcourse.startup(seed=0)
plot.use_style()

# %% [markdown]
# ## 1. Encoder and decoder
#
# Write two functions that return `nn.Module`s:
#
# - `make_encoder(input_shape, latent_dim, hidden)`: images of shape `(B, *input_shape)` →
#   codes `(B, latent_dim)`, through one hidden layer of width `hidden` with a ReLU;
# - `make_decoder(latent_dim, input_shape, hidden)`: codes `(B, latent_dim)` → images
#   `(B, *input_shape)` with values in $[0, 1]$.
#
# `nn.Sequential`, `nn.Flatten`, `nn.Linear`, `nn.ReLU`, `nn.Sigmoid` and
# `nn.Unflatten(1, input_shape)` are all you need; `math.prod(input_shape)` is the number of
# pixels.

# %%
import math


def make_encoder(input_shape: tuple[int, ...], latent_dim: int, hidden: int) -> nn.Module:
    ### BEGIN SOLUTION
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(input_shape), hidden), nn.ReLU(),
        nn.Linear(hidden, latent_dim),
    )
    ### END SOLUTION


def make_decoder(latent_dim: int, input_shape: tuple[int, ...], hidden: int) -> nn.Module:
    ### BEGIN SOLUTION
    return nn.Sequential(
        nn.Linear(latent_dim, hidden), nn.ReLU(),
        nn.Linear(hidden, math.prod(input_shape)), nn.Sigmoid(),
        nn.Unflatten(1, tuple(input_shape)),
    )
    ### END SOLUTION


# %%
check.encoder_decoder(make_encoder, make_decoder)


# %% [markdown]
# ## 2. Reconstruction loss
#
# $$L = \frac1B \sum_{b=1}^{B} \lVert \hat x_b - x_b \rVert_2^2 :$$
#
# the squared error **summed** over all dimensions of each example, then **averaged** over
# the batch. It must work for images `(B, C, H, W)` and for flat vectors `(B, D)`, and return
# a scalar tensor that gradients can flow through.

# %%
def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    return (x_hat - x).pow(2).flatten(start_dim=1).sum(dim=1).mean()
    ### END SOLUTION


# %%
check.reconstruction_loss(reconstruction_loss)


# %% [markdown]
# ## 3. Corrupting the input
#
# $$\tilde x = \operatorname{clamp}(x + \sigma \varepsilon,\ 0,\ 1), \qquad \varepsilon \sim \mathcal N(0, I).$$
#
# Draw $\varepsilon$ with the given `generator` on the CPU, then move it to the input's device
# (`torch.randn(x.shape, generator=generator).to(x.device)`), so that results are reproducible
# and the same on a GPU, and do not modify `x` in place.

# %%
def corrupt(x: torch.Tensor, noise_std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    ### BEGIN SOLUTION
    eps = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    return (x + noise_std * eps).clamp(0.0, 1.0)
    ### END SOLUTION


# %%
check.corrupt(corrupt)

# %% [markdown]
# **Question.** Why do we clamp the corrupted image to $[0, 1]$, and what would go wrong at
# the decoder's output if the *clean images* it must reproduce were not in $[0, 1]$?

# %% [markdown]
# <!-- BEGIN SOLUTION -->
# Pixel intensities live in $[0, 1]$: clamping keeps $\tilde x$ a valid image, like the ones the
# denoiser will see at test time (a sensor saturates, it does not report negative light). The
# decoder ends in a sigmoid, so it can only output values in $(0, 1)$; clean pixels outside that
# range could never be matched and would keep pushing the sigmoid into saturation, where its
# gradient vanishes.
# <!-- END SOLUTION -->

# %% [markdown]
# ## 4. Put it together: a denoising autoencoder
#
# Your three pieces make a denoising autoencoder. We train it for a few seconds on the 8×8
# digits with noise of standard deviation $\sigma = 0.3$. It should cut the squared error of the
# noisy test digits roughly in half (to less than 60% of it). The
# figure shows twelve noisy test digits, your denoiser's outputs and the clean digits, one row
# each.

# %% tags=["nbval-ignore-output"]
X_train, _ = data.load_images("digits", "train")
X_test, _ = data.load_images("digits", "test")
_ = torch.manual_seed(0)  # the same initial weights, however often the cells above were run
model = nn.Sequential(make_encoder((1, 8, 8), 8, 128), make_decoder(8, (1, 8, 8), 128)).to(device)
noise = torch.Generator().manual_seed(1)
history = train.fit(model, lambda m, b: reconstruction_loss(m(corrupt(b[0], 0.3, noise)), b[0]),
                    X_train, epochs=60, batch_size=64, lr=2e-3)
x_noisy = corrupt(X_test, 0.3, torch.Generator().manual_seed(2))
with torch.no_grad():
    x_denoised = model(x_noisy.to(device)).cpu()
error_noisy = reconstruction_loss(x_noisy, X_test).item()
error_denoised = reconstruction_loss(x_denoised, X_test).item()
print(f"squared error per image: noisy {error_noisy:.2f}, denoised {error_denoised:.2f}")
assert error_denoised < 0.6 * error_noisy, "the denoiser should cut the squared error to less than 60% of the noisy input's"
plot.image_grid(torch.cat([x_noisy[:12], x_denoised[:12], X_test[:12]]), nrow=12, title="denoising 8×8 digits (σ = 0.3)",
                row_labels=["noisy", "denoised", "clean"])
plt.show()


# %% [markdown]
# ## 5. A linear autoencoder finds the PCA subspace
#
# Without nonlinearities and trained on centred data, an autoencoder $\hat x = W_d W_e x$ with
# a $k$-dimensional code learns the same subspace as the top $k$ principal components, though
# not the same basis (Baldi & Hornik 1989; notebook 01 shows it on MNIST). To see it, measure the **principal angles** between two
# subspaces, the column spaces of $A$ and $B$ (both of shape $(D, k)$):
#
# 1. orthonormalize each basis: $A = Q_A R_A$, $B = Q_B R_B$ (`torch.linalg.qr`);
# 2. the singular values of $Q_A^\top Q_B$ are the cosines $\cos\theta_1 \ge \dots \ge \cos\theta_k$;
# 3. $\theta_i = \arccos(\cos\theta_i)$, in radians, returned **ascending** (shape `(k,)`).
#
# Rounding can push a cosine to $1.0000001$, where $\arccos$ gives NaN: clamp first.

# %%
def principal_angles(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    q_a, q_b = torch.linalg.qr(A)[0], torch.linalg.qr(B)[0]
    cosines = torch.linalg.svdvals(q_a.T @ q_b).clamp(-1.0, 1.0)
    return torch.arccos(cosines).sort().values
    ### END SOLUTION


# %%
check.principal_angles(principal_angles)

# %% [markdown]
# Now train a linear autoencoder with a 4-dimensional code on the centred digits and compare
# its decoder's subspace (the columns of `decoder.layers[0].weight`, shape `(64, 4)`) with the
# top 4 principal directions, and, for scale, with a random 4-dimensional subspace.

# %% tags=["nbval-ignore-output"]
from gdmcourse import autoencoder

X_flat = X_train.reshape(len(X_train), -1).double()
X_centred = X_flat - X_flat.mean(0)
linear = autoencoder.linear_autoencoder((64,), 4).double()
train.fit(linear, lambda m, b: reconstruction_loss(m(b[0]), b[0]), X_centred, epochs=150, batch_size=128, lr=3e-3,
          progress=False, device="cpu")
W_d = linear.decoder.layers[0].weight.detach()
pcs = autoencoder.pca(X_centred, 4).components.T
random_basis = torch.randn(64, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
to_pca = principal_angles(W_d, pcs)
to_random = principal_angles(random_basis, pcs)
print("angles to the PCA subspace (degrees):   ", [f"{a:.1f}" for a in torch.rad2deg(to_pca).tolist()])
print("a random subspace's angles (degrees):   ", [f"{a:.1f}" for a in torch.rad2deg(to_random).tolist()])
assert to_pca.max() < math.radians(2) and to_random.min() > math.radians(45), (to_pca, to_random)
print("the decoder spans the PCA subspace to within 2°; a random subspace is more than 45° away")

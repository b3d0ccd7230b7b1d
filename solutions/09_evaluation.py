# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise 09 · The Fréchet distance, the Inception Score, precision and recall
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/solutions/09_evaluation.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=solutions%2F09_evaluation.ipynb)
#
# *Goes with notebook 09, lecture 001 ("Generative Models Evaluation": IS, FID) and lecture 004
# (improved precision and recall).*
#
# You will write
#
# 1. `frechet_distance`: the distance behind FID, between two Gaussians,
# 2. `inception_score`: from a classifier's predicted class probabilities,
# 3. `precision_recall`: with k-nearest-neighbour manifolds,
#
# and then use them on the course's classifier features. Fill in each cell that says
# `raise NotImplementedError`, run it, then run the check cell below it: it prints `PASSED` or
# `FAILED` with a hint.

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

import warnings

import numpy as np
import torch
from scipy.linalg import LinAlgWarning, sqrtm

from gdmcourse import checks as check
from gdmcourse import data, metrics, plot

device = gdmcourse.startup(seed=0)
plot.use_style()


# %% [markdown]
# ## 1. The Fréchet distance
#
# Between $\mathcal N(\mu_1, \Sigma_1)$ and $\mathcal N(\mu_2, \Sigma_2)$ (float64 tensors, `mu (D,)`,
# `sigma (D, D)`):
#
# $$d^2 = \|\mu_1 - \mu_2\|^2 + \mathrm{Tr}\big(\Sigma_1 + \Sigma_2 - 2(\Sigma_1\Sigma_2)^{1/2}\big).$$
#
# $(\Sigma_1\Sigma_2)^{1/2}$ is a *matrix* square root: `scipy.linalg.sqrtm` (imported above)
# computes one; it may return a complex array with tiny imaginary parts from rounding, so keep
# the real part. Return a Python float. (On real features the covariances are nearly singular
# and `sqrtm` warns; `metrics.frechet_distance` avoids that with a symmetric form, see its
# docstring.)

# %%
def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Squared Fréchet distance between two Gaussians."""
    ### BEGIN SOLUTION
    covmean = np.real(sqrtm(sigma1.numpy() @ sigma2.numpy()))
    return float(((mu1 - mu2) ** 2).sum() + torch.trace(sigma1) + torch.trace(sigma2) - 2 * np.trace(covmean))
    ### END SOLUTION


# %%
check.frechet_distance(frechet_distance)


# %% [markdown]
# ## 2. The Inception Score
#
# For predicted class probabilities `probs` of shape `(N, K)` (rows sum to 1), with the
# marginal $p(y) = \frac1N\sum_i p(y \mid x_i)$:
#
# $$\mathrm{IS} = \exp\Big(\frac1N\sum_{i=1}^N \mathrm{KL}\big(p(y \mid x_i) \,\|\, p(y)\big)\Big),
#   \qquad \mathrm{KL}(p \,\|\, q) = \sum_k p_k \log\frac{p_k}{q_k} .$$
#
# Terms with $p_k = 0$ contribute 0 (`torch.xlogy` handles $0 \log 0$). One split only; return a float.

# %%
def inception_score(probs):
    """exp of the mean KL between each prediction and the marginal."""
    ### BEGIN SOLUTION
    marginal = probs.mean(dim=0, keepdim=True)
    kl = (torch.xlogy(probs, probs) - probs * marginal.log()).sum(dim=1)
    return kl.mean().exp().item()
    ### END SOLUTION


# %%
check.inception_score(inception_score)


# %% [markdown]
# ## 3. Precision and recall
#
# For feature sets `real (N, D)` and `fake (M, D)` and an integer `k`:
#
# - the radius of each real point is the distance to its $k$-th nearest **other** real point
#   (likewise for fake points within the fake set);
# - **precision** = the share of fake points within the radius of *at least one* real point;
# - **recall** = the share of real points within the radius of at least one fake point.
#
# `torch.cdist` gives all pairwise distances (fine for the small sets here; the package's
# version works in chunks). Return `(precision, recall)` as floats.

# %%
def precision_recall(real, fake, k=3):
    """k-NN manifold precision and recall (Kynkäänniemi et al. 2019)."""
    ### BEGIN SOLUTION
    def radii(x):
        return torch.cdist(x, x).sort(dim=1).values[:, k]  # index 0 is the point itself

    def covered(points, centers, r):
        return (torch.cdist(points, centers) <= r[None, :]).any(dim=1).float().mean().item()

    return covered(fake, real, radii(real)), covered(real, fake, radii(fake))
    ### END SOLUTION


# %%
check.precision_recall(precision_recall)

# %% [markdown]
# ## 4. Use them on digits
#
# With the course's classifier features: FID between two halves of the MNIST test set, and
# between the first half and noisy digits, computed with your `frechet_distance` on the
# fitted means and covariances and with the package's `metrics.fid`; the IS of real digits
# and of pure noise; precision and recall of noisy digits.

# %%
extractor = metrics.feature_extractor("mnist", device=device)
X_test, _ = data.load_images("mnist", "test")
X_test = X_test[torch.randperm(len(X_test), generator=torch.Generator().manual_seed(0))]  # the set is ordered by writer
clean, other = X_test[:2000], X_test[5000:7000]
noisy = (other + 0.3 * torch.randn(other.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
f_clean, f_other, f_noisy = (extractor.features(x).double() for x in (clean, other, noisy))


def fid_yours(a, b):
    return frechet_distance(a.mean(0), torch.cov(a.T), b.mean(0), torch.cov(b.T))


with warnings.catch_warnings():  # sqrtm's "Matrix is singular": the features have near-zero directions
    warnings.simplefilter("ignore", LinAlgWarning)
    for name, f in [("real vs real", f_other), ("real vs noisy", f_noisy)]:
        print(f"{name:14s} FID: yours {fid_yours(f_clean, f):7.2f}, package {metrics.fid(f_clean, f):7.2f}")
    assert abs(fid_yours(f_clean, f_noisy) - metrics.fid(f_clean, f_noisy)) < 1e-3 * metrics.fid(f_clean, f_noisy)
noise_probs = extractor.probs(torch.rand(2000, 1, 28, 28, generator=torch.Generator().manual_seed(1)))
print(f"IS: real digits {inception_score(extractor.probs(clean).double()):.2f}, "
      f"uniform noise {inception_score(noise_probs.double()):.2f}")
p, r = precision_recall(f_clean.float(), f_noisy.float())
print(f"noisy digits: precision {p:.2f}, recall {r:.2f}")

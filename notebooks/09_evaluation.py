# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · Evaluating generative models: IS, FID, precision and recall, SSIM
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/notebooks/09_evaluation.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=notebooks%2F09_evaluation.ipynb)
#
# *Follows lecture 001 ("Generative Models Evaluation": IS, FID, SSIM, CLIP score), lecture 004
# (IS, FID, improved precision and recall, the truncation trick) and lecture 003 ("BigGAN
# Ingredients – Truncation Trick").*
#
# "Which of these images looks better?" is the question every metric tries to automate.
# Here you will
#
# 1. see what each metric measures and what it misses;
# 2. watch FID grow with noise and blur, and see its **bias** at small sample sizes;
# 3. separate **fidelity** from **diversity** with precision and recall on a toy;
# 4. trace the **truncation trick** as a precision/recall trade-off of a real generator;
# 5. compare reconstructions with **SSIM** where the squared error cannot tell them apart;
# 6. score the course's own models (VAE, DCGAN, VQ-VAE, DDPM) on the same test data.
#
# **The course's feature network.** IS and FID are defined with an Inception network trained
# on ImageNet; for 28×28 digits the course uses its own small CNN classifier instead
# (`metrics.feature_extractor("mnist")`, 99.1% test accuracy, shipped with its sha256 and the
# command that trained it). Its 128-dimensional penultimate layer gives features, its softmax
# gives $p(y \mid x)$. Numbers computed with it are comparable with each other, **not** with
# published FIDs.

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

from gdmcourse import data, gan, metrics, plot, recipes

device = gdmcourse.startup(seed=9)
plot.use_style()
print(f"device: {device.type}")

# %% [markdown]
# ## 1. What each metric measures, and misses
#
# | metric | compares | measures | misses |
# |---|---|---|---|
# | **IS** $= \exp \mathbb E_x \mathrm{KL}(p(y \mid x) \,\Vert\, p(y))$ | generated images only | confident class predictions (quality) that cover all classes (diversity) | the real data entirely: diversity *within* a class, images unlike any real one but classified confidently; bounded by the number of classes |
# | **FID** $= \Vert\mu_r - \mu_g\Vert^2 + \mathrm{Tr}(\Sigma_r + \Sigma_g - 2(\Sigma_r\Sigma_g)^{1/2})$ | features of real vs generated | distance between Gaussians fitted to the two feature clouds | whether a bad score comes from fidelity or diversity; anything the features ignore; biased upwards at small N |
# | **precision / recall** (k-NN manifolds) | features of real vs generated | precision: share of samples on the real manifold (fidelity); recall: share of real data on the generated one (diversity) | depends on k and N; outliers inflate a manifold |
# | **SSIM** | an image and its reference, pair by pair | local luminance, contrast and structure agreement | needs a reference: for reconstructions, not for samples |
# | **CLIP score** | an image and its caption | text–image agreement (cosine of CLIP embeddings) | image quality apart from the prompt (not used here: our digits have no captions) |
#
# A feature network makes every sample-based metric depend on what it can see; a digit
# classifier sees strokes and class identity, not, say, stroke texture.

# %%
extractor = metrics.feature_extractor("mnist", device=device)
# two random halves: MNIST's test set is ordered (its first 5,000 digits come from different
# writers than the last 5,000, and the halves differ measurably), so split it at random
(X_test, y_test), perm = data.shuffled_test_set("mnist", seed=0)
# the class probabilities are the classifier's last layer applied to the same features: one pass gives both
feats, probs = extractor.features_and_probs(X_test)
real_a, real_b = X_test[:5000], X_test[5000:]
feat_a, feat_b = feats[:5000], feats[5000:]
assert torch.allclose(probs[:100], extractor.probs(X_test[:100]), atol=1e-5)
is_real = metrics.inception_score(probs)
print(f"real test digits: IS = {is_real[0]:.2f} ± {is_real[1]:.2f} (at most 10 with 10 classes); "
      f"FID between two random halves (5,000 each): {metrics.fid(feat_a, feat_b):.2f}")
feats_ordered = feats[perm.argsort()]  # the features in the file's original order
print(f"FID between the first and the last 5,000 test digits, unshuffled: "
      f"{metrics.fid(feats_ordered[:5000], feats_ordered[5000:]):.2f}")

# %%
predicted = probs.argmax(1)
confusion = torch.zeros(10, 10)
confusion.index_put_((y_test, predicted), torch.ones(len(y_test)), accumulate=True)
accuracy = (predicted == y_test).float().mean().item()
per_class = confusion.diagonal() / confusion.sum(1)
print(f"the course classifier on the 10,000 test digits: accuracy {accuracy:.4f}; "
      f"worst class {per_class.argmin().item()} ({per_class.min().item():.3f})")
assert accuracy > 0.985 and per_class.min() > 0.98
ax = plot.heatmap(confusion, normalize="rows", fmt=".3f", xlabel="predicted digit", ylabel="true digit",
                  title="the feature network's confusion matrix (rows sum to 1)", cmap="Blues", annot=False)
plt.show()


# %% [markdown]
# The feature network's confusion matrix on the test set: each row is a true digit, each
# column the predicted one, and nearly all the mass sits on the diagonal (accuracy about
# 99%, every digit above 98%). A classifier this sure of real digits is what lets its
# features and probabilities judge generated ones.
#
# FID already earns its keep: the first and last 5,000 MNIST test digits were written by
# different groups of people (LeCun et al. built the test set that way), and the features see
# it, an FID many times that of two random halves.
#
# ## 2. FID under corruption, and its bias
#
# Corrupt the second half of the test set with Gaussian noise of growing standard deviation,
# or with a Gaussian blur of growing width, and compare it with the clean first half. FID
# should grow monotonically with the corruption; we use 2,000 images of each.

# %%
def gaussian_blur(x, sigma):
    """Blur images (N, 1, H, W) with a Gaussian of std `sigma` pixels (a separable 2-D convolution)."""
    radius = int(3 * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-t**2 / (2 * sigma**2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1))


n = 2000
clean, target = real_b[:n], feat_a[:n]
noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
levels = {"noise": [0.0, 0.1, 0.2, 0.3, 0.5], "blur": [0.0, 0.5, 1.0, 1.5, 2.0]}
fids = {"noise": [], "blur": []}
for s in levels["noise"]:
    fids["noise"].append(metrics.fid(extractor.features((clean + s * noise).clamp(0, 1)), target))
for s in levels["blur"]:
    fids["blur"].append(metrics.fid(extractor.features(gaussian_blur(clean, s) if s else clean), target))
for kind in fids:
    print(f"{kind:5s}: " + ", ".join(f"{s:g} → {f:.1f}" for s, f in zip(levels[kind], fids[kind])))

# %%
assert all(np.diff(fids["noise"]) > 0) and all(np.diff(fids["blur"]) > 0), fids
print("FID grows monotonically with both the noise level and the blur width")

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.4), gridspec_kw={"width_ratios": [1, 1, 1.3]})
axes[0].plot(levels["noise"], fids["noise"], "o-")
axes[0].set(xlabel="noise std (pixels in [0, 1])", ylabel="FID vs clean half", title="Gaussian noise")
axes[1].plot(levels["blur"], fids["blur"], "o-", color="C1")
axes[1].set(xlabel="blur std (pixels)", ylabel="FID vs clean half", title="Gaussian blur")
strip = torch.cat([(clean[:1] + s * noise[:1]).clamp(0, 1) for s in levels["noise"]]
                  + [gaussian_blur(clean[:1], s) if s else clean[:1] for s in levels["blur"]])
plot.image_grid(strip, nrow=5, ax=axes[2], row_labels=["noise", "blur"],
                col_labels=[f"{a:g} / {b:g}" for a, b in zip(levels["noise"], levels["blur"])],
                title="one test digit, corrupted (noise std / blur std)")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Bias.** FID plugs *estimated* means and covariances into a nonlinear formula. Even for
# two samples of the same distribution it is positive, and the smaller the samples the larger
# it is (roughly $\propto 1/N$): the estimated covariances are noisy, and their differences
# count as distance. Below: FID between disjoint real samples of size $N$ from the two
# halves. Compare models only at the same $N$ (papers use 50,000).

# %%
sizes = [100, 200, 500, 1000, 2000, 5000]
bias = [metrics.fid(feat_a[:m], feat_b[:m]) for m in sizes]
for m, f in zip(sizes, bias):
    print(f"N = {m:5d}: FID(real, real) = {f:6.1f}")

# %%
assert all(np.diff(bias) < 0), bias
inverse_n = 1 / np.array(sizes)
slope, intercept = np.polyfit(inverse_n, bias, 1)
r = np.corrcoef(inverse_n, bias)[0, 1]
print(f"least-squares line: FID ≈ {intercept:.1f} + {slope:,.0f} / N (correlation with 1/N: {r:.3f})")
assert r > 0.99 and slope > 0 and abs(intercept) < 10  # FID → about 0 as N → ∞
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
axes[0].plot(sizes, bias, "o-")
axes[0].set(xscale="log", yscale="log", xlabel="samples per set N", ylabel="FID between two real samples",
            title="FID's small-sample bias")
plot.trend(inverse_n, bias, ax=axes[1], xlabel="1 / N", ylabel="FID between two real samples",
           title="the bias is linear in 1/N (line with 95% band)")
fig.tight_layout()
plt.show()

# %% [markdown]
# Left: the bias on log scales. Right: the same points against $1/N$ lie on a straight line
# (seaborn's regression with its 95% bootstrap band), the $\propto 1/N$ behaviour the
# estimated covariances predict. Its intercept, what an infinite sample would give, is about
# 0: two samples of one distribution, measured without noise, are at distance 0.

# %% [markdown]
# ## 3. Precision and recall: fidelity and diversity apart
#
# Kynkäänniemi et al. (2019; lecture 004) approximate each manifold by balls around its
# points reaching to the $k$-th nearest neighbour ($k = 3$). **Precision** is the share of
# generated points inside the real manifold; **recall** the share of real points inside the
# generated one. On the 25-Gaussians toy we change one property at a time:
#
# - **dropping modes** (samples from only 10 of the 25 components) keeps every sample
#   realistic but leaves most of the data uncovered: recall falls, precision stays;
# - **blurring** (each component 3× wider) keeps every mode but spreads each one's samples
#   beyond the tight real clusters, outside the real points' k-NN balls: precision falls,
#   recall stays.

# %%
real_toy = data.toy2d("25gaussians", 2000, seed=0)
centers, std = data.toy2d_centers("25gaussians"), data.toy2d_std("25gaussians")
g = torch.Generator().manual_seed(1)
fakes = {"same distribution": data.toy2d("25gaussians", 2000, seed=1),
         "10 of 25 modes": centers[torch.randint(10, (2000,), generator=g)] + std * torch.randn(2000, 2, generator=g),
         "blurred (3× std)": centers[torch.randint(25, (2000,), generator=g)] + 3 * std * torch.randn(2000, 2, generator=g)}
pr = {name: metrics.precision_recall(real_toy, fake, k=3) for name, fake in fakes.items()}
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharex=True, sharey=True)
for ax, (name, fake) in zip(axes, fakes.items()):
    ax.scatter(*fake.T, s=2, color="C0", alpha=0.3, label="generated")
    ax.scatter(*real_toy.T, s=1, color="C1", label="real")  # on top: the real clusters stay visible
    ax.set(title=f"{name}\nprecision {pr[name][0]:.2f}, recall {pr[name][1]:.2f}", aspect="equal", xlabel="$x_1$")
axes[0].set_ylabel("$x_2$")
axes[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, markerscale=4)
plt.show()

# %%
assert pr["10 of 25 modes"][1] < 0.5 < 0.9 < pr["10 of 25 modes"][0], pr
assert pr["blurred (3× std)"][0] < 0.6 < 0.9 < pr["blurred (3× std)"][1], pr
print("dropping modes lowers recall only; blurring lowers precision only")

# %% [markdown]
# ## 4. The truncation trick as a precision/recall curve
#
# BigGAN (lecture 003) samples $z \sim \mathcal N(0, I)$ during training but, when generating,
# redraws every component of $z$ with $|z_i| > \psi$: the samples come from the
# generator's most typical region. We apply it to the course's DCGAN (notebook 04's
# architecture, shipped as `dcgan-mnist`) and measure precision and recall of 1,000 samples
# against 1,000 test digits for several thresholds $\psi$.

# %%
generator = recipes.load_model("dcgan-mnist").to(device)


def truncated_normal(n, dim, psi, g):
    """z ~ N(0, I) with every component outside [−ψ, ψ] redrawn (until none is)."""
    z = torch.randn(n, dim, generator=g)
    while True:
        out = z.abs() > psi
        if not out.any():
            return z
        z[out] = torch.randn(int(out.sum()), generator=g)


psis = [0.25, 0.5, 1.0, 1.5, 2.0, 4.0]
real_pr = feat_a[:1000]
curve, grids, confident = [], [], []
for psi in psis:
    z = truncated_normal(1000, generator.latent_dim, psi, torch.Generator().manual_seed(2))
    with torch.no_grad():
        imgs = ((generator(z.to(device)) + 1) / 2).clamp(0, 1).cpu()
    features, fake_probs = extractor.features_and_probs(imgs)
    curve.append(metrics.precision_recall(real_pr, features, k=3))
    confident.append((fake_probs.max(1).values > 0.95).float().mean().item())
    grids.append(imgs[:8])
real_confident = (probs[:1000].max(1).values > 0.95).float().mean().item()  # probs: the test digits', from §1
for psi, (p, r), c in zip(psis, curve, confident):
    print(f"ψ = {psi:4.2f}: precision {p:.2f}, recall {r:.2f}, classifier confident on {c:.2f}")
print(f"real test digits: classifier confident on {real_confident:.2f}")

# %%
precisions, recalls = zip(*curve)
assert precisions[0] > precisions[-1] and recalls[0] < recalls[-1], curve
assert all(a > b for a, b in zip(precisions, precisions[1:])), precisions  # precision falls at every step
assert precisions[0] > 0.9, precisions
assert recalls[0] < 0.1 and recalls[-1] > 0.8, recalls
assert confident[0] < confident[1] < 0.5 < min(confident[3:]) + 0.05 and real_confident > 0.9
assert confident[0] < min(confident[3:]) - 0.1  # where precision is high, the classifier doubts the samples most
assert max(confident[:2]) < min(confident[2:])  # fewer confident digits than at any larger ψ
# the shown samples at ψ = 0.25 are alike: their mean pairwise distance is well below that at ψ = 4
assert torch.pdist(grids[0].flatten(1)).mean() < 0.7 * torch.pdist(grids[-1].flatten(1)).mean()
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1, 1.6]})
axes[0].plot(recalls, precisions, "o-")
for i, (psi, p, r) in enumerate(zip(psis, precisions, recalls)):  # labels above and below in turn: no overprint
    axes[0].annotate(f"ψ={psi:g}", (r, p), textcoords="offset points", xytext=(4, 4 if i % 2 else -11), fontsize=8)
axes[0].set(xlabel="recall (diversity)", ylabel="precision (fidelity)", title="truncation: a trade-off curve")
plot.image_grid(torch.cat(grids), nrow=8, ax=axes[1], row_labels=[f"ψ={p:g}" for p in psis],
                title="threshold truncation of the DCGAN's z")
plt.show()

# %% [markdown]
# As $\psi$ grows the samples get more varied: recall rises from near 0 to over four fifths while
# precision falls at every step, the trade-off BigGAN reports. But look at the rows before
# believing the precision axis. At $\psi = 0.25$ and $0.5$ the samples vary little, and the
# course's classifier is confident that they are digits for fewer than half of them (fewer
# than at any larger $\psi$, and far fewer than the 97% of real test digits), yet k-NN
# precision is highest exactly there, above 0.9 at $\psi = 0.25$. Precision only asks whether a sample's **features** fall inside
# the $k$-NN balls around real digits' features; samples that pile into one well-populated
# region of feature space score high there, whatever their pixels look like. Precision and
# recall are only as good as the feature space they are computed in: read them beside the
# samples and a second measure (here the classifier's confidence). At the smallest $\psi$
# the samples vary least (recall near 0). No single threshold is "best": the
# curve is the honest summary, and a single FID hides where on it a model sits.
#
# **StyleGAN's truncation (lecture 004).** StyleGAN truncates differently: it pulls the
# *intermediate* latent $w = f(z)$ of its mapping network towards the mean,
# $w' = \hat w + \psi\,(w - \hat w)$ with $\hat w = \mathbb E_z f(z)$, and only at the
# low-resolution layers. Our DCGAN has no mapping network, but its first block plays that
# part: it maps $z$ to a $7 \times 7$ feature map, the lowest resolution of the generator
# (`G.mapping`), and the transposed convolutions then draw the image from it
# (`G.synthesis`). We estimate $\hat w$ from 10,000 draws of $z$ and apply
# `gan.truncate_towards_mean` to the same 1,000 $z$ for each $\psi$; $\psi = 1$ must give
# the untruncated samples exactly, $\psi = 0$ one image 1,000 times.

# %%
g_mean = torch.Generator().manual_seed(3)
with torch.no_grad():  # ŵ ≈ the mean of f(z) over 10,000 draws
    w_mean = torch.cat([generator.mapping(torch.randn(1000, generator.latent_dim, generator=g_mean).to(device))
                        for _ in range(10)]).mean(0)
    z_style = torch.randn(1000, generator.latent_dim, generator=torch.Generator().manual_seed(2)).to(device)
    w_style = generator.mapping(z_style)
    untruncated = ((generator(z_style) + 1) / 2).clamp(0, 1).cpu()
style_psis = [0.0, 0.3, 0.5, 0.7, 1.0]
style_curve, style_confident, style_grids = [], [], []
for psi in style_psis:
    with torch.no_grad():
        imgs = ((generator.synthesis(gan.truncate_towards_mean(w_style, w_mean, psi)) + 1) / 2).clamp(0, 1).cpu()
    features, fake_probs = extractor.features_and_probs(imgs)
    style_curve.append(metrics.precision_recall(real_pr, features, k=3))
    style_confident.append((fake_probs.max(1).values > 0.95).float().mean().item())
    style_grids.append(imgs[:8])
    if psi == 1.0:
        assert torch.allclose(imgs, untruncated, atol=1e-5)  # ψ = 1: no truncation at all
    if psi == 0.0:
        assert (imgs - imgs[0]).abs().max() < 1e-5            # ψ = 0: every sample is the mean's image
for psi, (p, r), c in zip(style_psis, style_curve, style_confident):
    print(f"ψ = {psi:3.1f}: precision {p:.2f}, recall {r:.2f}, classifier confident on {c:.2f}")

# %%
style_precisions, style_recalls = zip(*style_curve)
assert all(r1 <= r2 for r1, r2 in zip(style_recalls, style_recalls[1:])), style_recalls  # recall grows with ψ
assert style_recalls[0] < 0.05 < 0.3 < style_recalls[-1], style_recalls
assert style_precisions[0] < 0.1 and style_confident[0] < 0.05, (style_precisions, style_confident)  # ψ = 0
assert style_precisions[1] > style_precisions[-1] + 0.1, style_precisions  # truncating buys precision
# at equal recall, the two truncations' precisions differ by a few hundredths at most
order = np.argsort(recalls)
threshold_at = np.interp(style_recalls[1:], np.array(recalls)[order], np.array(precisions)[order])
gap = np.abs(threshold_at - np.array(style_precisions[1:])).max()
print(f"largest precision gap between the two curves at equal recall: {gap:.3f}")
assert gap < 0.06, gap
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1, 1.6]})
axes[0].plot(recalls, precisions, "o-", label="threshold on z (BigGAN)")
axes[0].plot(style_recalls, style_precisions, "s-", label="towards the mean map (StyleGAN)")
for psi, p, r in zip(psis, precisions, recalls):  # each curve's ψ in its own colour, on its own side
    axes[0].annotate(f"ψ={psi:g}", (r, p), textcoords="offset points", xytext=(-4, 5), ha="right", fontsize=7,
                     color="C0")
for psi, p, r in zip(style_psis, style_precisions, style_recalls):
    axes[0].annotate(f"ψ={psi:g}", (r, p), textcoords="offset points", xytext=(4, -10), fontsize=7, color="C1")
axes[0].set(xlabel="recall (diversity)", ylabel="precision (fidelity)", title="two truncations")
axes[0].legend(fontsize="small", loc="lower right")
plot.image_grid(torch.cat(style_grids), nrow=8, ax=axes[1],
                row_labels=[f"ψ={p:g}" for p in style_psis], title="StyleGAN truncation of the DCGAN's 7×7 map")
plt.show()

# %% [markdown]
# The two truncations trace nearly the same precision–recall curve (at equal recall their
# precisions differ by a few hundredths, asserted): on this generator, how far one
# truncates matters more than which form. The interpolation form has an end the threshold
# form lacks: at $\psi = 0$ every sample is the image of the mean map $\hat w$, a blurred
# oval blob that lies outside the real manifold (precision 0) and that the classifier is
# never sure of. The
# "average" intermediate latent is not a typical one, which is why StyleGAN stops at
# $\psi = 0.7$ and truncates only the coarse layers.
#
# ## 5. SSIM: when the squared error cannot tell
#
# For reconstructions we have a reference image per output. The mean squared error treats
# every pixel independently; SSIM (Wang et al. 2004) compares local means, contrasts and
# correlations in 11×11 Gaussian windows and is 1 only for identical images. Below, three
# distortions of the same test digits: the VQ-VAE's reconstruction (notebook 07, shipped as
# `vqvae-mnist`), additive noise and a blur, the latter two scaled to the **same mean squared
# error** as the reconstruction.

# %%
vq = recipes.load_model("vqvae-mnist").vqvae.to(device)
x = X_test[:500]
recon = vq.reconstruct(x.to(device)).cpu()
target_mse = F.mse_loss(recon, x).item()
unit_noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))


def match_mse(make, lo, hi):
    """Bisect the strength s so that make(s) has the reconstruction's mean squared error."""
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if F.mse_loss(make(mid), x).item() < target_mse else (lo, mid)
    return make((lo + hi) / 2)


versions = {"VQ-VAE reconstruction": recon,
            "Gaussian noise": match_mse(lambda s: (x + s * unit_noise).clamp(0, 1), 0.0, 1.0),
            "blur": match_mse(lambda s: gaussian_blur(x, s), 0.1, 5.0)}
scores = {name: (F.mse_loss(v, x).item(), metrics.ssim(v, x).mean().item()) for name, v in versions.items()}
for name, (mse, s) in scores.items():
    print(f"{name:22s} MSE {mse:.4f}   SSIM {s:.3f}")

# %%
assert max(m for m, _ in scores.values()) < 1.01 * min(m for m, _ in scores.values())
assert scores["Gaussian noise"][1] < min(scores["VQ-VAE reconstruction"][1], scores["blur"][1]) - 0.05, scores
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
plot.image_grid(x[:8], nrow=4, ax=axes[0], title="test digits")
for ax, (name, v) in zip(axes[1:], versions.items()):
    plot.image_grid(v[:8].clamp(0, 1), nrow=4, ax=ax, title=f"{name}\nSSIM {scores[name][1]:.2f}")
plt.show()

# %% [markdown]
# Same squared error, different images. SSIM puts the noise clearly last: it disturbs the
# local structure of every window, including the empty background, where the eye notices
# it most. The blur and the VQ-VAE's reconstruction keep the strokes where they are, with
# softer or slightly wrong intensities, and score alike. SSIM is no oracle either: it
# weighs the blur's lost sharpness lightly, which a reader of digits might not.
#
# ## 6. Scoring the course's models
#
# One table for the course's generators, all scored the same way: 1,000 samples against the
# 1,000 test digits `X_test[:1000]` of the shuffled test set (FID and precision/recall with $k = 3$ on the classifier's
# features, IS on its softmax over 10 splits). The models are the shipped checkpoints, each
# trained by the command recorded beside its sha256 with the recipe of its notebook:
#
# - **VAE** (notebook 02's recipe, MLP 784-512-256-32): Bernoulli means of decoded $z \sim \mathcal N(0, I)$;
# - **DCGAN** (notebook 04's recipe, Radford et al.'s rules, 5,000 steps, the moving average of the
#   generator's weights): $G(z)$, no truncation;
# - **VQ-VAE** (notebook 07, K = 128): PixelCNN-prior code maps, decoded;
# - **DDPM** (notebook 08's UNet): DDIM with 25 steps, to keep this notebook within its time
#   (sampling 1,000 digits takes 25 passes of the UNet over all of them). More steps score
#   better: `python -m gdmcourse bench` scores DDIM-50 and ancestral sampling through all
#   1,000 steps from the same $x_T$ (`benchmarks/results.json`, under `models`, `ddpm`: FID
#   75 and 60, against 85 for DDIM-25 in the table below).
#
# The first row scores 1,000 *real* held-out digits (`X_test[5000:6000]`) the same way: the best a
# model could do at this sample size (FID is not 0, precision and recall not 1; see §2).

# %% tags=["nbval-ignore-output"]
reference = X_test[:1000]
reference_features = feat_a[:1000]  # its features, from §1: extracted once for every row
rows = {"real digits (held out)": metrics.score_samples(X_test[5000:6000], reference, extractor,
                                                        real_features=reference_features)}
samples = {}
shipped = {"VAE": recipes.generator("vae-mnist", device), "DCGAN": recipes.generator("dcgan-mnist", device),
           "VQ-VAE + PixelCNN": recipes.generator("vqvae-mnist", device),
           "DDPM (DDIM-25)": recipes.generator("ddpm", device, ddim_steps=25)}
for label, model in shipped.items():
    samples[label] = model.sample_images(1000, torch.Generator().manual_seed(0))
    rows[label] = metrics.score_samples(samples[label], reference, extractor, real_features=reference_features)
print(f"{'model':24s} {'FID':>7s} {'IS':>12s} {'precision':>9s} {'recall':>7s}")
for label, r in rows.items():
    print(f"{label:24s} {r['fid']:7.1f} {r['is']:6.2f} ± {r['is_std']:.2f} {r['precision']:9.2f} {r['recall']:7.2f}")

# %%
real_row = rows["real digits (held out)"]
assert all(r["fid"] > real_row["fid"] for label, r in rows.items() if label != "real digits (held out)"), rows
assert all(1 <= r["is"] <= 10 and 0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1 for r in rows.values())
vae_row, ddpm_row = rows["VAE"], rows["DDPM (DDIM-25)"]
assert ddpm_row["fid"] < vae_row["fid"] and ddpm_row["is"] > vae_row["is"] and ddpm_row["recall"] > vae_row["recall"], rows
models_ = ["DDPM (DDIM-25)", "DCGAN", "VQ-VAE + PixelCNN", "VAE"]
assert [rows[m]["fid"] for m in models_] == sorted(rows[m]["fid"] for m in models_), rows   # FID: this order
ddpm_is, dcgan_is, vq_is, vae_is = (rows[m]["is"] for m in models_)
assert ddpm_is > max(dcgan_is, vq_is) and min(dcgan_is, vq_is) > vae_is, rows  # IS: first and last as FID
# and the middle two closer than the spread of IS over its ten splits
assert abs(dcgan_is - vq_is) < min(rows["DCGAN"]["is_std"], rows["VQ-VAE + PixelCNN"]["is_std"]), rows
quoted = {"DDPM (DDIM-25)": 85, "DCGAN": 145, "VQ-VAE + PixelCNN": 205, "VAE": 275}  # the FIDs the text below quotes
assert all(abs(rows[m]["fid"] - f) < 2 for m, f in quoted.items()), rows
assert abs(ddpm_row["recall"] - real_row["recall"]) < 0.03, rows
# the two highest precisions, the DDPM's and the VAE's, within 0.03 of each other
assert set(sorted(models_, key=lambda m: rows[m]["precision"])[-2:]) == {"DDPM (DDIM-25)", "VAE"}, rows
assert abs(ddpm_row["precision"] - vae_row["precision"]) < 0.03, rows
assert max(models_, key=lambda m: rows[m]["recall"]) == "DDPM (DDIM-25)", rows
assert min(models_, key=lambda m: rows[m]["precision"]) == "DCGAN", rows
assert min(models_, key=lambda m: rows[m]["recall"]) == "VAE", rows
print("every model is further from the test digits than held-out real digits are (FID); "
      "the DDPM beats the VAE on FID, IS and recall; FID and IS agree on the first and last, "
      "precision does not follow them")

# %%
fig, axes = plt.subplots(1, 4, figsize=(14, 3.8))
for ax, (label, x) in zip(axes, samples.items()):
    plot.image_grid(x[:16], nrow=4, ax=ax, title=label)
plt.show()

# %% [markdown]
# Sixteen samples of each model, drawn from the same seeds as the table's 1,000.
#
# **What the table shows.** (In the table above: FID 85 DDPM, 145 DCGAN,
# 205 VQ-VAE, 275 VAE, against 24 for held-out real digits.) FID ranks the models DDPM,
# DCGAN, VQ-VAE, VAE; IS agrees on the first and the last but cannot tell the DCGAN from
# the VQ-VAE (their IS differ by less than its spread over the ten splits). The DCGAN's
# lead over the VQ-VAE on FID is larger than its own FID moves between draws of 1,000
# samples (notebook 04 prints four).
# Precision and recall say *why*; precision does not follow either order. The VAE's samples
# are Bernoulli means, smooth digits: their precision is among the highest (≈ 0.75, they sit
# inside the real manifold), but they have the least variety (recall ≈ 0.79, the lowest),
# which is where the VAE loses on FID. The DDPM covers the real digits as well as held-out
# real data does (recall ≈ 0.9, within 0.03 of the real row's) at a precision level with the
# VAE's (≈ 0.77; the two differ by less than 0.03). The DCGAN has the lowest precision in
# feature space (≈ 0.6), although most of
# the 16 samples shown look legible: the k-NN measures and the eye do not always agree. IS, computed without looking at real data, cannot separate these cases;
# FID mixes them into one number. All of it is seen through one small classifier, at
# N = 1,000 (§2): compare these values only with other rows of this table.
#
# ## Summary
#
# - IS looks only at generated images; FID compares feature Gaussians with the real data
#   and is biased at small N; precision and recall split fidelity from diversity.
# - The truncation trick trades recall for precision; a curve says more than one score.
# - SSIM compares an output with its reference through local structure; at equal squared
#   error it separates noise from a faithful reconstruction.
# - Every sample-based metric sees images through a feature network; here the course's own
#   classifier, so the numbers are comparable across this course, not with papers.

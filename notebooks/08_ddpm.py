# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Denoising diffusion: from the closed form to samples
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/notebooks/08_ddpm.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=notebooks%2F08_ddpm.ipynb)
#
# *Follows lecture 001 ("Diffusion": the forward process, the diffusion kernel, the tractable
# posterior, the noise-prediction parameterisation, $L_{simple}$, Algorithms 1 and 2, the UNet
# with sinusoidal time embedding) and lecture 003 ("Diffusion Models").*
#
# A diffusion model destroys data by adding a little Gaussian noise $T$ times and learns to
# undo one step at a time. Here you will
#
# 1. check the **closed form** $q(x_t \mid x_0)$ against actually iterating the noise, by Monte Carlo;
# 2. compare the **linear and cosine schedules** ($\bar\alpha_t$, the log signal-to-noise
#    ratio, an image noised along both);
# 3. derive the **posterior** $q(x_{t-1} \mid x_t, x_0)$ and check it numerically;
# 4. write out the **variational bound** $L = L_T + \sum_{t>1} L_{t-1} + L_0$, compute the weights
#    $\lambda_t$ that turn each $L_{t-1}$ into a weighted noise regression, compare them with
#    $L_{simple}$'s, and read **Algorithms 1 and 2** line by line next to the code;
# 5. train a DDPM on a **2-D swiss roll** and watch samples form;
# 6. look inside the image model (the **sinusoidal time embedding** and the **UNet**, level by level)
#    and sample **MNIST digits** from it (a shipped checkpoint), with ancestral sampling
#    and with **DDIM**, and compare time and quality;
# 7. scrub $t$ in an explorer and see $x_t$ and the model's guess $\hat x_0$.
#
# The package module is `gdmcourse.ddpm`; the exercise (`exercises/08_ddpm.ipynb`) has you
# write `q_sample`, the posterior, the loss and one sampling step yourself.

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

from gdmcourse import data, metrics, nets, plot, recipes, weights, widgets
from gdmcourse import ddpm

device = gdmcourse.startup(seed=8)
plot.use_style()
print(f"device: {device.type}")

# %% [markdown]
# ## 1. The forward process and its closed form
#
# One step of the forward process scales the signal down a little and adds noise,
#
# $$q(x_t \mid x_{t-1}) = \mathcal N\big(\sqrt{1 - \beta_t}\, x_{t-1},\ \beta_t I\big), \qquad t = 1, \dots, T,$$
#
# with small $\beta_t$. Writing $\alpha_t = 1 - \beta_t$ and $x_t = \sqrt{\alpha_t}x_{t-1} + \sqrt{1-\alpha_t}\,\epsilon_t$,
# two steps give $x_t = \sqrt{\alpha_t\alpha_{t-1}}\,x_{t-2} + \sqrt{\alpha_t(1-\alpha_{t-1})}\,\epsilon_{t-1} + \sqrt{1-\alpha_t}\,\epsilon_t$:
# a sum of independent Gaussians, so one Gaussian of variance $\alpha_t - \alpha_t\alpha_{t-1} + 1 - \alpha_t = 1 - \alpha_t\alpha_{t-1}$.
# By induction, with $\bar\alpha_t = \prod_{s \le t}\alpha_s$ (the lecture's *diffusion kernel*),
#
# $$q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\, x_0,\ (1 - \bar\alpha_t) I\big), \qquad
#   x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1 - \bar\alpha_t}\,\epsilon .$$
#
# So we can jump to any $t$ in one draw (`schedule.q_sample`). The variance stays bounded
# (it is a *variance-preserving* process): for $x_0$ of unit variance, $x_t$ has unit
# variance at every $t$. **Indexing:** the lecture counts $t = 1..T$; tensors count from 0, so
# index `t` holds step $t + 1$ (`alphas_cumprod[0]` is $\bar\alpha_1$).
#
# **Check by Monte Carlo.** Start 200,000 copies of $x_0 = 1.5$, apply the one-step kernel
# again and again, and compare the mean and variance after $t$ steps with the closed form
# (standard errors: $\sqrt{v/n}$ for the mean, $v\sqrt{2/n}$ for the variance).

# %%
linear = ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(1000))
cosine = ddpm.DiffusionSchedule(ddpm.cosine_beta_schedule(1000))

g = torch.Generator().manual_seed(0)
n, x0 = 200_000, 1.5
x = torch.full((n,), x0, dtype=torch.float64)
print(f"{'step t':>6} | {'iterated mean':>13} {'closed form':>11} | {'iterated var':>12} {'closed form':>11}")
worst = 0.0
for t in range(1, 1001):
    beta = linear.betas[t - 1]
    x = (1 - beta).sqrt() * x + beta.sqrt() * torch.randn(n, generator=g, dtype=torch.float64)
    if t in (1, 10, 100, 500, 1000):
        ab = linear.alphas_cumprod[t - 1].item()
        mean, var = math.sqrt(ab) * x0, 1 - ab
        worst = max(worst, abs(x.mean().item() - mean) / math.sqrt(var / n), abs(x.var().item() - var) / (var * math.sqrt(2 / n)))
        print(f"{t:>6} | {x.mean().item():13.4f} {mean:11.4f} | {x.var().item():12.5f} {var:11.5f}")
print(f"largest deviation: {worst:.1f} standard errors")

# %%
assert worst < 5
print("the iterated process has the closed form's moments at every checked step (within 5 standard errors)")

# %% [markdown]
# ## 2. Linear vs cosine schedules
#
# Ho et al. (2020) raise $\beta_t$ linearly from $10^{-4}$ to $0.02$ over $T = 1000$ steps.
# Nichol & Dhariwal (2021) noticed that this destroys images too early: $\bar\alpha_t$ is near
# 0 for the last few hundred steps, which are then wasted. Their **cosine schedule** sets
# $\bar\alpha_t = f(t)/f(0)$ with $f(t) = \cos^2\!\big(\frac{t/T + s}{1 + s}\frac{\pi}{2}\big)$, which
# falls gently and reaches 0 only at the very end. The figure plots, for both schedules against
# the step $t$, the signal kept $\bar\alpha_t$ (left) and the **log signal-to-noise ratio**
# $\log\mathrm{SNR}(t) = \log\frac{\bar\alpha_t}{1 - \bar\alpha_t}$ (right): the linear schedule's curves drop earlier.
# Only in its last few steps does the cosine schedule's log-SNR plunge below the linear one's:
# there $\bar\alpha_t$ goes to 0 (Nichol & Dhariwal clip $\beta_t$ at 0.999; otherwise $\bar\alpha_T$
# would be exactly 0 and its log-SNR $-\infty$).

# %%
steps = np.arange(1, 1001)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for name, s in [("linear", linear), ("cosine", cosine)]:
    ab = s.alphas_cumprod.numpy()
    axes[0].plot(steps, ab, label=name)
    axes[1].plot(steps, np.log(ab / (1 - ab)), label=name)
axes[0].set(xlabel="step t", ylabel=r"$\bar\alpha_t$", title=r"signal kept: $\bar\alpha_t$")
axes[1].set(xlabel="step t", ylabel=r"$\log(\bar\alpha_t / (1 - \bar\alpha_t))$", title="log signal-to-noise ratio")
for ax in axes:
    ax.legend()
plt.show()
for name, s in [("linear", linear), ("cosine", cosine)]:
    half = int((s.alphas_cumprod > 0.5).sum())
    print(f"{name}: ᾱ falls below 0.5 at step {half + 1}; ᾱ_T = {s.alphas_cumprod[-1].item():.2e}")

# %%
near_zero = {name: int((s.alphas_cumprod < 0.01).sum()) for name, s in [("linear", linear), ("cosine", cosine)]}
half = {name: int((s.alphas_cumprod > 0.5).sum()) + 1 for name, s in [("linear", linear), ("cosine", cosine)]}
print(f"steps with ᾱ_t < 0.01 (almost pure noise): linear {near_zero['linear']}, cosine {near_zero['cosine']}")
assert near_zero["linear"] > 300 and near_zero["cosine"] < 100
assert half["linear"] < 300 < 450 < half["cosine"]
log_snr = {name: torch.log(s.alphas_cumprod / (1 - s.alphas_cumprod)) for name, s in [("linear", linear), ("cosine", cosine)]}
cosine_below = (log_snr["cosine"] < log_snr["linear"]).nonzero().flatten() + 1  # the steps t where it lies below
assert len(cosine_below) <= 10 and cosine_below.min() > 980, cosine_below
print("the linear schedule spends over 300 of its 1000 steps at ᾱ_t < 0.01, the cosine fewer than 100; "
      "the cosine one keeps half the signal until step 450+, the linear one not past step 300;\n"
      f"the cosine log-SNR lies below the linear one only at the last {len(cosine_below)} steps")

# %% [markdown]
# The same digit noised along both schedules with the same $\epsilon$ (pixels scaled to
# $[-1, 1]$, as the model sees them): the top row follows the linear schedule, the bottom row
# the cosine one, at the six steps named in each row's title.

# %%
X_test, y_test = data.load_images("mnist", "test")
x0_img = ddpm.to_model_range(X_test[:1])
eps = torch.randn(x0_img.shape, generator=torch.Generator().manual_seed(1))
show_steps = [1, 100, 250, 500, 750, 1000]
rows = [torch.cat([s.q_sample(x0_img, t - 1, eps) for t in show_steps]) for s in (linear, cosine)]
fig, axes = plt.subplots(2, 1, figsize=(7, 2.8))
for ax, row, name in zip(axes, rows, ["linear", "cosine"]):
    plot.image_grid(ddpm.to_image_range(row), nrow=6, ax=ax, title=f"{name}: t = " + ", ".join(map(str, show_steps)))
plt.show()
corr = {name: [np.corrcoef(r.flatten(), x0_img.flatten())[0, 1] for r in row] for name, row in zip(["linear", "cosine"], rows)}
print("correlation of x_t with x_0 over the pixels, at t = " + ", ".join(map(str, show_steps)))
for name, c in corr.items():
    print(f"  {name:6}: " + "  ".join(f"{v:5.2f}" for v in c))

# %%
assert all(c > l for l, c in zip(corr["linear"][1:-1], corr["cosine"][1:-1]))
assert corr["linear"][3] < 0.2 and corr["cosine"][3] > 0.35 and corr["linear"][4] < 0.05 < corr["cosine"][4]
print("from t = 100 to 750 the cosine schedule keeps more of the digit; at t = 500 the linear one keeps little")

# %% [markdown]
# Under the linear schedule little of the digit is left at $t = 500$ (a correlation with $x_0$
# below 0.2) and nothing at 750; under the cosine one it is still clearly there at 500 and
# fades gradually. Nichol & Dhariwal found the linear schedule sub-optimal for small images
# (64×64 and 32×32): its last, noisiest steps add little to sample quality. The course's
# digit model (section 6) still uses Ho et al.'s linear schedule, and most of its ancestral
# samples are digits the course's classifier is confident about.
#
# ## 3. The posterior $q(x_{t-1} \mid x_t, x_0)$
#
# The reverse conditional $q(x_{t-1} \mid x_t)$ needs the whole data distribution and is
# intractable, but conditioned on $x_0$ it is Gaussian. By Bayes,
#
# $$q(x_{t-1} \mid x_t, x_0) \propto q(x_t \mid x_{t-1})\, q(x_{t-1} \mid x_0)
#   \propto \exp\Big(-\frac{(x_t - \sqrt{\alpha_t}x_{t-1})^2}{2\beta_t} - \frac{(x_{t-1} - \sqrt{\bar\alpha_{t-1}}x_0)^2}{2(1 - \bar\alpha_{t-1})}\Big).$$
#
# The exponent is quadratic in $x_{t-1}$; completing the square gives precision and mean
#
# $$\frac1{\tilde\beta_t} = \frac{\alpha_t}{\beta_t} + \frac1{1 - \bar\alpha_{t-1}} = \frac{1 - \bar\alpha_t}{\beta_t(1 - \bar\alpha_{t-1})},\qquad
#   \tilde\mu_t = \tilde\beta_t\Big(\frac{\sqrt{\alpha_t}}{\beta_t}x_t + \frac{\sqrt{\bar\alpha_{t-1}}}{1 - \bar\alpha_{t-1}}x_0\Big),$$
#
# that is, the lecture's
#
# $$\tilde\mu_t(x_t, x_0) = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t}x_0 + \frac{\sqrt{\alpha_t}(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t}x_t, \qquad
#   \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t \ (\le \beta_t).$$
#
# (At $t = 1$, $\bar\alpha_0 = 1$: $\tilde\beta_1 = 0$ and $\tilde\mu_1 = x_0$.)
#
# **Numerical check.** For a fixed $x_0$, draw $x_{t-1} \sim q(x_{t-1} \mid x_0)$ and then
# $x_t \sim q(x_t \mid x_{t-1})$. The pair is jointly Gaussian, so $\mathbb E[x_{t-1} \mid x_t]$ is
# *exactly* linear in $x_t$: a least-squares line through the samples must recover the
# coefficient of $x_t$, the constant $(\text{coefficient of } x_0)\cdot x_0$, and the residual variance $\tilde\beta_t$.

# %%
g = torch.Generator().manual_seed(2)
n, x0 = 400_000, 1.5
print(f"{'step t':>6} | {'slope':>8} {'μ̃ coef':>8} | {'intercept':>9} {'μ̃ const':>8} | {'resid var':>9} {'β̃_t':>9}")
errors = []
for t in (2, 10, 100, 600):
    i = t - 1
    x_prev = linear.q_sample(torch.full((n,), x0, dtype=torch.float64), i - 1, torch.randn(n, generator=g, dtype=torch.float64))
    x_t = linear.alphas[i].sqrt() * x_prev + linear.betas[i].sqrt() * torch.randn(n, generator=g, dtype=torch.float64)
    A = torch.stack([x_t, torch.ones(n, dtype=torch.float64)], dim=1)
    slope, intercept = torch.linalg.lstsq(A, x_prev[:, None]).solution[:, 0]
    resid = (x_prev - A @ torch.stack([slope, intercept])).var().item()
    coef_xt, coef_x0 = linear.posterior_mean_coef_xt[i].item(), linear.posterior_mean_coef_x0[i].item()
    tilde = linear.posterior_variance[i].item()
    errors.append(max(abs(slope.item() - coef_xt), abs(intercept.item() - coef_x0 * x0)))
    errors.append(abs(resid / tilde - 1))
    print(f"{t:>6} | {slope.item():8.4f} {coef_xt:8.4f} | {intercept.item():9.4f} {coef_x0 * x0:8.4f} | {resid:9.3e} {tilde:9.3e}")

# %%
assert max(errors) < 0.01, errors
print("least squares recovers the posterior's coefficients within 0.01 and its variance within 1%")

# %% [markdown]
# ## 4. The variational bound, its weights $\lambda_t$, and $L_{simple}$
#
# The reverse model is $p_\theta(x_{t-1} \mid x_t) = \mathcal N(\mu_\theta(x_t, t), \sigma_t^2 I)$, started
# from $p(x_T) = \mathcal N(0, I)$. Treating $x_{1:T}$ as the latents of a VAE whose encoder $q$ is
# fixed, Jensen's inequality bounds the negative log-likelihood (lecture 001, "Variational upper
# bound"; Ho et al. 2020, eq. 5):
#
# $$\mathbb E[-\log p_\theta(x_0)] \le \mathbb E_q\Big[-\log\frac{p_\theta(x_{0:T})}{q(x_{1:T} \mid x_0)}\Big]
#   = \mathbb E_q\Big[\underbrace{D_{KL}(q(x_T \mid x_0)\,\|\,p(x_T))}_{L_T}
#   + \sum_{t > 1}\underbrace{D_{KL}(q(x_{t-1} \mid x_t, x_0)\,\|\,p_\theta(x_{t-1} \mid x_t))}_{L_{t-1}}
#   \underbrace{-\log p_\theta(x_0 \mid x_1)}_{L_0}\Big] = L .$$
#
# - $L_T$ has no parameters, and with $\bar\alpha_T \approx 0$ it is almost 0.
# - $L_0$ is the decoder's likelihood of the data (Ho et al. use a Gaussian discretised to the
#   256 pixel values). It is not a Gaussian KL: at $t = 1$ the posterior variance is $\tilde\beta_1 = 0$.
# - Each $L_{t-1}$ is a KL between two Gaussians. Per element,
#   $D_{KL}(\mathcal N(\tilde\mu, \tilde\beta)\,\|\,\mathcal N(\mu_\theta, \sigma_t^2)) = \frac{(\tilde\mu - \mu_\theta)^2}{2\sigma_t^2} + \frac12\big(\frac{\tilde\beta_t}{\sigma_t^2} - 1 - \log\frac{\tilde\beta_t}{\sigma_t^2}\big)$:
#   the lecture's $\frac1{2\sigma_t^2}\|\tilde\mu_t - \mu_\theta\|^2 + C$, where $C$ does not depend on
#   $\theta$ and is 0 for $\sigma_t^2 = \tilde\beta_t$.
#
# Writing $x_0$ in $\tilde\mu_t$ through $x_t = \sqrt{\bar\alpha_t}x_0 + \sqrt{1 - \bar\alpha_t}\epsilon$ gives
# $\tilde\mu_t = \frac1{\sqrt{\alpha_t}}\big(x_t - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\epsilon\big)$, so Ho et al. let a network predict the noise,
# $\mu_\theta = \frac1{\sqrt{\alpha_t}}\big(x_t - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\epsilon_\theta(x_t, t)\big)$. Then
# $\tilde\mu_t - \mu_\theta = \frac{\beta_t}{\sqrt{\alpha_t}\sqrt{1 - \bar\alpha_t}}(\epsilon_\theta - \epsilon)$ and
#
# $$L_{t-1} = \lambda_t\,\big\|\epsilon - \epsilon_\theta(x_t, t)\big\|^2 + C_t, \qquad
#   \lambda_t = \frac{\beta_t^2}{2\sigma_t^2\,\alpha_t\,(1 - \bar\alpha_t)}$$
#
# (Ho et al. 2020, eq. 12; the lecture writes $1 - \beta_t$ for $\alpha_t$). `ddpm.vlb_weights(schedule, variance)`
# computes $\lambda_t$ for $\sigma_t^2 = \tilde\beta_t$ (`"posterior"`) or $\beta_t$ (`"beta"`).
#
# **Check.** For random $x_0$, $\epsilon$ and a deliberately wrong $\hat\epsilon$, build the two Gaussians
# with `torch.distributions` and compare their KL with $\lambda_t\|\epsilon - \hat\epsilon\|^2 + C_t$, taking
# $C_t$ as the KL at $\hat\epsilon = \epsilon$; and evaluate $L_T$ for a digit.

# %%
lam = {v: ddpm.vlb_weights(linear, v) for v in ("posterior", "beta")}
g = torch.Generator().manual_seed(6)
x0_r, eps_r = torch.randn(8, 784, generator=g, dtype=torch.float64), torch.randn(8, 784, generator=g, dtype=torch.float64)
eps_hat_r = eps_r + 0.1 * torch.randn(8, 784, generator=g, dtype=torch.float64)
print(f"{'step t':>6} {'σ_t²':>9} | {'KL (torch.distributions)':>24} {'λ_t‖ε − ε̂‖² + C_t':>19} | {'C_t':>8}")
kl_gap = 0.0
for variance in ("posterior", "beta"):
    for t in (2, 10, 100, 1000):
        i = t - 1
        xt_r = linear.q_sample(x0_r, i, eps_r)
        sigma2 = linear.posterior_variance[i] if variance == "posterior" else linear.betas[i]
        q_post = torch.distributions.Normal(linear.q_posterior(x0_r, xt_r, i).mean, linear.posterior_variance[i].sqrt())

        def kl(e):
            mu = (xt_r - linear.betas[i] / (1 - linear.alphas_cumprod[i]).sqrt() * e) / linear.alphas[i].sqrt()
            return torch.distributions.kl_divergence(q_post, torch.distributions.Normal(mu, sigma2.sqrt())).sum(1)

        exact, const = kl(eps_hat_r), kl(eps_r)
        formula = lam[variance][i] * (eps_r - eps_hat_r).pow(2).sum(1) + const
        kl_gap = max(kl_gap, ((exact - formula).abs() / exact).max().item())
        if variance == "posterior":
            assert const.abs().max() < 1e-9  # C_t = 0 when σ_t² = β̃_t
        print(f"{t:>6} {variance:>9} | {exact[0].item():24.4f} {formula[0].item():19.4f} | {const[0].item():8.4f}")
print(f"largest relative difference: {kl_gap:.1e}")
abar_T = linear.alphas_cumprod[-1].item()
x0_digit = x0_img.double().flatten()
L_T = 0.5 * (abar_T * x0_digit**2 + (1 - abar_T) - 1 - math.log(1 - abar_T)).sum().item()
print(f"L_T for a test digit: {L_T:.4f} nats over 784 pixels")

# %%
assert kl_gap < 1e-9
assert L_T < 0.05
print("each L_{t-1} is λ_t ‖ε − ε̂‖² plus a constant (0 for σ_t² = β̃_t); L_T is below 0.05 nats for a whole digit")

# %% [markdown]
# **The weights.** $L_{simple}$ (below) weighs every step alike; the bound weighs step $t$ by
# $\lambda_t$. The figure plots $\lambda_t$ against the step $t$ on a log scale for both choices of
# $\sigma_t^2$ (left), and the same weights rescaled to average 1 over the steps next to
# $L_{simple}$'s constant 1 (right; only the relative weights decide where the network's capacity goes).
# Each curve on the right is divided by its own mean.

# %%
steps_vlb = np.arange(2, 1001)  # step 1 is L_0, not a KL term
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for variance, label in [("posterior", r"$\sigma_t^2 = \tilde\beta_t$"), ("beta", r"$\sigma_t^2 = \beta_t$")]:
    w = lam[variance][1:].numpy()
    axes[0].plot(steps_vlb, w, label=r"$\lambda_t$, " + label)
    axes[1].plot(steps_vlb, w / w.mean(), label=r"bound, " + label)
axes[1].plot(steps_vlb, np.ones_like(steps_vlb, dtype=float), "k--", label=r"$L_{simple}$ ($\lambda_t = 1$)")
axes[0].set(yscale="log", xlabel="step t", ylabel=r"$\lambda_t$", title=r"the bound's weights $\lambda_t$ (linear schedule)")
axes[1].set(yscale="log", xlabel="step t", ylabel="weight / its mean over t", title=r"relative weight per step")
for ax in axes:
    ax.legend(loc="upper right")
plt.show()
lp = lam["posterior"]
t_min = int(lp[1:].argmin()) + 2
share_first = (lp[1:100].sum() / lp[1:].sum()).item()
print(f"σ_t² = β̃_t: λ_1 = {lp[0].item()}, λ_2 = {lp[1].item():.3f}, smallest λ_{t_min} = {lp[t_min - 1].item():.4f}, "
      f"λ_T = {lp[-1].item():.4f}")
print(f"λ_2 / smallest = {(lp[1] / lp[t_min - 1]).item():.0f}; steps 2..100 carry {share_first:.0%} of the bound's weight "
      f"(L_simple: {99 / 999:.0%})")

# %%
assert math.isinf(lp[0].item())
assert (lp[1] / lp[1:].min()).item() > 100 and 300 < t_min < 400 and 1.5 < (lp[-1] / lp[1:].min()).item() < 2.5
assert lp[1] < 1
assert (lam["posterior"][1:] >= lam["beta"][1:]).all()
assert ((lam["posterior"] / lam["beta"] - 1)[99:].abs().max() < 0.05)
relative = {v: lam[v][1:] / lam[v][1:].mean() for v in lam}  # the right panel's curves
assert ((relative["posterior"] / relative["beta"] - 1)[98:].abs().min() > 0.05)
assert share_first > 0.3
print("λ_t falls more than 100-fold from step 2 (λ_2 < 1) to its minimum between steps 300 and 400, then rises\n"
      "1.5 to 2.5-fold towards T; the two variances agree within 5% from step 100 on, yet divided by their own means\n"
      "(right panel) they differ by more than 5% at every step from 100 on; the first tenth of the steps carries over\n"
      "30% of the weight")

# %% [markdown]
# With $\sigma_t^2 = \tilde\beta_t$, $\lambda_1$ is infinite (step 1 belongs to $L_0$), and from step 2
# on $\lambda_t$ falls by more than two orders of magnitude to a minimum about a third of the
# way through the schedule, then rises about twofold towards $T$ as $\beta_t$ keeps growing while $1 - \bar\alpha_t$
# saturates at 1. The two choices of $\sigma_t^2$ differ only in the first steps, where
# $\tilde\beta_t < \beta_t$ (left). On the right the two curves separate everywhere: the first
# steps are a large part of each curve's mean, so the larger first weights of
# $\sigma_t^2 = \tilde\beta_t$ push all its other relative weights down. The lecture says the weight is "very large for small $t$": large
# *relative to the other steps* (the first tenth of the steps carries over 30% of the bound's
# weight), not in absolute terms (here $\lambda_2 < 1$). $L_{simple}$ sets $\lambda_t = 1$, which
# shifts weight from the nearly clean first steps to the noisier ones; Ho et al. found this
# gives better samples and a worse likelihood:
#
# $$L_{simple} = \mathbb E_{x_0, \epsilon, t \sim U\{1..T\}}\big\|\epsilon - \epsilon_\theta(\sqrt{\bar\alpha_t}x_0 + \sqrt{1 - \bar\alpha_t}\epsilon,\ t)\big\|^2 .$$
#
# Lecture pseudo-code on the left, `gdmcourse.ddpm` on the right (index `t` = step $t + 1$):
#
# | Algorithm 1 (training) | `DiffusionSchedule.loss_simple` |
# |---|---|
# | $x_0 \sim q(x_0)$ | a batch `x0` (`train_ddpm` draws it) |
# | $t \sim \mathrm{Uniform}(\{1, \dots, T\})$ | `t = torch.randint(self.T, (len(x0),), generator=generator)` |
# | $\epsilon \sim \mathcal N(0, I)$ | `noise = torch.randn(x0.shape, generator=generator)` |
# | gradient step on $\lVert\epsilon - \epsilon_\theta(\sqrt{\bar\alpha_t}x_0 + \sqrt{1 - \bar\alpha_t}\epsilon, t)\rVert^2$ | `(noise - model(self.q_sample(x0, t, noise), t)).pow(2).mean()`, then Adam |
#
# | Algorithm 2 (sampling) | `DiffusionSchedule.sample` / `p_sample` |
# |---|---|
# | $x_T \sim \mathcal N(0, I)$ | `x = torch.randn(shape, generator=generator)` |
# | for $t = T, \dots, 1$ | `for t in range(self.T - 1, -1, -1):` |
# | $z \sim \mathcal N(0, I)$ if $t > 1$, else $z = 0$ | `if t == 0: return mean` (no noise on the last step) |
# | $x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\big(x_t - \frac{1 - \alpha_t}{\sqrt{1 - \bar\alpha_t}}\epsilon_\theta(x_t, t)\big) + \sigma_t z$ | `mean + var.sqrt() * z`, with $\sigma_t^2 = \tilde\beta_t$ (or $\beta_t$: `variance="beta"`) |
#
# The lecture's slide leaves out "$z = 0$ at $t = 1$"; Ho et al.'s paper has it. Both
# choices of $\sigma_t^2$ are in the paper: $\beta_t$ is right when $x_0 \sim \mathcal N(0, I)$,
# $\tilde\beta_t$ when $x_0$ is a single point; for real data they give similar samples.
# With `clip=True` (used for the digits in section 6, as in Ho et al.'s code but not in
# Algorithm 2) `p_sample` first clamps $\hat x_0$ to the data range $[-1, 1]$ and takes the
# mean as the posterior mean $\tilde\mu_t(\hat x_0, x_t)$, which is Algorithm 2's mean whenever
# nothing is clamped.
#
# ## 5. A 2-D toy: the swiss roll
#
# A small MLP $\epsilon_\theta(x_t, t)$ (`nets.TimeMLP`: the step enters through sinusoidal
# features added to every hidden layer) trained with Algorithm 1 for 8,000 steps, on a
# linear schedule with $T = 200$ (`ddpm.toy_schedule()`).

# %% tags=["nbval-ignore-output"]
toy_model, toy_schedule, toy_history, toy_scale = ddpm.train_toy("swissroll", steps=8000, seed=0, device=device,
                                                                   progress=False)
print(f"trained in {toy_history.seconds:.0f} s; L_simple over the last 500 steps: {np.mean(toy_history.loss[-500:]):.3f}")

# %%
first, last = np.mean(toy_history.loss[:20]), np.mean(toy_history.loss[-500:])
assert last < 0.3 and last < 0.5 * first, (first, last)
print(f"L_simple fell from {first:.2f} to below 0.3")

# %% [markdown]
# **The sampling trajectory.** Algorithm 2 from 2,000 points of $\mathcal N(0, I)$, keeping
# $x_t$ at a few steps. The figure shows the 2,000 points $x_t$ at $t = 200$ (the starting
# noise $x_T$), 40, 20, 10, 5 and the final samples $x_0$, and 2,000 data points on the right
# (both coordinates in units of the data's standard deviation). The energy distance to the
# data (printed below the figure) falls at every kept step down to $x_5$, more than threefold
# from $x_{200}$ to $x_{40}$ and more than fivefold again from $x_{40}$ to $x_0$: the spiral
# forms over the last few dozen steps. The last five steps, from $x_5$ to $x_0$, change it by
# less than half.

# %%
toy_real = data.toy2d("swissroll", 20_000, seed=0) / toy_scale
keep = [200, 40, 20, 10, 5, 0]  # frames[t] is x_t: 200 = T, the starting noise; 0 the samples
toy_samples, frames = toy_schedule.sample_trajectory(toy_model, (2000, 2), keep, progress=False,
                                                     generator=torch.Generator().manual_seed(0))
fig, axes = plt.subplots(1, len(keep) + 1, figsize=(2.6 * (len(keep) + 1), 2.7), sharex=True, sharey=True)
for ax, t in zip(axes, keep):
    pts = frames[t] if t != 0 else toy_samples
    ax.scatter(*pts.T, s=1, alpha=0.4)
    ax.set_title({200: "$x_{200}$ (noise $x_T$)", 0: "$x_0$ (samples)"}.get(t, f"$x_{{{t}}}$"))
axes[-1].scatter(*toy_real[:2000].T, s=1, alpha=0.4, color="C1")
axes[-1].set_title("data")
for ax in axes:
    ax.set(xlim=(-3, 3), ylim=(-3, 3), aspect="equal", xlabel="$x_1$")
axes[0].set_ylabel("$x_2$")
plt.show()
frame_ed = [metrics.energy_distance(frames[t] if t else toy_samples.cpu(), toy_real[:2000]) for t in keep]
print("energy distance to the data of x_t at t = " + ", ".join(str(t) for t in keep) + ": "
      + ", ".join(f"{v:.3f}" for v in frame_ed))

# %%
assert all(a > b for a, b in zip(frame_ed[:5], frame_ed[1:5]))
assert frame_ed[0] > 3 * frame_ed[1] and frame_ed[1] > 5 * frame_ed[-1] and abs(frame_ed[-1] / frame_ed[4] - 1) < 0.5
print("the energy distance falls at every kept step down to x_5, over 3× from x_200 to x_40 and over 5× from x_40 to x_0; "
      "the five steps x_5 → x_0 change it by less than half")

# %% [markdown]
# **How close?** The energy distance $D^2 = 2\mathbb E\|X - Y\| - \mathbb E\|X - X'\| - \mathbb E\|Y - Y'\|$
# (`metrics.energy_distance`) is 0 only for equal distributions. Two independent
# 2,000-point samples of the data are not at 0 either, so we report the ratio of
# (samples vs data) to (data vs data), averaged over three seeds: 1 is as good as it gets
# (`metrics.energy_distance_ratio`; the benchmarks report the same figure).

# %%
ratios = metrics.energy_distance_ratio(
    lambda n, g: toy_schedule.sample(toy_model, (n, 2), generator=g, progress=False), toy_real, seeds=3)
toy_ratio = float(np.mean(ratios))
print(f"energy distance ratio (samples vs data) / (data vs data): {toy_ratio:.1f}")

# %%
assert toy_ratio <= 3, ratios
print("the toy DDPM's samples are within 3× the data's own sampling distance (ratio ≤ 3)")

# %% [markdown]
# ## 6. Digits: a small UNet, ancestral sampling and DDIM
#
# Images need a bigger $\epsilon_\theta$: `nets.UNet`, residual blocks at 28×28, 14×14 and 7×7
# with self-attention at 7×7, the step's sinusoidal embedding added in every residual block, and a last
# convolution that starts at zero (so training starts from $\hat\epsilon = 0$); the cells after
# the next one take it apart. Training it took over an hour on one CPU thread, so the course
# ships the weights: they were made by the command printed below (which also records the
# training time) and are checked against their sha256 on loading.

# %%
record = weights.registry()["ddpm"]
unet = recipes.load_model("ddpm").to(device)
print(f"command: {record['command']}\nsha256: {record['sha256']}")
print(f"{record['parameters']:,} parameters, {record['steps']} steps of batch {record['batch_size']}, "
      f"{record['schedule']}, {record['weights']}, final L_simple {record['final_loss_mean_last_500']}, "
      f"trained in {record['train_seconds'] / 60:.0f} min")
assert record["train_seconds"] > 3600 and record["threads"] == 1  # "over an hour on one CPU thread"

# %% [markdown]
# **The time embedding.** One network serves all $T$ noise levels, so it must be told $t$. The
# lecture's "sinusoidal positional embedding" (Vaswani et al. 2017, used by Ho et al.) maps $t$ to
# $d$ numbers, a sine and a cosine at each of $d/2$ frequencies $\omega_i = 10000^{-i/(d/2)}$:
#
# $$e(t) = \big(\sin(\omega_0 t), \dots, \sin(\omega_{d/2-1}t),\ \cos(\omega_0 t), \dots, \cos(\omega_{d/2-1}t)\big)$$
#
# (`nets.timestep_embedding`; the UNet uses $d$ = its width and passes $e(t)$ through a two-layer
# MLP). Each sine–cosine pair is a point on the unit circle, so $\|e(t)\| = \sqrt{d/2}$ for every $t$,
# and $e(t)\cdot e(s) = \sum_i \cos(\omega_i (t - s))$ depends only on the distance $t - s$. The fast
# pairs tell neighbouring steps apart; the slowest turns by less than a quarter circle over all
# 1000 steps and so gives a coarse, monotone "clock". The figure shows $e(t)$ for every step
# (left: step index down, embedding dimension across, colour the value) and the cosine similarity of $e(t)$ and
# $e(t + \Delta)$ against the distance $\Delta$ (right).

# %%
d_emb = unet.width
emb = nets.timestep_embedding(torch.arange(1000), d_emb)
cos_sim = (emb @ emb.T) / (d_emb / 2)
by_distance = torch.stack([cos_sim.diagonal(k).mean() for k in range(1000)])
toeplitz_dev = max((cos_sim.diagonal(k) - by_distance[k]).abs().max().item() for k in range(1000))
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1, 1.3], "wspace": 0.45})
im = axes[0].imshow(emb.numpy(), aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest",
                    extent=(-0.5, d_emb - 0.5, 999.5, -0.5))
axes[0].set(xlabel=f"embedding dimension (0–{d_emb // 2 - 1}: sin, {d_emb // 2}–{d_emb - 1}: cos)", ylabel="step index t (step t + 1)",
            title=f"e(t), d = {d_emb}")
axes[0].grid(False)
fig.colorbar(im, ax=axes[0], label="value of e(t)", pad=0.02)
axes[1].plot(np.arange(1000), by_distance.numpy())
axes[1].set(xscale="symlog", xlabel="distance Δ between steps (log scale beyond 1)", ylabel="cosine similarity of e(t), e(t + Δ)",
            title="similarity depends only on Δ")
plt.show()
norms = emb.norm(dim=1)
print(f"‖e(t)‖ from {norms.min().item():.4f} to {norms.max().item():.4f}; √(d/2) = {math.sqrt(d_emb / 2):.4f}")
print(f"cosine similarity at Δ = 1: {by_distance[1].item():.3f}; largest at Δ ≥ 2: {by_distance[2:].max().item():.3f}; "
      f"mean over Δ ≥ 100: {by_distance[100:].mean().item():.3f}")

# %%
omegas = torch.exp(-math.log(10_000) * torch.arange(d_emb // 2) / (d_emb // 2))
assert torch.allclose(norms, torch.full_like(norms, math.sqrt(d_emb / 2)), atol=1e-4)
assert toeplitz_dev < 1e-4  # e(t)·e(s) is a function of t − s
assert by_distance[1] > by_distance[2:].max() and by_distance[1:6].mean() > by_distance[100:].mean() + 0.3
assert omegas[-1] * 999 < math.pi / 2 and (emb[1:, d_emb // 2 - 1] > emb[:-1, d_emb // 2 - 1]).all()
assert 2 * math.pi / omegas[0] < 10
assert emb[:, -1].min() > 0.9  # the slowest cosine
assert (by_distance[1:] - by_distance[:-1]).max() > 0.1  # the similarity rises again somewhere
print("‖e(t)‖ = √(d/2) for every t; similarity depends only on the distance, is highest for neighbours, and rises\n"
      "again by more than 0.1 at some larger distance; the slowest sine rises monotonically over all steps, the slowest\n"
      "cosine stays above 0.9, the fastest pair repeats every 2π ≈ 6.3 steps")

# %% [markdown]
# In the heat map the first columns (fast frequencies) flicker from step to step, the column
# just left of the middle (the slowest sine) rises slowly and monotonically, and the last
# column (the slowest cosine) stays near 1 (above 0.9) over all steps. Nearby steps have the most similar
# embeddings, but the similarity does not fall steadily with distance: it oscillates, rising
# again by more than 0.1 at some distances, because the fast pairs realign every $2\pi/\omega_i$ steps. The MLP after the embedding, and every block that
# receives it, learns what to make of these features.
#
# **The UNet, level by level.** Forward hooks record the shape of what each block returns, and
# which blocks receive the time embedding, on one batch of two noisy digits. (In the printout,
# "in" is the block's input: the up path's blocks take the previous output concatenated with the
# down path's skip connection at the same resolution.)

# %%
shapes, time_calls = {}, []
hooks = []
for name, module in unet.named_modules():
    top = name.count(".") == 1 and name.split(".")[0] in ("down", "downsample", "up", "upsample")
    if (top or name in ("inp", "mid1", "attn", "mid2", "out")) and not isinstance(module, torch.nn.Identity):
        hooks.append(module.register_forward_hook(
            lambda m, inputs, output, name=name: shapes.__setitem__(name, (tuple(inputs[0].shape[1:]), tuple(output.shape[1:])))))
    if name.endswith(".time") and isinstance(module, torch.nn.Linear):
        hooks.append(module.register_forward_hook(lambda m, inputs, output, name=name: time_calls.append(name)))
with torch.no_grad():
    out = unet(linear.q_sample(x0_img.repeat(2, 1, 1, 1), 299, torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(7))).to(device),
               torch.full((2,), 299, device=device))
for h in hooks:
    h.remove()
params = {name: sum(p.numel() for p in m.parameters()) for name, m in unet.named_modules() if name in shapes or name == "time_mlp"}
print(f"{'block':<14} {'in (C×H×W)':>14} {'out (C×H×W)':>14} {'parameters':>11}  time embedding")
print(f"{'time_mlp':<14} {'(' + str(d_emb) + ',)':>14} {'(' + str(4 * d_emb) + ',)':>14} {params['time_mlp']:>11,}  e(t) → the vector every block adds")
for name, (shape_in, shape_out) in shapes.items():
    fmt = lambda s: "×".join(map(str, s))  # noqa: E731
    print(f"{name:<14} {fmt(shape_in):>14} {fmt(shape_out):>14} {params[name]:>11,}  {'yes' if name + '.time' in time_calls else ''}")
total = sum(p.numel() for p in unet.parameters())
paths = {k: sum(v for n, v in params.items() if n.split(".")[0] in group) for k, group in
         [("down", ("down", "downsample")), ("middle", ("mid1", "attn", "mid2")), ("up", ("up", "upsample"))]}
print(f"total {total:,} parameters: down path {paths['down']:,}, middle {paths['middle']:,}, up path {paths['up']:,}")

# %%
res = {name: shape_out[-1] for name, (_, shape_out) in shapes.items()}
levels = len(unet.down)
assert [res[f"down.{i}"] for i in range(levels)] == [28, 14, 7] == [res[f"up.{levels - 1 - i}"] for i in range(levels)]
assert res["mid1"] == res["attn"] == res["mid2"] == 7 and params["attn"] > 0  # attention only in the middle
for i in range(levels):  # each up block takes its input concatenated with the skip of the same level
    assert shapes[f"up.{i}"][0][0] == shapes["mid2" if i == 0 else f"upsample.{i - 1}"][1][0] + shapes[f"down.{levels - 1 - i}"][1][0]
assert shapes["out"][1] == (1, 28, 28) and out.shape == (2, 1, 28, 28)
time_layers = [m for name, m in unet.named_modules() if name.endswith(".time")]
n_resblocks = len(time_layers)
assert len(time_calls) == n_resblocks == 2 * levels + 2 and all(m.in_features == 4 * d_emb for m in time_layers)
assert total == record["parameters"] == sum(params.values())
assert paths["up"] > paths["down"]
print(f"resolutions 28 → 14 → 7 → 14 → 28, attention at 7×7 only, the time embedding enters all {n_resblocks} residual blocks; "
      "the up path, whose blocks read the skip connections too, holds more parameters than the down path")

# %% [markdown]
# **DDIM** (Song et al. 2021) reuses the same trained network but jumps between a few of the
# $T$ noise levels: from $x_t$ it predicts $\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\hat\epsilon)/\sqrt{\bar\alpha_t}$
# and moves to the next kept level $s < t$ along $x_s = \sqrt{\bar\alpha_s}\hat x_0 + \sqrt{1 - \bar\alpha_s}\hat\epsilon$
# (deterministic when $\eta = 0$). Both samplers clip $\hat x_0$ to the data range $[-1, 1]$
# at every step (`clip=True`, as Ho et al.'s code does): without it, the same 50 DDIM steps
# from the same starting points end with many pixels outside the data range (more than a
# fifth of them, measured below).
#
# Ancestral sampling (Algorithm 2) takes all 1,000 steps, so we run it on 16 images only and
# DDIM with 50 steps on the same 16 starting points, then 64 more DDIM samples.
# As a quick quality score we use the course's MNIST classifier (notebook 09): the share of
# samples it labels with more than 95% confidence (about 96% of 1,000 real test digits).

# %% tags=["nbval-ignore-output"]
classifier = metrics.feature_extractor("mnist")


def confident_share(x):
    return (classifier.probs(ddpm.to_image_range(x).cpu()).max(1).values > 0.95).float().mean().item()


start = time.perf_counter()
ancestral = linear.sample(unet, (16, 1, 28, 28), generator=torch.Generator().manual_seed(3), clip=True, progress=False)
t_ancestral = time.perf_counter() - start
start = time.perf_counter()
ddim16 = linear.ddim_sample(unet, (16, 1, 28, 28), steps=50, generator=torch.Generator().manual_seed(3), clip=True,
                             progress=False)
t_ddim = time.perf_counter() - start
ddim64 = linear.ddim_sample(unet, (64, 1, 28, 28), steps=50, generator=torch.Generator().manual_seed(4), clip=True,
                             progress=False)
ddim16_unclipped = linear.ddim_sample(unet, (16, 1, 28, 28), steps=50, generator=torch.Generator().manual_seed(3),
                                      progress=False)
outside = (ddim16_unclipped.abs() > 1).float().mean().item()
print(f"DDIM-50 without clipping, same 16 x_T: {outside:.0%} of the pixels outside [-1, 1], "
      f"largest |value| {ddim16_unclipped.abs().max().item():.1f}")
speedup = t_ancestral / t_ddim
print(f"16 images: ancestral (1000 steps) {t_ancestral:.1f} s, DDIM (50 steps) {t_ddim:.2f} s: {speedup:.0f}× faster")
share_ancestral, share_ddim = confident_share(ancestral), confident_share(ddim16)
print(f"confident share on the same 16 starting points x_T: ancestral {share_ancestral:.2f}, DDIM-50 {share_ddim:.2f}; "
      f"DDIM-50 on 80 images: {confident_share(torch.cat([ddim16, ddim64])):.2f}")
real_share = confident_share(ddpm.to_model_range(X_test[:1000]))
print(f"confident share on 1,000 real test digits: {real_share:.2f}")

# %%
labels_ancestral, labels_ddim = (classifier.probs(ddpm.to_image_range(x).cpu()).argmax(1) for x in (ancestral, ddim16))
same_label = (labels_ancestral == labels_ddim).float().mean().item()
assert 0.93 < real_share < 0.99, real_share
assert speedup >= 10, speedup
assert confident_share(torch.cat([ddim16, ddim64])) > 0.5
assert min(share_ancestral, share_ddim) > 0.5 and abs(share_ancestral - share_ddim) <= 3 / 16, (share_ancestral, share_ddim)
assert outside > 0.2, outside
assert same_label < 0.5, same_label
print(f"the two samplers' images of a pair get the same label in {round(same_label * 16)} of the 16 pairs")
print("the classifier is confident on 93-99% of 1,000 real test digits; DDIM-50 is at least 10× faster than ancestral\n"
      "sampling and most of its samples are confidently digits; from the same x_T the two samplers' shares differ by\n"
      "at most three of the 16 images (too few images to rank the samplers); unclipped, DDIM leaves more than a fifth of the pixels outside [-1, 1]; the two samplers' digits from the same\n"
      "x_T get the same label in fewer than half of the 16 pairs")

# %% [markdown]
# The figure shows the 16 ancestral samples (left), the 16 DDIM-50 samples from the same
# starting points $x_T$ in the same grid positions (middle), and 32 more DDIM-50 samples (right).

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1, 1, 2]})
plot.image_grid(ddpm.to_image_range(ancestral).cpu(), nrow=4, ax=axes[0], title="ancestral, 1000 steps")
plot.image_grid(ddpm.to_image_range(ddim16).cpu(), nrow=4, ax=axes[1], title="DDIM, 50 steps (same x_T)")
plot.image_grid(ddpm.to_image_range(ddim64[:32]).cpu(), nrow=8, ax=axes[2], title="more DDIM-50 samples")
plt.show()

# %% [markdown]
# Both samplers give digits, of a quality the confident shares above measure: the shipped UNet
# (its parameters and training steps are printed above) is far from the 35 M parameters and
# 800k steps of Ho et al. Compared on the same 16
# starting points $x_T$, the two samplers' shares of digits the course's classifier is
# confident about (printed above) differ by at most three images, and sixteen images are too
# few to tell the samplers apart: one image moves the share by 0.06, and a difference of three
# images is well within chance. Measuring what DDIM's speed-up (20× fewer network evaluations,
# at least 10× less time as measured) costs takes many more samples: notebook 09 scores 1,000
# DDIM-25 samples with FID, precision and recall, and `python -m gdmcourse bench` compares
# DDIM-50 with ancestral sampling on 1,000 from the same $x_T$ (FID 60 ancestral against 75
# for DDIM-50, recorded in `benchmarks/results.json`). Starting from the same $x_T$
# the two mostly end at different digits (the classifier gives the two images of a pair the
# same label in fewer than half of the pairs, the count printed above): ancestral sampling
# injects fresh noise at every step, DDIM ($\eta = 0$) none.
#
# ## 7. Explorer: what the model sees at step $t$
#
# Take a test digit, noise it to $x_t$, and ask the model for $\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\,\epsilon_\theta(x_t, t))/\sqrt{\bar\alpha_t}$.
# Each panel shows $x_0$ | $x_t$ | $\hat x_0$ for four digits at one step $t$ (static view: $t$ = 50,
# 300, 600, 900). At small $t$ the guess is close to $x_0$ (the table below: an RMSE under 0.1 at
# $t = 50$, on pixels in $[-1, 1]$). At large $t$ even a perfect network could only return the
# posterior mean $\mathbb E[x_0 \mid x_t]$, a blurry average digit; what the panel shows beyond that
# blur is the network's error, magnified. The reason is in the formula:
# $\hat x_0 - x_0 = -\frac{\sqrt{1 - \bar\alpha_t}}{\sqrt{\bar\alpha_t}}\,(\epsilon_\theta - \epsilon)$, so
# the network's error in $\hat\epsilon$ reaches $\hat x_0$ multiplied by
# $\sqrt{(1 - \bar\alpha_t)/\bar\alpha_t}$, about 60 at $t = 900$. (The panels clamp $\hat x_0$
# to $[-1, 1]$, which hides how far off it is; the table after the figure measures it.)

# %%
digits = ddpm.to_model_range(X_test[[3, 2, 1, 18]])
eps_fixed = torch.randn(digits.shape, generator=torch.Generator().manual_seed(5))


def draw_denoise(step, ax=None):
    i = step - 1
    x_t = linear.q_sample(digits, i, eps_fixed)
    with torch.no_grad():
        x0_hat = linear.predict_x0(x_t, i, unet(x_t.to(device), torch.full((4,), i, device=device)).cpu()).clamp(-1, 1)
    rows = torch.cat([torch.cat([a, b, c], dim=-1) for a, b, c in zip(digits, x_t, x0_hat)], dim=-2)
    ax.imshow(ddpm.to_image_range(rows)[0], cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([14, 42, 70], ["x_0", "x_t", "x̂_0"])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_title(f"t = {step}, ᾱ_t = {linear.alphas_cumprod[i].item():.4f}")


widgets.explore(draw_denoise, static=[{"step": s} for s in (50, 300, 600, 900)], panel_size=(2.6, 3.6),
                step=widgets.IntSlider(value=300, min=1, max=1000, step=1, description="t"))

# %%
print("    t      ᾱ_t   √((1−ᾱ_t)/ᾱ_t)   RMSE of ε̂   RMSE of x̂₀ (unclamped)")
errors = {}
for step in (50, 300, 600, 900):
    i = step - 1
    x_t = linear.q_sample(digits, i, eps_fixed)
    with torch.no_grad():
        eps_hat = unet(x_t.to(device), torch.full((4,), i, device=device)).cpu()
    alpha_bar = linear.alphas_cumprod[i].item()
    # the error of ε̂ reaches x̂₀ times √((1 − ᾱ_t)/ᾱ_t)
    gain = math.sqrt((1 - alpha_bar) / alpha_bar)
    err_eps = (eps_hat - eps_fixed).pow(2).mean().sqrt().item()
    err_x0 = (linear.predict_x0(x_t, i, eps_hat) - digits).pow(2).mean().sqrt().item()
    errors[step] = (gain, err_eps, err_x0)
    print(f"{step:5d} {alpha_bar:8.4f} {gain:14.1f} {err_eps:12.3f} {err_x0:12.2f}")

# %%
assert errors[50][2] < 0.1
for gain, err_eps, err_x0 in errors.values():
    assert abs(err_x0 - gain * err_eps) <= 1e-3 * err_x0  # the identity above, measured
assert errors[900][1] < errors[50][1] and errors[900][2] > 10 * errors[50][2]
assert 50 < errors[900][0] < 70
print("x̂₀'s error is ε̂'s error times √((1−ᾱ_t)/ᾱ_t): ε̂ gets better at large t, x̂₀ much worse")

# %% [markdown]
# The network's noise estimate is actually *better* at $t = 900$ than at $t = 50$ (noise is
# easy to recognise when the image is almost all noise), yet $\hat x_0$ is far worse: a
# one-shot jump from $x_{900}$ to $x_0$ multiplies every small error by about 60. This is
# why sampling proceeds in many small steps, each trusting $\hat x_0$ only a little, and why
# the samplers here can clip $\hat x_0$ to the data's range.
#
# ## Summary
#
# - The forward process has a closed form, $x_t = \sqrt{\bar\alpha_t}x_0 + \sqrt{1 - \bar\alpha_t}\epsilon$,
#   checked against iterating it; its posterior $q(x_{t-1} \mid x_t, x_0)$ is Gaussian with
#   $\tilde\mu_t$, $\tilde\beta_t$, checked by regression.
# - Predicting the noise turns the bound's KL terms into weighted noise regressions;
#   $L_{simple}$ drops the weights, and Algorithm 2 runs the learned reverse process for $T$ steps.
# - The schedule decides where the steps are spent; the cosine schedule wastes fewer.
# - The variational bound is $L_T + \sum_{t>1} L_{t-1} + L_0$; with the noise parameterisation each
#   $L_{t-1}$ is $\lambda_t\|\epsilon - \epsilon_\theta\|^2$ (plus a constant), and $\lambda_t$ puts far more weight on the
#   first steps than $L_{simple}$'s $\lambda_t = 1$.
# - The step enters the network as a sinusoidal embedding of constant norm, added in every
#   residual block of the UNet (28 → 14 → 7 and back, attention at 7×7).
# - DDIM samples with the same network in a few dozen steps, here at least 10× faster, at a
#   cost in quality on this small model (on 1,000 samples from the same $x_T$, FID 60 ancestral
#   against 75 for DDIM-50: `benchmarks/results.json`).
#
# The lectures continue from here: lecture 003 with Dhariwal & Nichol's improved diffusion
# models, super-resolution (SR3) and text-guided generation and inpainting (GLIDE); lecture 001
# with DALL-E 2 (a diffusion decoder for CLIP image embeddings) and latent diffusion (Stable
# Diffusion), which runs this notebook's process on the latent grid of an autoencoder
# (Rombach et al. try, among others, a VQ-regularised one like notebook 07's).

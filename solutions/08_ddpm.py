# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise 08 · The forward process, its posterior, the loss and one sampling step
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/solutions/08_ddpm.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=solutions%2F08_ddpm.ipynb)
#
# *Goes with notebook 08 and lecture 001 ("Diffusion": diffusion kernel, tractable posterior,
# $L_{simple}$, Algorithms 1 and 2).*
#
# You will write
#
# 1. `q_sample`: a draw from $q(x_t \mid x_0)$ in closed form,
# 2. `q_posterior`: the mean and variance of $q(x_{t-1} \mid x_t, x_0)$,
# 3. `ddpm_loss`: Algorithm 1's $L_{simple}$,
# 4. `p_sample_step`: one step of Algorithm 2,
#
# and then train a small DDPM on a 2-D toy with your loss and sample it with your step. Fill
# in each cell that says `raise NotImplementedError`, run it, then run the check cell below
# it: it prints `PASSED` or `FAILED` with a hint.
#
# **Conventions.** Every function receives a `schedule` (`gdmcourse.ddpm.DiffusionSchedule`)
# with float64 tensors of shape `(T,)`: `schedule.betas` ($\beta_t$), `schedule.alphas`
# ($\alpha_t = 1 - \beta_t$), `schedule.alphas_cumprod` ($\bar\alpha_t$),
# `schedule.alphas_cumprod_prev` ($\bar\alpha_{t-1}$, equal to 1 at the first step) and
# `schedule.T`. The lecture counts steps $t = 1..T$; tensors count from 0, so **index `t`
# holds step $t + 1$**: `alphas_cumprod[t]` is the $\bar\alpha$ of the step a model called
# with `t` is at. A step index is an int or a tensor of shape `(B,)`, one per example;
# index a schedule tensor with it and reshape to `(B, 1, ..., 1)` to broadcast over an example:
# `ddpm.extract(values, t, x)` does both (`values[t]` on `x`'s device and dtype, shape `(B, 1, ..., 1)`).

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

from gdmcourse import checks as check
from gdmcourse import data, ddpm, nets, plot

device = gdmcourse.startup(seed=0)
plot.use_style()


# %% [markdown]
# ## 1. The forward process in one draw
#
# $$x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \epsilon, \qquad \epsilon \sim \mathcal N(0, I).$$
#
# `t` is a tensor of indices `(B,)`; `x0` and `noise` have shape `(B, ...)`. The helper
# `ddpm.extract(values, t, x)` does the indexing and reshaping for you.

# %%
def q_sample(x0, t, noise, schedule):
    """x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise, with alpha_bar_t = schedule.alphas_cumprod[t]."""
    ### BEGIN SOLUTION
    ab = ddpm.extract(schedule.alphas_cumprod, t, x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    ### END SOLUTION


# %%
check.q_sample(q_sample)


# %% [markdown]
# ## 2. The posterior
#
# $$q(x_{t-1} \mid x_t, x_0) = \mathcal N(\tilde\mu_t, \tilde\beta_t I), \quad
#   \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t}x_0 + \frac{\sqrt{\alpha_t}(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t}x_t, \quad
#   \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t .$$
#
# Return `(mean, variance)`: the mean with `x0`'s shape, the variance broadcastable to it
# (shape `(B, 1, ..., 1)` is fine). Careful with $\bar\alpha_{t-1}$ at the first step (index 0).

# %%
def q_posterior(x0, xt, t, schedule):
    """Mean and variance of q(x_{t-1} | x_t, x_0)."""
    ### BEGIN SOLUTION
    beta, alpha = ddpm.extract(schedule.betas, t, x0), ddpm.extract(schedule.alphas, t, x0)
    ab, ab_prev = ddpm.extract(schedule.alphas_cumprod, t, x0), ddpm.extract(schedule.alphas_cumprod_prev, t, x0)
    mean = ab_prev.sqrt() * beta / (1 - ab) * x0 + alpha.sqrt() * (1 - ab_prev) / (1 - ab) * xt
    return mean, (1 - ab_prev) / (1 - ab) * beta
    ### END SOLUTION


# %%
check.q_posterior(q_posterior)


# %% [markdown]
# ## 3. The training loss (Algorithm 1)
#
# For a batch `x0`: draw **one step index per example**, uniformly from `0..T−1`, and the
# noise, both with `generator` (in that order); form $x_t$ with your `q_sample`; return the
# mean squared error between the noise and `model(x_t, t)`:
#
# $$L_{simple} = \big\|\epsilon - \epsilon_\theta(\sqrt{\bar\alpha_t}x_0 + \sqrt{1 - \bar\alpha_t}\epsilon,\ t)\big\|^2 \quad\text{(averaged over all elements)}.$$

# %%
def ddpm_loss(model, x0, schedule, generator=None):
    """L_simple for one batch x0 (B, ...)."""
    ### BEGIN SOLUTION
    t = torch.randint(schedule.T, (len(x0),), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
    return (noise - model(q_sample(x0, t, noise, schedule), t)).pow(2).mean()
    ### END SOLUTION


# %%
check.ddpm_loss(ddpm_loss)


# %% [markdown]
# ## 4. One sampling step (Algorithm 2)
#
# At step index `t` (an int), with $\hat\epsilon = $ `model(xt, t_batch)` where `t_batch` is
# `t` repeated for every example:
#
# $$x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\hat\epsilon\Big) + \sigma_t z,
#   \qquad \sigma_t^2 = \tilde\beta_t \ (\texttt{schedule.posterior\_variance[t]}),\quad z \sim \mathcal N(0, I),$$
#
# and **no noise at the last step** (index 0, which produces $x_0$). Draw $z$ with `generator`.

# %%
def p_sample_step(model, xt, t, schedule, generator=None):
    """x_{t-1} from x_t at step index t (an int)."""
    ### BEGIN SOLUTION
    beta, alpha, ab = (v[t].item() for v in (schedule.betas, schedule.alphas, schedule.alphas_cumprod))
    eps = model(xt, torch.full((len(xt),), t, dtype=torch.long))
    mean = (xt - beta / (1 - ab) ** 0.5 * eps) / alpha**0.5
    if t == 0:
        return mean
    z = torch.randn(xt.shape, generator=generator, dtype=xt.dtype).to(xt.device)
    return mean + schedule.posterior_variance[t].item() ** 0.5 * z
    ### END SOLUTION


# %%
check.p_sample_step(p_sample_step)

# %% [markdown]
# ## 5. Use them: a DDPM on two moons
#
# Train the course's small `nets.TimeMLP` with **your** loss for 3,000 Adam steps, then run
# Algorithm 2 with **your** step from pure noise. (Notebook 08 does the same with the
# package's functions on a swiss roll.) The figure shows 2,000 training points (left) and
# 2,000 points from your sampler (right), both coordinates in units of the data's standard
# deviation.

# %% tags=["nbval-ignore-output"]
moons = data.toy2d("moons", 10_000, seed=0)
moons = moons / moons.std()
schedule = ddpm.toy_schedule()
torch.manual_seed(0)
model = nets.TimeMLP(2, hidden=128, layers=3)
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
g = torch.Generator().manual_seed(1)
losses = []
for step in range(3000):
    loss = ddpm_loss(model, moons[torch.randint(len(moons), (256,), generator=g)], schedule, generator=g)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
print(f"L_simple: first 20 steps {sum(losses[:20]) / 20:.2f}, last 200 {sum(losses[-200:]) / 200:.2f}")

# %%
with torch.no_grad():
    x = torch.randn(2000, 2, generator=torch.Generator().manual_seed(2))
    for t in range(schedule.T - 1, -1, -1):
        x = p_sample_step(model, x, t, schedule, generator=g)
fig, axes = plt.subplots(1, 2, figsize=(7, 3.2), sharex=True, sharey=True)
axes[0].scatter(*moons[:2000].T, s=1, color="C1")
axes[0].set_title("data")
axes[1].scatter(*x.T, s=1)
axes[1].set_title("your sampler")
for ax in axes:
    ax.set_xlabel("$x_1$")
axes[0].set_ylabel("$x_2$")
plt.show()
near = torch.cdist(x, moons[:5000]).min(1).values
assert (near < 0.2).float().mean() > 0.8, (near < 0.2).float().mean()
print("more than 80% of your samples lie within 0.2 of a data point")

# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise 06 · The critic's loss, the gradient penalty and power iteration
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/solutions/06_wgan_spectral_norm.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=solutions%2F06_wgan_spectral_norm.ipynb)
#
# *Goes with notebook 06, lecture 003 ("Wasserstein GAN", "Spectral Normalization") and
# lecture 004 (Kantorovich–Rubinstein duality, gradient penalty, the critic's spectral norm).*
#
# You will write
#
# 1. the Wasserstein critic's loss,
# 2. WGAN-GP's gradient penalty,
# 3. power iteration for the largest singular value of a weight matrix,
#
# then use the penalty to make a tiny critic 1-Lipschitz, and finally write
#
# 5. a network's Lipschitz bound, the product of its layers' constants. Fill in each cell that says
# `raise NotImplementedError`, run it, then run the check cell below it: it prints `PASSED`
# or `FAILED` with a hint.

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

import torch
import torch.nn.functional as F
from torch import nn

from gdmcourse import checks as check
from gdmcourse import plot

device = gdmcourse.startup(seed=0)
plot.use_style()


# %% [markdown]
# ## 1. The critic's loss
#
# By the Kantorovich–Rubinstein duality the critic $f$ maximises
# $\mathbb E_{x \sim p_{data}}[f(x)] - \mathbb E_{\tilde x \sim p_G}[f(\tilde x)]$. As a loss to
# *minimise*, with batch means over the scores (shapes `(B,)`):
#
# $$L_f = \overline{f(\tilde x)} - \overline{f(x)} .$$
#
# The scores are raw critic outputs: no sigmoid, no logarithm.

# %%
def critic_loss(real_scores, fake_scores):
    """mean f(fake) - mean f(real)."""
    ### BEGIN SOLUTION
    return fake_scores.mean() - real_scores.mean()
    ### END SOLUTION


# %%
check.critic_loss(critic_loss)


# %% [markdown]
# ## 2. The gradient penalty
#
# WGAN-GP (lecture 004) keeps the critic close to 1-Lipschitz by penalising gradient norms
# different from 1 on points between real and generated samples:
#
# $$\mathrm{GP} = \frac1B \sum_{i=1}^B \big(\|\nabla_{\hat x} f(\hat x_i)\|_2 - 1\big)^2, \qquad
#   \hat x_i = \epsilon_i\, x_i + (1 - \epsilon_i)\, \tilde x_i, \quad \epsilon_i \sim U[0, 1].$$
#
# - draw **one $\epsilon_i$ per example**, shaped to broadcast over the other dims, e.g.
#   `torch.rand(B, 1, ..., 1, generator=generator)` (the notebook's samples are `(B, 2)`, images would be `(B, C, H, W)`);
# - `torch.autograd.grad(outputs, inputs, create_graph=True)` gives $\nabla_{\hat x} f$ (sum the
#   critic's outputs first); without `create_graph=True` the penalty could not be
#   differentiated with respect to the critic's weights, and training would silently ignore it;
# - the norm is over all dims of one example (flatten them).
#
# Do not multiply by $\lambda$: the caller does.

# %%
def gradient_penalty(critic, real, fake, generator=None):
    """mean over examples of (||grad f(x_hat)||_2 - 1)^2 at random interpolates x_hat."""
    ### BEGIN SOLUTION
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=generator, dtype=real.dtype).to(real.device)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    ### END SOLUTION


# %%
check.gradient_penalty(gradient_penalty)


# %% [markdown]
# ## 3. Power iteration
#
# The largest singular value $\sigma(W)$ of an `(m, n)` matrix, from a start vector $u$ of
# length $m$ (random when `u` is None), repeating `n_iter` times
#
# $$v \leftarrow \frac{W^\top u}{\|W^\top u\|}, \qquad u \leftarrow \frac{W v}{\|W v\|},$$
#
# and finally $\sigma = u^\top W v$. Return `(sigma, u, v)`. Normalise the start vector too.

# %%
def power_iteration(W, n_iter, u=None):
    """Largest singular value of W by power iteration: returns (sigma, u, v)."""
    ### BEGIN SOLUTION
    if u is None:
        u = torch.randn(W.shape[0], dtype=W.dtype).to(W.device)
    u = F.normalize(u, dim=0)
    for _ in range(n_iter):
        v = F.normalize(W.T @ u, dim=0)
        u = F.normalize(W @ v, dim=0)
    return u @ W @ v, u, v
    ### END SOLUTION


# %%
check.power_iteration(power_iteration)

# %% [markdown]
# ## 4. Use them: make a critic 1-Lipschitz with the penalty
#
# A linear critic $f(x) = w^\top x$ has gradient $w$ everywhere, so its Lipschitz constant is
# $\|w\|$. Start from $\|w\| = 5$ and minimise only $10 \cdot \mathrm{GP}$ with your penalty:
# $\|w\|$ should go to 1. Compare with your power iteration's $\sigma$ of the $1 \times 2$
# matrix $w^\top$ (its only singular value is $\|w\|$).

# %%
critic = nn.Linear(2, 1, bias=False)
with torch.no_grad():
    critic.weight.copy_(torch.tensor([[3.0, 4.0]]))
opt = torch.optim.SGD(critic.parameters(), lr=0.01)
real = torch.randn(256, 2, generator=torch.Generator().manual_seed(1))
fake = torch.randn(256, 2, generator=torch.Generator().manual_seed(2)) + 3
for step in range(200):
    opt.zero_grad()
    (10 * gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(step))).backward()
    opt.step()
sigma, _, _ = power_iteration(critic.weight.detach(), 10)
print(f"||w|| = {critic.weight.norm().item():.4f}, power iteration sigma = {sigma.item():.4f}")
assert abs(critic.weight.norm().item() - 1) < 0.05, "the penalty should pull ||w|| from 5 to about 1"
assert abs(sigma.item() - critic.weight.norm().item()) < 1e-4, "the only singular value of w^T is ||w||"


# %% [markdown]
# **Question.** Why does the gradient penalty use a *two-sided* penalty $(\|\nabla f\| - 1)^2$
# rather than only punishing norms above 1? What would happen to the critic's estimate of
# $W$ if its gradients were everywhere smaller than 1?

# %% [markdown]
# <!-- BEGIN SOLUTION -->
# The optimal 1-Lipschitz critic has gradient norm exactly 1 almost everywhere on the lines
# between coupled real and generated points (Gulrajani et al. 2017, Prop. 1), so the
# two-sided penalty pushes towards the solution's known shape and works well in practice.
# A critic whose gradients are all smaller than 1 is a $K$-Lipschitz function with $K < 1$:
# its objective $\mathbb E_{data} f - \mathbb E_G f$ can be at most $K \cdot W$, so it
# *underestimates* the distance and gives the generator weaker gradients.
# <!-- END SOLUTION -->

# %% [markdown]
# ## 5. A network's Lipschitz bound
#
# A composition of functions is at most as steep as the product of their steepnesses:
# $\|f_L\circ\dots\circ f_1\|_{Lip} \le \prod_l \|f_l\|_{Lip}$ (lecture 004). For a linear layer
# $x \mapsto Wx + b$ that constant is the spectral norm $\sigma_1(W)$ (the bias does not
# matter); ReLU, LeakyReLU (slope ≤ 1) and tanh have constant 1, the sigmoid $1/4$.
#
# Write `lipschitz_bound(model)` for an `nn.Sequential` of such layers: go through the layers,
# multiply $\sigma_1(W)$ of every `nn.Linear` (your power iteration with enough steps, or
# `torch.linalg.matrix_norm(W, 2)`) and the activations' constants; return a float. The check
# compares it with the course's bound and with gradient norms it measures on the network,
# which it can never be below.

# %%
def lipschitz_bound(model):
    ### BEGIN SOLUTION
    constants = {nn.ReLU: 1.0, nn.LeakyReLU: 1.0, nn.Tanh: 1.0, nn.Sigmoid: 0.25}
    bound = 1.0
    for layer in model:
        if isinstance(layer, nn.Linear):
            bound *= torch.linalg.matrix_norm(layer.weight.detach().double(), 2).item()
        else:
            bound *= constants[type(layer)]
    return bound
    ### END SOLUTION


# %%
check.lipschitz_bound(lipschitz_bound)

# %% [markdown]
# How loose is the bound? On a random critic, compare it with the largest gradient norm
# measured at 2,000 points: the bound holds, and is far above, because the layers' top singular
# directions do not line up.

# %%
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
x = (2 * torch.randn(2000, 2, generator=torch.Generator().manual_seed(3))).requires_grad_(True)
(grad_x,) = torch.autograd.grad(net(x).sum(), x)
measured = grad_x.norm(dim=1).max().item()
bound = lipschitz_bound(net)
print(f"largest measured gradient norm {measured:.3f} <= bound {bound:.3f} (ratio {bound / measured:.1f})")
assert measured <= bound
assert bound > 3 * measured, "far above: the layers' top singular directions do not line up"

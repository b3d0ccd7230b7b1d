# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise 04 · The optimal discriminator, JSD and the GAN losses
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/solutions/04_gan_optimality.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=solutions%2F04_gan_optimality.ipynb)
#
# *Goes with notebook 04 and lecture 001, "Generative Adversarial Networks: Optimality";
# the losses with lecture 003, "Generative Adversarial Networks".*
#
# You will write
#
# 1. the optimal discriminator $D^*_G = p_{data} / (p_{data} + p_G)$,
# 2. the Jensen–Shannon divergence of two discrete distributions,
# 3. the three GAN losses from logits: the discriminator's, the generator's minimax loss and
#    the non-saturating one,
#
# and then use them to confirm that $\max_D V(G, D) = 2\,\mathrm{JSD} - \log 4$. Fill in each
# cell that says `raise NotImplementedError`, run it, then run the check cell below it: it
# prints `PASSED` or `FAILED` with a hint.

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

import torch
import torch.nn.functional as F

from gdmcourse import checks as check
from gdmcourse import plot

device = gdmcourse.startup(seed=0)
plot.use_style()


# %% [markdown]
# ## 1. The optimal discriminator
#
# For a fixed generator, $V(G, D) = \int p_{data}(x)\log D(x) + p_G(x)\log(1 - D(x))\,dx$ is
# maximised pointwise by
#
# $$D^*_G(x) = \frac{p_{data}(x)}{p_{data}(x) + p_G(x)} .$$
#
# `p_data` and `p_model` are tensors of densities at the same points (any shape). Where both
# are 0 every $D$ is optimal: return $\tfrac12$ there rather than `nan` (`torch.where` helps).

# %%
def optimal_discriminator(p_data, p_model):
    """D*(x) = p_data / (p_data + p_model), elementwise; 1/2 where both are 0."""
    ### BEGIN SOLUTION
    total = p_data + p_model
    return torch.where(total > 0, p_data / total.clamp_min(1e-300), torch.full_like(total, 0.5))
    ### END SOLUTION


# %%
check.optimal_discriminator(optimal_discriminator)


# %% [markdown]
# ## 2. The Jensen–Shannon divergence
#
# For probability vectors over the last dimension (shape `(..., K)`), in **nats**,
#
# $$\mathrm{JSD}(p, q) = \tfrac12\, \mathrm{KL}(p \,\|\, m) + \tfrac12\, \mathrm{KL}(q \,\|\, m), \qquad
#   m = \tfrac12 (p + q), \qquad \mathrm{KL}(p \,\|\, m) = \sum_k p_k \log \frac{p_k}{m_k}.$$
#
# Terms with $p_k = 0$ contribute $0$ ($0 \log 0 = 0$): make sure they do not become `nan`.

# %%
def jensen_shannon(p, q):
    """JSD(p, q) over the last dim, in nats; shape (...)."""
    ### BEGIN SOLUTION
    m = 0.5 * (p + q)

    def kl(a):
        return torch.where(a > 0, a * (a.clamp_min(1e-300).log() - m.clamp_min(1e-300).log()),
                           torch.zeros_like(a)).sum(-1)

    return 0.5 * kl(p) + 0.5 * kl(q)
    ### END SOLUTION


# %%
check.jensen_shannon(jensen_shannon)


# %% [markdown]
# ## 3. The GAN losses, from logits
#
# The discriminator outputs logits $\ell$, and $D = \sigma(\ell)$. Work with
# `F.logsigmoid`: $\log D = \log\sigma(\ell)$ and $\log(1 - D) = \log\sigma(-\ell)$, which stay
# finite for any logit (`torch.log(torch.sigmoid(l))` does not). Each loss is a mean over the batch.
#
# - the discriminator **minimises** the negated value of the game:
#   $L_D = -\overline{\log D(x)} - \overline{\log(1 - D(G(z)))}$;
# - the generator's **minimax** loss is the value's second term, minimised: $L_G^{mm} = \overline{\log(1 - D(G(z)))}$;
# - the **non-saturating** generator loss: $L_G^{ns} = -\overline{\log D(G(z))}$.

# %%
def discriminator_loss(real_logits, fake_logits):
    """-mean log D(x) - mean log(1 - D(G(z))) from logits."""
    ### BEGIN SOLUTION
    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()
    ### END SOLUTION


# %%
check.discriminator_loss(discriminator_loss)


# %%
def generator_loss_minimax(fake_logits):
    """mean log(1 - D(G(z))) from logits (minimised by the generator)."""
    ### BEGIN SOLUTION
    return F.logsigmoid(-fake_logits).mean()
    ### END SOLUTION


# %%
check.generator_loss_minimax(generator_loss_minimax)


# %%
def generator_loss_nonsaturating(fake_logits):
    """-mean log D(G(z)) from logits."""
    ### BEGIN SOLUTION
    return -F.logsigmoid(fake_logits).mean()
    ### END SOLUTION


# %%
check.generator_loss_nonsaturating(generator_loss_nonsaturating)

# %% [markdown]
# ## 4. Put them together: $\max_D V = 2\,\mathrm{JSD} - \log 4$
#
# Take two distributions $p$ (data) and $q$ (generator) over 5 outcomes. With your $D^*$ the
# value of the game is $V = \sum_k p_k \log D^*_k + \sum_k q_k \log(1 - D^*_k)$ (terms with zero
# probability left out); it should equal $2\,\mathrm{JSD}(p, q) - \log 4$ from your JSD.

# %%
p = torch.tensor([0.1, 0.4, 0.3, 0.2, 0.0], dtype=torch.float64)
q = torch.tensor([0.3, 0.1, 0.1, 0.2, 0.3], dtype=torch.float64)
d = optimal_discriminator(p, q)
value = (p[p > 0] * d[p > 0].log()).sum() + (q[q > 0] * (1 - d[q > 0]).log()).sum()
print(f"V(G, D*)      = {value.item():.6f}")
print(f"2 JSD - log 4 = {2 * jensen_shannon(p, q).item() - math.log(4):.6f}")

# %% [markdown]
# **Question.** Any other discriminator does worse. Check it: perturb $D^*$ (e.g. multiply it
# by 0.9, or add $0.05$ and clamp into $(0, 1)$) and compute $V$ again. Then explain in one
# sentence why the generator's gradient vanishes for the minimax loss when $D(G(z)) \to 0$.

# %%
### BEGIN SOLUTION
for name, other in [("0.9 D*", 0.9 * d), ("D* + 0.05", (d + 0.05).clamp(1e-6, 1 - 1e-6))]:
    v = (p[p > 0] * other[p > 0].log()).sum() + (q[q > 0] * (1 - other[q > 0]).log()).sum()
    print(f"V(G, {name}) = {v.item():.6f} < {value.item():.6f}")
### END SOLUTION

# %% [markdown]
# <!-- BEGIN SOLUTION -->
# $\partial_\ell \log(1 - \sigma(\ell)) = -\sigma(\ell) = -D$: when the discriminator confidently
# rejects the samples ($D \to 0$) this derivative, and with it every gradient that reaches the
# generator through $\ell$, goes to 0, while $\partial_\ell(-\log\sigma(\ell)) = -(1 - D) \to -1$.
# <!-- END SOLUTION -->

# %% [markdown]
# ## 5. What the non-saturating loss minimises at $D^*$
#
# At the optimal discriminator the density ratio is in $D^*$ itself:
# $D^*/(1 - D^*) = p/q$. The generator trained with the non-saturating loss minimises
# $\mathbb E_{x\sim q}[-\log D^*(x)]$. Write this expectation for discrete $p$ (data) and
# $q$ (model) on the same outcomes:
#
# 1. $D^*$ from your `optimal_discriminator`, or directly $p / (p + q)$;
# 2. the per-outcome loss $-\log D^*(x)$;
# 3. the expectation under the **model**: weight by $q(x)$; an outcome with $q(x) = 0$ adds 0
#    (even where $\log$ is infinite).
#
# The check compares it with $\mathrm{KL}(q\|p) + \log 2 - \mathrm{KL}(q\|m)$,
# $m = (p+q)/2$: unlike the minimax loss ($\mathrm{JSD}$), the non-saturating loss is dominated
# by the reverse KL, which punishes a model for putting mass where there is no data much more
# than for missing modes.

# %%
def nonsaturating_at_optimum(p_data: torch.Tensor, p_model: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    d_star = p_data / (p_data + p_model)
    per_outcome = torch.where(p_model > 0, -torch.log(d_star), torch.zeros_like(d_star))
    return (p_model * per_outcome).sum()
    ### END SOLUTION


# %%
check.nonsaturating_at_optimum(nonsaturating_at_optimum)

# %%
d = optimal_discriminator(p, q)
ratio = d / (1 - d)
keep = q > 0
assert torch.allclose(ratio[keep], (p / q)[keep]), (ratio, p / q)
print("D*/(1 − D*) = p/q on every outcome the model gives mass:", [f"{r:.3f}" for r in ratio[keep].tolist()])

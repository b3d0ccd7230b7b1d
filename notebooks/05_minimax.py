# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Minimax: why GAN training circles instead of converging
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/notebooks/05_minimax.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=notebooks%2F05_minimax.ipynb)
#
# *Follows lecture 003 (M. Straka, NPFL114 "Deep Generative Models"), section "GANs are
# Problematic to Train": the game $\min_x \max_y x\cdot y$ and mode collapse.*
#
# A GAN is trained by two players taking gradient steps on one function, the discriminator
# *up*, the generator *down*. Gradient descent on a single loss goes downhill; a two-player
# game has no "downhill". This notebook studies the smallest game that shows what goes wrong,
#
# $$\min_x \max_y\; f(x, y) = x\,y ,$$
#
# whose only equilibrium is $(0, 0)$ (there $x$ cannot lower $f$ and $y$ cannot raise it).
# You will
#
# 1. prove and **measure** that simultaneous gradient steps spiral *outwards*, growing the
#    distance from the equilibrium by exactly $\sqrt{1 + \alpha^2}$ per step, for every step size $\alpha$;
# 2. see alternating steps circle for ever, and two fixes, **extragradient** and
#    **optimistic** gradient descent, converge;
# 3. play with the step size and the method in an explorer;
# 4. watch the same failure in a real GAN: on a ring of 8 Gaussians a badly set-up GAN
#    **collapses** onto a few modes, and a well set-up one covers all 8, measured.

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

from gdmcourse import minimax as mm
from gdmcourse import plot, widgets

device = gdmcourse.startup(seed=5)
plot.use_style()
print(f"device: {device.type}")

# %% [markdown]
# ## The game and its vector field
#
# With $f(x, y) = xy$ the gradients are $\nabla_x f = y$ and $\nabla_y f = x$. Gradient
# descent for $x$ and ascent for $y$ move the point $(x, y)$ along the field
# $(-\nabla_x f, +\nabla_y f) = (-y,\ x)$: that is a **rotation** field, everywhere
# perpendicular to the position vector. It never points towards the equilibrium.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
grid = np.linspace(-2, 2, 201)
X, Y = np.meshgrid(grid, grid)
im = axes[0].contourf(X, Y, mm.value(X, Y), levels=21, cmap="RdBu_r")
fig.colorbar(im, ax=axes[0], label="$f(x, y) = xy$")
axes[0].set(xlabel="$x$ (minimises)", ylabel="$y$ (maximises)", title="the value: a saddle", aspect="equal")
plot.vector_field(lambda x, y: (-mm.grad(x, y)[0], mm.grad(x, y)[1]), ax=axes[1],
                  title="descent in $x$, ascent in $y$: $(-y,\\ x)$",
                  xlabel="$x$ (minimises)", ylabel="$y$ (maximises)")
axes[1].plot(0, 0, "k*", ms=12, label="equilibrium (0, 0)")
axes[1].legend(loc="lower right")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Simultaneous gradient steps spiral out
#
# Both players step from the same point with step size $\alpha$ (lecture 003):
#
# $$\begin{bmatrix} x_{n+1} \\ y_{n+1} \end{bmatrix}
#   = \begin{bmatrix} 1 & -\alpha \\ \alpha & 1 \end{bmatrix}\begin{bmatrix} x_n \\ y_n \end{bmatrix}
#   = \sqrt{1+\alpha^2}\begin{bmatrix} \cos\varphi & -\sin\varphi \\ \sin\varphi & \cos\varphi \end{bmatrix}
#     \begin{bmatrix} x_n \\ y_n \end{bmatrix},\qquad \tan\varphi = \alpha .$$
#
# A rotation times $\sqrt{1+\alpha^2} > 1$. Directly:
# $(x - \alpha y)^2 + (y + \alpha x)^2 = (1 + \alpha^2)(x^2 + y^2)$, the cross terms cancel.
# So the distance to the equilibrium grows by the same factor **at every step, from every
# point**, and no step size is small enough: after $n$ steps it has grown by
# $(1+\alpha^2)^{n/2} \approx e^{n\alpha^2/2}$, slowly for small $\alpha$, but without end.
#
# `gdmcourse.minimax.simultaneous_gd(x0, y0, lr, steps)` returns the iterates; we measure the
# ratio of successive norms and compare it with `growth_factor(lr)` $=\sqrt{1+\alpha^2}$.

# %%
print(" step size α   measured ‖z_{n+1}‖/‖z_n‖ (min … max over 200 steps)   sqrt(1 + α²)")
for lr in [0.01, 0.05, 0.1, 0.3, 1.0]:
    path = mm.simultaneous_gd(1.0, 0.5, lr, steps=200)
    ratio = path.norm(dim=1)[1:] / path.norm(dim=1)[:-1]
    assert torch.allclose(ratio, torch.full_like(ratio, mm.growth_factor(lr)), rtol=1e-12)
    print(f"{lr:12.2f}   {ratio.min().item():.8f} … {ratio.max().item():.8f}{'':18s}{mm.growth_factor(lr):.8f}")

# %% [markdown]
# Equal to all printed digits, at every one of the 200 steps (the cell asserts a relative
# error below $10^{-12}$). Halving the step size does not fix the divergence, it only slows it:

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
for lr, steps in [(0.3, 20), (0.1, 60), (0.03, 200)]:
    path = mm.simultaneous_gd(1.0, 0.0, lr, steps)
    axes[0].plot(path[:, 0], path[:, 1], ".-", ms=3, lw=0.8, label=f"α = {lr}, {steps} steps")
    axes[1].semilogy(np.arange(steps + 1) * lr, path.norm(dim=1), label=f"α = {lr}")
    t = np.linspace(0, steps * lr, 50)
    axes[1].semilogy(t, np.exp(t * lr / 2), "k:", lw=1)
axes[0].plot(0, 0, "k*", ms=12)
axes[0].set(xlabel="$x$", ylabel="$y$", title="simultaneous steps from (1, 0)", aspect="equal")
axes[0].legend(fontsize="small")
axes[1].set(xlabel="'time' = steps × α", ylabel="distance to the equilibrium",
            title="growth $\\approx e^{n\\alpha^2/2}$ (dotted)")
axes[1].legend(fontsize="small")
fig.tight_layout()
plt.show()

# %% [markdown]
# Plotted against "time" (steps × α), smaller steps follow the continuous rotation longer,
# but each still drifts outwards at the rate $\alpha/2$ per unit time (dotted lines): the continuous-time
# flow is a circle, and any finite step leaves it on the outside.
#
# ## Alternating steps cycle, two fixes converge
#
# GAN code usually **alternates**: the discriminator steps, then the generator answers the
# updated discriminator. On $xy$, with $x$ first,
#
# $$x_{n+1} = x_n - \alpha y_n,\qquad y_{n+1} = y_n + \alpha x_{n+1}, \qquad
#   M = \begin{bmatrix} 1 & -\alpha \\ \alpha & 1 - \alpha^2 \end{bmatrix} .$$
#
# Now $\det M = 1$ and, for $\alpha < 2$, both eigenvalues lie *on* the unit circle: the
# iterates neither grow nor shrink, they go round a fixed ellipse for ever.
#
# Two classic fixes look one step ahead:
#
# - **extragradient** (Korpelevich 1976): take a trial simultaneous step to $(\tilde x, \tilde y)$,
#   then step *from the original point* with the gradient found at the trial point. On $xy$,
#   $M = \begin{bmatrix} 1 - \alpha^2 & -\alpha \\ \alpha & 1 - \alpha^2 \end{bmatrix}$, a
#   rotation times $\sqrt{(1-\alpha^2)^2 + \alpha^2} = \sqrt{1 - \alpha^2 + \alpha^4}$, which
#   is below 1 exactly when $0 < \alpha < 1$ ($\alpha^4 < \alpha^2$): it converges for those
#   step sizes, circles for ever at $\alpha = 1$ (the explorer's largest step) and diverges
#   beyond;
# - **optimistic gradient descent** (Daskalakis et al. 2018, used for GANs): no extra
#   gradient, but it extrapolates with the previous one,
#   $x_{n+1} = x_n - 2\alpha\nabla_x f(z_n) + \alpha\nabla_x f(z_{n-1})$ (and the mirror image for $y$).

# %%
lr, steps = 0.2, 150
paths = {name: method(1.0, 0.0, lr, steps) for name, method in mm.METHODS.items()}
fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
for name, path in paths.items():
    axes[0].plot(path[:, 0], path[:, 1], ".-", ms=2, lw=0.8, label=name)
    axes[1].semilogy(path.norm(dim=1), label=name)
axes[0].plot(0, 0, "k*", ms=12)
axes[0].set(xlabel="$x$", ylabel="$y$", title=f"four methods from (1, 0), α = {lr}", aspect="equal",
            xlim=(-4, 4), ylim=(-4, 4))
axes[0].legend(fontsize="small", loc="lower left")
axes[1].set(xlabel="step $n$", ylabel="$\\|(x_n, y_n)\\|$", title="distance to the equilibrium")
axes[1].legend(fontsize="small")
fig.tight_layout()
plt.show()

norms = {name: path.norm(dim=1) for name, path in paths.items()}
eg_ratio = norms["extragradient"][1:] / norms["extragradient"][:-1]
assert torch.allclose(eg_ratio, torch.full_like(eg_ratio, mm.extragradient_factor(lr)), rtol=1e-12)
alt = norms["alternating"]
print(f"after {steps} steps with α = {lr}:")
for name, n in norms.items():
    print(f"  {name:14s} ‖z‖ = {n[-1].item():.3g}")
print(f"alternating: ‖z‖ stays within [{alt.min().item():.3f}, {alt.max().item():.3f}] "
      f"(eigenvalues of M have modulus {abs(np.linalg.eigvals([[1, -lr], [lr, 1 - lr**2]])).max():.6f})")
print(f"extragradient: ‖z‖ shrinks by {mm.extragradient_factor(lr):.6f} per step, as derived")
# extragradient converges only for 0 < α < 1: factor 1 at α = 1, above 1 beyond
assert all(mm.extragradient_factor(a) < 1 for a in (0.01, 0.5, 0.99)) and mm.extragradient_factor(1.0) == 1.0
assert mm.extragradient_factor(1.2) > 1


# %% [markdown]
# The simultaneous method grows by $\sqrt{1.04}$ per step, alternating steps stay on their
# ellipse (their norm oscillates between fixed bounds, exactly as the unit-modulus
# eigenvalues predict), and both look-ahead methods converge geometrically. For GANs,
# extragradient costs a second gradient evaluation per step, optimism only the memory of the
# last one; both are used in GAN training, and Adam with a small $\beta_1$ (the
# usual $\beta_1 = 0.5$ or $0$) behaves more like the convergent methods than plain momentum does.
#
# ## Explore: step size and method
#
# The figure below shows, for a few fixed settings, the trajectory of 60 steps from
# $(1, 0)$ over the vector field, with the measured growth factor per step in the title. In a
# live JupyterLab session a slider and a menu under it let you try any step size
# $\alpha$ and method.

# %%
def draw_method(lr: float, method: str, ax: plt.Axes) -> None:
    """Trajectory of ``method`` with step size ``lr`` from (1, 0) over the game's vector field."""
    path = mm.METHODS[method](1.0, 0.0, lr, 60)
    norms = path.norm(dim=1)
    rate = (norms[-1] / norms[0]).item() ** (1 / 60)  # geometric mean growth per step
    plot.vector_field(lambda x, y: (-y, x), xlim=(-3, 3), ylim=(-3, 3), n=13, ax=ax)
    ax.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1, color="C3")
    ax.plot(0, 0, "k*", ms=10)
    ax.set_title(f"{method}, α = {lr:.2f}\ngrowth per step {rate:.4f}", fontsize="small")


widgets.explore(
    draw_method,
    static=[{"method": "simultaneous", "lr": 0.1}, {"method": "simultaneous", "lr": 0.3},
            {"method": "alternating", "lr": 0.3}, {"method": "extragradient", "lr": 0.3}],
    lr=widgets.FloatSlider(value=0.1, min=0.01, max=1.0, step=0.01, description="step size α"),
    method=widgets.Dropdown(options=list(mm.METHODS), value="simultaneous", description="method"),
)

# %% [markdown]
# ## The same dynamics in a GAN: mode collapse
#
# A GAN's generator and discriminator play a much bigger game, but near an equilibrium it
# looks like $xy$: each player's gradient is driven by the *other* player's parameters, and
# plain simultaneous or alternating steps rotate around the equilibrium instead of
# approaching it. In practice the rotation shows up as **mode collapse** (lecture 003): the
# generator piles its samples onto one or a few modes; the discriminator learns to reject
# them there; the generator hops to another mode; and so on, round and round.
#
# We measure it on the ring of 8 Gaussians (radius 2, std 0.02) with
# `gan.mode_coverage(samples, centers, std)`: a sample is *high-quality* when it lies within
# 3 std of its nearest center, and a mode is *covered* when it holds at least 1% of the
# high-quality samples. The two runs below use the same networks (MLPs with 3 hidden layers
# of 128), the same non-saturating loss and the same data; they differ only in the optimiser:
#
# - `"collapse"`: Adam with the default momentum $\beta_1 = 0.9$ and a constant learning rate;
#   momentum keeps pushing along the rotation (the explorer above shows how a little extra
#   "inertia" turns into an outward spiral);
# - `"nonsaturating"`: Adam with $\beta_1 = 0$ (no momentum, as in WGAN-GP) and a learning rate
#   that decays linearly to 0, so the rotation dies down and the generator settles.
#
# Both record 500 samples at a few points during training.

# %% tags=["nbval-ignore-output"]
from gdmcourse import data, gan, recipes

centers, std = data.toy2d_centers("8gaussians"), data.toy2d_std("8gaussians")
real = data.toy2d("8gaussians", 2000, seed=1)


def snapshot(step, generator):
    return gan.sample(generator, 500, seed=step)


runs = {}
for name in ["collapse", "nonsaturating"]:
    steps = recipes.TOY_GANS[name].steps[gdmcourse.profile()]
    G, D, history = recipes.train_toy_gan(name, seed=0, device=device, callback=snapshot, callback_every=steps // 4)
    samples = gan.sample(G, 2000, seed=123)
    runs[name] = (history, samples, gan.mode_coverage(samples, centers, std))
    print(f"{name:14s} {steps} steps in {history.seconds:.0f} s: modes covered {runs[name][2][0]}/8, "
          f"high-quality {100 * runs[name][2][1]:.1f}%")

# %%
(modes_c, hq_c), (modes_n, hq_n) = runs["collapse"][2], runs["nonsaturating"][2]
assert modes_c <= 4 and modes_n == 8 and hq_n >= 0.8, (runs["collapse"][2], runs["nonsaturating"][2])
print(f"collapse: at most 4 of 8 modes; nonsaturating with β1 = 0 and decay: 8/8 modes, ≥ 80% high-quality")

fig, axes = plt.subplots(2, 5, figsize=(15, 6.2), sharex=True, sharey=True)
for row, name in zip(axes, runs):
    history, samples, (modes, hq) = runs[name]
    for ax, (step, points) in zip(row, history.snapshots[:4]):
        ax.scatter(real[:, 0], real[:, 1], s=2, color="0.8")
        ax.scatter(points[:, 0], points[:, 1], s=3, color="C3" if name == "collapse" else "C0")
        ax.set_title(f"{name}: step {step}", fontsize="small")
    row[4].scatter(real[:, 0], real[:, 1], s=2, color="0.8", label="data")
    row[4].scatter(samples[:, 0], samples[:, 1], s=3, color="C3" if name == "collapse" else "C0", label="samples")
    row[4].set_title(f"final: {modes}/8 modes, {100 * hq:.0f}% high-quality", fontsize="small")
for ax in axes.flat:
    ax.set_aspect("equal")
    ax.set(xlim=(-2.8, 2.8), ylim=(-2.8, 2.8))
for ax in axes[1]:
    ax.set_xlabel("$x_1$")
for ax in axes[:, 0]:
    ax.set_ylabel("$x_2$")
axes[1, 4].legend(loc="center", fontsize="x-small", markerscale=3)
fig.tight_layout()
plt.show()

# %% [markdown]
# The collapsing run (top) spends its training on one or two modes at a time, and the modes
# it holds change from snapshot to snapshot: the generator chases the discriminator around the
# ring, as the iterates chased each other around $(0, 0)$. The bottom run spreads over all
# eight modes and, as its learning rate decays, tightens onto them. The recipe is not
# magic: on one seed in five it still drops modes (`python -m gdmcourse bench gan` runs five
# seeds). Notebook 06 changes the game itself, with a critic whose gradients stay useful
# everywhere.
#
# ## Summary
#
# - On $\min_x\max_y xy$, simultaneous gradient steps grow the distance to the equilibrium by
#   exactly $\sqrt{1+\alpha^2}$ per step, for every step size; alternating steps circle;
#   extragradient and optimistic steps converge.
# - GAN training inherits this rotation. It shows as mode collapse and mode hopping, and
#   optimiser settings that damp the rotation (no momentum, a decaying learning rate) cover all
#   modes of the 8-Gaussians ring.

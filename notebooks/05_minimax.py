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
# 4. see how **momentum** turns the circling of alternating steps into an outward spiral, and
#    negative momentum into convergence;
# 5. watch the same failure in a real GAN: on a ring of 8 Gaussians a GAN trained with heavy
#    momentum **collapses** onto a quarter of the ring, less momentum spreads its samples round
#    the whole ring, and no momentum with a decaying learning rate covers all eight modes,
#    measured.

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
#
# *Figure: left, the value $f(x, y) = xy$ over $[-2, 2]^2$ as filled contours (a saddle, positive in
# two quadrants and negative in the other two); right, the arrows of the field $(-y, x)$, circling
# the equilibrium $(0, 0)$ (star) anticlockwise. The cell checks the signs of $f$, that every arrow
# is perpendicular to its position, and that it turns anticlockwise.*

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
axes[1].legend(loc="upper center", bbox_to_anchor=(0.5, -0.15))
fig.tight_layout()
plt.show()

# the saddle: f > 0 where x and y share a sign (two quadrants), f < 0 in the other two
assert (np.sign(mm.value(X, Y)) == np.sign(X) * np.sign(Y)).all()
# the plotted field (-∇_x f, ∇_y f) is perpendicular to the position (x, y) everywhere on the grid
gx, gy = mm.grad(X, Y)
u, v = -gx, gy
assert np.abs(u * X + v * Y).max() == 0.0
# and turns anticlockwise: the cross product x·v − y·u = x² + y² is positive away from (0, 0)
off_centre = X**2 + Y**2 > 0
assert ((X * v - Y * u)[off_centre] > 0).all()

# %% [markdown]
# ## Simultaneous gradient steps spiral out
#
# Both players step from the same point with step size $\alpha$. Lecture 003 introduces the game
# with the words "alternating SGD steps", but the matrix on its slide is this *simultaneous*
# update: both new values are computed from $(x_n, y_n)$. Truly alternating steps (next
# section) behave differently: they do not spiral out, they circle.
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
# error below $10^{-12}$). Smaller steps do not fix the divergence, they only slow it.
#
# *Figure: left, the iterates of simultaneous steps from $(1, 0)$ for three step sizes, spiralling
# outwards; right, their distance to the equilibrium (log scale) against "time" = steps × α,
# with the approximation $e^{n\alpha^2/2}$ dotted for each.*

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
axes[0].legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3)
axes[1].set(xlabel="'time' = steps × α", ylabel="distance to the equilibrium",
            title="growth $\\approx e^{n\\alpha^2/2}$ (dotted)")
axes[1].legend(fontsize="small", loc="upper left")
fig.tight_layout()
plt.show()

print("  α     distance at time 6   e^{6α/2}   log-ratio measured / approximation")
final = {}
for lr, steps in [(0.3, 20), (0.1, 60), (0.03, 200)]:
    final[lr] = mm.simultaneous_gd(1.0, 0.0, lr, steps).norm(dim=1)[-1].item()
    approx = math.exp(steps * lr**2 / 2)
    print(f"{lr:5.2f} {final[lr]:14.4f} {approx:14.4f} {math.log(final[lr]) / math.log(approx):12.4f}")
    # log(1 + α²)/2 per step, just below α²/2: the dotted line is an upper bound, tight for small α
    assert final[lr] < approx and math.log(final[lr]) / math.log(approx) > 1 - lr**2
assert final[0.3] > final[0.1] > final[0.03] > 1  # at equal time, the larger step has drifted further

# %% [markdown]
# Plotted against "time" (steps × α), smaller steps follow the continuous rotation longer,
# but each still drifts outwards, its log-distance growing by about $\alpha/2$ per unit time: the
# continuous-time flow is a circle, and any finite step leaves it on the outside. The dotted
# lines lie just above the curves, because the exact rate per step is
# $\tfrac12\log(1 + \alpha^2) < \alpha^2/2$; the gap is visible for $\alpha = 0.3$ and
# vanishes as $\alpha \to 0$ (the cell checks both, and that at equal time the larger step has
# drifted further).
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
# iterates neither grow nor shrink. Which curve they go round: the quadratic
# $x^2 + y^2 - \alpha\,xy$ takes the same value before and after a step (expand
# $x_{n+1}^2 + y_{n+1}^2 - \alpha x_{n+1}y_{n+1}$ with the update above), so the iterates stay on
# the ellipse $x^2 + y^2 - \alpha xy = x_0^2 + y_0^2 - \alpha x_0y_0$ for ever. From $(1, 0)$ its
# closest and farthest points to the equilibrium lie at distances $1/\sqrt{1 + \alpha/2}$ and
# $1/\sqrt{1 - \alpha/2}$ (the eigenvalues $1 \pm \alpha/2$ of the quadratic form).
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
#
# *Figure: left, 150 iterates of each of the four methods from $(1, 0)$ with $\alpha = 0.2$; right,
# their distance to the equilibrium (log scale) against the step: simultaneous rises in a straight
# line, alternating wobbles around 1, extragradient and optimistic fall in straight lines. The
# legend below names the four methods in both panels.*

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
axes[1].set(xlabel="step $n$", ylabel="$\\|(x_n, y_n)\\|$", title="distance to the equilibrium")
fig.legend(*axes[1].get_legend_handles_labels(), loc="lower center", ncol=4, fontsize="small")
fig.tight_layout(rect=(0, 0.07, 1, 1))
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
# simultaneous: exactly sqrt(1.04)^150; alternating: on its ellipse; look-ahead methods: geometric decay
assert math.isclose(norms["simultaneous"][-1].item(), 1.04 ** (steps / 2), rel_tol=1e-10)
# alternating: det M = 1 and both eigenvalues on the unit circle for α < 2, off it beyond
for a in (0.1, 0.5, 1.0, 1.9):
    M = np.array([[1, -a], [a, 1 - a**2]])
    assert abs(np.linalg.det(M) - 1) < 1e-12 and np.allclose(abs(np.linalg.eigvals(M)), 1, atol=1e-12), a
assert abs(np.linalg.eigvals([[1, -2.1], [2.1, 1 - 2.1**2]])).max() > 1
# the iterates stay on the ellipse x² + y² − α·xy = 1, between distances 1/sqrt(1 ± α/2)
xs, ys = paths["alternating"][:, 0], paths["alternating"][:, 1]
assert torch.allclose(xs**2 + ys**2 - lr * xs * ys, torch.ones_like(xs), atol=1e-12)
r_in, r_out = 1 / math.sqrt(1 + lr / 2), 1 / math.sqrt(1 - lr / 2)
assert r_in - 1e-12 <= alt.min().item() < r_in + 0.002 and r_out - 0.002 < alt.max().item() <= r_out + 1e-12
print(f"alternating: the ellipse's distances 1/sqrt(1 ± α/2) = {r_in:.3f}, {r_out:.3f}")
for name in ["extragradient", "optimistic"]:
    late = norms[name][50:]  # after the start-up, a straight line on the log plot: a constant factor
    factors = late[1:] / late[:-1]
    assert 0.04 < norms[name][-1] < 0.06 and factors.max() < 1 and factors.max() - factors.min() < 0.05, name


# %% [markdown]
# The simultaneous method grows by $\sqrt{1.04}$ per step (to 18.9 after 150 steps), alternating
# steps stay on their ellipse (their norm oscillates between $1/\sqrt{1.1} = 0.953$ and
# $1/\sqrt{0.9} = 1.054$, the ellipse's closest and farthest points), and both look-ahead methods
# converge geometrically, to 0.04–0.05 after 150 steps. For GANs, extragradient costs a second
# gradient evaluation per step, optimism only
# the memory of the last one.
#
# ## Explore: step size and method
#
# The figure below shows, for a few fixed settings, the trajectory of 60 steps from
# $(1, 0)$ over the vector field, with the measured growth factor per step in the title. In a
# live JupyterLab session a slider and a menu under it let you try any step size
# $\alpha$ and method.
#
# *Figure: four panels, each the field $(-y, x)$ as grey arrows with 60 iterates from $(1, 0)$ in red
# and the geometric-mean growth per step in its title: simultaneous with α = 0.1 and 0.3 spiral
# out (1.0050, 1.0440), alternating with α = 0.3 circles (0.9989), extragradient with α = 0.3
# spirals in (0.9582).*

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


# %%
# the growth printed in the titles: the derived factors, and 1 (up to the ellipse's wobble) for alternating
def mean_growth(method, lr, steps=60):
    n = mm.METHODS[method](1.0, 0.0, lr, steps).norm(dim=1)
    return (n[-1] / n[0]).item() ** (1 / steps)


for lr in (0.1, 0.3):
    assert math.isclose(mean_growth("simultaneous", lr), mm.growth_factor(lr), rel_tol=1e-12)
assert math.isclose(mean_growth("extragradient", 0.3), mm.extragradient_factor(0.3), rel_tol=1e-12)
assert abs(mean_growth("alternating", 0.3) - 1) < 0.002
print({m: round(mean_growth(m, lr), 4) for m, lr in
       [("simultaneous", 0.1), ("alternating", 0.3), ("extragradient", 0.3)]})


# %% [markdown]
# ## Momentum makes it worse
#
# GANs are trained with Adam, whose first moment is a **momentum**: each player keeps a
# running average of its gradients and steps along it. On $xy$ the heavy-ball version of
# alternating steps (each player keeps a velocity, $v \leftarrow \beta v + \nabla$, and
# steps by $\alpha v$; `minimax.momentum_alternating_gd`) is again a linear map, now of
# $s = (x, y, v_x, v_y)$:
#
# $$v_x' = \beta v_x + y,\quad x' = x - \alpha v_x',\qquad v_y' = \beta v_y + x',\quad y' = y + \alpha v_y'
#   \quad\Longrightarrow\quad
#   s' = \begin{bmatrix} 1 & -\alpha & -\alpha\beta & 0 \\ \alpha & 1-\alpha^2 & -\alpha^2\beta & \alpha\beta \\
#                       0 & 1 & \beta & 0 \\ 1 & -\alpha & -\alpha\beta & \beta \end{bmatrix} s ,$$
#
# so after many steps the distance grows or shrinks by the matrix's spectral radius $\rho$ (its
# largest eigenvalue modulus) per step. Gidel et al. (2019, "Negative Momentum for Improved Game
# Dynamics") show that negative momentum makes alternating steps on such bilinear games converge;
# positive momentum does the opposite: it keeps carrying each player past the point where the
# other has already turned, and the ellipse of alternating steps opens into an outward spiral.
# We measure the growth per step for a few $\beta$ at $\alpha = 0.2$ and compare it with $\rho$.
#
# *Figure: distance to the equilibrium (log scale) over 150 alternating steps with α = 0.2, one
# line per momentum β (the legend, right of the plot, gives the measured growth per step and ρ):
# β = 0.9 and 0.5 rise, β = 0 stays near 1, β = −0.5 falls slowly.*

# %%
def momentum_matrix(lr, beta):
    """The 4×4 map s -> s' of alternating steps with heavy-ball momentum, s = (x, y, v_x, v_y)."""
    return np.array([[1, -lr, -lr * beta, 0], [lr, 1 - lr**2, -lr**2 * beta, lr * beta],
                     [0, 1, beta, 0], [1, -lr, -lr * beta, beta]])


def spectral_radius(A):
    return np.abs(np.linalg.eigvals(A)).max()


lr, steps = 0.2, 150
betas = [0.9, 0.5, 0.0, -0.5]
growth, rho = {}, {}
fig, ax = plt.subplots(figsize=(7, 3.8))
for beta in betas:
    path = mm.momentum_alternating_gd(1.0, 0.0, lr, steps, beta)
    # the matrix reproduces the package's iterates from s_0 = (1, 0, 0, 0)
    s, A = np.array([1.0, 0.0, 0.0, 0.0]), momentum_matrix(lr, beta)
    by_matrix = [s[:2]]
    for _ in range(steps):
        s = A @ s
        by_matrix.append(s[:2])
    assert np.allclose(np.array(by_matrix), path.numpy(), rtol=1e-9, atol=1e-12), beta
    n = path.norm(dim=1)
    growth[beta] = (n[-1] / n[-51]).item() ** (1 / 50)  # per-step growth over the last 50 steps
    rho[beta] = spectral_radius(A)
    ax.semilogy(n, label=f"β = {beta}: ×{growth[beta]:.4f} per step (ρ = {rho[beta]:.4f})")
ax.set(xlabel="step $n$", ylabel="$\\|(x_n, y_n)\\|$", title=f"alternating steps with momentum β, α = {lr}")
ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
plt.show()

print("momentum β   growth per step (last 50 steps)   spectral radius ρ")
for beta in betas:
    print(f"{beta:10.1f}   {growth[beta]:.4f}{'':27s}{rho[beta]:.4f}")
assert growth[0.9] > growth[0.5] > 1.05 and 0.99 < growth[0.0] < 1.01 and growth[-0.5] < 0.997
assert 1.25 < growth[0.9] < 1.35 and 1.07 < growth[0.5] < 1.11  # "about 30%" and "about 9%" per step
# the measured growth follows ρ; without momentum ρ = 1 exactly (the measured 0.999 is the ellipse's wobble)
assert all(abs(growth[b] / rho[b] - 1) < 0.005 for b in (0.9, 0.5, -0.5)) and abs(rho[0.0] - 1) < 1e-12
# at α = 0.2: ρ > 1 for every positive β tried, ρ < 1 for negative β down to −0.85, and ρ > 1 again at −0.95
grid = np.round(np.arange(0.05, 0.95, 0.05), 2)
assert all(spectral_radius(momentum_matrix(lr, b)) > 1 for b in grid)
assert all(spectral_radius(momentum_matrix(lr, -b)) < 1 for b in grid if b <= 0.85)
rho_too_negative = spectral_radius(momentum_matrix(lr, -0.95))
assert rho_too_negative > 1.05
assert round(rho[-0.5], 3) == 0.994 and round(rho_too_negative, 3) == 1.056  # the values quoted below
print(f"ρ at β = −0.95: {rho_too_negative:.3f}")

# %% [markdown]
# With $\beta = 0.9$ (Adam's default $\beta_1$) the distance grows by about 30% per step,
# with $\beta = 0.5$ by about 9%, as the spectral radii predict. Without momentum $\rho = 1$
# exactly and the iterates circle (the measured 0.999 is only where the last 50 steps fall on the
# ellipse); with $\beta = -0.5$, $\rho = 0.994$ and they slowly converge. Negative momentum is
# no cure-all: at $\alpha = 0.2$, $\beta = -0.95$ gives $\rho = 1.056$, divergence again (the
# cell checks the sign of $\rho - 1$ on a grid of $\beta$). This is one reason GANs are usually
# trained with a small $\beta_1$: the DCGAN paper (Radford et al. 2016) reports that the default
# 0.9 made training oscillate and uses 0.5; WGAN-GP uses 0. Adam is not heavy-ball momentum
# (it also divides by a running
# gradient scale), but the next section shows that in a real GAN, too, less momentum covers more modes.

# %% [markdown]
# ## The same dynamics in a GAN: mode collapse
#
# A GAN's generator and discriminator play a much bigger game, but near an equilibrium it can
# look like $xy$: each player's gradient is driven by the *other* player's parameters, and
# plain simultaneous or alternating steps rotate around the equilibrium instead of
# approaching it. One way the rotation shows up in practice is **mode collapse** (lecture 003
# names it first among the problems of GAN training): the generator piles its samples onto one
# or a few modes; the discriminator learns to reject them there; the generator moves on; and so
# on.
#
# We measure it on the ring of 8 Gaussians (radius 2, std 0.02) with
# `gan.mode_coverage(samples, centers, std)`: a sample is *high-quality* when it lies within
# 3 std of its nearest center, and a mode is *covered* when it holds at least 1% of the
# high-quality samples. The three runs below use the same networks (MLPs with 3 hidden layers
# of 128), the same non-saturating loss, the same data and the same seed; they differ in the
# optimiser settings:
#
# | recipe | Adam's $\beta_1$ | learning rate | generator steps (quick) |
# |---|---|---|---|
# | `"collapse"` | 0.9 (the default) | $10^{-3}$, constant | 1500 |
# | `"less-momentum"` | 0.5 (DCGAN's) | $10^{-3}$, constant | 1500 |
# | `"nonsaturating"` | 0 (as in WGAN-GP) | $2\cdot10^{-3}$, decaying linearly to 0 | 2500 |
#
# All three use the non-saturating loss (the progress bars name the loss, so all three read
# "nonsaturating"); the recipe called `"nonsaturating"` is the course's reference recipe for it.
# `"less-momentum"` changes exactly one setting of `"collapse"`, the momentum the previous
# section blamed; `"nonsaturating"` also lets the learning rate decay, so that the rotation dies
# down and the generator settles. Lecture 003 lists other remedies, which change what the
# players see or optimise rather than the optimiser (let the discriminator see the whole batch,
# as minibatch discrimination and batch normalization do; historical averaging, which pulls each
# player's parameters towards their running average; label smoothing of the real samples only);
# here we measure the optimiser's. Each run records 500 samples at four points during
# training.

# %% tags=["nbval-ignore-output"]
from gdmcourse import data, gan, recipes

centers, std = data.toy2d_centers("8gaussians"), data.toy2d_std("8gaussians")
real = data.toy2d("8gaussians", 2000, seed=1)


def snapshot(step, generator):
    return gan.sample(generator, 500, seed=step)


runs = {}
for name in ["collapse", "less-momentum", "nonsaturating"]:
    steps = recipes.TOY_GANS[name].steps[gdmcourse.profile()]
    G, D, history = recipes.train_toy_gan(name, seed=0, device=device, callback=snapshot, callback_every=steps // 4)
    samples = gan.sample(G, 2000, seed=123)
    runs[name] = (history, samples, gan.mode_coverage(samples, centers, std))
    print(f"{name:14s} {steps} steps in {history.seconds:.0f} s: modes covered {runs[name][2][0]}/8, "
          f"high-quality {100 * runs[name][2][1]:.1f}%")

# %% [markdown]
# *Figure: three rows (one per recipe) of five scatter plots of generated points (colour) over
# the data (grey): the first four at a quarter, half, three quarters and the end of training
# (500 samples each), the last 2,000 samples of the same final generator with the modes covered
# and the high-quality share in its title. The legend in the bottom-right panel holds for every
# row.*

# %%
(modes_c, hq_c), (modes_m, hq_m), (modes_n, hq_n) = (runs[k][2] for k in runs)
colour = {"collapse": "C3", "less-momentum": "C2", "nonsaturating": "C0"}
fig, axes = plt.subplots(3, 5, figsize=(15, 9.3), sharex=True, sharey=True)
for row, name in zip(axes, runs):
    history, samples, (modes, hq) = runs[name]
    for ax, (step, points) in zip(row, history.snapshots[:4]):
        ax.scatter(real[:, 0], real[:, 1], s=2, color="0.8")
        ax.scatter(points[:, 0], points[:, 1], s=3, color=colour[name])
        ax.set_title(f"{name}: step {step}", fontsize="small")
    row[4].scatter(real[:, 0], real[:, 1], s=2, color="0.8", label="data")
    row[4].scatter(samples[:, 0], samples[:, 1], s=3, color=colour[name], label="samples")
    row[4].set_title(f"final: {modes}/8 modes, {100 * hq:.0f}% high-quality", fontsize="small")
for ax in axes.flat:
    ax.set_aspect("equal")
    ax.set(xlim=(-2.8, 2.8), ylim=(-2.8, 2.8))
for ax in axes[-1]:
    ax.set_xlabel("$x_1$")
for ax in axes[:, 0]:
    ax.set_ylabel("$x_2$")
axes[-1, 4].legend(loc="center", fontsize="x-small", markerscale=3)
fig.tight_layout()
plt.show()

# each snapshot of the collapsing run: modes covered, high-quality share, and where its samples sit
print("per snapshot: step, modes covered, high-quality %, mean sample (angle in degrees, radius)")
per_snapshot = {}
for name in runs:
    per_snapshot[name] = []
    for step, points in runs[name][0].snapshots:
        m, q = gan.mode_coverage(points, centers, std)
        mean = points.mean(0)
        angle, radius = math.degrees(math.atan2(mean[1].item(), mean[0].item())), mean.norm().item()
        per_snapshot[name].append((m, q, angle, radius))
        print(f"  {name:14s} {step:5d}  {m}  {100 * q:5.1f}  ({angle:6.1f}°, {radius:.2f})")
collapse_snaps = per_snapshot["collapse"]
assert all(m <= 4 and q < 0.4 for m, q, _, _ in collapse_snaps)  # few modes, mostly off them, at every snapshot
assert collapse_snaps[0][1] == collapse_snaps[1][1] == 0.0 and collapse_snaps[0][3] > 3  # first: outside the ring
angles = [a for _, _, a, _ in collapse_snaps]
assert abs(angles[1] - angles[0]) > 60  # the clump jumps round the ring between the first two snapshots
assert -90 < angles[0] < 0 < angles[1] < 90  # from the lower right to the upper right
assert sum(m >= 5 for m, _, _, _ in per_snapshot["less-momentum"]) >= 3
assert modes_c == 1 and modes_m >= modes_c + 3 and modes_n == 8 and hq_n >= 0.8, [runs[k][2] for k in runs]
assert hq_m < hq_n  # less momentum covers more modes, but without a decaying rate its samples stay loose
nons_hq = [q for _, q, _, _ in per_snapshot["nonsaturating"]]
assert nons_hq[0] < 0.05 and nons_hq[0] < nons_hq[-1] - 0.1, nons_hq  # loose at first, then tightens onto the modes
assert all(a < b for a, b in zip(nons_hq, nons_hq[1:])) and per_snapshot["nonsaturating"][0][0] == 1


def concentration(points):
    """Length of the mean unit vector of the points' directions: 1 = all one way, 0 = spread round."""
    unit = points / points.norm(dim=1, keepdim=True)
    return unit.mean(0).norm().item()


def share_per_mode(points):
    """Of the high-quality samples (within 3 std of the nearest center), the share at each center."""
    dist, nearest = torch.cdist(points.double(), centers.double()).min(dim=1)
    counts = torch.bincount(nearest[dist <= 3 * std], minlength=len(centers))
    return counts / counts.sum()


print("concentration of the directions (1 = one clump, 0 = round the ring), per snapshot and final:")
conc = {}
for name in runs:
    conc[name] = [concentration(points) for _, points in runs[name][0].snapshots] + [concentration(runs[name][1])]
    print(f"  {name:14s} {[round(c, 2) for c in conc[name]]}")
share = {name: share_per_mode(runs[name][1]) for name in runs}
top3_m = share["less-momentum"].sort(descending=True).values[:3].sum().item()
final_angles = torch.rad2deg(torch.atan2(runs["collapse"][1][:, 1], runs["collapse"][1][:, 0]))
arc_c = torch.quantile(final_angles.double(), torch.tensor([0.05, 0.95], dtype=torch.float64)).tolist()
print(f"collapse, final: 90% of the samples between {arc_c[0]:.1f}° and {arc_c[1]:.1f}°; "
      f"share of the high-quality samples at the mode (2, 0): {share['collapse'][0].item():.3f}")
print(f"less-momentum, final: the three fullest modes hold {top3_m:.2f} of its high-quality samples; "
      f"modes covered at the last snapshot (500 samples) {per_snapshot['less-momentum'][-1][0]}, "
      f"in the final 2,000 samples {modes_m}")
print(f"nonsaturating, final: smallest share of a mode {share['nonsaturating'].min().item():.3f} (even: 0.125)")
print(f"modes covered: collapse {modes_c}, less-momentum {modes_m}, nonsaturating {modes_n} of 8; "
      f"nonsaturating high-quality share per snapshot: {[round(q, 2) for q in nons_hq]}")
# collapse: one clump or arc at every snapshot; the others spread round the ring at every snapshot
assert min(conc["collapse"]) > 0.6 and max(conc["less-momentum"] + conc["nonsaturating"]) < 0.3, conc
# collapse ends as an arc over a quarter of the ring, its high-quality samples nearly all at (2, 0)
assert -10 < arc_c[0] and arc_c[1] < 100 and share["collapse"][0] > 0.95
# less momentum: few samples are high-quality, and those sit mostly on three modes; the count of
# covered modes hangs on a handful of samples near the 1% line (3 in the last snapshot, same generator)
assert 0.15 < hq_m < 0.25 and top3_m > 0.9 and per_snapshot["less-momentum"][-1][0] < modes_m
# ... though nearly all its samples lie near some mode: within 0.2 (10 std), at least 5% at each of the eight
near_dist, near_mode = torch.cdist(runs["less-momentum"][1].double(), centers.double()).min(dim=1)
near_share = torch.bincount(near_mode[near_dist <= 0.2], minlength=len(centers)) / len(near_dist)
print(f"less-momentum, final: within 0.2 of a mode {near_share.sum().item():.2f} of the samples, "
      f"per mode {[round(v, 3) for v in near_share.tolist()]}")
assert near_share.sum() > 0.85 and near_share.min() > 0.05
# nonsaturating: every mode holds a fair share (at least 5%, even would be 12.5%)
assert share["nonsaturating"].min() > 0.05 and hq_n > 0.9  # "over 90%" high-quality
# its first snapshot is a ring inside the data's (median radius below 1.85), the last on it
radii = [points.norm(dim=1).median().item() for _, points in runs["nonsaturating"][0].snapshots]
assert radii[0] < 1.85 and abs(radii[-1] - 2) < 0.05, radii

# %% [markdown]
# To say how far round the ring a set of samples reaches, the cell prints the *concentration* of
# their directions: the length of the mean of their unit vectors $x/\|x\|$, 1 when all point
# the same way, near 0 when they spread evenly round the ring.
#
# The collapsing run (top) keeps its samples in one clump, band or arc at a time (the
# concentration of their directions stays above 0.6 at every snapshot), mostly off the
# modes: at the first two snapshots none of them is high-quality, and at the first the clump
# sits outside the ring (mean radius above 3, partly beyond the plotted square). Between the
# first two snapshots the clump jumps from the lower right to the upper right of the ring (the
# printed mean sample turns through more than 60°), then stays there as an arc: the generator
# is pushed around by the discriminator, as the iterates were pushed around $(0, 0)$. It ends as
# an arc over a quarter of the ring (90% of its samples between about 0° and 90°) with one
# mode covered: nearly all of its high-quality samples sit on the mode at $(2, 0)$, the rest of the arc is
# off the modes.
#
# With one change, $\beta_1 = 0.5$ instead of 0.9, the same run (middle) spreads its samples
# round the whole ring at every snapshot (concentration below 0.3), in clumps near every mode:
# in the final samples about nine in ten lie within 0.2 (10 std) of a mode, at least 5% near each
# of the eight. But with its constant learning rate most clumps sit just beside their modes, not
# within 3 std: only a fifth of its samples are high-quality, and over 90% of those lie on three
# neighbouring modes. Its count of covered modes, at least five at three of the four snapshots
# and 5 in the final 2,000 samples, therefore hangs on a handful of samples near the 1% line: the last
# snapshot, 500 samples from the same final generator, counts 3. The bottom run,
# without momentum and with a decaying learning rate, starts as a loose ring inside the data's
# (one mode, 2% high-quality at the first snapshot) and, as its learning rate decays, tightens
# onto all eight modes (its high-quality share grows at every snapshot, to over 90%, and every
# mode holds at least 5% of it). These are single runs from one seed; the benchmark
# `python -m gdmcourse bench gan` trains recipes from five seeds, and there `"collapse"` covered
# 6 modes on one seed of five and `"nonsaturating"` dropped modes on one. Notebook 06
# changes the game itself, with a critic whose gradients stay useful everywhere.
#
# ## Summary
#
# - On $\min_x\max_y xy$, simultaneous gradient steps grow the distance to the equilibrium by
#   exactly $\sqrt{1+\alpha^2}$ per step, for every step size; alternating steps circle;
#   extragradient (for $0 < \alpha < 1$) and optimistic steps converge.
# - Momentum turns the circling of alternating steps into an outward spiral; negative
#   momentum makes it converge.
# - A GAN on the 8-Gaussians ring shows the same symptoms: with heavy momentum the generator
#   moves round the ring in one clump and ends on a quarter of it (mode collapse); less momentum
#   spreads its samples round the whole ring, but loosely; no momentum with a decaying learning
#   rate covers all eight modes with over 90% high-quality samples in this run.

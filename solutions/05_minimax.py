# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise 05 · Four ways to play $\min_x \max_y xy$
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gdmcourse/gdmcourse/blob/main/solutions/05_minimax.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/gdmcourse/gdmcourse/main?labpath=solutions%2F05_minimax.ipynb)
#
# *Goes with notebook 05 and lecture 003, "GANs are Problematic to Train".*
#
# On $f(x, y) = x\,y$ the player $x$ minimises and $y$ maximises; $\nabla_x f = y$,
# $\nabla_y f = x$. You will write **one step** of each of the four methods of the notebook,
# each returning the new pair `(x, y)`:
#
# 1. simultaneous gradient descent–ascent,
# 2. alternating gradient descent–ascent ($x$ moves first),
# 3. extragradient,
# 4. optimistic gradient descent–ascent,
#
# then run them and measure what each does to the distance from the equilibrium $(0, 0)$.
# Your functions must work on Python floats and on 0-d tensors alike (plain arithmetic does).
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

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from gdmcourse import checks as check
from gdmcourse import plot

device = gdmcourse.startup(seed=0)
plot.use_style()


# %% [markdown]
# ## 1. Simultaneous gradient descent–ascent
#
# Both players step from the same point with step size $\alpha$ = `lr`:
#
# $$x' = x - \alpha\, \nabla_x f(x, y), \qquad y' = y + \alpha\, \nabla_y f(x, y).$$

# %%
def simultaneous_step(x, y, lr):
    """One simultaneous step on f = x·y: x descends, y ascends, both from (x, y)."""
    ### BEGIN SOLUTION
    return x - lr * y, y + lr * x
    ### END SOLUTION


# %%
check.simultaneous_step(simultaneous_step)


# %% [markdown]
# ## 2. Alternating gradient descent–ascent
#
# $x$ steps first; then $y$ steps using the gradient at the **new** $x$:
#
# $$x' = x - \alpha\, \nabla_x f(x, y), \qquad y' = y + \alpha\, \nabla_y f(x', y).$$

# %%
def alternating_step(x, y, lr):
    """One alternating step on f = x·y: x first, then y answers the new x."""
    ### BEGIN SOLUTION
    x_new = x - lr * y
    return x_new, y + lr * x_new
    ### END SOLUTION


# %%
check.alternating_step(alternating_step)


# %% [markdown]
# ## 3. Extragradient
#
# First a trial (simultaneous) step to $(\tilde x, \tilde y)$; then the real step starts again
# from $(x, y)$ but uses the gradient at the trial point:
#
# $$\tilde x = x - \alpha\, \nabla_x f(x, y),\quad \tilde y = y + \alpha\, \nabla_y f(x, y);\qquad
#   x' = x - \alpha\, \nabla_x f(\tilde x, \tilde y),\quad y' = y + \alpha\, \nabla_y f(\tilde x, \tilde y).$$

# %%
def extragradient_step(x, y, lr):
    """One extragradient step on f = x·y."""
    ### BEGIN SOLUTION
    x_look, y_look = x - lr * y, y + lr * x
    return x - lr * y_look, y + lr * x_look
    ### END SOLUTION


# %%
check.extragradient_step(extragradient_step)


# %% [markdown]
# ## 4. Optimistic gradient descent–ascent
#
# Step twice along the current gradient and take back once the previous one, where
# $(x_{prev}, y_{prev})$ is the previous iterate:
#
# $$x' = x - 2\alpha\, \nabla_x f(x, y) + \alpha\, \nabla_x f(x_{prev}, y_{prev}), \qquad
#   y' = y + 2\alpha\, \nabla_y f(x, y) - \alpha\, \nabla_y f(x_{prev}, y_{prev}).$$

# %%
def optimistic_step(x, y, x_prev, y_prev, lr):
    """One optimistic step on f = x·y, given the previous iterate (x_prev, y_prev)."""
    ### BEGIN SOLUTION
    return x - 2 * lr * y + lr * y_prev, y + 2 * lr * x - lr * x_prev
    ### END SOLUTION


# %%
check.optimistic_step(optimistic_step)


# %% [markdown]
# ## 5. Run them
#
# Iterate each method 100 times from $(1, 0)$ with $\alpha = 0.2$ (the optimistic method starts
# with $(x_{prev}, y_{prev}) = (x_0, y_0)$) and plot the distance to the equilibrium.
#
# *Figure: the distance $\|(x_n, y_n)\|$ (log scale) against the step $n$, one line per method
# (legend on the right). With correct steps, simultaneous rises in a straight line, alternating
# wobbles around 1, and extragradient and optimistic fall in nearly straight lines, as in
# notebook 05.*

# %%
def run(method, steps=100, lr=0.2):
    """The iterates of ``method`` from (1, 0) as an array of shape (steps + 1, 2)."""
    points = [(1.0, 0.0)]
    prev = points[0]
    for _ in range(steps):
        if method is optimistic_step:
            new = method(*points[-1], *prev, lr)
            prev = points[-1]
        else:
            new = method(*points[-1], lr)
        points.append(new)
    return np.array(points, dtype=float)


methods = {"simultaneous": simultaneous_step, "alternating": alternating_step,
           "extragradient": extragradient_step, "optimistic": optimistic_step}
fig, ax = plt.subplots(figsize=(6, 3.6))
for name, method in methods.items():
    ax.semilogy(np.linalg.norm(run(method), axis=1), label=name)
ax.set(xlabel="step $n$", ylabel="$\\|(x_n, y_n)\\|$", title="distance to the equilibrium, α = 0.2")
ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
plt.show()

# %% [markdown]
# **Question.** Measure the growth factor per step of your simultaneous method, the ratio
# $\|z_{n+1}\| / \|z_n\|$, and compare it with $\sqrt{1 + \alpha^2}$. Why is it the same at
# every step?

# %%
### BEGIN SOLUTION
norms = np.linalg.norm(run(simultaneous_step), axis=1)
ratio = norms[1:] / norms[:-1]
print(f"measured: {ratio.min():.6f} … {ratio.max():.6f}; sqrt(1 + α²) = {math.sqrt(1 + 0.2**2):.6f}")
### END SOLUTION

# %% [markdown]
# <!-- BEGIN SOLUTION -->
# The step is the linear map $\begin{bmatrix}1 & -\alpha\\ \alpha & 1\end{bmatrix}$, a rotation
# scaled by $\sqrt{1+\alpha^2}$: $(x - \alpha y)^2 + (y + \alpha x)^2 = (1+\alpha^2)(x^2+y^2)$
# for *every* $(x, y)$ because the cross terms cancel. So every step multiplies the norm by the
# same factor, wherever the iterate is.
# <!-- END SOLUTION -->

# %% [markdown]
# ## 6. Why: the eigenvalues of the update matrices
#
# Each of the first three steps is a linear map of $(x, y)$: $(x', y') = M\,(x, y)$ for a
# $2\times 2$ matrix $M$ that depends on $\alpha$. Iterating multiplies by $M^n$, so the
# method converges exactly when the **spectral radius** $\rho(M) = \max_i |\lambda_i(M)|$ is
# below 1 and diverges when it is above 1.
#
# 1. `update_matrix(step, lr)`: the columns of $M$ are the images of $(1, 0)$ and $(0, 1)$
#    (call `step(1.0, 0.0, lr)` and `step(0.0, 1.0, lr)`), as a float64 tensor;
# 2. `spectral_radius(M)`: the largest **modulus** of the (complex) eigenvalues;
# 3. `divergence_lr(step)`: the smallest $\alpha$ in $[0, 4]$ with $\rho > 1 + 10^{-9}$, found by
#    bisection (the alternating method sits exactly on the unit circle below its threshold).

# %%
def update_matrix(step, lr):
    ### BEGIN SOLUTION
    columns = [step(1.0, 0.0, lr), step(0.0, 1.0, lr)]
    return torch.tensor([[float(c[0]) for c in columns], [float(c[1]) for c in columns]], dtype=torch.float64)
    ### END SOLUTION


def spectral_radius(M):
    ### BEGIN SOLUTION
    return torch.linalg.eigvals(M).abs().max().item()
    ### END SOLUTION


def divergence_lr(step, lo=0.0, hi=4.0):
    ### BEGIN SOLUTION
    for _ in range(50):
        mid = (lo + hi) / 2
        if spectral_radius(update_matrix(step, mid)) > 1 + 1e-9:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2
    ### END SOLUTION


# %%
check.stability(update_matrix, spectral_radius, divergence_lr)

# %%
for name, step in [("simultaneous", simultaneous_step), ("alternating", alternating_step),
                   ("extragradient", extragradient_step)]:
    print(f"{name:13s} rho(M) at α = 0.2: {spectral_radius(update_matrix(step, 0.2)):.6f}; "
          f"diverges for α > {divergence_lr(step):.3f}")
assert abs(spectral_radius(update_matrix(simultaneous_step, 0.2)) - math.sqrt(1 + 0.2**2)) < 1e-12
assert abs(spectral_radius(update_matrix(alternating_step, 0.2)) - 1) < 1e-12
assert abs(spectral_radius(update_matrix(extragradient_step, 0.2)) - math.sqrt(1 - 0.2**2 + 0.2**4)) < 1e-12

r"""Gradient methods on the simplest minimax game, :math:`\min_x \max_y f(x, y) = x\,y`.

Follows lecture 003 ("min_x max_y xy"): the unique equilibrium is :math:`(0, 0)`, yet plain
simultaneous gradient descent–ascent spirals *away* from it. With
:math:`\nabla_x f = y`, :math:`\nabla_y f = x` and step size :math:`\alpha`:

============== ======================================================================== ===================
method         update                                                                   per-step norm factor
============== ======================================================================== ===================
simultaneous   :math:`x' = x - \alpha y,\; y' = y + \alpha x`                             :math:`\sqrt{1+\alpha^2} > 1`
alternating    :math:`x' = x - \alpha y,\; y' = y + \alpha x'`                            cycles (det = 1)
extragradient  look ahead :math:`\tilde x = x - \alpha y,\ \tilde y = y + \alpha x`,
               then :math:`x' = x - \alpha \tilde y,\; y' = y + \alpha \tilde x`          :math:`\sqrt{1-\alpha^2+\alpha^4} < 1`
optimistic     :math:`x' = x - 2\alpha y + \alpha y_{prev},\; y' = y + 2\alpha x - \alpha x_{prev}` converges for small α
============== ======================================================================== ===================

Each ``*_step`` does one update and returns the new iterate as a :class:`~gdmcourse.types.Point`
``(x, y)`` (the exercise of notebook 05); each method named after the
lecture (``simultaneous_gd``, ...) returns a whole trajectory of shape ``(steps + 1, 2)``.
Steps work on Python floats and on tensors alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import torch

from . import validate
from .types import MinimaxMethod, Point

__all__ = [
    "value", "grad", "growth_factor", "extragradient_factor",
    "simultaneous_step", "alternating_step", "extragradient_step", "optimistic_step",
    "simultaneous_gd", "alternating_gd", "extragradient", "optimistic_gd", "METHODS",
    "momentum_alternating_gd",
]

Num = TypeVar("Num", float, torch.Tensor)


def value(x: Num, y: Num) -> Num:
    """The game's value :math:`f(x, y) = x y` (x minimises it, y maximises it).

    Raises:
        ValueError: ``x`` or ``y`` is (or holds) NaN or ±inf.
    """
    _finite(x=x, y=y)
    return x * y


def _finite(**named: Num) -> None:
    for name, v in named.items():
        validate.finite_number(v, name)


def grad(x: Num, y: Num) -> Point:
    r""":math:`(\nabla_x f, \nabla_y f) = (y, x)` for :math:`f = xy`, as a :class:`~gdmcourse.types.Point` ``(x=∇_x f, y=∇_y f)``."""
    _finite(x=x, y=y)
    # ∇_x (xy) = y,  ∇_y (xy) = x
    return Point(y, x)


def growth_factor(lr: float) -> float:
    r"""Per-step norm growth of simultaneous gradient descent–ascent on :math:`xy`: :math:`\sqrt{1 + \alpha^2}`.

    :math:`\|(x - \alpha y,\, y + \alpha x)\|^2 = (1 + \alpha^2)(x^2 + y^2)` exactly, for every point.
    """
    return math.sqrt(1 + lr**2)


def extragradient_factor(lr: float) -> float:
    r"""Per-step norm factor of extragradient on :math:`xy`: :math:`\sqrt{(1 - \alpha^2)^2 + \alpha^2}`, below 1 for :math:`0 < \alpha < 1`."""
    return math.sqrt((1 - lr**2) ** 2 + lr**2)


# ----------------------------------------------------------------------------- one step

def simultaneous_step(x: Num, y: Num, lr: float) -> Point:
    r"""Both players step from the same point: :math:`x' = x - \alpha \nabla_x f,\ y' = y + \alpha \nabla_y f`.

    Raises (this and the other steps):
        ValueError: ``x``, ``y`` or ``lr`` is (or holds) NaN or ±inf.
    """
    _finite(lr=lr)
    gx, gy = grad(x, y)
    # x' = x - α ∇_x f(x, y),  y' = y + α ∇_y f(x, y)
    return Point(x - lr * gx, y + lr * gy)


def alternating_step(x: Num, y: Num, lr: float) -> Point:
    r"""x moves first, then y answers the *new* x: :math:`x' = x - \alpha y,\ y' = y + \alpha x'`."""
    _finite(lr=lr)
    # x' = x - α ∇_x f(x, y)
    x_new = x - lr * grad(x, y).x
    # y' = y + α ∇_y f(x', y)
    return Point(x_new, y + lr * grad(x_new, y).y)


def extragradient_step(x: Num, y: Num, lr: float) -> Point:
    r"""Look ahead with a simultaneous step, then step from the start with the look-ahead's gradient.

    .. math:: (\tilde x, \tilde y) = (x - \alpha \nabla_x f(x, y),\ y + \alpha \nabla_y f(x, y)),\quad
              (x', y') = (x - \alpha \nabla_x f(\tilde x, \tilde y),\ y + \alpha \nabla_y f(\tilde x, \tilde y))
    """
    # (x̃, ỹ): a simultaneous step from (x, y)
    x_look, y_look = simultaneous_step(x, y, lr)
    gx, gy = grad(x_look, y_look)
    # x' = x - α ∇_x f(x̃, ỹ),  y' = y + α ∇_y f(x̃, ỹ)
    return Point(x - lr * gx, y + lr * gy)


def optimistic_step(x: Num, y: Num, x_prev: Num, y_prev: Num, lr: float) -> Point:
    r"""Optimistic gradient descent–ascent: extrapolate with the previous gradient.

    .. math:: x' = x - 2\alpha \nabla_x f(x, y) + \alpha \nabla_x f(x_{prev}, y_{prev}),\quad
              y' = y + 2\alpha \nabla_y f(x, y) - \alpha \nabla_y f(x_{prev}, y_{prev})

    ``(x_prev, y_prev)`` is the previous iterate; on the first step pass the start itself.
    """
    _finite(lr=lr)
    gx, gy = grad(x, y)
    gx_prev, gy_prev = grad(x_prev, y_prev)
    # x' = x - 2α ∇_x f(x, y) + α ∇_x f(x_prev, y_prev),  y' = y + 2α ∇_y f(x, y) - α ∇_y f(x_prev, y_prev)
    return Point(x - 2 * lr * gx + lr * gx_prev, y + 2 * lr * gy - lr * gy_prev)


# ------------------------------------------------------------------------- trajectories

def _check(lr: float, steps: int) -> None:
    if not (isinstance(steps, int) and steps >= 0):
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"the step size lr must be a positive number, got {lr!r}")


def _trajectory(step: Callable[[float, float, float], Point],
                x0: float, y0: float, lr: float, steps: int) -> torch.Tensor:
    _check(lr, steps)
    _finite(x0=x0, y0=y0)
    points = [(float(x0), float(y0))]
    for _ in range(steps):
        points.append(step(*points[-1], lr))
    return torch.tensor(points, dtype=torch.float64)


def simultaneous_gd(x0: float, y0: float, lr: float, steps: int) -> torch.Tensor:
    """Simultaneous gradient descent–ascent from ``(x0, y0)``: the iterates, shape ``(steps + 1, 2)``.

    Raises:
        ValueError: ``steps`` is not a non-negative int, or ``lr`` is not a finite positive number.
    """
    return _trajectory(simultaneous_step, x0, y0, lr, steps)


def alternating_gd(x0: float, y0: float, lr: float, steps: int) -> torch.Tensor:
    """Alternating gradient descent–ascent from ``(x0, y0)``: the iterates, shape ``(steps + 1, 2)``.

    Raises:
        ValueError: ``steps`` is not a non-negative int, or ``lr`` is not a finite positive number.
    """
    return _trajectory(alternating_step, x0, y0, lr, steps)


def extragradient(x0: float, y0: float, lr: float, steps: int) -> torch.Tensor:
    """The extragradient method from ``(x0, y0)``: the iterates, shape ``(steps + 1, 2)``.

    Raises:
        ValueError: ``steps`` is not a non-negative int, or ``lr`` is not a finite positive number.
    """
    return _trajectory(extragradient_step, x0, y0, lr, steps)


def optimistic_gd(x0: float, y0: float, lr: float, steps: int) -> torch.Tensor:
    """Optimistic gradient descent–ascent from ``(x0, y0)`` (first step = simultaneous): shape ``(steps + 1, 2)``.

    Raises:
        ValueError: ``steps`` is not a non-negative int, or ``lr`` is not a finite positive number.
    """
    _check(lr, steps)
    _finite(x0=x0, y0=y0)
    points = [(float(x0), float(y0))]
    prev = points[0]
    for _ in range(steps):
        new = optimistic_step(*points[-1], *prev, lr)
        prev = points[-1]
        points.append(new)
    return torch.tensor(points, dtype=torch.float64)


def momentum_alternating_gd(x0: float, y0: float, lr: float, steps: int, beta: float) -> torch.Tensor:
    r"""Alternating gradient descent–ascent with heavy-ball momentum ``beta``: shape ``(steps + 1, 2)``.

    Each player keeps a velocity (both start at 0); :math:`x` moves first, :math:`y` answers the new :math:`x`:

    .. math:: v_x \leftarrow \beta v_x + \nabla_x f(x, y),\quad x' = x - \alpha v_x,\qquad
              v_y \leftarrow \beta v_y + \nabla_y f(x', y),\quad y' = y + \alpha v_y .

    ``beta = 0`` is :func:`alternating_gd` (it circles); on :math:`xy` positive momentum makes the
    iterates spiral out and negative momentum makes them converge, for small ``lr`` (Gidel et al.
    2019, "Negative Momentum for Improved Game Dynamics", Theorem 3). The map
    :math:`(x, y, v_x, v_y) \mapsto (x', y', v_x', v_y')` is linear, so the per-step growth tends
    to its spectral radius.

    Raises:
        ValueError: ``steps`` is not a non-negative int, ``lr`` is not a finite positive number,
            or ``beta`` is not a finite number in (-1, 1).
    """
    _check(lr, steps)
    _finite(x0=x0, y0=y0, beta=beta)
    if not -1 < beta < 1:
        raise ValueError(f"the momentum beta must lie in (-1, 1), got {beta!r}")
    x, y, vx, vy = float(x0), float(y0), 0.0, 0.0
    points = [(x, y)]
    for _ in range(steps):
        # v_x ← β v_x + ∇_x f(x, y),  x' = x − α v_x
        vx = beta * vx + grad(x, y).x
        x = x - lr * vx
        # v_y ← β v_y + ∇_y f(x', y),  y' = y + α v_y
        vy = beta * vy + grad(x, y).y
        y = y + lr * vy
        points.append((x, y))
    return torch.tensor(points, dtype=torch.float64)


METHODS: dict[MinimaxMethod, Callable[[float, float, float, int], torch.Tensor]] = {
    "simultaneous": simultaneous_gd,
    "alternating": alternating_gd,
    "extragradient": extragradient,
    "optimistic": optimistic_gd,
}

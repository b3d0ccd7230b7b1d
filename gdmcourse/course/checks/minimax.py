"""Exercises of notebook 05 (minimax on f(x, y) = x·y): one step of four game dynamics.

Each step is tried from two points, once with floats and once with 0-d tensors, against
:mod:`gdmcourse.minimax`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ... import minimax
from .engine import Case, Exercise, Mistake

_POINTS = [(0.7, -1.3, 1.1, 0.4, 0.1), (-2.0, 0.5, -1.5, 0.8, 0.3)]  # x, y, x_prev, y_prev, lr


def _cases(n_prev: int) -> Callable[[], list[Case]]:
    def cases() -> list[Case]:
        out = []
        for tensors in (False, True):
            for x, y, xp, yp, lr in _POINTS:
                args = (x, y, xp, yp)[:2 + n_prev]
                shown = ", ".join(f"{a:g}" for a in args)
                out.append(Case((*(torch.tensor(a) for a in args), lr) if tensors else (*args, lr),
                                f"from ({shown}) with lr = {lr}{' (inputs were 0-d tensors)' if tensors else ''}"))
        return out
    return cases


def _step(name: str, reference: Callable[..., Any], n_prev: int, formula: str, doc: str,
          mistakes: list[Mistake]) -> Exercise:
    return Exercise(name=name, doc=doc + f" Reference: :func:`gdmcourse.minimax.{name}`.",
                    passed=f"{formula}; works on floats and tensors.", reference=reference, cases=_cases(n_prev),
                    output="number", names=("x_new", "y_new"), mistakes=mistakes,
                    generic_hint=f"with ∇_x f = y and ∇_y f = x: {formula}.")


def _sim(x: Any, y: Any, lr: float) -> tuple[Any, Any]:
    return minimax.simultaneous_step(x, y, lr)


simultaneous_step = _step(
    "simultaneous_step", minimax.simultaneous_step, 0, "x' = x − lr·y, y' = y + lr·x",
    "Check ``fn(x, y, lr)`` = one simultaneous gradient descent–ascent step on f = x·y.",
    [Mistake("both descend", lambda x, y, lr: (x - lr * y, y - lr * x),
             "y MAXIMISES f: it moves up its gradient, y + lr·x (gradient ascent)."),
     Mistake("both ascend", lambda x, y, lr: (x + lr * y, y + lr * x), "x MINIMISES f: it moves down its gradient, x − lr·y."),
     Mistake("own gradient", lambda x, y, lr: (x - lr * x, y + lr * y),
             "∇_x (x·y) = y and ∇_y (x·y) = x: each player's gradient is the OTHER variable."),
     Mistake("alternating", minimax.alternating_step,
             "that is the alternating step: here both use the gradient at the old point.")])

alternating_step = _step(
    "alternating_step", minimax.alternating_step, 0, "x' = x − lr·y, then y' = y + lr·x'",
    "Check ``fn(x, y, lr)`` = x steps first, then y answers the new x.",
    [Mistake("uses old x", _sim, "y must use the NEW x: x' = x − lr·y, then y' = y + lr·x'."),
     Mistake("y first", lambda x, y, lr: (x - lr * (y + lr * x), y + lr * x),
             "x moves first: x' = x − lr·y, then y' = y + lr·x' (not y first)."),
     Mistake("y descends", lambda x, y, lr: (x - lr * y, y - lr * (x - lr * y)), "y MAXIMISES f: y' = y + lr·x' (ascent).")])

extragradient_step = _step(
    "extragradient_step", minimax.extragradient_step, 0, "x̃ = x − lr·y, ỹ = y + lr·x; x' = x − lr·ỹ, y' = y + lr·x̃",
    "Check ``fn(x, y, lr)`` = look-ahead step, then a step from the start with the look-ahead gradient.",
    [Mistake("from look-ahead", lambda x, y, lr: _sim(*_sim(x, y, lr), lr),
             "the second step starts again from (x, y), not from the look-ahead point; only its gradient is taken at the "
             "look-ahead point."),
     Mistake("only look-ahead", _sim, "you returned the look-ahead step; then step from (x, y) with the gradient at (x̃, ỹ)."),
     Mistake("own look-ahead gradient", lambda x, y, lr: (lambda xl, yl: (x - lr * xl, y + lr * yl))(*_sim(x, y, lr)),
             "at the look-ahead point ∇_x f = ỹ and ∇_y f = x̃ (each player's gradient is the other variable).")])

optimistic_step = _step(
    "optimistic_step", minimax.optimistic_step, 2, "x' = x − 2·lr·y + lr·y_prev, y' = y + 2·lr·x − lr·x_prev",
    "Check ``fn(x, y, x_prev, y_prev, lr)`` = optimistic gradient descent–ascent.",
    [Mistake("swapped coefficients", lambda x, y, xp, yp, lr: (x - lr * y + 2 * lr * yp, y + lr * x - 2 * lr * xp),
             "coefficients swapped: 2·lr on the CURRENT gradient, lr on the previous one."),
     Mistake("plus correction", lambda x, y, xp, yp, lr: (x - 2 * lr * y - lr * yp, y + 2 * lr * x + lr * xp),
             "the previous gradient is subtracted back out: x' = x − 2·lr·y + lr·y_prev."),
     Mistake("previous point", lambda x, y, xp, yp, lr: (x - 2 * lr * y + lr * xp, y + 2 * lr * x - lr * yp),
             "use the previous GRADIENT: ∇_x f(x_prev, y_prev) = y_prev and ∇_y f = x_prev."),
     Mistake("plain simultaneous", lambda x, y, xp, yp, lr: _sim(x, y, lr),
             "that is a plain simultaneous step; add the optimistic correction with the previous gradient."),
     Mistake("y descends", lambda x, y, xp, yp, lr: (x - 2 * lr * y + lr * yp, y - 2 * lr * x + lr * xp),
             "y MAXIMISES f: y' = y + 2·lr·x − lr·x_prev."),
     Mistake("returns one number", lambda x, y, xp, yp, lr: x - lr * y, "end with `return x_new, y_new`.", match=False)])

EXERCISES = [simultaneous_step, alternating_step, extragradient_step, optimistic_step]

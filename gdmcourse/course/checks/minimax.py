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

# ---- stability: the update matrices, their spectral radius, and the step size where each method diverges


def _matrix_ref(step: Callable[..., Any], lr: float) -> torch.Tensor:
    """The analytic update matrices on f = x·y (not computed from any step function)."""
    a = lr
    name = getattr(step, "__name__", "")
    rows = {"simultaneous_step": [[1, -a], [a, 1]], "alternating_step": [[1, -a], [a, 1 - a * a]],
            "extragradient_step": [[1 - a * a, -a], [a, 1 - a * a]]}[name]
    return torch.tensor(rows, dtype=torch.float64)


THRESHOLDS = {"simultaneous_step": 0.0, "alternating_step": 2.0, "extragradient_step": 1.0}
COLUMNS = "the columns of M are the steps' images of (1, 0) and (0, 1): M[:, 0] = step(1, 0), M[:, 1] = step(0, 1)."
MODULUS = "the spectral radius is the largest |eigenvalue| (torch.linalg.eigvals(M).abs().max()), not a singular value or a real part."


def _stability(update_matrix: Any, spectral_radius: Any, divergence_lr: Any) -> None:
    from .engine import call, close, fail, fmt, number, tensor

    steps = (minimax.simultaneous_step, minimax.alternating_step, minimax.extragradient_step)
    # 1. the update matrices: compared with the analytic ones
    for step in steps:
        for lr in (0.3, 1.5):
            got, want = tensor(call(update_matrix, step, lr), "update_matrix"), _matrix_ref(step, lr)
            if got.shape != (2, 2):
                fail(f"update_matrix({step.__name__}, {lr}) should be 2×2, got shape {tuple(got.shape)}.", COLUMNS)
            if not close(got, want):
                hint = COLUMNS if close(got.T, want) else "apply the step to (1, 0) and to (0, 1): the map is linear."
                fail(f"update_matrix({step.__name__}, lr={lr}): expected {fmt(want)}, got {fmt(got)}.", hint)
    # 2. the spectral radius: against numpy's eigenvalues, on a rotation and on non-normal matrices
    import numpy as np

    for M in (_matrix_ref(minimax.simultaneous_step, 0.5), _matrix_ref(minimax.alternating_step, 0.5),
              torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64), torch.tensor([[0.5, 3.0], [0.0, 0.9]],
                                                                                          dtype=torch.float64)):
        want = float(np.abs(np.linalg.eigvals(M.numpy())).max())
        got = number(call(spectral_radius, M.clone()), "spectral_radius")
        if abs(got - want) > 1e-6 * max(1.0, want):
            fail(f"spectral_radius of {M.tolist()}: expected {want:.6g}, got {got:.6g}.", MODULUS)
    # 3. the step size at which each method starts to diverge (spectral radius > 1)
    for step in steps:
        got = number(call(divergence_lr, step), "divergence_lr")
        want = THRESHOLDS[step.__name__]
        if abs(got - want) > 1e-2:
            fail(f"divergence_lr({step.__name__}): expected {want:g} (where the spectral radius first exceeds 1), "
                 f"got {got:.4g}.",
                 "bisect on lr in [0, 4] with the test spectral_radius(update_matrix(step, lr)) > 1 + 1e-9 "
                 "(the alternating method sits exactly on the unit circle below its threshold).")


def _ref_update_matrix(step: Callable[..., Any], lr: float) -> torch.Tensor:
    return _matrix_ref(step, lr)


def _ref_spectral_radius(M: torch.Tensor) -> float:
    import numpy as np

    return float(np.abs(np.linalg.eigvals(M.detach().double().numpy())).max())


def _ref_divergence_lr(step: Callable[..., Any]) -> float:
    return THRESHOLDS[step.__name__]


def _columns_as_rows(step: Callable[..., Any], lr: float) -> torch.Tensor:
    return torch.tensor([list(map(float, step(1.0, 0.0, lr))), list(map(float, step(0.0, 1.0, lr)))], dtype=torch.float64)


def _by_columns(step: Callable[..., Any], lr: float) -> torch.Tensor:
    return _columns_as_rows(step, lr).T


def _sigma_max(M: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(M.double(), 2))


def _bisect(radius: Callable[[torch.Tensor], float], step: Callable[..., Any], tol: float = 1e-9) -> float:
    lo, hi = 0.0, 4.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if radius(_by_columns(step, mid)) > 1 + tol else (mid, hi)
    return (lo + hi) / 2


stability = Exercise(
    name="stability",
    doc=r"""Check ``update_matrix(step, lr)`` (the 2×2 matrix of a linear step on f = x·y), ``spectral_radius(M)`` and
    ``divergence_lr(step)`` (the smallest lr with spectral radius > 1): the matrices against the analytic ones, the
    radius against numpy's eigenvalues (non-normal matrices included), the thresholds against 0, 2 and 1.""",
    passed="update matrices, spectral radii and the divergence step sizes (simultaneous 0, alternating 2, "
           "extragradient 1) all match.",
    reference=(_ref_update_matrix, _ref_spectral_radius, _ref_divergence_lr),
    procedure=_stability,
    points=3.0,
    mistakes=[
        Mistake("rows, not columns", (_columns_as_rows, _ref_spectral_radius, _ref_divergence_lr), COLUMNS, match=False),
        Mistake("largest singular value", (_by_columns, _sigma_max, lambda s: _bisect(_sigma_max, s)), MODULUS,
                match=False),
        Mistake("largest real part", (_by_columns, lambda M: float(torch.linalg.eigvals(M.double()).real.max()),
                                      _ref_divergence_lr), MODULUS, match=False),
        Mistake("no tolerance at |λ| = 1", (_by_columns, _ref_spectral_radius,
                                           lambda s: _bisect(_ref_spectral_radius, s, tol=-1e-12)),
                "bisect on lr in [0, 4] with the test spectral_radius(update_matrix(step, lr)) > 1 + 1e-9 "
                "(the alternating method sits exactly on the unit circle below its threshold).", match=False),
    ],
)

EXERCISES += [stability]

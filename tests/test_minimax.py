"""gdmcourse.minimax against the update matrices of lecture 003 and autograd's gradients of f = x·y."""

import math

import numpy as np
import pytest
import torch

from gdmcourse import minimax as mm

POINTS = np.random.default_rng(0).normal(size=(20, 2))


@pytest.mark.parametrize("lr", [0.01, 0.2, 1.0])
def test_steps_are_the_update_matrices(lr):
    a = lr
    matrices = {
        mm.simultaneous_step: np.array([[1, -a], [a, 1]]),
        mm.alternating_step: np.array([[1, -a], [a, 1 - a * a]]),
        mm.extragradient_step: np.array([[1 - a * a, -a], [a, 1 - a * a]]),
    }
    for step, M in matrices.items():
        for x, y in POINTS:
            assert np.allclose(step(x, y, lr), M @ [x, y], atol=1e-12)


def test_optimistic_step_with_autograd_gradients():
    for (x, y), (xp, yp) in zip(POINTS[:10], POINTS[10:]):
        def grads(u, v):
            u, v = torch.tensor(u, requires_grad=True), torch.tensor(v, requires_grad=True)
            return torch.autograd.grad(u * v, (u, v))
        gx, gy = grads(x, y)
        gxp, gyp = grads(xp, yp)
        expected = (x - 2 * 0.1 * gx + 0.1 * gxp, y + 2 * 0.1 * gy - 0.1 * gyp)
        assert np.allclose(mm.optimistic_step(x, y, xp, yp, 0.1), [float(e) for e in expected], atol=1e-12)


def test_steps_work_on_tensors():
    x, y = torch.tensor(0.3), torch.tensor(-0.7)
    out = mm.extragradient_step(x, y, 0.1)
    assert all(isinstance(v, torch.Tensor) for v in out)
    assert np.allclose([float(v) for v in out], mm.extragradient_step(0.3, -0.7, 0.1), atol=1e-6)


@pytest.mark.parametrize("lr", [0.01, 0.1, 0.5, 2.0])
def test_simultaneous_growth_is_exactly_sqrt_1_plus_lr_squared(lr):
    path = mm.simultaneous_gd(0.8, -0.3, lr, 50)
    ratio = path.norm(dim=1)[1:] / path.norm(dim=1)[:-1]
    assert torch.allclose(ratio, torch.full_like(ratio, math.sqrt(1 + lr * lr)), rtol=1e-12)
    assert mm.growth_factor(lr) == pytest.approx(math.sqrt(1 + lr * lr))


def test_alternating_stays_on_its_invariant_ellipse():
    # The alternating map preserves Q(x, y) = x² + y² − α x y (det M = 1, and Q(Mz) = Q(z)).
    lr = 0.5
    path = mm.alternating_gd(1.0, 0.2, lr, 10_000).numpy()
    q = path[:, 0] ** 2 + path[:, 1] ** 2 - lr * path[:, 0] * path[:, 1]
    assert np.allclose(q, q[0], rtol=1e-9)


@pytest.mark.parametrize("method", [mm.extragradient, mm.optimistic_gd])
def test_look_ahead_methods_converge(method):
    path = method(1.0, 1.0, 0.2, 600)
    assert path.norm(dim=1)[-1] < 1e-3


def test_extragradient_contracts_at_the_predicted_rate():
    path = mm.extragradient(0.4, 0.9, 0.3, 40)
    ratio = path.norm(dim=1)[1:] / path.norm(dim=1)[:-1]
    assert torch.allclose(ratio, torch.full_like(ratio, mm.extragradient_factor(0.3)), rtol=1e-12)
    assert mm.extragradient_factor(0.3) < 1


def test_optimistic_first_step_is_simultaneous_and_shapes():
    path = mm.optimistic_gd(0.5, 0.25, 0.1, 7)
    assert path.shape == (8, 2) and path[0].tolist() == [0.5, 0.25]
    assert np.allclose(path[1], mm.simultaneous_step(0.5, 0.25, 0.1))
    for method in mm.METHODS.values():
        assert method(1.0, 0.0, 0.1, 0).shape == (1, 2)


@pytest.mark.parametrize("lr, steps", [(0.0, 10), (-0.1, 10), (float("nan"), 10), (0.1, -1), (0.1, 2.5)])
def test_bad_arguments(lr, steps):
    with pytest.raises(ValueError):
        mm.simultaneous_gd(1.0, 0.0, lr, steps)


def test_value_and_grad_take_numpy_grids_and_refuse_nan():
    """Notebook 05 draws f and its vector field on NumPy meshgrids."""
    import numpy as np

    X, Y = np.meshgrid(np.linspace(-2, 2, 5), np.linspace(-1, 1, 3))
    assert np.array_equal(mm.value(X, Y), X * Y)
    gx, gy = mm.grad(X, Y)
    assert np.array_equal(gx, Y) and np.array_equal(gy, X)
    with pytest.raises(ValueError, match="NaN"):
        mm.value(np.array([np.nan]), np.array([1.0]))


def _momentum_matrix(lr, beta):
    # the linear map (x, y, v_x, v_y) -> next state, written out by hand (an independent route)
    return np.array([[1, -lr, -lr * beta, 0],
                     [lr, 1 - lr**2, -lr**2 * beta, lr * beta],
                     [0, 1, beta, 0],
                     [1, -lr, -lr * beta, beta]], dtype=float)


@pytest.mark.parametrize("beta", [-0.5, 0.5, 0.9])
def test_momentum_grows_at_the_spectral_radius_of_its_update_matrix(beta):
    lr, steps = 0.2, 400
    radius = max(abs(np.linalg.eigvals(_momentum_matrix(lr, beta))))
    norms = mm.momentum_alternating_gd(1.0, 0.0, lr, steps, beta).norm(dim=1)
    rate = (norms[-1] / norms[-101]).item() ** (1 / 100)  # asymptotic per-step growth
    assert rate == pytest.approx(radius, rel=2e-3)
    assert (radius > 1) == (beta > 0)


def test_momentum_zero_is_alternating_and_bad_beta_raises():
    assert torch.allclose(mm.momentum_alternating_gd(1.0, 0.5, 0.3, 50, 0.0), mm.alternating_gd(1.0, 0.5, 0.3, 50))
    with pytest.raises(ValueError, match="beta"):
        mm.momentum_alternating_gd(1.0, 0.0, 0.1, 5, 1.0)

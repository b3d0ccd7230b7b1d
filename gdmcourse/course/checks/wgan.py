"""Exercises of notebook 06 (WGAN, spectral normalization): critic loss, gradient penalty, power iteration."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ... import wgan
from .engine import (MIXED_DEVICE_HINT, Case, Exercise, Mistake, call, compare, fail, fmt, generator, judge, known, number,
                     parse, reproducible, tensor)

ls = F.logsigmoid

critic_loss = Exercise(
    name="critic_loss",
    doc=r"""Check ``fn(real_scores, fake_scores)`` = :math:`\overline{f(\tilde x)} - \overline{f(x)}` against
    :func:`gdmcourse.wgan.critic_loss` (batches of different sizes).""",
    passed="matches mean f(fake) − mean f(real).",
    reference=wgan.critic_loss,
    cases=lambda: [Case((torch.randn(7, generator=generator(60)) + 1, torch.randn(5, generator=generator(61))),
                        "loss for 7 real and 5 fake scores")],
    shape_hint="return one number: mean(fake_scores) − mean(real_scores).",
    mistakes=[
        Mistake("sign", lambda r, f: r.mean() - f.mean(),
                "sign: the critic MINIMISES mean f(fake) − mean f(real) (it maximises the reverse)."),
        Mistake("sum", lambda r, f: f.sum() - r.sum(), "average each batch (mean), do not sum."),
        Mistake("paired", lambda r, f: (f - r[: len(f)]).mean(), "average each batch separately: the batches may differ in size."),
        Mistake("with logs", lambda r, f: -ls(r).mean() - ls(-f).mean(),
                "a critic has no sigmoid or log: its loss is just the difference of mean scores."),
    ],
)

# ---- gradient penalty

CREATE_GRAPH = "pass create_graph=True to torch.autograd.grad, so the gradient can itself be differentiated."
ONE_EPS = "draw one ε per example: torch.rand((B,) + (1,) * (real.dim() - 1), generator=generator)."
EPS_PER_ENTRY = "draw eps of shape (B, 1, ..., 1): torch.rand((B,) + (1,) * (real.dim() - 1), generator=generator)."
BETWEEN = "evaluate it at random points between them: x̂ = ε·real + (1 − ε)·fake."
GP_SEEDED = "draw ε with the given generator: torch.rand(..., generator=generator)."


class _Recorder(nn.Module):
    """A critic f(x) = ½ Σ x² that remembers the points it was evaluated at (its gradient is x)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return 0.5 * x.pow(2).flatten(1).sum(1)


def _linear_critic() -> nn.Linear:
    critic = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[1.5, -2.0, 0.5]]))
    return critic


def _gp_cpu_eps(critic: Any, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The penalty with ε drawn on the CPU and never moved: right on a CPU, a device mismatch on a GPU."""
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=generator)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def _gradient_penalty(fn: Any) -> None:
    # 1. a linear critic f(x) = w·x: its gradient is w everywhere, so GP = (‖w‖ − 1)² whatever the ε
    critic = _linear_critic()
    g = generator(61)
    case = Case((critic, torch.randn(16, 3, generator=g), torch.randn(16, 3, generator=g)),
                "penalty for the linear critic f(x) = w·x with ‖w‖ = 2.55 (its gradient is w everywhere)",
                {"generator": generator(0)})
    got = compare(gradient_penalty, fn, case)[0][0]
    # 2. differentiable in the critic's weights, with the reference's gradient
    if not got.requires_grad:
        fail("the penalty has no gradient with respect to the critic's weights, so training would ignore it.", CREATE_GRAPH)
    (mine,) = torch.autograd.grad(got.sum(), critic.weight, allow_unused=True)
    reference = _linear_critic()
    (theirs,) = torch.autograd.grad(wgan.gradient_penalty(reference, *case.args[1:], generator=generator(0)),
                                    reference.weight)
    if mine is None or not torch.allclose(mine, theirs, atol=1e-4):
        fail("the penalty's gradient with respect to the critic's weights is wrong.",
             "compute ∇f at x̂ with torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True), and do not detach it.")
    # 3. the interpolates: with real = 1 and fake = 0, x̂ = ε
    rec, real, fake = _Recorder(), torch.ones(256, 2, 3), torch.zeros(256, 2, 3)
    out = tensor(call(fn, rec, real, fake, generator=generator(1)), "gradient_penalty")
    if not rec.seen:
        fail("the critic was never called.", "evaluate critic(x_hat) and differentiate it with respect to x_hat.")
    eps = rec.seen[-1]
    if eps.shape != real.shape:
        fail(f"the critic was called on points of shape {tuple(eps.shape)}, expected {tuple(real.shape)}.")
    eps = eps.flatten(1)
    if (eps.amax(1) - eps.amin(1)).max() > 1e-6:
        fail("ε varies inside one example: each example needs ONE ε for all its entries.", EPS_PER_ENTRY)
    eps = eps[:, 0]
    if eps.min() < 0 or eps.max() > 1:
        fail("the interpolation weights ε are outside [0, 1].", "ε ~ U[0, 1]: use torch.rand, not torch.randn.")
    if eps.std() < 1e-3:
        if torch.allclose(eps, torch.ones_like(eps)) or torch.allclose(eps, torch.zeros_like(eps)):
            fail("the penalty is evaluated at the real or the generated samples themselves.", BETWEEN)
        fail("the same ε was used for the whole batch.", ONE_EPS)
    if abs(eps.mean().item() - 0.5) > 0.1:
        fail(f"the ε's average {eps.mean().item():.3f}; ε ~ U[0, 1] should average about 0.5.", "use torch.rand for ε.")
    expected = ((rec.seen[-1].flatten(1).norm(dim=1) - 1) ** 2).mean()  # ∇f(x̂) = x̂ for this critic
    judge((out.detach().reshape(()),), (expected,), [], "penalty for f(x) = ½‖x‖² on 256 interpolates")
    reproducible(fn, lambda: (_Recorder(), real, fake), "penalties", GP_SEEDED, generator=generator(1))


def _gp(critic: Any, real: torch.Tensor, fake: torch.Tensor, generator: Any = None, *, eps_shape: Any = None,
        create_graph: bool = True, square_norm: bool = False, minus: float = 1.0, outer: int = 2, total: bool = False,
        per_example: bool = True) -> torch.Tensor:
    """A plain student gradient penalty, with switches for the usual slips."""
    eps = torch.rand(eps_shape or (real.shape[0],) + (1,) * (real.dim() - 1), generator=generator)
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=create_graph)
    norms = g.flatten(1).norm(dim=1) if per_example else g.norm()
    terms = ((norms**2 if square_norm else norms) - minus) ** outer
    return terms.sum() if total else terms.mean()


gradient_penalty = Exercise(
    name="gradient_penalty",
    doc=r"""Check ``fn(critic, real, fake, generator=None)`` = :math:`\overline{(\|\nabla f(\hat x)\|_2 - 1)^2}`, one ε per
    example: the value and the weight gradient of :func:`gdmcourse.wgan.gradient_penalty` for a linear critic, then the
    interpolates a recording critic sees, and reproducibility.""",
    passed="one ε per example, (‖∇f(x̂)‖₂ − 1)² averaged, differentiable in the critic's weights.",
    reference=wgan.gradient_penalty,
    procedure=_gradient_penalty,
    device_case=lambda: Case((_linear_critic(), torch.zeros(4, 3), torch.ones(4, 3)), "a batch of real and fake points",
                             {"generator": generator(0)}),
    output="number",
    shape_hint="return one number: the mean over the batch.",
    mistakes=[
        Mistake("squared norm", lambda *a, **k: _gp(*a, **k, square_norm=True),
                "use the norm ‖∇f‖₂, not its square, inside (‖∇f‖ − 1)²."),
        Mistake("norm² − 1", lambda *a, **k: _gp(*a, **k, square_norm=True, outer=1),
                "square the difference: (‖∇f‖ − 1)², not ‖∇f‖² − 1."),
        Mistake("missing -1", lambda *a, **k: _gp(*a, **k, minus=0.0), "subtract 1 from the norm: the penalty is (‖∇f‖ − 1)²."),
        Mistake("not squared", lambda *a, **k: _gp(*a, **k, outer=1), "square the difference: (‖∇f‖ − 1)²."),
        Mistake("sum", lambda *a, **k: _gp(*a, **k, total=True), "average over the examples (mean), do not sum."),
        Mistake("batch norm", lambda *a, **k: _gp(*a, **k, per_example=False),
                "take one norm per example (flatten each example's gradient), not one norm of the whole batch's gradient."),
        Mistake("without create_graph", lambda *a, **k: _gp(*a, **k, create_graph=False), CREATE_GRAPH, match=False),
        Mistake("eps left on the CPU", lambda c, r, f, generator=None: _gp_cpu_eps(c, r, f, generator), MIXED_DEVICE_HINT,
                match=False),
        Mistake("one eps per batch", lambda c, r, f, generator=None: _gp(c, r, f, generator, eps_shape=(1,)), ONE_EPS, match=False),
        Mistake("eps per entry", lambda c, r, f, generator=None: _gp(c, r, f, generator, eps_shape=r.shape), EPS_PER_ENTRY,
                match=False),
        Mistake("at real points", lambda c, r, f, generator=None: _gp(c, r, 0 * f + r, generator), BETWEEN, match=False),
    ],
)

# ---- power iteration

NORMALISE_V = "normalise v too: v = Wᵀu / ‖Wᵀu‖."
GIVEN_U = "start from the given u (normalised), then v = Wᵀu / ‖Wᵀu‖, u = Wv / ‖Wv‖."
SPACES = "v = Wᵀu / ‖Wᵀu‖ lives in the input space (n), u = Wv / ‖Wv‖ in the output space (m)."


def _matrix() -> tuple[torch.Tensor, torch.Tensor]:
    """A (6, 4) matrix with singular values 3, 1.5, 1, 0.5 (a clear gap) and a start vector u."""
    g = generator(62)
    U, _ = torch.linalg.qr(torch.randn(6, 4, generator=g, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
    return U @ torch.diag(torch.tensor([3.0, 1.5, 1.0, 0.5], dtype=torch.float64)) @ V.T, torch.randn(6, generator=g,
                                                                                                    dtype=torch.float64)


def _power_iteration(fn: Any) -> None:
    W, u0 = _matrix()
    names = ("sigma", "u", "v")
    sigma, u, v = parse(call(fn, W, 1, u=u0.clone()), "power_iteration", "tensor", names)
    if u.shape != (6,) or v.shape != (4,):
        fail(f"for W of shape (6, 4) expected u of shape (6,) and v of shape (4,), got {tuple(u.shape)} and "
             f"{tuple(v.shape)}.", SPACES)
    ref_sigma, ref_u, ref_v = wgan.power_iteration(W, 1, u=u0.clone())
    if not torch.allclose(v.double(), ref_v, atol=1e-6):
        if torch.allclose(v.double() / v.double().norm(), ref_v, atol=1e-6):
            fail("after one iteration v is not a unit vector.", NORMALISE_V)
        fail("one iteration from the given start u gave a different v.", GIVEN_U)
    if not torch.allclose(u.double(), ref_u, atol=1e-6):
        fail("one iteration from the given start u gave a different u.", "u = Wv / ‖Wv‖ (normalised).")
    case = Case((W, 1), "sigma after 1 iteration from the given u", {"u": u0})
    judge((sigma.double().reshape(()),), (ref_sigma,), ((out[:1], h) for out, h in known(power_iteration, case)),
          case.what, shape_hint="return sigma as one number: u @ W @ v.")
    sigma, u, v = parse(call(fn, W, 100), "power_iteration", "tensor", names)
    exact = torch.linalg.matrix_norm(W, ord=2)
    if not torch.allclose(sigma.double(), exact, rtol=1e-6):
        fail(f"after 100 iterations from a random start σ should be {exact.item():.6f}, got {fmt(sigma)}.",
             "when u is None, start from a random vector (torch.randn(W.shape[0])).")
    one = torch.tensor(1.0, dtype=torch.float64)
    if not (torch.isclose(u.double().norm(), one, atol=1e-6) and torch.isclose(v.double().norm(), one, atol=1e-6)):
        fail("u and v should be unit vectors.", "normalise both: u = Wv / ‖Wv‖, v = Wᵀu / ‖Wᵀu‖.")
    if not torch.allclose(W @ v.double(), sigma.double() * u.double(), atol=1e-5):
        fail("the returned u, v, σ do not satisfy W v = σ u.", "return the u and v of the last iteration.")


def _pi(W: torch.Tensor, n_iter: int, u: Any = None, *, normalise_v: bool = True, square: bool = False,
        ignore_u: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A plain student power iteration, with switches for the usual slips."""
    u = F.normalize(torch.randn(W.shape[0], dtype=W.dtype) if u is None or ignore_u else u, dim=0)
    for _ in range(n_iter):
        v = W.T @ u
        v = F.normalize(v, dim=0) if normalise_v else v
        u = F.normalize(W @ v, dim=0)
    sigma = u @ W @ v
    return (sigma**2 if square else sigma), u, v


power_iteration = Exercise(
    name="power_iteration",
    doc="""Check ``fn(W, n_iter, u=None)`` → ``(sigma, u, v)``: one iteration from a given u equals
    :func:`gdmcourse.wgan.power_iteration`'s; 100 iterations reach the largest singular value (torch.linalg).""",
    passed="σ = uᵀWv converges to the largest singular value, with unit vectors u, v.",
    reference=lambda W, n_iter, u=None: wgan.power_iteration(W, n_iter, u=u),
    procedure=_power_iteration,
    names=("sigma", "u", "v"),
    mistakes=[
        Mistake("sigma squared", lambda W, n, u=None: _pi(W, n, u, square=True), "σ = uᵀWv; you returned σ², the eigenvalue of WᵀW."),
        Mistake("‖Wᵀu‖²", lambda W, n, u=None: (lambda s, a, b: ((W.T @ a).norm() ** 2, a, b))(*_pi(W, n, u)),
                "σ = uᵀWv; ‖Wᵀu‖² is σ², the eigenvalue of WᵀW."),
        Mistake("v not normalised", lambda W, n, u=None: _pi(W, n, u, normalise_v=False), NORMALISE_V, match=False),
        Mistake("ignores u", lambda W, n, u=None: _pi(W, n, u, ignore_u=True), GIVEN_U, match=False),
        Mistake("u, v swapped", lambda W, n, u=None: (lambda s, a, b: (s, b, a))(*_pi(W, n, u)), SPACES, match=False),
    ],
)

EXERCISES = [critic_loss, gradient_penalty, power_iteration]

# ---- a network's Lipschitz bound: the product of its layers' norms, never below a measured gradient norm

_ACT = {nn.ReLU: 1.0, nn.LeakyReLU: 1.0, nn.Tanh: 1.0, nn.Sigmoid: 0.25, nn.Identity: 1.0}


def _nets() -> list[nn.Sequential]:
    torch.manual_seed(6)
    return [nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1)),
            nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1)),
            nn.Sequential(nn.Linear(4, 6), nn.Sigmoid(), nn.Linear(6, 2))]


def _bound(model: nn.Sequential, *, norm: str = "spectral", combine: str = "product", activations: bool = True) -> float:
    values = []
    for layer in model:
        if isinstance(layer, nn.Linear):
            W = layer.weight.detach().double()
            values.append(float({"spectral": torch.linalg.matrix_norm(W, 2), "fro": torch.linalg.matrix_norm(W, "fro"),
                                 "inf": torch.linalg.matrix_norm(W, float("inf"))}[norm]))
        elif activations:
            values.append(_ACT.get(type(layer), 1.0))
    return {"product": math.prod(values), "sum": sum(values), "max": max(values)}[combine]


def _measured(model: nn.Module, n: int = 512) -> float:
    """The largest gradient norm ‖∇f(x)‖ (of the first output) at n random points: a lower bound of the constant."""
    width = next(m for m in model.modules() if isinstance(m, nn.Linear)).in_features
    x = (3 * torch.randn(n, width, generator=generator(16))).requires_grad_(True)
    (g,) = torch.autograd.grad(model(x)[:, 0].sum(), x)
    return float(g.norm(dim=1).max())


def _lipschitz_cases() -> list[Case]:
    return [Case((net,), f"the network {' → '.join(type(m).__name__ for m in net)}") for net in _nets()]


def _never_below_measured(fn: Any) -> None:
    for net in _nets():
        bound, measured = number(call(fn, net), "lipschitz_bound"), _measured(net)
        if bound < measured * (1 - 1e-6):
            fail(f"your bound {bound:.4g} is below a gradient norm measured on the network, {measured:.4g}: it cannot "
                 "bound the Lipschitz constant.", "multiply the layers' spectral norms (and the activations' constants).")


LAYER_NORM = "use each weight's SPECTRAL norm, its largest singular value (torch.linalg.matrix_norm(W, 2))."

lipschitz_bound = Exercise(
    name="lipschitz_bound",
    doc=r"""Check ``fn(model)`` = :math:`\prod_l \sigma_1(W_l) \prod_a L_a` for ``nn.Sequential`` networks of Linear
    layers and ReLU, LeakyReLU, tanh (1) and sigmoid (1/4), against :func:`gdmcourse.wgan.lipschitz_upper_bound`,
    and never below the largest gradient norm measured at 512 points.""",
    passed="the product of the layers' spectral norms and the activations' constants, and above every measured "
           "gradient norm.",
    reference=wgan.lipschitz_upper_bound,
    cases=_lipschitz_cases,
    output="number",
    points=2.0,
    properties=[_never_below_measured],
    generic_hint="multiply σ₁(W) of every Linear layer and the activations' Lipschitz constants (sigmoid: 1/4).",
    mistakes=[
        Mistake("Frobenius norm", lambda m: _bound(m, norm="fro"), LAYER_NORM),
        Mistake("infinity norm", lambda m: _bound(m, norm="inf"), LAYER_NORM),
        Mistake("sum", lambda m: _bound(m, combine="sum"), "compose the layers: MULTIPLY their norms, do not add them."),
        Mistake("max", lambda m: _bound(m, combine="max"), "compose the layers: MULTIPLY their norms, not the largest one."),
        Mistake("sigmoid as 1", lambda m: _bound(m, activations=False),
                "an activation's constant multiplies too: the sigmoid's slope is at most 1/4."),
    ],
)

EXERCISES += [lipschitz_bound]

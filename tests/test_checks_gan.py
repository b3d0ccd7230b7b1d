"""The checks of notebooks 04 (GAN optimality), 05 (minimax) and 06 (WGAN) pass on the reference
solutions and fail, with a specific hint and without raising, on plausible wrong answers."""

import math

import pytest
import torch
import torch.nn.functional as F

from checking import expect_fail, not_implemented, verdict_of
from gdmcourse import checks, gan, minimax, wgan

ls = F.logsigmoid


def _kl(p, q):
    return torch.where(p > 0, p * (p.clamp_min(1e-30).log() - q.clamp_min(1e-30).log()), torch.zeros_like(p)).sum(-1)


def _power_iteration_reference(W, n_iter, u=None):
    return wgan.power_iteration(W, n_iter, u=u)


REFERENCES = [
    (checks.optimal_discriminator, gan.optimal_discriminator),
    (checks.jensen_shannon, gan.jensen_shannon),
    (checks.discriminator_loss, gan.discriminator_loss),
    (checks.generator_loss_minimax, gan.generator_loss_minimax),
    (checks.generator_loss_nonsaturating, gan.generator_loss_nonsaturating),
    (checks.simultaneous_step, minimax.simultaneous_step),
    (checks.alternating_step, minimax.alternating_step),
    (checks.extragradient_step, minimax.extragradient_step),
    (checks.optimistic_step, minimax.optimistic_step),
    (checks.critic_loss, wgan.critic_loss),
    (checks.gradient_penalty, wgan.gradient_penalty),
    (checks.power_iteration, _power_iteration_reference),
]


@pytest.mark.parametrize("check, reference", REFERENCES, ids=lambda x: getattr(x, "__name__", ""))
def test_passes_on_reference_and_rejects_unfinished(capsys, check, reference):
    assert verdict_of(capsys, check, reference)[0].passed
    expect_fail(capsys, check, (not_implemented,), "not implemented")


def _gp(critic, real, fake, generator=None, *, eps_shape=None, create_graph=True, square_norm=False, minus=1.0,
        reduce="mean", per_example=True):
    shape = eps_shape or (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, generator=generator)
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=create_graph)
    norms = g.flatten(1).norm(dim=1) if per_example else g.norm()
    if square_norm:
        norms = norms**2
    terms = (norms - minus) ** 2
    return terms.sum() if reduce == "sum" else terms.mean()


def _pi_wrong(W, n_iter, u=None, *, normalise_v=True, square=False, ignore_u=False):
    u = torch.randn(W.shape[0], dtype=W.dtype) if u is None or ignore_u else u
    u = F.normalize(u, dim=0)
    for _ in range(n_iter):
        v = W.T @ u
        if normalise_v:
            v = F.normalize(v, dim=0)
        u = F.normalize(W @ v, dim=0)
    sigma = u @ W @ v
    return (sigma**2 if square else sigma), u, v


def _no_half(p, q):
    return torch.where(p + q > 0, p / (p + q), torch.full_like(p, math.nan))


WRONG = {
    # 04
    "D* swapped": (checks.optimal_discriminator, lambda p, q: q / (p + q), "REAL"),
    "D* over model": (checks.optimal_discriminator, lambda p, q: p / q, "not by p_model alone"),
    "D* nan at 0/0": (checks.optimal_discriminator, _no_half, "return 1/2"),
    "JSD bits": (checks.jensen_shannon, lambda p, q: gan.jensen_shannon(p, q) / math.log(2), "log base 2"),
    "JSD no half": (checks.jensen_shannon, lambda p, q: 2 * gan.jensen_shannon(p, q), "factors ½"),
    "JSD as KL(p|q)": (checks.jensen_shannon, lambda p, q: _kl(p, q), "mixture"),
    "JSD symmetric KL": (checks.jensen_shannon, lambda p, q: _kl(p, q) + _kl(q, p), "mixture"),
    "JSD wrong dim": (checks.jensen_shannon, lambda p, q: gan.jensen_shannon(p, q).sum(), "one JSD per row"),
    "JSD nan with zeros": (checks.jensen_shannon,
                           lambda p, q: 0.5 * (p * (2 * p / (p + q)).log()).sum(-1) + 0.5 * (q * (2 * q / (p + q)).log()).sum(-1),
                           "0 log 0"),
    "D loss sign": (checks.discriminator_loss, lambda r, f: ls(r).mean() + ls(-f).mean(), "minus sign"),
    "D loss labels swapped": (checks.discriminator_loss, lambda r, f: -ls(-r).mean() - ls(f).mean(), "labels swapped"),
    "D loss sum": (checks.discriminator_loss, lambda r, f: -ls(r).sum() - ls(-f).sum(), "mean"),
    "D loss unstable": (checks.discriminator_loss,
                        lambda r, f: -torch.sigmoid(r).log().mean() - (1 - torch.sigmoid(f)).log().mean(), "logsigmoid"),
    "G minimax is NS": (checks.generator_loss_minimax, gan.generator_loss_nonsaturating, "non-saturating"),
    "G minimax sign": (checks.generator_loss_minimax, lambda f: -ls(-f).mean(), "no minus sign"),
    "G minimax unstable": (checks.generator_loss_minimax, lambda f: (1 - torch.sigmoid(f)).log().mean(), "logsigmoid"),
    "G NS is minimax": (checks.generator_loss_nonsaturating, gan.generator_loss_minimax, "minimax loss"),
    "G NS sign": (checks.generator_loss_nonsaturating, lambda f: ls(f).mean(), "missing minus"),
    "G NS unstable": (checks.generator_loss_nonsaturating, lambda f: -torch.sigmoid(f).log().mean(), "logsigmoid"),
    # 05
    "sim both descend": (checks.simultaneous_step, lambda x, y, lr: (x - lr * y, y - lr * x), "ascent"),
    "sim own gradient": (checks.simultaneous_step, lambda x, y, lr: (x - lr * x, y + lr * y), "OTHER variable"),
    "sim is alternating": (checks.simultaneous_step, minimax.alternating_step, "alternating"),
    "alt uses old x": (checks.alternating_step, minimax.simultaneous_step, "NEW x"),
    "alt y first": (checks.alternating_step, lambda x, y, lr: (x - lr * (y + lr * x), y + lr * x), "x moves first"),
    "eg from look-ahead": (checks.extragradient_step,
                           lambda x, y, lr: minimax.simultaneous_step(*minimax.simultaneous_step(x, y, lr), lr), "starts again"),
    "eg only look-ahead": (checks.extragradient_step, minimax.simultaneous_step, "look-ahead step"),
    "og swapped coefficients": (checks.optimistic_step,
                                lambda x, y, xp, yp, lr: (x - lr * y + 2 * lr * yp, y + lr * x - 2 * lr * xp), "swapped"),
    "og plus correction": (checks.optimistic_step,
                           lambda x, y, xp, yp, lr: (x - 2 * lr * y - lr * yp, y + 2 * lr * x + lr * xp), "subtracted back"),
    "og previous point": (checks.optimistic_step,
                          lambda x, y, xp, yp, lr: (x - 2 * lr * y + lr * xp, y + 2 * lr * x - lr * yp), "previous GRADIENT"),
    "og returns one number": (checks.optimistic_step, lambda x, y, xp, yp, lr: x - lr * y, "return x_new, y_new"),
    # 06
    "critic sign": (checks.critic_loss, lambda r, f: r.mean() - f.mean(), "sign"),
    "critic sum": (checks.critic_loss, lambda r, f: f.sum() - r.sum(), "mean"),
    "critic with logs": (checks.critic_loss, lambda r, f: -ls(r).mean() - ls(-f).mean(), "no sigmoid"),
    "GP without create_graph": (checks.gradient_penalty, lambda *a, **k: _gp(*a, **k, create_graph=False), "create_graph=True"),
    "GP one eps per batch": (checks.gradient_penalty, lambda c, r, f, generator=None: _gp(c, r, f, generator, eps_shape=(1,)),
                             "one ε per example"),
    "GP eps per entry": (checks.gradient_penalty, lambda c, r, f, generator=None: _gp(c, r, f, generator, eps_shape=r.shape),
                         "ONE ε"),
    "GP squared norm": (checks.gradient_penalty, lambda *a, **k: _gp(*a, **k, square_norm=True), "not its square"),
    "GP missing -1": (checks.gradient_penalty, lambda *a, **k: _gp(*a, **k, minus=0.0), "subtract 1"),
    "GP sum": (checks.gradient_penalty, lambda *a, **k: _gp(*a, **k, reduce="sum"), "mean"),
    "GP batch norm": (checks.gradient_penalty, lambda *a, **k: _gp(*a, **k, per_example=False), "one norm per example"),
    "GP at real points": (checks.gradient_penalty,
                          lambda c, r, f, generator=None: _gp(c, r, 0 * f + r, generator), "between them"),
    "PI v not normalised": (checks.power_iteration, lambda W, n, u=None: _pi_wrong(W, n, u, normalise_v=False), "normalise v"),
    "PI sigma squared": (checks.power_iteration, lambda W, n, u=None: _pi_wrong(W, n, u, square=True), "σ²"),
    "PI ignores u": (checks.power_iteration, lambda W, n, u=None: _pi_wrong(W, n, u, ignore_u=True), "given u"),
    "PI u, v swapped": (checks.power_iteration, lambda W, n, u=None: (lambda s, a, b: (s, b, a))(*_pi_wrong(W, n, u)), "shape"),
}


@pytest.mark.parametrize("name", WRONG)
def test_rejects_wrong_answer_with_hint(capsys, name):
    check, candidate, hint = WRONG[name]
    expect_fail(capsys, check, (candidate,), hint)

r"""Gradients through sampling: score function vs pathwise, and Gumbel-softmax (notebook 03).

Training a VAE needs :math:`\nabla_\phi \mathbb E_{z\sim q_\phi}[f(z)]`, but a drawn sample
:math:`z` is a number with no gradient. Two unbiased Monte Carlo estimators exist for
:math:`q = \mathcal N(\mu, \sigma^2)` (Mohamed et al. 2020, "Monte Carlo gradient estimation"):

- the **score function** (REINFORCE, likelihood ratio) estimator, from
  :math:`\nabla_\theta \mathbb E_q[f] = \mathbb E_q[f(z)\,\nabla_\theta \log q_\theta(z)]`:

  .. math::  \hat g = \frac1n\sum_{i=1}^n f(z_i)\,\nabla_\theta\log\mathcal N(z_i;\mu,\sigma^2),\qquad
             \nabla_\mu \log\mathcal N = \frac{z-\mu}{\sigma^2},\quad
             \nabla_\sigma \log\mathcal N = \frac{(z-\mu)^2 - \sigma^2}{\sigma^3};

  it needs only values of :math:`f` (discrete or non-differentiable :math:`f` are fine) but
  its variance is often large;

- the **pathwise** (reparametrization) estimator (lecture 003, "VAE – Reparametrization
  Trick"): write :math:`z = \mu + \sigma\varepsilon`, :math:`\varepsilon\sim\mathcal N(0,1)`, so

  .. math::  \hat g = \frac1n\sum_{i=1}^n \nabla_\theta f(\mu + \sigma\varepsilon_i)
             = \frac1n\sum_i f'(z_i)\,(1,\ \varepsilon_i);

  it needs a differentiable :math:`f` and usually has far lower variance. This is
  ``Normal(mu, sigma).rsample()``; ``.sample()`` cuts the graph.

For discrete latents (lecture 001, dVAE; DALL-E) there is no pathwise estimator; the
**Gumbel-softmax** (concrete) relaxation (Jang et al. 2017, Maddison et al. 2017) replaces a
categorical one-hot sample by a differentiable point of the simplex, see :func:`gumbel_softmax`.

Conventions: ``mu`` and ``sigma`` may be Python floats, 0-d tensors or tensors of any
shape; samples ``z`` have shape ``(n, *shape)``. If ``f`` returns one value per sample,
``(n,)``, the estimators return the gradient of :math:`\mathbb E[f(z)]`. If ``f`` returns
``(n, *shape)`` it must act elementwise (``f(z)[i]`` depends only on ``z[i]``, like
``torch.sin``) and the result is the elementwise gradient
:math:`\partial\,\mathbb E[f(z_j)] / \partial\mu_j`: a tensor ``mu`` then runs many
independent estimates in one call, which :func:`estimator_stats` uses to measure variance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from . import validate

Number = float | torch.Tensor
Estimator = Callable[..., "Gradient"]


class Gradient(NamedTuple):
    """An estimate of :math:`(\\nabla_\\mu, \\nabla_\\sigma)\\,\\mathbb E[f(z)]`, each shaped like ``mu``; unpacks as a tuple."""

    mu: torch.Tensor
    sigma: torch.Tensor


def _prepare(mu: Number, sigma: Number, n: int,
             generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if n < 1:
        raise ValueError(f"n must be a positive number of samples, got {n}")
    mu_t = torch.as_tensor(mu, dtype=torch.get_default_dtype() if not torch.is_tensor(mu) else None)
    sigma_t = torch.as_tensor(sigma, dtype=mu_t.dtype, device=mu_t.device)
    validate.tensor(mu_t, "mu", nonempty=False)
    validate.tensor(sigma_t, "sigma", nonempty=False)
    if (sigma_t <= 0).any():
        raise ValueError("sigma must be positive")
    mu_t, sigma_t = torch.broadcast_tensors(mu_t.detach(), sigma_t.detach())
    # ε drawn on the CPU with the caller's generator, then moved (same samples on every device)
    eps = torch.randn((n, *mu_t.shape), generator=generator, dtype=mu_t.dtype).to(mu_t.device)
    return mu_t, sigma_t, eps


def _values(f: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``f(z)`` as ``(n, *shape)``: per-sample values are broadcast over the parameter's shape."""
    out = f(z)
    if out.shape == z.shape:
        return out
    if out.shape == z.shape[:1]:
        return out.reshape(-1, *([1] * len(shape))).expand_as(z)
    raise ValueError(f"f must return shape (n,) = {tuple(z.shape[:1])} or the samples' shape {tuple(z.shape)}, "
                     f"got {tuple(out.shape)}")


def score_function_grad(f: Callable[[torch.Tensor], torch.Tensor], mu: Number, sigma: Number, n: int,
                        generator: torch.Generator | None = None, *, baseline: Number = 0.0) -> Gradient:
    r"""Score-function (REINFORCE) estimate of :math:`\nabla_{\mu,\sigma}\,\mathbb E_{z\sim\mathcal N(\mu,\sigma^2)}[f(z)]`.

    .. math::  \hat g_\mu = \frac1n\sum_i (f(z_i) - b)\,\frac{z_i - \mu}{\sigma^2}, \qquad
               \hat g_\sigma = \frac1n\sum_i (f(z_i) - b)\,\frac{(z_i-\mu)^2 - \sigma^2}{\sigma^3}

    ``f`` is only evaluated, never differentiated (it may be a step function). A constant
    baseline :math:`b` keeps the estimator unbiased (:math:`\mathbb E[\nabla\log q] = 0`) and
    can lower its variance; ``b = 0`` (the default) is plain REINFORCE.

    Args:
        f: maps samples ``(n, *shape)`` to values ``(n,)`` or, elementwise, ``(n, *shape)``.
        mu, sigma: the Gaussian's mean and standard deviation (``sigma > 0``), float or tensor.
        n: number of samples.
        generator: CPU generator for :math:`\varepsilon`.
        baseline: the constant :math:`b`.
    Returns:
        :class:`Gradient` ``(mu, sigma)``, each shaped like ``mu`` (0-d for floats), no graph.

    Raises:
        ValueError: ``n < 1``, a ``sigma`` is not positive, or ``f`` returns neither ``(n,)`` nor the samples' shape.
    """
    mu_t, sigma_t, eps = _prepare(mu, sigma, n, generator)
    with torch.no_grad():
        z = mu_t + sigma_t * eps
        fz = _values(f, z, mu_t.shape) - baseline
        # ∇_μ log N(z; μ, σ²) = (z − μ)/σ²,   ∇_σ log N = ((z − μ)² − σ²)/σ³
        score_mu = (z - mu_t) / sigma_t**2
        score_sigma = ((z - mu_t) ** 2 - sigma_t**2) / sigma_t**3
        return Gradient((fz * score_mu).mean(dim=0), (fz * score_sigma).mean(dim=0))


def pathwise_grad(f: Callable[[torch.Tensor], torch.Tensor], mu: Number, sigma: Number, n: int,
                  generator: torch.Generator | None = None) -> Gradient:
    r"""Pathwise (reparametrization) estimate of :math:`\nabla_{\mu,\sigma}\,\mathbb E_{z\sim\mathcal N(\mu,\sigma^2)}[f(z)]`.

    .. math::  z_i = \mu + \sigma\varepsilon_i, \qquad
               \hat g = \nabla_{\mu,\sigma}\, \frac1n\sum_i f(z_i) \quad\text{(by autograd)}

    Args and returns as :func:`score_function_grad`; ``f`` must be differentiable (torch ops).

    Raises:
        ValueError: ``n < 1``, a ``sigma`` is not positive, ``f`` returns neither ``(n,)`` nor the samples'
            shape, or ``f(z)`` does not depend differentiably on ``z``.
    """
    mu_t, sigma_t, eps = _prepare(mu, sigma, n, generator)
    with torch.enable_grad():
        mu_v, sigma_v = mu_t.clone().requires_grad_(True), sigma_t.clone().requires_grad_(True)
        # z = μ + σ ε  (differentiable in μ and σ)
        z = mu_v + sigma_v * eps
        f_z = f(z)
        if f_z.shape == z.shape[:1]:     # one value per sample: the gradient of E[f(z)]
            objective = f_z.mean()
        else:                            # elementwise f: Σ_j E[f(z_j)], whose gradient is elementwise
            objective = _values(lambda _: f_z, z, mu_t.shape).mean(dim=0).sum()
        if not objective.requires_grad:
            raise ValueError("f(z) does not depend differentiably on z; the pathwise estimator needs a "
                             "differentiable f (use score_function_grad for discrete or step functions)")
        g_mu, g_sigma = torch.autograd.grad(objective, (mu_v, sigma_v), allow_unused=True)
    zero = torch.zeros_like(mu_t)
    return Gradient(zero if g_mu is None else g_mu, zero if g_sigma is None else g_sigma)


def estimator_stats(estimator: Estimator, f: Callable[[torch.Tensor], torch.Tensor], mu: float, sigma: float,
                    n: int, repeats: int = 1000, generator: torch.Generator | None = None) -> dict[str, float]:
    r"""Mean and standard deviation over ``repeats`` independent estimates, each from ``n`` samples.

    Runs all repeats in one call with a tensor ``mu`` of length ``repeats``, so ``f`` must be
    elementwise. Returns ``{"mu_mean", "mu_std", "sigma_mean", "sigma_std"}``; the std of
    one estimate shrinks like :math:`1/\sqrt n`.
    """
    g = estimator(f, torch.full((repeats,), float(mu)), torch.full((repeats,), float(sigma)), n, generator)
    return {"mu_mean": float(g[0].mean()), "mu_std": float(g[0].std()),
            "sigma_mean": float(g[1].mean()), "sigma_std": float(g[1].std())}


def sample_gumbel(shape: torch.Size | tuple[int, ...], generator: torch.Generator | None = None,
                  dtype: torch.dtype | None = None) -> torch.Tensor:
    r"""Standard Gumbel noise :math:`g = -\log(-\log U) = -\log E`, :math:`U\sim\mathcal U(0,1)`, :math:`E\sim\operatorname{Exp}(1)`, on the CPU."""
    e = torch.empty(shape, dtype=dtype).exponential_(generator=generator)
    return -torch.log(e.clamp_min(torch.finfo(e.dtype).tiny))


def gumbel_softmax(logits: torch.Tensor, tau: float, hard: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    r"""A relaxed one-hot sample of :math:`\operatorname{Categorical}(\operatorname{softmax}(\text{logits}))` over the last dim.

    .. math::  y = \operatorname{softmax}\big((\ell + g)/\tau\big), \qquad g_k \sim \operatorname{Gumbel}(0, 1)

    (Jang et al. 2017, eq. 1–2). By the Gumbel-max trick :math:`\arg\max_k (\ell_k + g_k)` is an
    exact categorical sample; :math:`y` lies on the simplex and approaches that one-hot vector
    as :math:`\tau \to 0` (low bias, high gradient variance); large :math:`\tau` makes it
    nearly uniform.

    Args:
        logits: unnormalised log-probabilities :math:`\ell`, shape ``(..., K)``.
        tau: temperature :math:`\tau > 0`.
        hard: straight-through: return the one-hot :math:`\arg\max_k y_k` in the forward
            pass, with the gradient of the soft :math:`y` (``y_hard − y.detach() + y``).
        generator: CPU generator for the Gumbel noise (drawn on the CPU, then moved).
    Returns:
        shape ``(..., K)``, rows summing to 1; differentiable in ``logits``.

    Raises:
        ValueError: ``tau`` is not positive, or ``logits`` is a scalar or contains NaN or +inf
            (−inf, a class of probability 0, is allowed).
    """
    logits = validate.tensor(logits, "logits", min_rank=1, expected="(..., K)", nonempty=False, finite=False,
                             floating=True)
    if validate.has_values(logits) and (torch.isnan(logits).any() or (logits == float("inf")).any()):
        raise ValueError("logits contains NaN or +inf; expected log-probabilities in [-inf, inf)")
    if not tau > 0:
        raise ValueError(f"tau must be positive, got {tau}")
    g = sample_gumbel(logits.shape, generator, logits.dtype).to(logits.device)
    # y = softmax((ℓ + g)/τ)
    y = F.softmax((logits + g) / tau, dim=-1)
    if not hard:
        return y
    y_hard = F.one_hot(y.argmax(dim=-1), y.shape[-1]).to(y.dtype)
    # forward: one-hot; backward: ∂y/∂ℓ of the soft sample (straight-through)
    return y_hard - y.detach() + y


__all__ = ["Gradient", "score_function_grad", "pathwise_grad", "estimator_stats", "sample_gumbel",
           "gumbel_softmax"]

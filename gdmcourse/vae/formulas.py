r"""The formulas of the VAE topic (notebook 02): closed-form Gaussian KL, the reparameterization,
the decoders' log-likelihoods, a stable log-mean-exp, a Monte Carlo KL and dynamic binarization.

Re-exported by :mod:`gdmcourse.vae`; see its docstring for the lecture's derivation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import validate

_LOG_2PI = math.log(2 * math.pi)


def _finite_on_one_device(**named: torch.Tensor | None) -> None:
    # every formula here is elementwise: any shape (empty too) is fine; NaN, ±inf and mixed devices are not
    given = [(name, validate.tensor(t, name, nonempty=False)) for name, t in named.items() if t is not None]
    validate.same_device(*given)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, mu_p: torch.Tensor | None = None,
                logvar_p: torch.Tensor | None = None) -> torch.Tensor:
    r"""KL divergence between diagonal Gaussians, summed over the last dimension.

    .. math::  D_{KL}\big(\mathcal N(\mu, \operatorname{diag}\sigma^2) \,\|\,
               \mathcal N(\mu_p, \operatorname{diag}\sigma_p^2)\big)
               = \frac12 \sum_{j=1}^J \Big[\log\frac{\sigma_{p,j}^2}{\sigma_j^2}
               + \frac{\sigma_j^2 + (\mu_j - \mu_{p,j})^2}{\sigma_{p,j}^2} - 1\Big]

    With the standard prior :math:`\mathcal N(0, I)` this is
    :math:`-\frac12 \sum_j (1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2)` (Kingma & Welling
    2014, appendix B).

    Args:
        mu, logvar: mean and log-variance :math:`\log\sigma^2` of :math:`q`, shape ``(..., J)``.
        mu_p, logvar_p: the prior's mean and log-variance (broadcastable); ``None`` means 0.
    Returns:
        nats, shape ``mu.shape[:-1]`` (one value per example), always ``>= 0``.
    Raises:
        ValueError: an argument contains NaN or ±inf, or they are on different devices.
    """
    _finite_on_one_device(mu=mu, logvar=logvar, mu_p=mu_p, logvar_p=logvar_p)
    mu_p = torch.zeros_like(mu) if mu_p is None else mu_p
    logvar_p = torch.zeros_like(logvar) if logvar_p is None else logvar_p
    # ½ [log σ_p² − log σ² + (σ² + (μ − μ_p)²) / σ_p² − 1]
    kl = 0.5 * (logvar_p - logvar + (logvar.exp() + (mu - mu_p).pow(2)) * torch.exp(-logvar_p) - 1)
    return kl.sum(dim=-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    r"""A sample :math:`z \sim \mathcal N(\mu, \operatorname{diag}\sigma^2)`, differentiable in ``mu`` and ``logvar``.

    .. math::  z = \mu + \sigma \odot \varepsilon, \qquad \sigma = \exp(\tfrac12 \log\sigma^2),
               \quad \varepsilon \sim \mathcal N(0, I)

    (lecture 003, "VAE – Reparametrization Trick"). :math:`\partial z / \partial\mu = 1` and
    :math:`\partial z / \partial \log\sigma^2 = \tfrac12 \sigma\varepsilon`.

    Args:
        mu, logvar: shape ``(..., J)`` (broadcastable to each other).
        generator: a CPU generator for :math:`\varepsilon`; the noise is drawn on the CPU
            and moved to ``mu``'s device, so every device sees the same sample.
    Raises:
        ValueError: ``mu`` or ``logvar`` contains NaN or ±inf, or they are on different devices.
    """
    _finite_on_one_device(mu=mu, logvar=logvar)
    shape = torch.broadcast_shapes(mu.shape, logvar.shape)
    eps = torch.randn(shape, generator=generator, dtype=mu.dtype).to(mu.device)
    # z = μ + exp(½ log σ²) ε
    return mu + torch.exp(0.5 * logvar) * eps


def _sum_event(t: torch.Tensor, event_dims: int | None) -> torch.Tensor:
    n = t.dim() - 1 if event_dims is None else event_dims
    if not 0 <= n <= t.dim():
        raise ValueError(f"event_dims must be between 0 and {t.dim()}, got {event_dims}")
    return t.sum(dim=tuple(range(t.dim() - n, t.dim()))) if n else t


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor, *,
                             event_dims: int | None = None) -> torch.Tensor:
    r"""Bernoulli log-likelihood :math:`\log p(x \mid z)` from logits, summed over each example's dimensions.

    With :math:`p = \operatorname{sigmoid}(\ell)`,

    .. math::  \log p(x) = \sum_d x_d \log p_d + (1 - x_d)\log(1 - p_d)
               = \sum_d x_d \ell_d - \operatorname{softplus}(\ell_d),

    which is minus the binary cross-entropy with logits and stays finite for any logits
    (``log(sigmoid(ℓ))`` underflows to ``-inf`` at ℓ ≈ −104 in float32).

    Args:
        logits: decoder outputs :math:`\ell`, shape ``(B, ...)`` (or broadcastable with ``x``,
            e.g. ``(k, B, ...)`` against ``(B, ...)``).
        x: data in [0, 1] (binary, or grey levels as soft targets), shape ``(B, ...)``.
        event_dims: how many trailing dimensions form one example (summed); default all
            but the first of the broadcast shape.
    Returns:
        nats, shape: the broadcast shape without its ``event_dims`` trailing dims, e.g. ``(B,)``.

    Raises:
        ValueError: ``event_dims`` is not between 0 and the number of dims, ``x`` has a value
            outside [0, 1] (0..255 pixels: divide by 255), or an argument contains NaN or ±inf.
    """
    _finite_on_one_device(logits=logits, x=x)
    validate.images(x, "x", rank=None, expected="(B, ...) in [0, 1]", nonempty=False)
    # x ℓ − softplus(ℓ)   (= −BCE-with-logits)
    return _sum_event(x * logits - F.softplus(logits), event_dims)


def gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, *,
                            event_dims: int | None = None) -> torch.Tensor:
    r"""Diagonal Gaussian log-density :math:`\log \mathcal N(x; m, \operatorname{diag}\sigma^2)`, summed per example.

    .. math::  \log \mathcal N(x; m, \sigma^2) = -\frac12 \sum_d \Big[\log 2\pi + \log\sigma_d^2
               + \frac{(x_d - m_d)^2}{\sigma_d^2}\Big]

    Args:
        x, mean, logvar: broadcastable tensors; the broadcast shape is ``(B, ...)``.
        event_dims: trailing dimensions summed over; default all but the first.
    Returns:
        nats, shape ``(B,)`` by default.

    Raises:
        ValueError: ``event_dims`` is not between 0 and the number of dims, or an argument contains NaN or ±inf.
    """
    _finite_on_one_device(x=x, mean=mean, logvar=logvar)
    return _sum_event(-0.5 * (_LOG_2PI + logvar + (x - mean).pow(2) * torch.exp(-logvar)), event_dims)


def log_mean_exp(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    r"""Stable :math:`\log \frac1k \sum_{i=1}^k e^{\log w_i} = \operatorname{logsumexp}_i \log w_i - \log k` along ``dim``.

    Weights of 0 (:math:`\log w = -\infty`) are allowed.

    Raises:
        ValueError: ``log_w`` has no entries along ``dim`` (a mean of nothing) or contains NaN or +inf.
    """
    log_w = validate.tensor(log_w, "log_w", min_rank=1, nonempty=False, finite=False)
    if log_w.shape[dim] == 0:
        raise ValueError(f"log_w is empty along dim {dim} (shape {tuple(log_w.shape)}); a mean needs at least one entry")
    if validate.has_values(log_w) and (torch.isnan(log_w).any() or (log_w == math.inf).any()):
        raise ValueError("log_w contains NaN or +inf; expected log weights in [-inf, inf)")
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


def kl_monte_carlo(mu: torch.Tensor, logvar: torch.Tensor, n: int, generator: torch.Generator | None = None,
                   mu_p: torch.Tensor | None = None, logvar_p: torch.Tensor | None = None) -> torch.Tensor:
    r"""Monte Carlo estimate of :func:`gaussian_kl` from ``n`` samples of :math:`q`.

    .. math::  D_{KL}(q\|p) \approx \frac1n \sum_{i=1}^n \log q(z_i) - \log p(z_i), \qquad z_i \sim q

    Returns:
        nats, shape ``mu.shape[:-1]``; the standard error shrinks like :math:`1/\sqrt n`.
    Raises:
        ValueError: ``n < 1``, or an argument contains NaN or ±inf.
    """
    validate.positive_int(n, "n")
    _finite_on_one_device(mu=mu, logvar=logvar, mu_p=mu_p, logvar_p=logvar_p)
    mu_p = torch.zeros_like(mu) if mu_p is None else mu_p
    logvar_p = torch.zeros_like(logvar) if logvar_p is None else logvar_p
    z = reparameterize(mu.expand(n, *mu.shape), logvar.expand(n, *logvar.shape), generator)  # (n, ..., J)
    log_q = gaussian_log_likelihood(z, mu, logvar, event_dims=1)
    log_p = gaussian_log_likelihood(z, mu_p, logvar_p, event_dims=1)
    return (log_q - log_p).mean(dim=0)


def dynamic_binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""A binary image :math:`b \sim \operatorname{Bernoulli}(x)` per pixel (x in [0, 1]); uniforms drawn on the CPU, then moved.

    Raises:
        ValueError: ``x`` has a value outside [0, 1] (0..255 pixels: divide by 255), NaN or ±inf.
    """
    x = validate.images(x, "x", rank=None, expected="(...) in [0, 1]", nonempty=False)
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    return (u < x).to(x.dtype)

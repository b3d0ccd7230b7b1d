r"""A latent model whose log p(x), posterior and ELBO are known in closed form (probabilistic PCA).

Notebook 02 checks :math:`\log p(x) = \mathcal L + D_{KL}(q \| p(z|x))` on it numerically.
Re-exported by :mod:`gdmcourse.vae`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .. import validate
from .formulas import _LOG_2PI, gaussian_kl


class GaussianPosterior(NamedTuple):
    r"""The exact posterior :math:`p(z \mid x) = \mathcal N(m(x), \Sigma)` of :class:`LinearGaussianModel`:
    ``mean`` ``(B, d)`` and the covariance ``cov`` ``(d, d)`` (the same for every x)."""

    mean: torch.Tensor
    cov: torch.Tensor


class LinearGaussianModel:
    r"""Linear-Gaussian latent model, where everything is known in closed form (probabilistic PCA).

    .. math::  p(z) = \mathcal N(0, I_d), \qquad p(x \mid z) = \mathcal N(Wz + b, \sigma^2 I_D)
               \;\Rightarrow\; p(x) = \mathcal N(b,\ WW^\top + \sigma^2 I_D),

    and the posterior is :math:`p(z \mid x) = \mathcal N(m(x), \Sigma)` with
    :math:`\Sigma = (I + W^\top W / \sigma^2)^{-1}`, :math:`m(x) = \Sigma W^\top (x - b) / \sigma^2`.
    Computations are in float64.

    Args:
        W: ``(D, d)``; b: ``(D,)``; sigma: the observation noise :math:`\sigma > 0`.
    """

    def __init__(self, W: torch.Tensor, b: torch.Tensor, sigma: float) -> None:
        """Store the parameters (in float64).

        Raises:
            ValueError: ``W`` is not ``(D, d)`` with ``b`` ``(D,)``, or ``sigma`` is not positive.
        """
        if W.dim() != 2 or b.shape != (W.shape[0],):
            raise ValueError(f"W must be (D, d) and b (D,), got {tuple(W.shape)} and {tuple(b.shape)}")
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.W, self.b, self.sigma = W.double(), b.double(), float(sigma)
        self.D, self.d = W.shape

    @classmethod
    def random(cls, D: int = 5, d: int = 2, sigma: float = 0.5, seed: int = 0) -> LinearGaussianModel:
        """A model with standard normal ``W`` and ``b`` drawn from a seeded generator."""
        g = torch.Generator().manual_seed(seed)
        return cls(torch.randn(D, d, generator=g, dtype=torch.float64),
                   torch.randn(D, generator=g, dtype=torch.float64), sigma)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws of :math:`x = Wz + b + \\sigma\\varepsilon`, shape ``(n, D)``."""
        z = torch.randn(n, self.d, generator=generator, dtype=torch.float64)
        return z @ self.W.T + self.b + self.sigma * torch.randn(n, self.D, generator=generator, dtype=torch.float64)

    def _data(self, x: torch.Tensor) -> torch.Tensor:
        x = validate.tensor(x, "x", rank=2, expected=f"(B, {self.D})", nonempty=False)
        if x.shape[1] != self.D:
            raise ValueError(f"x must be (B, {self.D}), got shape {tuple(x.shape)}")
        return x.double()

    def _q(self, q_mu: torch.Tensor, q_logvar: torch.Tensor, batch: int) -> None:
        for name, t in (("q_mu", q_mu), ("q_logvar", q_logvar)):
            validate.tensor(t, name, rank=(1, 2), expected=f"({batch}, {self.d})", nonempty=False)
            if t.shape[-1] != self.d or (t.dim() == 2 and t.shape[0] not in (1, batch)):
                raise ValueError(f"{name} must be ({batch}, {self.d}) (or broadcast to it), got shape {tuple(t.shape)}")

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\log p(x) = \log\mathcal N(x; b, C)`, :math:`C = WW^\top + \sigma^2 I`, per row of ``x`` ``(B, D)``; nats ``(B,)``."""
        C = self.W @ self.W.T + self.sigma**2 * torch.eye(self.D, dtype=torch.float64)
        L = torch.linalg.cholesky(C)
        r = (self._data(x) - self.b).T                                  # (D, B)
        a = torch.linalg.solve_triangular(L, r, upper=False)        # L⁻¹ (x − b)
        logdet = 2 * L.diagonal().log().sum()
        return -0.5 * (self.D * _LOG_2PI + logdet + a.pow(2).sum(dim=0))

    def posterior(self, x: torch.Tensor) -> GaussianPosterior:
        r"""The exact posterior :math:`p(z\mid x) = \mathcal N(m(x), \Sigma)`: :class:`GaussianPosterior` ``(m (B, d), Σ (d, d))``."""
        precision = torch.eye(self.d, dtype=torch.float64) + self.W.T @ self.W / self.sigma**2
        cov = torch.linalg.inv(precision)
        mean = (self._data(x) - self.b) @ self.W @ cov / self.sigma**2  # Σ symmetric: (Σ Wᵀ(x−b))ᵀ = (x−b)ᵀ W Σ
        return GaussianPosterior(mean, cov)

    def expected_log_likelihood(self, x: torch.Tensor, q_mu: torch.Tensor, q_logvar: torch.Tensor) -> torch.Tensor:
        r""":math:`\mathbb E_{q}[\log p(x\mid z)]` for :math:`q = \mathcal N(\mu, \operatorname{diag}s^2)`, in closed form.

        .. math::  -\frac D2 \log(2\pi\sigma^2) - \frac{1}{2\sigma^2}\Big[\lVert x - b - W\mu\rVert^2
                   + \sum_j s_j^2 \lVert W_{:,j}\rVert^2\Big]
        """
        self._q(q_mu, q_logvar, len(self._data(x)))
        resid = x.double() - self.b - q_mu.double() @ self.W.T
        trace = (q_logvar.double().exp() * self.W.pow(2).sum(dim=0)).sum(dim=-1)
        return -0.5 * self.D * math.log(2 * math.pi * self.sigma**2) - (resid.pow(2).sum(-1) + trace) / (2 * self.sigma**2)

    def elbo(self, x: torch.Tensor, q_mu: torch.Tensor, q_logvar: torch.Tensor) -> torch.Tensor:
        r"""Exact ELBO :math:`\mathbb E_q[\log p(x|z)] - D_{KL}(q\|p(z))` for a diagonal Gaussian ``q``; nats ``(B,)``."""
        return self.expected_log_likelihood(x, q_mu, q_logvar) - gaussian_kl(q_mu.double(), q_logvar.double())

    def kl_to_posterior(self, x: torch.Tensor, q_mu: torch.Tensor, q_logvar: torch.Tensor) -> torch.Tensor:
        r""":math:`D_{KL}(q(z)\,\|\,p(z\mid x))` for diagonal :math:`q = \mathcal N(\mu, \operatorname{diag}s^2)`:

        .. math::  \frac12\Big[\operatorname{tr}(\Sigma^{-1}S) + (m-\mu)^\top\Sigma^{-1}(m-\mu) - d
                   + \log\det\Sigma - \log\det S\Big],\quad S = \operatorname{diag}s^2
        """
        m, cov = self.posterior(x)
        self._q(q_mu, q_logvar, len(m))
        precision = torch.linalg.inv(cov)
        s2 = q_logvar.double().exp()
        diff = m - q_mu.double()
        quad = ((diff @ precision) * diff).sum(-1)
        return 0.5 * ((precision.diagonal() * s2).sum(-1) + quad - self.d
                      + torch.logdet(cov) - q_logvar.double().sum(-1))

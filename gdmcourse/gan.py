r"""Generative adversarial networks: the optimal discriminator, the game's value, the losses.

Follows lecture 001 ("Generative Adversarial Networks: Optimality") and lecture 003 (GAN,
non-saturating loss, DCGAN). The game is

.. math::
    \min_G \max_D\; V(D, G) = \mathbb E_{x\sim p_{data}}[\log D(x)]
                              + \mathbb E_{z\sim p(z)}[\log(1 - D(G(z)))].

For a fixed generator the best discriminator is :func:`optimal_discriminator`
:math:`D^*_G = p_{data} / (p_{data} + p_G)`, and at :math:`D^*_G` the generator minimises
:func:`generator_criterion` :math:`C(G) = 2\,\mathrm{JSD}(p_{data}\,\|\,p_G) - \log 4`.

Networks output *logits* :math:`\ell` with :math:`D = \sigma(\ell)`; every loss below is
written with ``logsigmoid`` so it stays finite when :math:`D` is 0 or 1, using
:math:`\log \sigma(\ell)` and :math:`\log(1 - \sigma(\ell)) = \log \sigma(-\ell)`.

Training loops for the toy and image GANs live in :func:`train_gan`; the Wasserstein
variants (critic loss, gradient penalty, hinge loss) in :mod:`gdmcourse.wgan`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "optimal_discriminator", "jensen_shannon", "generator_criterion",
    "discriminator_loss", "generator_loss_minimax", "generator_loss_nonsaturating",
    "mode_coverage",
]


def _as_tensor(x: torch.Tensor | float, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    if torch.isnan(t).any():
        raise ValueError(f"{name} contains NaN")
    return t


# ------------------------------------------------------------------ optimal discriminator

def optimal_discriminator(p_data: torch.Tensor, p_model: torch.Tensor) -> torch.Tensor:
    r"""The optimal discriminator for a fixed generator, elementwise.

    .. math:: D^*_G(x) = \frac{p_{data}(x)}{p_{data}(x) + p_G(x)}

    Derivation (lecture 001): for each :math:`x` the integrand
    :math:`a \log D + b \log(1 - D)` with :math:`a = p_{data}(x)`, :math:`b = p_G(x)` is
    maximised at :math:`D = a / (a + b)`.

    Args:
        p_data, p_model: densities (or probabilities) evaluated at the same points, any
            broadcastable shapes, non-negative.
    Returns:
        :math:`D^*` with the broadcast shape; where both densities are 0 (outside both
        supports, where :math:`D` does not matter) the value is 1/2.
    """
    p, q = _as_tensor(p_data, "p_data"), _as_tensor(p_model, "p_model")
    if (p < 0).any() or (q < 0).any():
        raise ValueError("densities must be non-negative")
    total = p + q
    return torch.where(total > 0, p / total.clamp_min(torch.finfo(total.dtype).tiny), torch.full_like(total, 0.5))


def _discrete(p: torch.Tensor | float, name: str) -> torch.Tensor:
    t = _as_tensor(p, name)
    if t.dim() == 0:
        raise ValueError(f"{name} must be a probability vector (last dim = outcomes), got a scalar")
    if (t < 0).any():
        raise ValueError(f"{name} has negative entries")
    sums = t.sum(-1)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
        raise ValueError(f"{name} must sum to 1 over its last dim (got sums {sums.flatten()[:4].tolist()}); "
                         "normalise it first: p / p.sum(-1, keepdim=True)")
    return t


def _kl_to(p: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    # KL(p || m) = Σ p log(p/m); terms with p = 0 contribute 0 (0 log 0 = 0), and m ≥ p/2 > 0 where p > 0.
    return torch.where(p > 0, p * (torch.log(p.clamp_min(1e-300)) - torch.log(m.clamp_min(1e-300))),
                       torch.zeros_like(p)).sum(-1)


def jensen_shannon(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    r"""Jensen–Shannon divergence of discrete distributions, in nats.

    .. math:: \mathrm{JSD}(p, q) = \tfrac12 \mathrm{KL}\big(p \,\|\, m\big) + \tfrac12 \mathrm{KL}\big(q \,\|\, m\big),
              \quad m = \tfrac12 (p + q)

    It lies in :math:`[0, \log 2]`: 0 iff :math:`p = q`, :math:`\log 2` iff the supports are
    disjoint. Zeros are fine (:math:`0 \log 0 = 0`).

    Args:
        p, q: probability vectors over the last dim, shapes ``(..., K)`` (broadcastable).
    Returns:
        shape ``(...)``.
    """
    p, q = _discrete(p, "p"), _discrete(q, "q")
    m = 0.5 * (p + q)
    return 0.5 * _kl_to(p, m) + 0.5 * _kl_to(q, m)


def generator_criterion(p_data: torch.Tensor, p_model: torch.Tensor) -> torch.Tensor:
    r"""The value of the game at the optimal discriminator, :math:`C(G) = 2\,\mathrm{JSD}(p_{data}, p_G) - \log 4`.

    Its minimum :math:`-\log 4` is reached only at :math:`p_G = p_{data}` (lecture 001).
    Discrete distributions over the last dim, as in :func:`jensen_shannon`.
    """
    return 2 * jensen_shannon(p_data, p_model) - math.log(4)


# ------------------------------------------------------------------------------ losses

def _logits(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of logits, got {type(x).__name__}")
    if torch.isnan(x).any():
        raise ValueError(f"{name} contains NaN: the discriminator diverged (lower the learning rate?)")
    return x


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    r"""The discriminator's loss, the negated value of the game (so it is *minimised*).

    .. math:: L_D = -\mathbb E_{x}[\log D(x)] - \mathbb E_{z}[\log(1 - D(G(z)))]
                  = -\overline{\log\sigma(\ell_{real})} - \overline{\log\sigma(-\ell_{fake})}

    the binary cross-entropy with label 1 for real and 0 for generated samples.

    Args:
        real_logits: ``(B_r,)`` or ``(B_r, 1)`` discriminator logits on data.
        fake_logits: ``(B_f,)`` or ``(B_f, 1)`` logits on generated samples.
    Returns:
        a scalar; :math:`2\log 2 \approx 1.386` when the discriminator outputs 1/2 everywhere.
    """
    real, fake = _logits(real_logits, "real_logits"), _logits(fake_logits, "fake_logits")
    return -F.logsigmoid(real).mean() - F.logsigmoid(-fake).mean()


def generator_loss_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    r"""The generator's loss of the original minimax game, :math:`\mathbb E_z[\log(1 - D(G(z)))]`.

    .. math:: L_G^{mm} = \overline{\log \sigma(-\ell_{fake})}

    Its gradient vanishes when the discriminator confidently rejects the samples
    (:math:`D(G(z)) \to 0`), which is where a young generator starts: it *saturates*.
    """
    return F.logsigmoid(-_logits(fake_logits, "fake_logits")).mean()


def generator_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    r"""The non-saturating generator loss, :math:`-\mathbb E_z[\log D(G(z))]` (lecture 003).

    .. math:: L_G^{ns} = -\overline{\log \sigma(\ell_{fake})}

    Same fixed point as the minimax loss, but its gradient is largest where
    :math:`D(G(z))` is small, i.e. where the generator is bad.
    """
    return -F.logsigmoid(_logits(fake_logits, "fake_logits")).mean()


# -------------------------------------------------------------------------- evaluation

def mode_coverage(samples: torch.Tensor, centers: torch.Tensor, std: float) -> tuple[int, float]:
    r"""How many modes of a Gaussian mixture the samples cover, and how many samples are good.

    The rule (the one of the unrolled-GAN and VEEGAN papers, made explicit):

    - a sample is **high-quality** when its distance to the nearest center is at most
      ``3 * std`` (a 2-D Gaussian puts 98.9% of its mass there);
    - a mode is **covered** when at least 1% of the high-quality samples are nearest to it.

    Args:
        samples: ``(N, D)`` generated points.
        centers: ``(K, D)`` the mixture's means (``data.toy2d_centers``).
        std: the components' standard deviation (``data.toy2d_std``).
    Returns:
        ``(modes_covered, high_quality_fraction)``: an int in ``0..K`` and a float in [0, 1].
    """
    if samples.dim() != 2 or centers.dim() != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(f"samples (N, D) and centers (K, D) must share D; got {tuple(samples.shape)} "
                         f"and {tuple(centers.shape)}")
    if len(samples) == 0:
        raise ValueError("no samples")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    samples = samples.detach().to("cpu", torch.float64)
    centers = centers.detach().to("cpu", torch.float64)
    # A diverged generator's non-finite samples are simply not high-quality.
    finite = torch.isfinite(samples).all(dim=1)
    nearest_dist, nearest = torch.cdist(samples[finite], centers).min(dim=1)
    good = nearest_dist <= 3 * std
    n_good = int(good.sum())
    if n_good == 0:
        return 0, 0.0
    counts = torch.bincount(nearest[good], minlength=len(centers))
    covered = int((counts >= 0.01 * n_good).sum())
    return covered, n_good / len(finite)

r"""Variational autoencoders and the evidence lower bound (notebook 02).

A latent variable model draws a code :math:`z \sim p(z) = \mathcal N(0, I)` and then data
:math:`x \sim p_\theta(x \mid z)`. Its posterior :math:`p_\theta(z \mid x)` is intractable, so
a trainable encoder :math:`q_\phi(z \mid x) = \mathcal N(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x))`
approximates it (lecture 003, "Variational AutoEncoders"). For any :math:`q`

.. math::  \log p_\theta(x) = \underbrace{\mathbb E_{q_\phi(z|x)}[\log p_\theta(x|z)]
           - D_{KL}(q_\phi(z|x) \,\|\, p(z))}_{\mathcal L(\theta,\phi;x)\ \text{(ELBO)}}
           + D_{KL}(q_\phi(z|x) \,\|\, p_\theta(z|x))

(lecture 001, "Variational Autoencoders (VAE)"), so the ELBO :math:`\mathcal L \le \log p_\theta(x)`
and the gap is the KL divergence from :math:`q` to the true posterior. A VAE maximises
:math:`\mathcal L` with one sample :math:`z = \mu + \sigma \odot \varepsilon` (the
reparametrization trick, :func:`reparameterize`) and the closed-form KL (:func:`gaussian_kl`).

The importance-weighted bound (Burda, Grosse & Salakhutdinov 2016, eq. 8)

.. math::  \mathcal L_k(x) = \mathbb E\Big[\log \frac1k \sum_{i=1}^k
           \frac{p_\theta(x, z_i)}{q_\phi(z_i|x)}\Big], \qquad z_i \sim q_\phi(z|x),

satisfies :math:`\mathcal L = \mathcal L_1 \le \mathcal L_k \le \mathcal L_{k+1} \le \log p_\theta(x)`
and tends to :math:`\log p_\theta(x)` as :math:`k \to \infty`; with large :math:`k` it is
the standard estimate of the test negative log-likelihood (NLL) in nats.

A conditional VAE (lecture 002, "Conditional VAEs") feeds a label :math:`y` to both
networks and maximises :math:`\mathbb E_{q_\phi(z|x,y)}[\log p_\theta(x|z,y)] - D_{KL}(q_\phi(z|x,y)\|p(z))`.

What this module holds:

- the formulas: :func:`gaussian_kl`, :func:`reparameterize`, :func:`bernoulli_log_likelihood`,
  :func:`gaussian_log_likelihood`, :func:`log_mean_exp`, :func:`kl_monte_carlo`;
- :class:`LinearGaussianModel`: a latent model whose :math:`\log p(x)`, posterior and
  ELBO are known in closed form, to check the identity above numerically;
- :class:`VAE` (``VAE.mlp``, ``VAE.conv``) and :class:`CVAE` with Bernoulli decoders over
  pixels, built from :mod:`gdmcourse.nets` blocks; :func:`vae_loss` for
  :func:`gdmcourse.train.fit`;
- the analyses: :func:`dynamic_binarize`, :func:`iwae_nll`, :func:`active_units`,
  :func:`latent_traversal`.

Deviations and conventions: the encoder outputs :math:`\log\sigma^2` ("logvar"), not
:math:`\sigma`; the decoder outputs Bernoulli *logits*; images are binarised dynamically
(a fresh Bernoulli draw of each grey-level image per mini-batch, Salakhutdinov & Murray
2008), which is why likelihoods are in nats of binary images. Lecture 001 writes the
closed-form KL without the factor ½ and with :math:`\Sigma` for a standard deviation; the
correct form is in :func:`gaussian_kl`. See :mod:`gdmcourse.reparam` for gradient
estimators and :mod:`gdmcourse.autoencoder` for the deterministic autoencoder.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .. import validate
from ..nets import MLP, ConvDecoder, ConvEncoder
from ..types import ActivationName, LRScheduleName
from .formulas import (bernoulli_log_likelihood, dynamic_binarize, gaussian_kl, gaussian_log_likelihood,
                       kl_monte_carlo, log_mean_exp, reparameterize)
from .linear_gaussian import GaussianPosterior, LinearGaussianModel

__all__ = ["gaussian_kl", "reparameterize", "bernoulli_log_likelihood", "gaussian_log_likelihood", "log_mean_exp",
           "kl_monte_carlo", "dynamic_binarize", "GaussianPosterior", "LinearGaussianModel", "DiagonalGaussian",
           "VAE", "CVAE", "vae_loss", "Recipe", "RECIPES", "CVAE_RECIPE", "iwae_nll", "active_units", "latent_traversal"]


class DiagonalGaussian(NamedTuple):
    r"""The parameters of :math:`q_\phi(z \mid x) = \mathcal N(\mu, \operatorname{diag}\sigma^2)` an encoder
    outputs: ``mu`` :math:`\mu` and ``logvar`` :math:`\log\sigma^2`, each ``(B, J)``."""

    mu: torch.Tensor
    logvar: torch.Tensor


# --------------------------------------------------------------------------------- models

Shape = Sequence[int]


#: The nonlinearities an MLP VAE can use between its layers.
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "elu": nn.ELU}


def _activation(name: str) -> type[nn.Module]:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}, got {name!r}")
    return ACTIVATIONS[name]


class VAE(nn.Module):
    r"""A VAE with Gaussian encoder :math:`q_\phi(z|x)` and Bernoulli decoder :math:`p_\theta(x|z)` over pixels.

    The encoder maps ``x`` to ``2 * latent_dim`` numbers, :math:`(\mu, \log\sigma^2)`; the
    decoder maps ``z`` to one logit per pixel. Build one with :meth:`mlp` or :meth:`conv`.

    Shapes: ``encode: (B, *input_shape) → ((B, J), (B, J))``;
    ``decode: (..., J) → (..., *input_shape)`` (logits).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, input_shape: Shape, latent_dim: int) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.input_shape, self.latent_dim = tuple(input_shape), latent_dim

    @classmethod
    def mlp(cls, input_shape: Shape = (1, 28, 28), latent_dim: int = 32,
            hidden: Sequence[int] = (512,), activation: ActivationName = "relu") -> VAE:
        """MLP encoder ``input → hidden → 2J`` and a mirrored MLP decoder ``J → reversed(hidden) → logits``.

        ``activation``: ``"relu"`` or ``"elu"`` between the layers (see :data:`ACTIVATIONS`).
        """
        act = _activation(activation)
        return cls(MLP(input_shape, 2 * latent_dim, hidden, activation=act),
                   MLP(latent_dim, input_shape, tuple(reversed(hidden)), activation=act), input_shape, latent_dim)

    @classmethod
    def conv(cls, latent_dim: int = 32, channels: int = 1, width: int = 32) -> VAE:
        """:class:`~gdmcourse.nets.ConvEncoder` / :class:`~gdmcourse.nets.ConvDecoder` for ``channels×28×28`` images."""
        return cls(ConvEncoder(2 * latent_dim, channels, width), ConvDecoder(latent_dim, channels, width),
                   (channels, 28, 28), latent_dim)

    # -- conditioning hooks (a CVAE overrides them); `c` is a one-hot label or None
    def _encoder_input(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return x

    def _decoder_input(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return z

    def _posterior(self, x: torch.Tensor, c: torch.Tensor | None) -> DiagonalGaussian:
        x = validate.tensor(x, "x", min_rank=1, expected=f"(B, {', '.join(map(str, self.input_shape))})",
                            nonempty=False, floating=True)
        validate.same_device(("x", x), expected=_model_device(self))
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"expected inputs of shape (batch, {', '.join(map(str, self.input_shape))}), "
                             f"got {tuple(x.shape)}")
        mu, logvar = self.encoder(self._encoder_input(x, c)).chunk(2, dim=-1)
        return DiagonalGaussian(mu, logvar)

    def _logits(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        z = validate.tensor(z, "z", min_rank=1, expected=f"(..., {self.latent_dim})", nonempty=False, floating=True)
        validate.same_device(("z", z), expected=_model_device(self))
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"codes must have {self.latent_dim} entries in the last dim, got shape {tuple(z.shape)}")
        lead = z.shape[:-1]
        z_flat = z.reshape(-1, self.latent_dim)
        c_flat = None if c is None else c.expand(*lead, c.shape[-1]).reshape(-1, c.shape[-1])
        return self.decoder(self._decoder_input(z_flat, c_flat)).reshape(*lead, *self.input_shape)

    def _elbo_terms(self, x: torch.Tensor, c: torch.Tensor | None,
                    generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self._posterior(x, c)
        validate.images(x, "x", rank=None, expected="binary or [0, 1] images (B, ...)", nonempty=False)
        z = reparameterize(mu, logvar, generator)
        # E_q[log p(x|z)] ≈ log p(x|z), z ~ q (one sample);  KL(q(z|x) ‖ N(0, I)) in closed form
        return bernoulli_log_likelihood(self._logits(z, c), x), gaussian_kl(mu, logvar)

    def _iwae(self, x: torch.Tensor, c: torch.Tensor | None, k: int, generator: torch.Generator | None,
              chunk: int | None) -> torch.Tensor:
        validate.positive_int(k, "k")
        mu, logvar = self._posterior(x, c)
        validate.images(x, "x", rank=None, expected="binary or [0, 1] images (B, ...)")
        chunk = max(1, 20_000 // len(x)) if chunk is None else validate.positive_int(chunk, "chunk")
        log_w = []
        for start in range(0, k, chunk):
            m = min(chunk, k - start)
            z = reparameterize(mu.expand(m, *mu.shape), logvar.expand(m, *logvar.shape), generator)  # (m, B, J)
            # log w = log p(x|z) + log p(z) − log q(z|x)
            log_w.append(bernoulli_log_likelihood(self._logits(z, c), x, event_dims=len(self.input_shape))
                         + gaussian_log_likelihood(z, torch.zeros_like(z), torch.zeros_like(z), event_dims=1)
                         - gaussian_log_likelihood(z, mu, logvar, event_dims=1))
        # L_k = log (1/k) Σ_i w_i = logsumexp_i log w_i − log k
        return log_mean_exp(torch.cat(log_w), dim=0)

    def _sample(self, n: int, c: torch.Tensor | None, generator: torch.Generator | None) -> torch.Tensor:
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return torch.sigmoid(self._logits(z, c))

    # -- public API
    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        r"""The parameters :math:`(\mu, \log\sigma^2)` of :math:`q_\phi(z|x)`, each ``(B, J)``, as :class:`DiagonalGaussian` ``(mu, logvar)``.

        Raises:
            ValueError: ``x`` is not ``(B, *input_shape)``.
        """
        return self._posterior(x, None)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        r"""Bernoulli logits of :math:`p_\theta(x|z)`, shape ``(..., *input_shape)``; ``sigmoid`` gives pixel means.

        Raises:
            ValueError: the last dim of ``z`` is not ``latent_dim``.
        """
        return self._logits(z, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits ``decode(μ(x))`` (the posterior mean, no sampling)."""
        return self.decode(self.encode(x)[0])

    def elbo(self, x: torch.Tensor, beta: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""Per-example ELBO estimate :math:`\log p_\theta(x|z) - \beta D_{KL}(q_\phi(z|x)\|p(z))`, :math:`z \sim q` (one sample).

        Args:
            x: binary (or [0, 1]) images ``(B, *input_shape)``.
            beta: weight of the KL term (β-VAE, Higgins et al. 2017); ``1`` gives the ELBO.
            generator: CPU generator for the reparametrization noise.
        Returns:
            nats, shape ``(B,)``; unbiased for :math:`\mathcal L` when ``beta = 1``.

        Raises:
            ValueError: ``x`` is not ``(B, *input_shape)``.
        """
        rec, kl = self._elbo_terms(x, None, generator)
        return rec - beta * kl

    def loss(self, x: torch.Tensor, beta: float = 1.0, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Training metrics: ``loss`` = −mean ELBO (β-weighted), ``rec`` = mean −log p(x|z), ``kl`` = mean KL.

        Raises:
            ValueError: ``x`` is not ``(B, *input_shape)``.
        """
        validate.tensor(x, "x", min_rank=1, expected="(B, *input_shape)", finite=False)  # a mean needs examples
        rec, kl = self._elbo_terms(x, None, generator)
        return {"loss": (beta * kl - rec).mean(), "rec": -rec.mean().detach(), "kl": kl.mean().detach()}

    def iwae_bound(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None,
                   chunk: int | None = None) -> torch.Tensor:
        r"""Per-example importance-weighted bound :math:`\mathcal L_k(x) \le \log p_\theta(x)`, shape ``(B,)``, nats.

        :math:`\log w_i = \log p_\theta(x|z_i) + \log p(z_i) - \log q_\phi(z_i|x)`, and
        :math:`\mathcal L_k = \operatorname{logsumexp}_i \log w_i - \log k`. The ``k`` samples
        are drawn ``chunk`` at a time (default ``20000 // B``) to bound memory.
        Call it under ``torch.no_grad()`` for evaluation.

        Raises:
            ValueError: ``k < 1``, or ``x`` is not ``(B, *input_shape)``.
        """
        return self._iwae(x, None, k, generator, chunk)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""``n`` samples :math:`z \sim \mathcal N(0, I)` decoded to Bernoulli *means* :math:`\operatorname{sigmoid}(\ell)`.

        Returns pixel probabilities in (0, 1), shape ``(n, *input_shape)``, on the model's
        device (not binary draws: those look noisy; use :func:`dynamic_binarize` on them for
        true samples of :math:`p_\theta(x)`).

        Raises:
            ValueError: (a :class:`CVAE`) the labels are not integers in ``0..num_classes - 1``.
        """
        return self._sample(n, None, generator)


class CVAE(VAE):
    r"""A conditional VAE: :math:`q_\phi(z|x,y)` and :math:`p_\theta(x|z,y)` both see the one-hot label ``y``.

    The MLP variant concatenates the one-hot vector to the flattened image and to ``z``; the
    conv variant appends it to the image as ``num_classes`` constant channels and to ``z``.
    Methods take integer labels ``y`` of shape ``(B,)``.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, input_shape: Shape, latent_dim: int,
                 num_classes: int, label_as_channels: bool) -> None:
        super().__init__(encoder, decoder, input_shape, latent_dim)
        self.num_classes, self.label_as_channels = num_classes, label_as_channels

    @classmethod
    def mlp(cls, input_shape: Shape = (1, 28, 28), latent_dim: int = 32, hidden: Sequence[int] = (512,),
            num_classes: int = 10, activation: ActivationName = "relu") -> CVAE:
        """MLP networks on ``[flatten(x), one_hot(y)]`` and ``[z, one_hot(y)]`` (``activation`` as :meth:`VAE.mlp`)."""
        d = math.prod(input_shape)
        act = _activation(activation)
        return cls(MLP(d + num_classes, 2 * latent_dim, hidden, activation=act),
                   MLP(latent_dim + num_classes, input_shape, tuple(reversed(hidden)), activation=act),
                   input_shape, latent_dim, num_classes, label_as_channels=False)

    @classmethod
    def conv(cls, latent_dim: int = 32, channels: int = 1, width: int = 32, num_classes: int = 10) -> CVAE:
        """Conv networks on ``x`` with ``num_classes`` label channels appended, and on ``[z, one_hot(y)]``."""
        return cls(ConvEncoder(2 * latent_dim, channels + num_classes, width),
                   ConvDecoder(latent_dim + num_classes, channels, width),
                   (channels, 28, 28), latent_dim, num_classes, label_as_channels=True)

    def one_hot(self, y: torch.Tensor | int, n: int | None = None) -> torch.Tensor:
        """One-hot float labels ``(B, num_classes)`` on the model's device; an int ``y`` is repeated ``n`` times.

        Raises:
            ValueError: ``y`` is not a 1-D integer tensor (of length ``n`` when given), or a label lies outside ``0..num_classes - 1``.
        """
        device = next(self.parameters()).device
        if isinstance(y, int):
            y = torch.full((n or 1,), y, dtype=torch.long)
        y = validate.indices(y, "labels y", self.num_classes, rank=1, expected=f"({n if n is not None else 'B'},) integers",
                             nonempty=False)
        if n is not None and len(y) != n:
            raise ValueError(f"labels must be a 1-D integer tensor of length {n}, got shape {tuple(y.shape)}")
        y = y.long()
        return F.one_hot(y, self.num_classes).float().to(device)

    def _encoder_input(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        if self.label_as_channels:
            return torch.cat([x, c[:, :, None, None].expand(-1, -1, *x.shape[2:])], dim=1)
        return torch.cat([x.flatten(1), c], dim=1)

    def _decoder_input(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return torch.cat([z, c], dim=-1)

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> DiagonalGaussian:  # type: ignore[override]
        r"""The parameters :math:`(\mu, \log\sigma^2)` of :math:`q_\phi(z|x,y)`, each ``(B, J)``, as :class:`DiagonalGaussian`.

        Raises:
            ValueError: ``x`` is not ``(B, *input_shape)``, or ``y`` is not ``B`` labels in ``0..num_classes - 1``.
        """
        return self._posterior(x, self.one_hot(y, len(x)))

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Logits of :math:`p_\\theta(x|z,y)`; ``z`` is ``(B, J)`` or ``(k, B, J)`` with ``y`` ``(B,)``.

        Raises:
            ValueError: the last dim of ``z`` is not ``latent_dim``, or ``y`` is not ``B`` labels in ``0..num_classes - 1``.
        """
        return self._logits(z, self.one_hot(y, z.shape[-2]))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Reconstruction logits ``decode(μ(x, y), y)``."""
        return self.decode(self.encode(x, y)[0], y)

    def elbo(self, x: torch.Tensor, y: torch.Tensor, beta: float = 1.0,  # type: ignore[override]
             generator: torch.Generator | None = None) -> torch.Tensor:
        r"""Per-example conditional ELBO :math:`\log p_\theta(x|z,y) - \beta D_{KL}(q_\phi(z|x,y)\|p(z))`, ``(B,)``, nats.

        Raises:
            ValueError: ``x`` is not ``(B, *input_shape)``, or ``y`` is not ``B`` labels in ``0..num_classes - 1``.
        """
        rec, kl = self._elbo_terms(x, self.one_hot(y, len(x)), generator)
        return rec - beta * kl

    def loss(self, x: torch.Tensor, y: torch.Tensor, beta: float = 1.0,  # type: ignore[override]
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Training metrics as :meth:`VAE.loss`, conditioned on the labels ``y``.

        Raises:
            ValueError: ``x`` is not ``(B, *input_shape)``, or ``y`` is not ``B`` labels in ``0..num_classes - 1``.
        """
        validate.tensor(x, "x", min_rank=1, expected="(B, *input_shape)", finite=False)  # a mean needs examples
        rec, kl = self._elbo_terms(x, self.one_hot(y, len(x)), generator)
        return {"loss": (beta * kl - rec).mean(), "rec": -rec.mean().detach(), "kl": kl.mean().detach()}

    def iwae_bound(self, x: torch.Tensor, y: torch.Tensor, k: int,  # type: ignore[override]
                   generator: torch.Generator | None = None, chunk: int | None = None) -> torch.Tensor:
        r"""Per-example :math:`\mathcal L_k(x \mid y) \le \log p_\theta(x \mid y)`, as :meth:`VAE.iwae_bound`.

        Raises:
            ValueError: ``k < 1``, ``x`` is not ``(B, *input_shape)``, or ``y`` is not ``B`` valid labels.
        """
        return self._iwae(x, self.one_hot(y, len(x)), k, generator, chunk)

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | int, generator: torch.Generator | None = None) -> torch.Tensor:  # type: ignore[override]
        """``n`` Bernoulli means of :math:`p_\\theta(x|z,y)`, :math:`z\\sim\\mathcal N(0,I)`; ``y`` an int or ``(n,)`` labels.

        Raises:
            ValueError: ``y`` is neither an int nor ``n`` labels in ``0..num_classes - 1``.
        """
        return self._sample(n, self.one_hot(y, n), generator)


def vae_loss(beta: float = 1.0, *, binarize: bool = True,
             generator: torch.Generator | None = None) -> Callable[[nn.Module, tuple[torch.Tensor, ...]], dict]:
    """A ``loss_fn(model, batch)`` for :func:`gdmcourse.train.fit`: −ELBO of (dynamically binarised) images.

    ``batch`` is ``(x,)`` or ``(x, y)``; a :class:`CVAE` uses the labels ``y``, a :class:`VAE`
    ignores them. ``generator`` (CPU) drives both the binarisation and the reparametrization noise.
    """
    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        x = dynamic_binarize(batch[0], generator) if binarize else batch[0]
        if isinstance(model, CVAE):
            return model.loss(x, batch[1], beta, generator)
        return model.loss(x, beta, generator)
    return loss_fn


@dataclass(frozen=True)
class Recipe:
    """How notebook 02's MNIST VAE is trained: ``VAE.mlp(latent_dim, hidden, activation)`` and
    :func:`gdmcourse.train.fit` with Adam, a cosine schedule from ``lr`` down to ``lr_min``
    and dynamic binarisation."""

    latent_dim: int
    hidden: tuple[int, ...]
    epochs: int
    batch_size: int
    lr: float
    schedule: LRScheduleName = "cosine"
    activation: ActivationName = "relu"
    lr_min: float = 0.0

    def model(self) -> VAE:
        """A fresh VAE with this recipe's networks; seed torch first."""
        return VAE.mlp(latent_dim=self.latent_dim, hidden=self.hidden, activation=self.activation)

    def conditional_model(self, num_classes: int = 10) -> CVAE:
        """A fresh conditional VAE (:meth:`CVAE.mlp`) with this recipe's networks; seed torch first."""
        return CVAE.mlp(latent_dim=self.latent_dim, hidden=self.hidden, activation=self.activation,
                        num_classes=num_classes)


# 784-512-256-32 with ELU, Adam 1e-3 decaying to 2e-4 (one stochastic layer, as Burda et al.'s
# VAE, with smaller networks). "quick": the shipped checkpoint `python -m gdmcourse train
# vae-mnist` (the quick profile of notebook 02 loads it); "full": trained in the notebook.
# Test NLL = −L_500 on the first 1000 MNIST test images binarised with seed 123 (checkpoints.json).
RECIPES: dict[str, Recipe] = {
    "quick": Recipe(latent_dim=32, hidden=(512, 256), epochs=30, batch_size=128, lr=1e-3, activation="elu",
                    lr_min=2e-4),
    "full": Recipe(latent_dim=32, hidden=(512, 256), epochs=100, batch_size=128, lr=1e-3, activation="elu",
                   lr_min=2e-4),
}


#: Notebook 02's conditional VAE (shipped as ``cvae-mnist``): the VAE's networks with a
#: two-dimensional code, so that the label, not z, carries the digit's identity.
CVAE_RECIPE = Recipe(latent_dim=2, hidden=(512, 256), epochs=10, batch_size=128, lr=1e-3, activation="elu",
                     lr_min=2e-4)


# ------------------------------------------------------------------------------- analyses

def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def iwae_nll(model: VAE, x: torch.Tensor, k: int = 500, *, y: torch.Tensor | None = None, batch_size: int = 100,
             generator: torch.Generator | None = None, chunk: int | None = None) -> float:
    r"""Test negative log-likelihood estimate :math:`-\frac1N\sum_n \mathcal L_k(x_n)` in nats (mean over ``x``).

    ``x`` should already be binary (e.g. ``dynamic_binarize(test_images, seeded_generator)``);
    evaluated in eval mode, in batches, on the model's device. An upper bound on the true
    NLL that tightens as ``k`` grows (Burda et al. 2016 use ``k = 5000``).

    Raises:
        ValueError: ``model`` is a :class:`CVAE` and ``y`` is missing, ``k < 1``, or ``x`` has the
            wrong shape, is empty, has a value outside [0, 1], NaN or ±inf.
    """
    validate.tensor(x, "x", min_rank=1, expected="(N, *input_shape)", finite=False)
    validate.positive_int(batch_size, "batch_size")
    device, was_training = _model_device(model), model.training
    model.eval()
    total = 0.0
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size].to(device)
        if isinstance(model, CVAE):
            if y is None:
                raise ValueError("a CVAE needs the labels y")
            bound = model.iwae_bound(xb, y[start:start + batch_size], k, generator, chunk)
        else:
            bound = model.iwae_bound(xb, k, generator, chunk)
        total -= float(bound.sum())
    model.train(was_training)
    return total / len(x)


@torch.no_grad()
def active_units(model: VAE, x: torch.Tensor, threshold: float = 1e-2, *, y: torch.Tensor | None = None,
                 batch_size: int = 1000) -> int:
    r"""Number of latent dimensions :math:`j` with :math:`\operatorname{Cov}_x(\mathbb E_{q(z|x)}[z_j]) > \text{threshold}`.

    A unit is *active* when its posterior mean varies with the input (Burda et al. 2016,
    section 5.2, threshold :math:`10^{-2}`); inactive units have collapsed to the prior.

    Raises:
        ValueError: ``x`` holds fewer than 2 examples (no variance), has the wrong shape, NaN or ±inf.
    """
    if validate.tensor(x, "x", min_rank=1, expected="(N, *input_shape)", finite=False).shape[0] < 2:
        raise ValueError(f"active_units needs at least 2 examples to measure a variance, got {len(x)}")
    validate.positive_int(batch_size, "batch_size")
    device, was_training = _model_device(model), model.training
    model.eval()
    means = []
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size].to(device)
        mu = model.encode(xb, y[start:start + batch_size])[0] if isinstance(model, CVAE) else model.encode(xb)[0]
        means.append(mu.double().cpu())
    model.train(was_training)
    return int((torch.cat(means).var(dim=0) > threshold).sum())


@torch.no_grad()
def latent_traversal(model: VAE, z: torch.Tensor, dims: Sequence[int], values: Sequence[float]) -> torch.Tensor:
    """Decode ``z`` (``(J,)``) with coordinate ``dims[i]`` set to each of ``values``: Bernoulli means
    of shape ``(len(dims), len(values), *input_shape)`` on the CPU (for an image grid).

    Raises:
        ValueError: ``z`` is not ``(J,)`` with ``J = latent_dim``, or contains NaN or ±inf; a value is not finite.
    """
    z = validate.tensor(z, "z", rank=1, expected=f"({model.latent_dim},)")
    if z.shape[0] != model.latent_dim:
        raise ValueError(f"z must be ({model.latent_dim},), got shape {tuple(z.shape)}")
    if any(not 0 <= d < model.latent_dim for d in dims):
        raise ValueError(f"dims must lie in 0..{model.latent_dim - 1}, got {list(dims)}")
    for v in values:
        validate.finite_number(v, "values")
    codes = z.detach().cpu().float().repeat(len(dims), len(values), 1)      # (R, V, J)
    for i, d in enumerate(dims):
        codes[i, :, d] = torch.tensor(values, dtype=codes.dtype)
    was_training = model.training
    model.eval()
    out = torch.sigmoid(model.decode(codes.to(_model_device(model)))).cpu()
    model.train(was_training)
    return out


__all__ = ["DiagonalGaussian", "GaussianPosterior", "gaussian_kl", "reparameterize", "bernoulli_log_likelihood",
           "gaussian_log_likelihood",
           "log_mean_exp", "kl_monte_carlo", "dynamic_binarize", "LinearGaussianModel", "VAE", "CVAE",
           "vae_loss", "Recipe", "RECIPES", "CVAE_RECIPE", "iwae_nll", "active_units", "latent_traversal"]

r"""Autoencoders (notebook 01).

An autoencoder compresses an input :math:`x` to a code :math:`z = f_\phi(x)` of lower
dimension (*under-complete*) and reconstructs it as :math:`\hat x = g_\theta(z)`, trained to
minimise the reconstruction error (lecture 001, "Autoencoders (non-variational)"):

.. math::  L = \lVert \hat x - x \rVert_2^2 .

Given :math:`x + \varepsilon` as input and :math:`x` as target it learns to *denoise*
(lecture 003, "AutoEncoders"). With linear maps and this loss, the optimal decoder spans the
same subspace as the top principal components (Baldi & Hornik 1989): :func:`pca` gives
that subspace so the notebook can compare the two.

What this module holds:

- :func:`reconstruction_loss`, :func:`corrupt`, :func:`denoising_loss`: the formulas;
- :class:`Autoencoder` with the factories :func:`mlp_autoencoder`, :func:`conv_autoencoder`
  and :func:`linear_autoencoder` (built from :mod:`gdmcourse.nets` blocks);
- :func:`pca` and :func:`encode` for the analyses in the notebook.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from . import validate
from .nets import MLP, ConvDecoder, ConvEncoder


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r"""Squared error summed over each example's dimensions, averaged over the batch.

    .. math::  L = \frac1B \sum_{b=1}^{B} \lVert \hat x_b - x_b \rVert_2^2

    Args:
        x_hat: reconstructions, shape ``(B, ...)``.
        x: targets, the same shape.
    Returns:
        a scalar tensor. Summing (not averaging) over pixels keeps the loss on the scale of
        a log-likelihood, which the VAE in notebook 02 needs; averaging over the batch makes
        the learning rate independent of the batch size.

    Raises:
        ValueError: ``x_hat`` and ``x`` differ in shape or device, are not ``(B, ...)`` with at
            least one example, or contain NaN or ±inf.
    """
    x_hat = validate.tensor(x_hat, "x_hat", min_rank=2, expected="(B, ...)")
    x = validate.tensor(x, "x", min_rank=2, expected="(B, ...)")
    validate.same_device(("x_hat", x_hat), ("x", x))
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat and x must have the same shape, got {tuple(x_hat.shape)} and {tuple(x.shape)}")
    return (x_hat - x).pow(2).flatten(1).sum(dim=1).mean()


def corrupt(x: torch.Tensor, noise_std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Additive Gaussian corruption for the denoising autoencoder, kept a valid image.

    .. math::  \tilde x = \operatorname{clamp}(x + \sigma \varepsilon,\ 0,\ 1),
               \qquad \varepsilon \sim \mathcal N(0, I)

    Args:
        x: clean images with values in [0, 1], any shape.
        noise_std: :math:`\sigma \ge 0`.
        generator: a CPU generator for the noise (drawn on the CPU, then moved, so every
            device sees the same noise).

    Raises:
        ValueError: ``noise_std`` is negative or not finite, or ``x`` has a value outside [0, 1]
            (0..255 or [−1, 1] images would be clamped into nonsense), NaN or ±inf.
    """
    if not (math.isfinite(noise_std) and noise_std >= 0):
        raise ValueError(f"noise_std must be a non-negative number, got {noise_std}")
    x = validate.images(x, "x", rank=None, expected="(...) with pixels in [0, 1]", nonempty=False)
    eps = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    return (x + noise_std * eps).clamp(0.0, 1.0)


class Autoencoder(nn.Module):
    """``x → z = encoder(x) → x_hat = decoder(z)``.

    Shapes: ``encode: (B, *input_shape) → (B, latent_dim)``,
    ``decode: (B, latent_dim) → (B, *input_shape)``.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int) -> None:
        super().__init__()
        self.encoder, self.decoder, self.latent_dim = encoder, decoder, latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, latent_dim)`` of inputs ``(B, *input_shape)``.

        Raises:
            ValueError: ``x`` has no batch dim, contains NaN or ±inf, or lies on another device than the weights.
        """
        x = validate.tensor(x, "x", min_rank=2, expected="(B, *input_shape)", nonempty=False, floating=True)
        in_shape = getattr(self.encoder, "in_shape", None)  # an MLP encoder's; conv encoders check their own
        if in_shape is not None and tuple(x.shape[1:]) != tuple(in_shape):
            raise ValueError(f"expected inputs of shape (B, {', '.join(map(str, in_shape))}), got {tuple(x.shape)}")
        for w in self.parameters():
            validate.same_device(("x", x), expected=w.device)
            break
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstructions ``(B, *input_shape)`` from codes ``(B, latent_dim)``.

        Raises:
            ValueError: the last dim of ``z`` is not ``latent_dim``.
        """
        z = validate.tensor(z, "z", min_rank=2, expected=f"(B, {self.latent_dim})", nonempty=False, floating=True)
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"codes must have {self.latent_dim} entries in the last dim, got shape {tuple(z.shape)}")
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def mlp_autoencoder(input_shape: Sequence[int], latent_dim: int, hidden: Sequence[int] = (256,)) -> Autoencoder:
    """An MLP autoencoder with a sigmoid output (pixels in [0, 1]); decoder widths mirror the encoder's."""
    encoder = MLP(input_shape, latent_dim, hidden)
    decoder = MLP(latent_dim, input_shape, tuple(reversed(hidden)), out_activation=nn.Sigmoid())
    return Autoencoder(encoder, decoder, latent_dim)


def conv_autoencoder(latent_dim: int, channels: int = 1, width: int = 32) -> Autoencoder:
    """A convolutional autoencoder for ``channels×28×28`` images with a sigmoid output."""
    return Autoencoder(ConvEncoder(latent_dim, channels, width),
                       ConvDecoder(latent_dim, channels, width, out_activation=nn.Sigmoid()), latent_dim)


def linear_autoencoder(input_shape: Sequence[int], latent_dim: int, bias: bool = False) -> Autoencoder:
    r"""The linear autoencoder :math:`\hat x = W_d W_e x` (no nonlinearity; biases optional).

    Without biases, train it on centred data, as PCA is computed: a bias would have to learn
    the data mean too, which gradient descent does slowly. The decoder weight
    ``model.decoder.layers[0].weight`` (shape ``(D, latent_dim)``) spans the learned subspace.
    """
    return Autoencoder(MLP(input_shape, latent_dim, (), bias=bias),
                       MLP(latent_dim, input_shape, (), bias=bias), latent_dim)


def denoising_loss(model: nn.Module, x: torch.Tensor, noise_std: float,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    r"""The denoising objective :math:`\lVert g(f(\tilde x)) - x \rVert^2` with :math:`\tilde x` = :func:`corrupt` (x)."""
    return reconstruction_loss(model(corrupt(x, noise_std, generator)), x)


class PCA(NamedTuple):
    """What :func:`pca` returns: the data ``mean`` ``(D,)``, the principal ``components`` ``(k, D)``
    (orthonormal rows, by decreasing variance) and their ``variances`` ``(k,)``."""

    mean: torch.Tensor
    components: torch.Tensor
    variances: torch.Tensor


def pca(x: torch.Tensor, k: int) -> PCA:
    r"""Principal component analysis by the SVD of the centred data.

    With :math:`X - \bar x = U S V^\top`, the principal directions are the rows of
    :math:`V^\top` and the variances :math:`S^2 / (N - 1)`.

    Args:
        x: data ``(N, ...)``; each example is flattened to ``D`` values.
        k: how many components to keep, ``1 ≤ k ≤ min(N, D)``.
    Returns:
        :class:`PCA` ``(mean (D,), components (k, D) with orthonormal rows, variances (k,))``.
    Raises:
        ValueError: ``x`` is not ``(N, ...)`` or contains NaN or ±inf, or ``k`` is not between 1 and ``min(N, D)``.
    """
    x = validate.tensor(x, "x", min_rank=2, expected="(N, ...)")
    flat = x.reshape(len(x), -1).double()
    if not 1 <= k <= min(flat.shape):
        raise ValueError(f"k must be between 1 and {min(flat.shape)}, got {k}")
    mean = flat.mean(dim=0)
    # X − x̄ = U S Vᵀ
    _, s, vh = torch.linalg.svd(flat - mean, full_matrices=False)
    # components: the first k rows of Vᵀ; variances: S² / (N − 1)
    return PCA(mean.to(x.dtype), vh[:k].to(x.dtype), (s[:k] ** 2 / (len(flat) - 1)).to(x.dtype))


@torch.no_grad()
def encode(model: Autoencoder, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Codes of ``x`` (any length, also 0) in eval mode, computed in batches on the model's device; returned on the CPU.

    Raises:
        ValueError: as :meth:`Autoencoder.encode` (``x`` without a batch dim, NaN or ±inf).
    """
    validate.positive_int(batch_size, "batch_size")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    codes = [model.encode(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(codes) if codes else torch.empty(0, model.latent_dim)


def psnr(x_hat: torch.Tensor, x: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    r"""Peak signal-to-noise ratio per example in dB: :math:`10 \log_{10}(R^2 / \mathrm{MSE})`, shape ``(B,)``.

    ``x_hat`` and ``x`` are ``(B, ...)`` images with pixels in ``[0, data_range]`` ([0, 1] by default).

    Raises:
        ValueError: the two differ in shape or device, are not ``(B, ...)``, or have a pixel outside
            ``[0, data_range]`` (0..255 images need ``data_range=255``), NaN or ±inf.
    """
    x_hat = validate.images(x_hat, "x_hat", data_range=data_range, rank=None, expected="(B, ...)", nonempty=False)
    x = validate.images(x, "x", data_range=data_range, rank=None, expected="(B, ...)", nonempty=False)
    validate.tensor(x, "x", min_rank=2, expected="(B, ...)", nonempty=False)
    validate.same_device(("x_hat", x_hat), ("x", x))
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat and x must have the same shape, got {tuple(x_hat.shape)} and {tuple(x.shape)}")
    mse = (x_hat - x).pow(2).flatten(1).mean(dim=1)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-12))


__all__ = ["reconstruction_loss", "corrupt", "denoising_loss", "Autoencoder", "mlp_autoencoder",
           "conv_autoencoder", "linear_autoencoder", "PCA", "pca", "encode", "psnr"]

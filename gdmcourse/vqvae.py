r"""Vector quantization for VQ-VAE (van den Oord et al. 2017): nearest codes, the straight-through
gradient, codebook and commitment losses, EMA codebook updates and codebook health.

Follows lecture 003 ("VQ-VAE"). An encoder output :math:`z_e(x)` is replaced by its nearest
codebook vector :math:`e_k`, :math:`k = \arg\min_j \|z_e - e_j\|`; the decoder sees
:math:`z_q = e_k`, gradients skip the non-differentiable argmin (straight-through:
:math:`z_q = z_e + \mathrm{sg}[e_k - z_e]`), and the loss adds

.. math:: \|\mathrm{sg}[z_e] - e_k\|^2 + \beta\, \|z_e - \mathrm{sg}[e_k]\|^2

(the codebook term moves codes to the encoder outputs, the commitment term keeps the encoder
close to its codes; β = 0.25). With ``ema=True`` the codebook is instead an exponential moving
average of the encoder outputs assigned to each code (and only the commitment term is a loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["nearest_codes", "VectorQuantizer", "codebook_perplexity", "dead_codes", "reset_dead_codes"]


def nearest_codes(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    r"""Index of the nearest code for each vector: :math:`\arg\min_k \|z - e_k\|_2`.

    Shapes: ``z (..., D)``, ``codebook (K, D)`` → ``(...)`` (int64). Uses
    :math:`\|z\|^2 - 2 z\cdot e_k + \|e_k\|^2`, one matrix product instead of ``N × K × D`` differences.
    """
    if codebook.dim() != 2 or z.shape[-1] != codebook.shape[1]:
        raise ValueError(f"z (..., D) and codebook (K, D) must share D, got {tuple(z.shape)} and {tuple(codebook.shape)}")
    flat = z.reshape(-1, z.shape[-1])
    dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codebook.T + codebook.pow(2).sum(1)[None, :]
    return dist.argmin(1).reshape(z.shape[:-1])


class VectorQuantizer(nn.Module):
    r"""A codebook of ``num_codes`` vectors of size ``dim`` and the quantization step of VQ-VAE.

    ``forward(z)`` takes encoder outputs with the code dimension *last* ``(..., dim)`` and
    returns ``(z_q, loss, indices)``: the quantized vectors with the straight-through gradient,
    the VQ loss (codebook + β·commitment, or β·commitment only with ``ema``), and the code
    indices ``(...)``.

    With ``ema=True`` the codes follow exponential moving averages (decay ``decay``) of the
    count :math:`N_k` and sum :math:`m_k` of the encoder outputs assigned to them during
    training, :math:`e_k = m_k / N_k` (with Laplace smoothing of the counts), as in the
    VQ-VAE paper's appendix.
    """

    def __init__(self, num_codes: int, dim: int, beta: float = 0.25, ema: bool = False, decay: float = 0.99,
                 eps: float = 1e-5) -> None:
        super().__init__()
        self.num_codes, self.dim, self.beta, self.ema, self.decay, self.eps = num_codes, dim, beta, ema, decay, eps
        init = torch.empty(num_codes, dim).uniform_(-1 / num_codes, 1 / num_codes)
        if ema:
            self.register_buffer("codebook", init)
            self.register_buffer("ema_count", torch.ones(num_codes))
            self.register_buffer("ema_sum", init.clone())
        else:
            self.codebook = nn.Parameter(init)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if z.shape[-1] != self.dim:
            raise ValueError(f"expected vectors of size {self.dim} in the last dim, got {tuple(z.shape)}")
        indices = nearest_codes(z.detach(), self.codebook.detach())
        if self.ema and self.training:
            self._ema_update(z.detach().reshape(-1, self.dim), indices.reshape(-1))
        codes = F.embedding(indices, self.codebook)
        commitment = F.mse_loss(z, codes.detach())
        loss = self.beta * commitment if self.ema else F.mse_loss(codes, z.detach()) + self.beta * commitment
        z_q = z + (codes - z).detach()  # straight-through: forward = codes, gradient w.r.t. z = identity
        return z_q, loss, indices

    @torch.no_grad()
    def _ema_update(self, z: torch.Tensor, indices: torch.Tensor) -> None:
        one_hot = F.one_hot(indices, self.num_codes).to(z.dtype)
        self.ema_count.mul_(self.decay).add_(one_hot.sum(0), alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(one_hot.T @ z, alpha=1 - self.decay)
        n = self.ema_count.sum()
        count = (self.ema_count + self.eps) / (n + self.num_codes * self.eps) * n  # Laplace smoothing
        self.codebook.copy_(self.ema_sum / count[:, None])


def codebook_perplexity(indices: torch.Tensor, num_codes: int) -> float:
    r"""Perplexity of code usage, :math:`\exp(-\sum_k p_k \log p_k)` with :math:`p_k` the fraction of ``indices`` equal to k.

    1 when one code is used for everything, ``num_codes`` when all are used equally.
    """
    p = torch.bincount(indices.reshape(-1).cpu(), minlength=num_codes).double()
    p = p / p.sum()
    nz = p[p > 0]
    return float(torch.exp(-(nz * nz.log()).sum()))


def dead_codes(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    """Indices of the codes that ``indices`` never uses (``(n_dead,)``, int64)."""
    used = torch.bincount(indices.reshape(-1).cpu(), minlength=num_codes)
    return torch.nonzero(used == 0).flatten()


@torch.no_grad()
def reset_dead_codes(quantizer: VectorQuantizer, z: torch.Tensor, generator: torch.Generator | None = None) -> int:
    """Move every code no vector in ``z (..., dim)`` is assigned to onto a randomly chosen vector of ``z``.

    A common fix for codebook collapse (e.g. Jukebox, Dhariwal et al. 2020): unused codes get
    no gradient (and no EMA update), so they stay dead unless moved to where the data is.
    Returns the number of codes reset. With EMA, the code's running statistics are reset too.
    """
    flat = z.detach().reshape(-1, quantizer.dim)
    dead = dead_codes(nearest_codes(flat, quantizer.codebook), quantizer.num_codes)
    if len(dead) == 0:
        return 0
    pick = torch.randint(len(flat), (len(dead),), generator=generator).to(flat.device)
    dead = dead.to(quantizer.codebook.device)
    quantizer.codebook.data[dead] = flat[pick]
    if quantizer.ema:
        quantizer.ema_count[dead] = 1.0
        quantizer.ema_sum[dead] = flat[pick]
    return len(dead)

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

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from . import train, validate
from .train import History
from .types import MaskType

__all__ = ["nearest_codes", "Quantized", "VectorQuantizer", "VQVAEOutput", "codebook_perplexity", "dead_codes",
           "reset_dead_codes", "VQVAE", "CodebookMonitor", "train_vqvae", "MaskedConv2d", "PixelCNNPrior",
           "train_prior", "VQVAEWithPrior"]


def nearest_codes(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    r"""Index of the nearest code for each vector: :math:`\arg\min_k \|z - e_k\|_2`.

    Shapes: ``z (..., D)``, ``codebook (K, D)`` → ``(...)`` (int64); an empty ``z`` gives an
    empty result. The distances come from the differences :math:`z - e_k` (``torch.cdist``
    without its matrix-product mode): :math:`\|z\|^2 - 2 z\cdot e_k + \|e_k\|^2` cancels
    catastrophically when ``z`` and the codes lie far from the origin, so translating both
    would change the answer. Ties go to the lowest index.

    Raises:
        ValueError: ``codebook`` is not a non-empty ``(K, D)`` with ``D`` the last dim of ``z``,
            they are on different devices, or either contains NaN or ±inf.
    """
    z = validate.tensor(z, "z", min_rank=1, expected="(..., D)", nonempty=False, floating=True)
    codebook = validate.tensor(codebook, "codebook", rank=2, expected="(K, D)", floating=True)
    validate.same_device(("z", z), ("codebook", codebook))
    if z.shape[-1] != codebook.shape[1]:
        raise ValueError(f"z (..., D) and codebook (K, D) must share D, got {tuple(z.shape)} and {tuple(codebook.shape)}")
    flat = z.reshape(-1, z.shape[-1])
    # ‖z − e_k‖ for every pair, (N, K), from the differences
    dist = torch.cdist(flat, codebook.to(flat.dtype), compute_mode="donot_use_mm_for_euclid_dist")
    # k = argmin_j ‖z_e(x) − e_j‖_2                                 (VQ-VAE, eq. 2)
    return dist.argmin(1).reshape(z.shape[:-1])


class Quantized(NamedTuple):
    r"""What :class:`VectorQuantizer` returns for encoder outputs ``z (..., D)``.

    ``z_q``: the nearest codes :math:`e_k` with the straight-through gradient, ``(..., D)``;
    ``loss``: the VQ loss (scalar); ``indices``: the code indices :math:`k`, ``(...)`` int64.
    """

    z_q: torch.Tensor
    loss: torch.Tensor
    indices: torch.Tensor


class VQVAEOutput(NamedTuple):
    r"""What :class:`VQVAE` returns for a batch of images ``(B, C, 28, 28)``.

    ``x_hat``: the reconstruction (the decoder's Gaussian mean, unclamped) ``(B, C, 28, 28)``;
    ``vq_loss``: the quantizer's loss (scalar); ``indices``: the code map ``(B, 7, 7)``;
    ``z_e``: the encoder outputs :math:`z_e(x)` ``(B, 7, 7, D)``.
    """

    x_hat: torch.Tensor
    vq_loss: torch.Tensor
    indices: torch.Tensor
    z_e: torch.Tensor


class VectorQuantizer(nn.Module):
    r"""A codebook of ``num_codes`` vectors of size ``dim`` and the quantization step of VQ-VAE.

    ``forward(z)`` takes encoder outputs with the code dimension *last* ``(..., dim)`` and
    returns :class:`Quantized` ``(z_q, loss, indices)``: the quantized vectors with the straight-through gradient,
    the VQ loss (codebook + β·commitment, or β·commitment only with ``ema``), and the code
    indices ``(...)``.

    With ``ema=True`` the codes follow exponential moving averages (decay ``decay``) of the
    count :math:`N_k` and sum :math:`m_k` of the encoder outputs assigned to them during
    training, :math:`e_k = m_k / N_k` (with Laplace smoothing of the counts), as in the
    VQ-VAE paper's appendix (A.1). The outputs (``z_q`` and the commitment loss) use the
    codebook the nearest-code search used; the EMA update comes after, and the next batch sees
    it (as in the paper's and Sonnet's implementations).

    Raises (``forward``):
        ValueError: ``z`` is empty, its last dim is not ``dim``, it contains NaN or ±inf, or it
            lies on another device than the codebook.
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

    def forward(self, z: torch.Tensor) -> Quantized:
        z = validate.tensor(z, "z", min_rank=1, expected=f"(..., {self.dim})", floating=True)
        if z.shape[-1] != self.dim:
            raise ValueError(f"expected vectors of size {self.dim} in the last dim, got {tuple(z.shape)}")
        indices = nearest_codes(z.detach(), self.codebook.detach())
        # z_q(x) = e_k, from the codebook the search used            (VQ-VAE, eq. 2)
        codes = F.embedding(indices, self.codebook)
        if self.ema and self.training:
            # after the outputs' codes are gathered (F.embedding copies the rows, so the update cannot reach them)
            self._ema_update(z.detach().reshape(-1, self.dim), indices.reshape(-1))
        # commitment term ‖z_e(x) − sg[e]‖²                           (VQ-VAE, eq. 3, third term)
        commitment = F.mse_loss(z, codes.detach())
        if self.ema:
            # the codebook follows the EMA instead of its loss term    (VQ-VAE, appendix A.1)
            loss = self.beta * commitment
        else:
            # ‖sg[z_e(x)] − e‖² + β ‖z_e(x) − sg[e]‖²                  (VQ-VAE, eq. 3, second and third terms)
            loss = F.mse_loss(codes, z.detach()) + self.beta * commitment
        # z_q = z_e + sg[e_k − z_e]: forward = codes, gradient w.r.t. z_e = identity (straight-through, section 3.2)
        z_q = z + (codes - z).detach()
        return Quantized(z_q, loss, indices)

    @torch.no_grad()
    def _ema_update(self, z: torch.Tensor, indices: torch.Tensor) -> None:
        one_hot = F.one_hot(indices, self.num_codes).to(z.dtype)
        # N_k ← γ N_k + (1 − γ) n_k                                   (VQ-VAE, appendix A.1)
        self.ema_count.mul_(self.decay).add_(one_hot.sum(0), alpha=1 - self.decay)
        # m_k ← γ m_k + (1 − γ) Σ_{i: k_i = k} z_e(x)_i               (VQ-VAE, appendix A.1)
        self.ema_sum.mul_(self.decay).add_(one_hot.T @ z, alpha=1 - self.decay)
        n = self.ema_count.sum()
        # Laplace smoothing of the counts, so an unused code never divides by 0 (Sonnet's VQ-VAE-EMA)
        count = (self.ema_count + self.eps) / (n + self.num_codes * self.eps) * n
        # e_k = m_k / N_k                                             (VQ-VAE, appendix A.1)
        self.codebook.copy_(self.ema_sum / count[:, None])


def codebook_perplexity(indices: torch.Tensor, num_codes: int) -> float:
    r"""Perplexity of code usage, :math:`\exp(-\sum_k p_k \log p_k)` with :math:`p_k` the fraction of ``indices`` equal to k.

    1 when one code is used for everything, ``num_codes`` when all are used equally.

    Raises:
        ValueError: ``indices`` is empty (no usage to measure), not integers, or holds an index outside ``0..num_codes - 1``.
    """
    validate.positive_int(num_codes, "num_codes")
    indices = validate.indices(indices, "indices", num_codes)
    return _perplexity_of_counts(torch.bincount(indices.reshape(-1).cpu(), minlength=num_codes))


def _perplexity_of_counts(counts: torch.Tensor) -> float:
    # p_k = n_k / Σ_j n_j
    p = counts.double() / counts.sum()
    nz = p[p > 0]  # 0 log 0 = 0
    # exp(−Σ_k p_k log p_k)
    return float(torch.exp(-(nz * nz.log()).sum()))


def dead_codes(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    """Indices of the codes that ``indices`` never uses (``(n_dead,)``, int64); with no indices every code is dead.

    Raises:
        ValueError: ``indices`` is not integers, or holds an index outside ``0..num_codes - 1``.
    """
    validate.positive_int(num_codes, "num_codes")
    indices = validate.indices(indices, "indices", num_codes, nonempty=False)
    used = torch.bincount(indices.reshape(-1).cpu(), minlength=num_codes)
    return torch.nonzero(used == 0).flatten()


@torch.no_grad()
def reset_dead_codes(quantizer: VectorQuantizer, z: torch.Tensor, generator: torch.Generator | None = None) -> int:
    """Move every code no vector in ``z (..., dim)`` is assigned to onto a randomly chosen vector of ``z``.

    A common fix for codebook collapse (e.g. Jukebox, Dhariwal et al. 2020): unused codes get
    no gradient (and no EMA update), so they stay dead unless moved to where the data is.
    Returns the number of codes reset. With EMA, the code's running statistics are reset too.

    Raises:
        ValueError: ``z`` is empty (nothing to move the codes onto), its last dim is not the
            quantizer's, or it contains NaN or ±inf.
    """
    z = validate.tensor(z, "z", min_rank=1, expected=f"(..., {quantizer.dim})", floating=True)
    if z.shape[-1] != quantizer.dim:
        raise ValueError(f"expected vectors of size {quantizer.dim} in the last dim, got {tuple(z.shape)}")
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



# ------------------------------------------------------------------------------ the model

class VQVAE(nn.Module):
    r"""VQ-VAE for 1×28×28 images: a conv encoder to a 7×7 map of ``code_dim`` vectors, a
    :class:`VectorQuantizer`, and a transposed-conv decoder.

    ``x (B, 1, 28, 28) → z_e (B, 7, 7, D) → z_q (B, 7, 7, D), indices (B, 7, 7) → x̂ (B, 1, 28, 28)``.
    The loss is the reconstruction error :math:`\|x - \hat x\|^2` (mean over pixels, so the
    :math:`\log p(x \mid z_q)` of a Gaussian decoder up to constants) plus the quantizer's loss.
    The decoder's output is that Gaussian's mean, with no squashing: a final sigmoid saturates
    and leaves training stuck on blank images for hundreds of steps. Clamp to [0, 1] to show
    it (:meth:`decode_codes` does).

    Raises (``forward``, :meth:`encode`, :meth:`loss`, :meth:`code_map`, :meth:`reconstruct`):
        ValueError: the images are not ``(B, C, 28, 28)``.
    """

    def __init__(self, num_codes: int = 128, code_dim: int = 16, width: int = 32, beta: float = 0.25,
                 ema: bool = False, decay: float = 0.99, channels: int = 1) -> None:
        super().__init__()
        self.num_codes, self.code_dim = num_codes, code_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.ReLU(),            # 28 → 14
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.ReLU(),           # 14 → 7
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, code_dim, 1),
        )
        self.quantizer = VectorQuantizer(num_codes, code_dim, beta=beta, ema=ema, decay=decay)
        self.decoder = nn.Sequential(
            nn.Conv2d(code_dim, 2 * width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.ReLU(),  # 7 → 14
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1),              # 14 → 28
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder outputs :math:`z_e(x)` with the code dimension last: ``(B, 1, 28, 28) → (B, 7, 7, D)``.

        Raises:
            ValueError: ``x`` is not ``(B, C, 28, 28)``, contains NaN or ±inf, or lies on another device than the model.
        """
        x = validate.tensor(x, "x", rank=4, expected="(B, C, 28, 28)", nonempty=False, floating=True)
        if x.shape[-2:] != (28, 28):
            raise ValueError(f"VQVAE expects images of shape (batch, C, 28, 28), got {tuple(x.shape)}")
        validate.same_device(("x", x), expected=self.quantizer.codebook.device)
        return self.encoder(x).permute(0, 2, 3, 1)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """Images from quantized vectors ``(B, 7, 7, D) → (B, 1, 28, 28)``."""
        return self.decoder(z_q.permute(0, 3, 1, 2))

    @torch.no_grad()
    def code_map(self, x: torch.Tensor) -> torch.Tensor:
        """The discrete code map of each image: ``(B, 1, 28, 28) → (B, 7, 7)`` (int64)."""
        return nearest_codes(self.encode(x), self.quantizer.codebook)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Encode, quantize and decode, clamped to pixels in [0, 1]: ``(B, 1, 28, 28) → (B, 1, 28, 28)``."""
        return self.decode_codes(self.code_map(x))

    @torch.no_grad()
    def decode_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """Images from code maps ``(B, 7, 7)`` (e.g. sampled from a prior), clamped to [0, 1].

        Raises:
            ValueError: ``indices`` is not ``(B, H, W)`` integers, or an index lies outside ``0..num_codes - 1``.
        """
        indices = validate.indices(indices, "indices", self.num_codes, rank=3, expected="(B, H, W)", nonempty=False)
        return self.decode(F.embedding(indices, self.quantizer.codebook)).clamp(0, 1)

    def forward(self, x: torch.Tensor) -> VQVAEOutput:
        """:class:`VQVAEOutput` ``(x_hat, vq_loss, indices, z_e)`` for a batch of images.

        Raises:
            ValueError: ``x`` is not ``(B, C, 28, 28)``.
        """
        z_e = self.encode(x)
        z_q, vq_loss, indices = self.quantizer(z_e)
        return VQVAEOutput(self.decode(z_q), vq_loss, indices, z_e)

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"loss": recon + vq, "recon": mean squared error, "vq": quantizer loss, "indices", "z_e"}``.

        Raises:
            ValueError: ``x`` is not ``(B, C, 28, 28)``, is empty, or contains NaN or ±inf.
        """
        validate.tensor(x, "x", rank=4, expected="(B, C, 28, 28)")
        x_hat, vq_loss, indices, z_e = self(x)
        # ‖x − x̂‖², the −log p(x | z_q(x)) of a Gaussian decoder up to constants (VQ-VAE, eq. 3, first term)
        recon = F.mse_loss(x_hat, x)
        # L = reconstruction + codebook + β · commitment              (VQ-VAE, eq. 3)
        return {"loss": recon + vq_loss, "recon": recon, "vq": vq_loss, "indices": indices, "z_e": z_e}


class CodebookMonitor:
    """Codebook health during training, for :func:`train_vqvae`: code usage since the last log, dead-code resets.

    ``after_update(output)`` (a :class:`gdmcourse.train.Objective`'s ``after``) counts the codes
    of each batch and, every ``reset_every`` updates, moves the codes that batch did not use onto
    its encoder outputs (:func:`reset_dead_codes`, drawing from ``generator``); ``log(step, history)``
    (a :class:`gdmcourse.train.Every` hook) returns the window's mean losses, perplexity, number
    of dead codes and the total of resets, then starts a new window.
    """

    def __init__(self, quantizer: VectorQuantizer, reset_every: int, generator: torch.Generator) -> None:
        self.quantizer, self.reset_every, self.generator = quantizer, reset_every, generator
        self.counts = torch.zeros(quantizer.num_codes, dtype=torch.long)
        self.updates = self.resets = 0

    def after_update(self, out: dict[str, torch.Tensor]) -> None:
        self.updates += 1
        self.counts += torch.bincount(out["indices"].reshape(-1).cpu(), minlength=self.quantizer.num_codes)
        if self.reset_every and self.updates % self.reset_every == 0:
            self.resets += reset_dead_codes(self.quantizer, out["z_e"], generator=self.generator)

    def log(self, step: int, history: History) -> dict[str, float]:
        n = step - (history.step[-1] if history.step else 0)
        row = {"recon": _running_mean(history.steps["recon"][-n:]), "vq": _running_mean(history.steps["vq"][-n:]),
               "perplexity": _perplexity_of_counts(self.counts), "dead": int((self.counts == 0).sum()),
               "resets": self.resets}
        self.counts.zero_()
        return row


def _running_mean(values: list[float]) -> float:
    total = 0.0
    for v in values:
        total += v
    return total / len(values)


def train_vqvae(model: VQVAE, data: torch.Tensor, *, steps: int, batch_size: int = 128, lr: float = 2e-3,
                reset_every: int = 0, log_every: int = 50, seed: int = 0, device: torch.device | str | None = None,
                progress: bool = True) -> History:
    """Train a :class:`VQVAE` with Adam on batches of ``data (N, 1, 28, 28)`` drawn with a seeded CPU generator.

    Every ``log_every`` steps the history records the mean reconstruction and VQ losses, the
    :func:`codebook_perplexity` and the number of :func:`dead_codes` over the code indices of
    those ``log_every`` batches (``history.step``, ``.recon``, ``.vq``, ``.perplexity``, ``.dead``).
    With ``reset_every > 0``, every ``reset_every`` steps the codes no vector of the current
    batch chose are moved onto encoder outputs (:func:`reset_dead_codes`); ``history.resets``
    counts them. The loop is :func:`gdmcourse.train.fit`; the per-step losses are in
    ``history.steps`` and the model is left in eval mode.

    Raises:
        ValueError: non-positive ``steps``, ``batch_size`` or ``log_every``; non-finite data.
        FloatingPointError: the loss became NaN or infinite (the message names the step).
    """
    if steps < 1 or batch_size < 1 or log_every < 1:
        raise ValueError(f"steps, batch_size and log_every must be positive, got {steps}, {batch_size}, {log_every}")
    if not torch.isfinite(data).all():
        raise ValueError("the training data contain NaN or infinite values")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    batches = train.RandomBatches(data, batch_size, seed=seed, device=device)
    monitor = CodebookMonitor(model.quantizer, reset_every, batches.generator)
    objective = train.Objective(optimizer, lambda batch: model.loss(batch[0]), after=monitor.after_update)
    history = train.fit(model, [objective], batches=batches, steps=steps, callbacks=[train.Every(log_every, monitor.log)],
                        progress=progress, desc="VQ-VAE training")
    model.eval()
    return history


# ------------------------------------------------------------------------------ a prior over codes

class MaskedConv2d(nn.Conv2d):
    """A convolution that sees only pixels above, and left in the same row (PixelCNN, van den Oord et al. 2016).

    Mask ``"A"`` (first layer) also hides the centre pixel, so output ``(i, j)`` depends only on
    inputs before ``(i, j)`` in raster order; mask ``"B"`` (later layers) keeps the centre,
    which then holds only information from earlier pixels.

    Raises:
        ValueError: ``mask_type`` is not ``"A"`` or ``"B"``, or ``kernel_size`` is even.
    """

    def __init__(self, mask_type: MaskType, c_in: int, c_out: int, kernel_size: int) -> None:
        if mask_type not in ("A", "B") or kernel_size % 2 == 0:
            raise ValueError(f"mask_type must be 'A' or 'B' and kernel_size odd, got {mask_type!r}, {kernel_size}")
        super().__init__(c_in, c_out, kernel_size, padding=kernel_size // 2)
        mask = torch.ones_like(self.weight)
        k = kernel_size // 2
        mask[:, :, k, k + (mask_type == "B"):] = 0
        mask[:, :, k + 1:] = 0
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class PixelCNNPrior(nn.Module):
    r"""An autoregressive prior over code maps, :math:`p(k) = \prod_{i} p(k_i \mid k_{<i})` in raster order.

    ``Embedding → MaskedConv A (7×7) → [ReLU → MaskedConv B (3×3)] × layers (residual) → 1×1 → logits``.
    Shapes: ``forward(indices (B, H, W)) → logits (B, num_codes, H, W)``; :meth:`sample` draws
    ``(n, H, W)`` maps one position at a time. (A plain masked-conv stack has a "blind spot" up
    and right of each pixel, which gated PixelCNNs remove; on 7×7 maps it matters little.)

    Raises (``forward``, :meth:`nll`):
        ValueError: the code maps are not ``(B, H, W)`` integers in ``0..num_codes - 1`` (:meth:`nll`: or are empty).
    """

    def __init__(self, num_codes: int, width: int = 64, layers: int = 5) -> None:
        super().__init__()
        self.num_codes = num_codes
        self.embed = nn.Embedding(num_codes, width)
        self.first = MaskedConv2d("A", width, width, 7)
        self.blocks = nn.ModuleList(MaskedConv2d("B", width, width, 3) for _ in range(layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(width, num_codes, 1))

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        indices = validate.indices(indices, "indices", self.num_codes, rank=3, expected="(B, H, W)", nonempty=False)
        h = self.first(self.embed(indices).permute(0, 3, 1, 2))
        for block in self.blocks:
            h = h + block(F.relu(h))
        return self.head(h)

    def nll(self, indices: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood per code position (nats).

        Raises:
            ValueError: ``indices`` is not ``(B, H, W)`` integers in ``0..num_codes - 1``, or is empty.
        """
        validate.tensor(indices, "indices", rank=3, expected="(B, H, W)")
        # −(1/HW) Σ_i log p(k_i | k_<i), averaged over the batch
        return F.cross_entropy(self(indices), indices)

    @torch.no_grad()
    def sample(self, n: int, shape: tuple[int, int] = (7, 7), generator: torch.Generator | None = None,
               temperature: float = 1.0) -> torch.Tensor:
        """Draw ``n`` code maps position by position (``H·W`` forward passes); the randomness comes from a CPU generator."""
        device = self.embed.weight.device
        maps = torch.zeros(n, *shape, dtype=torch.long, device=device)
        for i in range(shape[0]):
            for j in range(shape[1]):
                probs = torch.softmax(self(maps)[:, :, i, j] / temperature, dim=1).cpu()
                maps[:, i, j] = torch.multinomial(probs, 1, generator=generator).squeeze(1).to(device)
        return maps


def train_prior(prior: PixelCNNPrior, codes: torch.Tensor, *, steps: int, batch_size: int = 128, lr: float = 2e-3,
                seed: int = 0, device: torch.device | str | None = None, progress: bool = True) -> list[float]:
    """Fit ``prior`` to code maps ``(N, H, W)`` by maximum likelihood (Adam, :func:`gdmcourse.train.fit`).

    Batches of ``batch_size`` maps are drawn with replacement from a CPU generator seeded ``seed``.

    Returns:
        the per-step NLL (nats per code position), ``steps`` floats; the prior is left in eval mode.
    Raises:
        FloatingPointError: the NLL became NaN or infinite (the message names the step).
    """
    device = torch.device(device) if device is not None else next(prior.parameters()).device
    prior.to(device).train()
    history = train.fit(prior, lambda model, batch: model.nll(batch[0]), codes, steps=steps, batch_size=batch_size,
                        lr=lr, seed=seed, device=device, progress=progress, desc="prior training")
    prior.eval()
    return history.steps["loss"]


class VQVAEWithPrior(nn.Module):
    """A trained :class:`VQVAE` and a :class:`PixelCNNPrior` over its code maps: a generative model of images.

    :meth:`sample` draws code maps from the prior and decodes them, ``(n, 1, 28, 28)`` in [0, 1].

    Raises:
        ValueError: the prior and the VQ-VAE have different numbers of codes.
    """

    def __init__(self, vqvae: VQVAE, prior: PixelCNNPrior) -> None:
        super().__init__()
        if prior.num_codes != vqvae.num_codes:
            raise ValueError(f"the prior has {prior.num_codes} codes, the VQ-VAE {vqvae.num_codes}")
        self.vqvae, self.prior = vqvae, prior

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        return self.vqvae.decode_codes(self.prior.sample(n, generator=generator, temperature=temperature))

"""Reusable network blocks shared by the course's models.

- :class:`MLP`: a stack of ``Linear`` layers with a nonlinearity in between;
  it flattens image inputs and can reshape its output back into an image.
- :class:`ConvEncoder` / :class:`ConvDecoder`: a small strided-convolution encoder for
  1×28×28 images (28 → 14 → 7) and its transposed-convolution mirror.
- :class:`DCGANGenerator` / :class:`DCGANDiscriminator`: the DCGAN pair for 28×28 images,
  optionally conditional on a class label.

Topic modules (``autoencoder``, ``vae``, ...) build their models from these blocks, so a
change here (say, a wider hidden layer) reaches every notebook that uses them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def _check_images(x: torch.Tensor, network: str) -> None:
    """Raise ``ValueError`` unless ``x`` is a batch of 28×28 images ``(B, C, 28, 28)``."""
    if x.dim() != 4 or x.shape[-2:] != (28, 28):
        raise ValueError(f"{network} expects images of shape (batch, C, 28, 28), got {tuple(x.shape)}")


class MLP(nn.Module):
    """Multilayer perceptron ``in_dim → hidden[0] → ... → out_dim``.

    Args:
        in_shape: the shape of one input example, e.g. ``(1, 28, 28)`` or ``(2,)``; inputs
            of shape ``(B, *in_shape)`` are flattened to ``(B, prod(in_shape))``.
        out_shape: the shape of one output example; the output is reshaped to ``(B, *out_shape)``.
        hidden: widths of the hidden layers (empty: a single linear map).
        activation: the nonlinearity class between layers (``nn.ReLU`` by default).
        out_activation: an optional module applied to the output, e.g. ``nn.Sigmoid()``
            for pixel intensities in [0, 1].
        bias: whether the ``Linear`` layers have biases.
    """

    def __init__(self, in_shape: int | Sequence[int], out_shape: int | Sequence[int],
                 hidden: Sequence[int] = (256,), *, activation: type[nn.Module] = nn.ReLU,
                 out_activation: nn.Module | None = None, bias: bool = True) -> None:
        super().__init__()
        self.in_shape = (in_shape,) if isinstance(in_shape, int) else tuple(in_shape)
        self.out_shape = (out_shape,) if isinstance(out_shape, int) else tuple(out_shape)
        widths = [math.prod(self.in_shape), *hidden, math.prod(self.out_shape)]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b, bias=bias))
            if i < len(widths) - 2:
                layers.append(activation())
        if out_activation is not None:
            layers.append(out_activation)
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(*batch, *in_shape) → (*batch, *out_shape)``.

        Raises:
            ValueError: the trailing dims of ``x`` are not ``in_shape``.
        """
        batch_shape = x.shape[: x.dim() - len(self.in_shape)]
        if tuple(x.shape[len(batch_shape):]) != self.in_shape:
            raise ValueError(f"MLP expects inputs of shape (batch, {', '.join(map(str, self.in_shape))}), "
                             f"got {tuple(x.shape)}")
        y = self.layers(x.reshape(*batch_shape, math.prod(self.in_shape)))  # (not -1: an empty batch is fine)
        return y.reshape(*batch_shape, *self.out_shape)


class ConvEncoder(nn.Module):
    """Strided convolutions ``1×28×28 → 32×14×14 → 64×7×7 → out_dim``.

    Args:
        out_dim: size of the output vector (the latent size, or twice it for a VAE's mean
            and log-variance).
        channels: input channels (1 for MNIST-like images).
        width: channels of the first convolution; the second has ``2 * width``.
    Shapes: ``(B, channels, 28, 28) → (B, out_dim)``.
    """

    def __init__(self, out_dim: int, channels: int = 1, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.ReLU(),           # 28 → 14
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.ReLU(),      # 14 → 7
            nn.Flatten(), nn.Linear(2 * width * 7 * 7, out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(B, out_dim)`` of images ``(B, channels, 28, 28)``.

        Raises:
            ValueError: ``x`` is not ``(B, C, 28, 28)``.
        """
        _check_images(x, "ConvEncoder")
        return self.net(x)


class ConvDecoder(nn.Module):
    """The mirror of :class:`ConvEncoder`: ``in_dim → 64×7×7 → 32×14×14 → channels×28×28``.

    Outputs are unnormalised (logits or means); add ``out_activation=nn.Sigmoid()`` for [0, 1].
    Shapes: ``(B, in_dim) → (B, channels, 28, 28)``.
    """

    def __init__(self, in_dim: int, channels: int = 1, width: int = 32,
                 out_activation: nn.Module | None = None) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, 2 * width * 7 * 7), nn.ReLU(),
            nn.Unflatten(1, (2 * width, 7, 7)),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.ReLU(),  # 7 → 14
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1),              # 14 → 28
            out_activation if out_activation is not None else nn.Identity(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class DCGANGenerator(nn.Module):
    """A DCGAN generator for 28×28 images (Radford et al. 2016, lecture 003), optionally conditional.

    ``z → Linear → (2w, 7, 7) → ConvTranspose → (w, 14, 14) → ConvTranspose → (channels, 28, 28)``,
    with batch normalization and ReLU in between and ``tanh`` at the end, so samples lie in
    [-1, 1]: scale training images with ``2 * x - 1`` and samples back with ``(x + 1) / 2``.
    A conditional generator (``num_classes``) concatenates a one-hot label to ``z``.

    Shapes: ``z (B, latent_dim)``, ``y (B,)`` ints → ``(B, channels, 28, 28)``.
    """

    def __init__(self, latent_dim: int = 64, channels: int = 1, width: int = 32, num_classes: int | None = None) -> None:
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        in_dim = latent_dim + (num_classes or 0)
        self.net = nn.Sequential(
            nn.Linear(in_dim, 2 * width * 7 * 7, bias=False), nn.BatchNorm1d(2 * width * 7 * 7), nn.ReLU(),
            nn.Unflatten(1, (2 * width, 7, 7)),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),  # 7 → 14
            nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1),                # 14 → 28
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``(B, channels, 28, 28)`` in [−1, 1] from noise ``z (B, latent_dim)`` (and labels ``y (B,)``).

        Raises:
            ValueError: ``z`` is not ``(B, latent_dim)``; labels are missing (conditional), given
                (unconditional), or not ``B`` integers in ``0..num_classes - 1``.
        """
        return self.synthesis(self.mapping(z, y))

    def mapping(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The first block: noise ``z (B, latent_dim)`` (and labels) → the low-resolution map ``(B, 2w, 7, 7)``.

        What StyleGAN's truncation (lecture 004) pulls towards its mean; see
        :func:`gdmcourse.gan.truncate_towards_mean`.

        Raises:
            ValueError: as :meth:`forward`.
        """
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected noise of shape (batch, {self.latent_dim}), got {tuple(z.shape)}")
        return self.net[:4](_with_label(z, y, self.num_classes))

    def synthesis(self, h: torch.Tensor) -> torch.Tensor:
        """The rest of the generator: a ``(B, 2w, 7, 7)`` map → images ``(B, channels, 28, 28)`` in [−1, 1]."""
        return self.net[4:](h)


def dcgan_init_(model: nn.Module, std: float = 0.02) -> nn.Module:
    r"""Radford et al.'s (2016, section 4) initialisation, in place: every convolution and linear
    weight from :math:`\mathcal N(0, 0.02^2)`, batch-norm scales from :math:`\mathcal N(1, 0.02^2)`,
    biases 0. Draws from torch's global generator (seed it first); returns ``model``."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, std)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, std)
        if getattr(m, "bias", None) is not None:
            nn.init.zeros_(m.bias)
    return model


class DCGANDiscriminator(nn.Module):
    """A DCGAN discriminator for 28×28 images, optionally conditional (a projection discriminator).

    ``(channels, 28, 28) → Conv → (w, 14, 14) → Conv → (2w, 7, 7) → Linear → h (hidden) → logit``,
    with leaky ReLU (slope 0.2). Two variants:

    - ``batch_norm=True, hidden=None``: the discriminator as Radford et al. (2016, section 3) and
      lecture 003 describe it: batch normalization after every convolution but the first, and
      no fully connected hidden layer (``h`` is the flattened ``(2w, 7, 7)`` map).
    - the default, no batch normalization: for the WGAN family, since batch normalization
      couples the examples of a batch and breaks the gradient penalty and spectral
      normalization's Lipschitz bound.
    Conditional (``num_classes``): ``logit = w·h + ⟨embed(y), h⟩`` (Miyato & Koyama 2018), so
    the label changes what the discriminator looks for without a separate network per class.
    ``spectral_norm`` wraps every conv and linear layer in ``parametrizations.spectral_norm``.

    Shapes: ``x (B, channels, 28, 28)``, ``y (B,)`` → logits ``(B,)``.
    """

    def __init__(self, channels: int = 1, width: int = 32, hidden: int | None = 128, num_classes: int | None = None,
                 spectral_norm: bool = False, batch_norm: bool = False) -> None:
        super().__init__()
        if batch_norm and spectral_norm:
            raise ValueError("choose batch_norm or spectral_norm, not both: batch norm undoes the Lipschitz bound")
        self.num_classes = num_classes
        layers: list[nn.Module] = [
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),           # 28 → 14
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=not batch_norm),        # 14 → 7
            *([nn.BatchNorm2d(2 * width)] if batch_norm else []), nn.LeakyReLU(0.2), nn.Flatten()]
        if hidden is not None:
            layers += [nn.Linear(2 * width * 7 * 7, hidden), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        hidden = hidden if hidden is not None else 2 * width * 7 * 7
        self.out = nn.Linear(hidden, 1)
        self.embed = nn.Embedding(num_classes, hidden) if num_classes else None
        if spectral_norm:
            for module in self.modules():
                if isinstance(module, (nn.Linear, nn.Conv2d, nn.Embedding)):
                    nn.utils.parametrizations.spectral_norm(module)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B,)`` of images ``(B, channels, 28, 28)`` (and labels ``y (B,)``).

        Raises:
            ValueError: ``x`` is not ``(B, C, 28, 28)``; labels are missing (conditional), given
                (unconditional), or not ``B`` integers in ``0..num_classes - 1``.
        """
        _check_images(x, "DCGANDiscriminator")
        h = self.features(x)
        logit = self.out(h).squeeze(1)
        if self.embed is not None:
            _check_labels(y, self.num_classes, len(x))
            logit = logit + (self.embed(y) * h).sum(1)
        elif y is not None:
            raise ValueError("this discriminator is unconditional (num_classes=None) but got labels")
        return logit


def _check_labels(y: torch.Tensor | None, num_classes: int | None, batch: int) -> None:
    if y is None:
        raise ValueError(f"this model is conditional (num_classes={num_classes}): pass labels y of shape ({batch},)")
    if y.shape != (batch,) or y.dtype not in (torch.int64, torch.int32, torch.uint8):
        raise ValueError(f"labels must be integers of shape ({batch},), got {tuple(y.shape)} {y.dtype}")
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got {y.min().item()}..{y.max().item()}")


def _with_label(z: torch.Tensor, y: torch.Tensor | None, num_classes: int | None) -> torch.Tensor:
    if num_classes is None:
        if y is not None:
            raise ValueError("this generator is unconditional (num_classes=None) but got labels")
        return z
    _check_labels(y, num_classes, len(z))
    return torch.cat([z, nn.functional.one_hot(y.long(), num_classes).to(z.dtype)], dim=1)


class SmallCNN(nn.Module):
    """A small convolutional classifier for 28×28 images, the course's own feature network.

    ``(channels, 28, 28) → conv 32 → conv 32 /2 → conv 64 → conv 64 /2 → Linear 128 → classes``
    (ReLU throughout). :meth:`features` gives the 128-dim penultimate layer (FID,
    precision/recall), :meth:`forward` the logits (softmax: Inception Score).
    """

    def __init__(self, num_classes: int = 10, channels: int = 1, feature_dim: int = 128) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),   # 28 → 14
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(),   # 14 → 7
            nn.Flatten(), nn.Linear(64 * 7 * 7, feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate-layer features ``(B, feature_dim)`` of images ``(B, channels, 28, 28)``.

        Raises:
            ValueError: ``x`` is not ``(B, C, 28, 28)``.
        """
        _check_images(x, "SmallCNN")
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    r"""Sinusoidal embedding of diffusion steps (Vaswani et al. 2017, as in DDPM's UNet).

    .. math:: e(t)_i = \sin(t\,\omega_i),\quad e(t)_{i + d/2} = \cos(t\,\omega_i),\qquad
              \omega_i = \mathrm{max\_period}^{-i/(d/2)},\ i = 0, \dots, d/2 - 1

    Shapes: ``t (B,)`` (integer or float steps) → ``(B, dim)``; an odd ``dim`` gets a zero last column.

    Raises:
        ValueError: ``dim < 2``.
    """
    if dim < 2:
        raise ValueError(f"dim must be at least 2, got {dim}")
    t = torch.as_tensor(t).reshape(-1).float()
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    return torch.nn.functional.pad(emb, (0, dim % 2))


class _ResBlock(nn.Module):
    """GroupNorm → SiLU → conv, plus the time embedding, twice, with a skip connection."""

    def __init__(self, c_in: int, c_out: int, t_dim: int, groups: int = 8) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(t_dim, c_out)
        self.norm2 = nn.GroupNorm(min(groups, c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        h = h + self.time(t_emb)[:, :, None, None]  # every channel learns how to react to the noise level
        h = self.conv2(nn.functional.silu(self.norm2(h)))
        return h + self.skip(x)


class _SelfAttention(nn.Module):
    """Single-head self-attention over the pixels of a (small) feature map, with a skip connection."""

    def __init__(self, c: int, groups: int = 8) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(min(groups, c), c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.out = nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)
        a = nn.functional.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return x + self.out(a.transpose(1, 2).reshape(b, c, h, w))


class UNet(nn.Module):
    r"""A small UNet :math:`\epsilon_\theta(x_t, t)` for DDPM on 28×28 images (Ho et al. 2020, lecture 001).

    ``in conv → [ResBlock, down]×(levels−1) → ResBlock → ResBlock·attention·ResBlock (middle)
    → [ResBlock(with skip), up]… → GroupNorm·SiLU·conv``; resolutions 28 → 14 → 7 for three
    levels. The step ``t`` enters every ResBlock through :func:`timestep_embedding` and a
    two-layer MLP. The last convolution starts at zero, so the untrained model predicts
    :math:`\hat\epsilon = 0`.

    Args:
        channels: image channels (1 for MNIST-like images).
        width: channels at full resolution; level ``i`` has ``width * mults[i]``.
        mults: channel multipliers per level (each level after the first halves the resolution).
        attention: whether the middle (lowest-resolution) block has self-attention.
    Shapes: ``x (B, channels, H, W)`` with H, W divisible by ``2**(levels-1)``, ``t (B,)`` step indices → ``(B, channels, H, W)``.
    """

    def __init__(self, channels: int = 1, width: int = 32, mults: Sequence[int] = (1, 2, 2),
                 attention: bool = True) -> None:
        super().__init__()
        self.channels, self.width = channels, width
        t_dim = 4 * width
        self.time_mlp = nn.Sequential(nn.Linear(width, t_dim), nn.SiLU(), nn.Linear(t_dim, t_dim))
        widths = [width * m for m in mults]
        self.inp = nn.Conv2d(channels, width, 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        c = width
        for i, w in enumerate(widths):
            self.down.append(_ResBlock(c, w, t_dim))
            self.downsample.append(nn.Conv2d(w, w, 3, stride=2, padding=1) if i < len(widths) - 1 else nn.Identity())
            c = w
        self.mid1 = _ResBlock(c, c, t_dim)
        self.attn = _SelfAttention(c) if attention else nn.Identity()
        self.mid2 = _ResBlock(c, c, t_dim)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            self.up.append(_ResBlock(c + w, w, t_dim))
            self.upsample.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w, w, 3, padding=1))
                                 if i > 0 else nn.Identity())
            c = w
        self.out = nn.Sequential(nn.GroupNorm(min(8, c), c), nn.SiLU(), nn.Conv2d(c, channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)
        self._factor = 2 ** (len(widths) - 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The noise estimate ``(B, channels, H, W)`` for ``x_t`` and step indices ``t (B,)`` (or one step for all).

        Raises:
            ValueError: ``x`` is not ``(B, channels, H, W)`` with H and W divisible by ``2**(levels-1)``.
        """
        if x.dim() != 4 or x.shape[1] != self.channels or x.shape[-1] % self._factor or x.shape[-2] % self._factor:
            raise ValueError(f"UNet expects images of shape (batch, {self.channels}, H, W) with H and W divisible "
                             f"by {self._factor}, got {tuple(x.shape)}")
        t = torch.as_tensor(t, device=x.device).reshape(-1).expand(len(x))
        t_emb = self.time_mlp(timestep_embedding(t, self.width))
        h = self.inp(x)
        skips = []
        for block, down in zip(self.down, self.downsample):
            h = block(h, t_emb)
            skips.append(h)
            h = down(h)
        h = self.mid2(self.attn(self.mid1(h, t_emb)), t_emb)
        for block, up in zip(self.up, self.upsample):
            h = up(block(torch.cat([h, skips.pop()], dim=1), t_emb))
        return self.out(h)


class TimeMLP(nn.Module):
    r"""A noise predictor :math:`\epsilon_\theta(x_t, t)` for low-dimensional data (the 2-D toys of notebook 08).

    The step enters as :func:`timestep_embedding` (``t_dim`` sinusoids), mapped by a linear
    layer and *added* to each hidden layer, so every layer knows the noise level.
    Shapes: ``x (B, dim)``, ``t (B,)`` step indices → ``(B, dim)``.
    """

    def __init__(self, dim: int = 2, hidden: int = 128, layers: int = 3, t_dim: int = 32) -> None:
        super().__init__()
        self.dim, self.t_dim = dim, t_dim
        self.inp = nn.Linear(dim, hidden)
        self.time = nn.ModuleList(nn.Linear(t_dim, hidden) for _ in range(layers))
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers - 1))
        self.out = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The noise estimate ``(B, dim)`` for points ``x_t (B, dim)`` and step indices ``t (B,)`` (or one step for all).

        Raises:
            ValueError: ``x`` is not ``(B, dim)``.
        """
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"TimeMLP expects points of shape (batch, {self.dim}), got {tuple(x.shape)}")
        t = torch.as_tensor(t, device=x.device).reshape(-1).expand(len(x))
        emb = timestep_embedding(t, self.t_dim)
        h = nn.functional.silu(self.inp(x) + self.time[0](emb))
        for layer, time in zip(self.hidden, self.time[1:]):
            h = nn.functional.silu(layer(h) + time(emb))
        return self.out(h)

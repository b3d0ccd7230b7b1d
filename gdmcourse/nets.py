"""Reusable network blocks shared by the course's models.

- :class:`MLP`: a stack of ``Linear`` layers with a nonlinearity in between;
  it flattens image inputs and can reshape its output back into an image.
- :class:`ConvEncoder` / :class:`ConvDecoder`: a small strided-convolution encoder for
  1×28×28 images (28 → 14 → 7) and its transposed-convolution mirror.

Topic modules (``autoencoder``, ``vae``, ...) build their models from these blocks, so a
change here (say, a wider hidden layer) reaches every notebook that uses them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


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
        batch_shape = x.shape[: x.dim() - len(self.in_shape)]
        if tuple(x.shape[len(batch_shape):]) != self.in_shape:
            raise ValueError(f"MLP expects inputs of shape (batch, {', '.join(map(str, self.in_shape))}), "
                             f"got {tuple(x.shape)}")
        y = self.layers(x.reshape(*batch_shape, -1))
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
        if x.dim() != 4 or x.shape[-2:] != (28, 28):
            raise ValueError(f"ConvEncoder expects images of shape (batch, C, 28, 28), got {tuple(x.shape)}")
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

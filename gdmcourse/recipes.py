"""How each model the course ships or demonstrates is trained: the recipes the CLI and the notebooks share.

Toy GANs (notebooks 05 and 06, ``benchmarks/bench_gan.py``): :data:`TOY_GANS` names the settings
of each experiment on a 2-D mixture, :func:`train_toy_gan` builds the toy nets
(:func:`gdmcourse.gan.toy_generator`, :func:`gdmcourse.gan.toy_discriminator`) and trains them
with :func:`gdmcourse.gan.train_gan`. The recipes need both :mod:`gdmcourse.gan` and
:mod:`gdmcourse.wgan`, which is why they live here and not in either topic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import nn

from . import gan, wgan
from .train import History

__all__ = ["ToyGAN", "TOY_GANS", "ToyGANRun", "train_toy_gan"]


# ------------------------------------------------------------------------------ toy GANs

class ToyGAN(NamedTuple):
    """Settings of one toy-GAN experiment (see :data:`TOY_GANS`); ``loss`` names an entry of
    :data:`gdmcourse.wgan.LOSSES`, ``steps`` the generator steps per profile (``"quick"``, ``"full"``)."""

    loss: str
    steps: dict[str, int]
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1
    batch_size: int = 256
    lr_decay: bool = True
    spectral_norm: bool = False
    hidden: tuple[int, ...] = (128, 128, 128)
    clip: float = 0.01


# Measured on 8-Gaussians (2 CPU cores, one thread; benchmarks/bench_gan.py has the table).
TOY_GANS: dict[str, ToyGAN] = {
    # Adam without momentum (β₁ = 0) and a decaying learning rate: 8/8 modes, ~92% high quality
    # on 4 of 5 seeds in ~18 s.
    "nonsaturating": ToyGAN("nonsaturating", {"quick": 2500, "full": 5000}, lr_g=2e-3, lr_d=2e-3,
                            betas=(0.0, 0.9), batch_size=128),
    # The same nets and loss with heavy momentum (β₁ = 0.9) and a constant learning rate: in a
    # rotating game (notebook 05) momentum overshoots, and the generator collapses onto 1-2 modes.
    "collapse": ToyGAN("nonsaturating", {"quick": 1500, "full": 3000}, lr_g=1e-3, lr_d=1e-3,
                       betas=(0.9, 0.999), batch_size=128, lr_decay=False),
    # WGAN-GP (λ = 10, 5 critic steps per generator step, Adam(β = (0, 0.9)) as Gulrajani et al.,
    # with a larger learning rate than their 1e-4 to fit the CPU budget).
    "wgan-gp": ToyGAN("wgan-gp", {"quick": 1000, "full": 4000}, lr_g=1e-3, lr_d=1e-3, betas=(0.0, 0.9),
                      n_critic=5, batch_size=128),
    # The original WGAN: weights clipped to [−0.01, 0.01] after every critic step.
    "wgan-clip": ToyGAN("wgan-clip", {"quick": 600, "full": 3000}, lr_g=1e-3, lr_d=1e-3, betas=(0.0, 0.9),
                        n_critic=5, batch_size=128, clip=0.01),
    # A spectrally normalized discriminator with the hinge loss (SN-GAN).
    "sn-hinge": ToyGAN("hinge", {"quick": 1500, "full": 4000}, lr_g=2e-3, lr_d=2e-3, betas=(0.0, 0.9),
                       batch_size=128, spectral_norm=True),
}


class ToyGANRun(NamedTuple):
    """What :func:`train_toy_gan` returns (unpacks as ``G, D, history``)."""

    generator: nn.Module
    discriminator: nn.Module
    history: History


def train_toy_gan(recipe: str | ToyGAN, data: str = "8gaussians", *, seed: int = 0, n_data: int = 20_000,
                  steps: int | None = None, progress: bool = True, device: torch.device | str | None = None,
                  callback: Callable[[int, nn.Module], Any] | None = None, callback_every: int = 0) -> ToyGANRun:
    """Build the toy nets and train them with a recipe of :data:`TOY_GANS` on a ``data.toy2d`` set.

    The networks are initialised from ``seed`` (on the CPU), the data is ``toy2d(data, n_data, seed)``
    (``(n_data, 2)``), and the number of steps is the recipe's for the current profile unless
    ``steps`` is given. ``callback(step, generator)`` runs every ``callback_every`` steps and after
    the last (its results land in ``history.snapshots``).

    Returns:
        ``ToyGANRun(generator, discriminator, history)``; the nets in eval mode on ``device``.
    Raises:
        ValueError: an unknown recipe name (the message lists the known ones).
    """
    from . import data as datasets
    from . import runtime

    if isinstance(recipe, str):
        if recipe not in TOY_GANS:
            raise ValueError(f"unknown toy recipe {recipe!r}; choose one of {', '.join(TOY_GANS)}")
        recipe = TOY_GANS[recipe]
    x = datasets.toy2d(data, n_data, seed=seed)
    torch.manual_seed(seed)
    G = gan.toy_generator(hidden=recipe.hidden)
    D = gan.toy_discriminator(hidden=recipe.hidden, spectral_norm=recipe.spectral_norm)
    history = gan.train_gan(G, D, x, loss=wgan.LOSSES[recipe.loss], steps=steps or recipe.steps[runtime.profile()],
                            batch_size=recipe.batch_size, lr_g=recipe.lr_g, lr_d=recipe.lr_d, betas=recipe.betas,
                            n_critic=recipe.n_critic, clip=recipe.clip, lr_decay=recipe.lr_decay, seed=seed,
                            device=device, progress=progress, callback=callback, callback_every=callback_every)
    return ToyGANRun(G, D, history)

"""How each model the course ships is trained: the recipes the CLI and the notebooks share.

A recipe is written once. ``python -m gdmcourse train NAME`` (:func:`train_checkpoint`) runs
it with its fixed seed and step count and records the result in the weight registry
(:mod:`gdmcourse.weights`); the notebooks build and train their in-notebook versions through
the same recipe objects with fewer steps (the quick profile), so the two cannot drift apart.

Shipped checkpoints:

================================ ========================================== ========

Toy GANs (notebooks 05 and 06, ``benchmarks/bench_gan.py``): :data:`TOY_GANS` names the settings
of each experiment on a 2-D mixture, :func:`train_toy_gan` builds the toy nets
(:func:`gdmcourse.gan.toy_generator`, :func:`gdmcourse.gan.toy_discriminator`) and trains them
with :func:`gdmcourse.gan.train_gan`. The recipes need both :mod:`gdmcourse.gan` and
:mod:`gdmcourse.wgan`, which is why they live here and not in either topic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from . import data, ddpm, gan, nets, runtime, train, vae, vqvae, wgan
from .data import toy2d
from .train import History
from .weights import CheckpointError, load_state, registry, save_state

State = dict[str, torch.Tensor]


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
    optimizer: str = "adam"


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
    # "collapse" with one change, less momentum (DCGAN's β₁ = 0.5): on seeds 0-2, 5, 8 and 4 modes
    # instead of 1, 2 and 2 (notebook 05).
    "less-momentum": ToyGAN("nonsaturating", {"quick": 1500, "full": 3000}, lr_g=1e-3, lr_d=1e-3,
                            betas=(0.5, 0.999), batch_size=128, lr_decay=False),
    # WGAN-GP (λ = 10, 5 critic steps per generator step, Adam(β = (0, 0.9)) as Gulrajani et al.,
    # with a larger learning rate than their 1e-4 to fit the CPU budget).
    "wgan-gp": ToyGAN("wgan-gp", {"quick": 1000, "full": 4000}, lr_g=1e-3, lr_d=1e-3, betas=(0.0, 0.9),
                      n_critic=5, batch_size=128),
    # The original WGAN: weights clipped to [−0.01, 0.01] after every critic step.
    "wgan-clip": ToyGAN("wgan-clip", {"quick": 600, "full": 3000}, lr_g=1e-3, lr_d=1e-3, betas=(0.0, 0.9),
                        n_critic=5, batch_size=128, clip=0.01),
    # The same with the original paper's optimiser, RMSProp (Arjovsky et al. 2017, Algorithm 1, shown in
    # lecture 003; they use a learning rate of 5e-5, we keep 1e-3 so that only the optimiser differs).
    "wgan-clip-rmsprop": ToyGAN("wgan-clip", {"quick": 600, "full": 3000}, lr_g=1e-3, lr_d=1e-3, n_critic=5,
                                batch_size=128, clip=0.01, optimizer="rmsprop"),
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
    if isinstance(recipe, str):
        if recipe not in TOY_GANS:
            raise ValueError(f"unknown toy recipe {recipe!r}; choose one of {', '.join(TOY_GANS)}")
        recipe = TOY_GANS[recipe]
    x = toy2d(data, n_data, seed=seed)
    torch.manual_seed(seed)
    G = gan.toy_generator(hidden=recipe.hidden)
    D = gan.toy_discriminator(hidden=recipe.hidden, spectral_norm=recipe.spectral_norm)
    history = gan.train_gan(G, D, x, loss=wgan.LOSSES[recipe.loss], steps=steps or recipe.steps[runtime.profile()],
                            batch_size=recipe.batch_size, lr_g=recipe.lr_g, lr_d=recipe.lr_d, betas=recipe.betas,
                            n_critic=recipe.n_critic, clip=recipe.clip, lr_decay=recipe.lr_decay,
                            optimizer=recipe.optimizer, seed=seed,
                            device=device, progress=progress, callback=callback, callback_every=callback_every)
    return ToyGANRun(G, D, history)


# ------------------------------------------------------------------------------ DCGAN (notebook 04)

@dataclass(frozen=True)
class DCGANRecipe:
    """Notebook 04's DCGAN on 28×28 digits in [−1, 1]: the networks, the loss and the optimiser settings.

    Radford et al. (2016), section 3: strided convolutions, batch norm, ReLU/leaky ReLU,
    ``tanh`` outputs, Adam with β₁ = 0.5. ``steps`` is the shipped checkpoint's length.
    """

    latent_dim: int = 64
    width: int = 16
    loss: str = "nonsaturating"
    batch_size: int = 64
    lr: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    steps: int = 3000

    def networks(self, num_classes: int | None = None) -> tuple[nets.DCGANGenerator, nets.DCGANDiscriminator]:
        """A fresh generator and discriminator (conditional with ``num_classes``); seed torch first."""
        G = nets.DCGANGenerator(latent_dim=self.latent_dim, width=self.width, num_classes=num_classes)
        D = nets.DCGANDiscriminator(width=self.width, num_classes=num_classes)
        return G, D

    def train(self, G: nn.Module, D: nn.Module, images: torch.Tensor, *, steps: int, labels: torch.Tensor | None = None,
              seed: int = 0, device: torch.device | str | None = None, progress: bool = True,
              callback: Callable[[int, nn.Module], Any] | None = None, callback_every: int = 0) -> Any:
        """:func:`gdmcourse.gan.train_gan` with this recipe's loss, batch and Adam settings; ``images`` in [−1, 1]."""
        return gan.train_gan(G, D, images, labels=labels, loss=self.loss, steps=steps, batch_size=self.batch_size,
                             lr_g=self.lr, lr_d=self.lr, betas=self.betas, seed=seed, device=device,
                             progress=progress, callback=callback, callback_every=callback_every)


DCGAN = DCGANRecipe()


# ------------------------------------------------------------------------------ VQ-VAE (notebook 07)

@dataclass(frozen=True)
class VQVAERecipe:
    """Notebook 07's VQ-VAE (K codes on a 7×7 grid) and the PixelCNN prior over its code maps.

    ``steps`` / ``prior_steps``: the shipped checkpoint's lengths; ``reset_every``: dead-code
    reset period of the shipped (EMA + reset) variant.
    """

    num_codes: int = 128
    code_dim: int = 16
    width: int = 16
    batch_size: int = 64
    lr: float = 1e-3
    reset_every: int = 50
    prior_width: int = 64
    prior_layers: int = 5
    prior_lr: float = 2e-3
    prior_seed: int = 1
    steps: int = 2000
    prior_steps: int = 3000

    def model(self, ema: bool = True) -> vqvae.VQVAE:
        """A fresh VQ-VAE (EMA codebook or the plain codebook loss); seed torch first."""
        return vqvae.VQVAE(num_codes=self.num_codes, code_dim=self.code_dim, width=self.width, ema=ema)

    def train(self, model: vqvae.VQVAE, images: torch.Tensor, *, steps: int, reset_every: int | None = None,
              log_every: int = 50, seed: int = 0, device: torch.device | str | None = None,
              progress: bool = True) -> Any:
        """:func:`gdmcourse.vqvae.train_vqvae` with this recipe's batch and learning rate."""
        return vqvae.train_vqvae(model, images, steps=steps, batch_size=self.batch_size, lr=self.lr,
                                 reset_every=self.reset_every if reset_every is None else reset_every,
                                 log_every=log_every, seed=seed, device=device, progress=progress)

    def prior(self) -> vqvae.PixelCNNPrior:
        """A fresh PixelCNN prior over this recipe's codes; seed torch first."""
        return vqvae.PixelCNNPrior(num_codes=self.num_codes, width=self.prior_width, layers=self.prior_layers)

    def train_prior(self, prior: vqvae.PixelCNNPrior, code_maps: torch.Tensor, *, steps: int,
                    device: torch.device | str | None = None, progress: bool = True) -> Any:
        """:func:`gdmcourse.vqvae.train_prior` with this recipe's batch, learning rate and seed."""
        return vqvae.train_prior(prior, code_maps, steps=steps, batch_size=self.batch_size, lr=self.prior_lr,
                                 seed=self.prior_seed, device=device, progress=progress)


VQVAE = VQVAERecipe()


@torch.no_grad()
def code_maps(model: vqvae.VQVAE, images: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """The code maps ``(N, 7, 7)`` of ``images (N, 1, 28, 28)`` under ``model``, in batches, on the CPU."""
    device = next(model.parameters()).device
    return torch.cat([model.code_map(images[i:i + batch_size].to(device)).cpu()
                      for i in range(0, len(images), batch_size)])


# ------------------------------------------------------------------------------ DDPM (notebook 08)

DDPM_STEPS = 5000


def ddpm_unet() -> nets.UNet:
    """The shipped DDPM's network: a UNet of width 16 with attention at 7×7 (0.2 M parameters)."""
    return nets.UNet(channels=1, width=16, mults=(1, 2, 2), attention=True)


def ddpm_schedule() -> ddpm.DiffusionSchedule:
    """The shipped DDPM's schedule: Ho et al.'s linear β from 10⁻⁴ to 0.02, T = 1000."""
    return ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(1000))


# ------------------------------------------------------------------------------ image generators

class ImageGenerator:
    """A shipped image model: ``sample_images(n, generator)`` → ``(n, 1, 28, 28)`` in [0, 1], on the CPU.

    Subclasses implement :meth:`_batch` (one batch on the model's device); sampling draws in
    batches of ``batch_size`` from the seeded CPU ``generator``, so results repeat on any device.
    """

    def __init__(self, model: nn.Module, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()

    def _batch(self, b: int, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def sample_images(self, n: int, generator: torch.Generator, batch_size: int = 500) -> torch.Tensor:
        """``n`` images ``(n, 1, 28, 28)`` in [0, 1] on the CPU.

        Raises:
            ValueError: ``n`` or ``batch_size`` is not positive.
        """
        if n < 1 or batch_size < 1:
            raise ValueError(f"n and batch_size must be positive, got {n} and {batch_size}")
        return torch.cat([self._batch(min(batch_size, n - i), generator).clamp(0, 1).cpu()
                          for i in range(0, n, batch_size)])


class VAEImages(ImageGenerator):
    r"""Bernoulli means of decoded :math:`z \sim \mathcal N(0, I)` (notebook 02's VAE)."""

    def _batch(self, b: int, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn(b, self.model.latent_dim, generator=generator).to(self.device)
        return torch.sigmoid(self.model.decode(z))


class DCGANImages(ImageGenerator):
    """``(G(z) + 1) / 2``: the generator's tanh outputs mapped to [0, 1]."""

    def _batch(self, b: int, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn(b, self.model.latent_dim, generator=generator).to(self.device)
        return (self.model(z) + 1) / 2


class VQVAEImages(ImageGenerator):
    """Code maps drawn from the PixelCNN prior, decoded by the VQ-VAE."""

    def _batch(self, b: int, generator: torch.Generator) -> torch.Tensor:
        return self.model.sample(b, generator=generator)


class DDPMImages(ImageGenerator):
    r"""DDIM (η = 0) with ``ddim_steps`` steps and clipped :math:`\hat x_0`, mapped to [0, 1]."""

    def __init__(self, model: nn.Module, device: torch.device | str = "cpu", ddim_steps: int = 50) -> None:
        super().__init__(model, device)
        self.schedule, self.ddim_steps = ddpm_schedule(), ddim_steps

    def _batch(self, b: int, generator: torch.Generator) -> torch.Tensor:
        x = self.schedule.ddim_sample(self.model, (b, 1, 28, 28), steps=self.ddim_steps, generator=generator,
                                      clip=True, progress=False, device=self.device)
        return ddpm.to_image_range(x)


# ------------------------------------------------------------------------------ checkpoint trainers

def _train_classifier(dataset: str, epochs: int, progress: bool) -> tuple[State, dict[str, Any]]:
    runtime.startup(seed=0)
    x, y = data.load_images(dataset, "train")
    x_test, y_test = data.load_images(dataset, "test")
    model = nets.SmallCNN()

    def loss(m: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        xb, yb = batch
        return F.cross_entropy(m(xb), yb)

    history = train.fit(model, loss, (x, y), epochs=epochs, batch_size=128, lr=2e-3, schedule="cosine", seed=0,
                        progress=progress, device="cpu")
    model.eval()
    with torch.no_grad():
        correct = sum((model(x_test[i:i + 1000]).argmax(1) == y_test[i:i + 1000]).sum().item()
                      for i in range(0, len(x_test), 1000))
    info = {"test_accuracy": round(correct / len(x_test), 4), "epochs": epochs,
            "train_seconds": round(history.seconds, 1)}
    return model.state_dict(), info


def _train_ddpm(progress: bool) -> tuple[State, dict[str, Any]]:
    runtime.startup(seed=0)
    x, _ = data.load_images("mnist", "train")
    model = ddpm_unet()
    history = ddpm.train_ddpm(model, ddpm_schedule(), ddpm.to_model_range(x), steps=DDPM_STEPS, batch_size=128,
                              lr=1e-3, warmup=200, ema_decay=0.999, seed=0, device="cpu", progress=progress)
    tail = history.loss[-500:]
    info = {"steps": DDPM_STEPS, "batch_size": 128, "schedule": "linear, T=1000",
            "parameters": sum(p.numel() for p in model.parameters()),
            "final_loss_mean_last_500": round(sum(tail) / len(tail), 4), "train_seconds": round(history.seconds, 1),
            "weights": "EMA (decay 0.999)"}
    return history.ema.state_dict(), info


def _vae() -> vae.VAE:
    recipe = vae.RECIPES["quick"]
    return vae.VAE.mlp(latent_dim=recipe.latent_dim, hidden=recipe.hidden)


def _train_vae(progress: bool) -> tuple[State, dict[str, Any]]:
    runtime.startup(seed=0)
    x, _ = data.load_images("mnist", "train")
    x_test, _ = data.load_images("mnist", "test")
    recipe = vae.RECIPES["quick"]
    model = _vae()
    history = train.fit(model, vae.vae_loss(generator=torch.Generator().manual_seed(3)), x, epochs=recipe.epochs,
                        batch_size=recipe.batch_size, lr=recipe.lr, schedule=recipe.schedule, seed=0,
                        progress=progress, device="cpu")
    model.eval()
    x_bin = vae.dynamic_binarize(x_test[:1000], torch.Generator().manual_seed(123))
    nll = vae.iwae_nll(model, x_bin, k=500, generator=torch.Generator().manual_seed(0))
    return model.state_dict(), {"recipe": "vae.RECIPES['quick'] (notebook 02)", "epochs": recipe.epochs,
                                "test_nll_iwae500_first1000": round(nll, 2), "train_seconds": round(history.seconds, 1)}


def _dcgan() -> nets.DCGANGenerator:
    return DCGAN.networks()[0]


def _train_dcgan(progress: bool) -> tuple[State, dict[str, Any]]:
    runtime.startup(seed=0)
    x, _ = data.load_images("mnist", "train")
    G, D = DCGAN.networks()
    history = DCGAN.train(G, D, 2 * x - 1, steps=DCGAN.steps, seed=0, device="cpu", progress=progress)
    G.eval()
    return G.state_dict(), {"recipe": "recipes.DCGAN (notebook 04: width 16, non-saturating loss, batch 64)",
                            "steps": DCGAN.steps, "train_seconds": round(history.seconds, 1)}


def _vqvae() -> vqvae.VQVAEWithPrior:
    return vqvae.VQVAEWithPrior(VQVAE.model(ema=True), VQVAE.prior())


def _train_vqvae(progress: bool) -> tuple[State, dict[str, Any]]:
    runtime.startup(seed=0)
    x, _ = data.load_images("mnist", "train")
    x_test, _ = data.load_images("mnist", "test")
    model = _vqvae()
    h = VQVAE.train(model.vqvae, x, steps=VQVAE.steps, seed=0, device="cpu", progress=progress)
    maps = code_maps(model.vqvae, x)
    start = time.perf_counter()
    VQVAE.train_prior(model.prior, maps, steps=VQVAE.prior_steps, device="cpu", progress=progress)
    model.eval()
    with torch.no_grad():
        nll = model.prior.nll(model.vqvae.code_map(x_test[:2000])).item()
    return model.state_dict(), {
        "recipe": "recipes.VQVAE (notebook 07: K=128, EMA + reset every 50) and PixelCNN prior",
        "steps": VQVAE.steps, "prior_steps": VQVAE.prior_steps, "perplexity": round(h.perplexity[-1], 1),
        "dead_codes": h.dead[-1], "prior_test_nll_per_position": round(nll, 3),
        "train_seconds": round(h.seconds + time.perf_counter() - start, 1)}


#: Checkpoint name → (builder of its network, the trainer ``python -m gdmcourse train NAME`` runs).
MODELS: dict[str, Callable[[], nn.Module]] = {
    "classifier-mnist": nets.SmallCNN,
    "classifier-fashion-mnist": nets.SmallCNN,
    "ddpm": ddpm_unet,
    "vae-mnist": _vae,
    "dcgan-mnist": _dcgan,
    "vqvae-mnist": _vqvae,
}
TRAINERS: dict[str, Callable[[bool], tuple[State, dict[str, Any]]]] = {
    "classifier-mnist": lambda progress: _train_classifier("mnist", 3, progress),
    "classifier-fashion-mnist": lambda progress: _train_classifier("fashion-mnist", 6, progress),
    "ddpm": _train_ddpm,
    "vae-mnist": _train_vae,
    "dcgan-mnist": _train_dcgan,
    "vqvae-mnist": _train_vqvae,
}
#: The image models notebook 09 scores: checkpoint name → its :class:`ImageGenerator`.
GENERATORS: dict[str, type[ImageGenerator]] = {
    "vae-mnist": VAEImages, "dcgan-mnist": DCGANImages, "vqvae-mnist": VQVAEImages, "ddpm": DDPMImages,
}


def load_model(name: str) -> nn.Module:
    """The network of checkpoint ``name`` with its verified weights, on the CPU in eval mode.

    Raises:
        CheckpointError: unknown name, or a missing or corrupt weight file (see :func:`gdmcourse.weights.load_state`).
    """
    if name not in MODELS:
        raise CheckpointError(f"unknown checkpoint {name!r}; known: {', '.join(MODELS)}")
    model = MODELS[name]()
    model.load_state_dict(load_state(name))
    return model.eval()


def generator(name: str, device: torch.device | str = "cpu", **options: Any) -> ImageGenerator:
    """The shipped image model ``name`` (see :data:`GENERATORS`) ready to ``sample_images(n, generator)``.

    ``options`` go to its :class:`ImageGenerator` (``ddim_steps`` for ``"ddpm"``).

    Raises:
        CheckpointError: ``name`` is not an image generator, or its weights are missing or corrupt.
    """
    if name not in GENERATORS:
        raise CheckpointError(f"{name!r} is not an image generator; choose one of {', '.join(GENERATORS)}")
    return GENERATORS[name](load_model(name), device, **options)


def train_checkpoint(name: str, progress: bool = True) -> tuple[Path, dict[str, Any]]:
    """Train checkpoint ``name`` with its recipe, save it and record it; returns (file, record).

    Raises:
        CheckpointError: ``name`` is not a checkpoint the course ships.
    """
    if name not in TRAINERS:
        raise CheckpointError(f"unknown checkpoint {name!r}; known: {', '.join(TRAINERS)}")
    start = time.perf_counter()
    state, info = TRAINERS[name](progress)
    info["total_seconds"] = round(time.perf_counter() - start, 1)
    path = save_state(name, state, info)
    return path, registry()[name]

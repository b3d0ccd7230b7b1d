"""How each model the course ships is trained: the recipes the CLI and the notebooks share.

A recipe is written once. ``python -m gdmcourse train NAME`` (:func:`train_checkpoint`) runs
it with its fixed seed and step count and records the result in the weight registry
(:mod:`gdmcourse.weights`); the notebooks build and train their in-notebook versions through
the same recipe objects with fewer steps (the quick profile), so the two cannot drift apart.

Shipped checkpoints (``gdmcourse/weights/checkpoints.json`` records each one's command, time and figures):

============================ ============================================================
``classifier-mnist``,        the course's yardstick (:func:`gdmcourse.metrics.feature_extractor`)
``classifier-fashion-mnist``
``vae-mnist``                notebook 02's VAE (:data:`gdmcourse.vae.RECIPES` ``["quick"]``)
``cvae-mnist``               notebook 02's conditional VAE (:data:`gdmcourse.vae.CVAE_RECIPE`)
``dcgan-mnist``              notebook 04's DCGAN (:data:`DCGAN`), FID recorded along the way
``vqvae-mnist``              notebook 07's VQ-VAE and PixelCNN prior (:data:`VQVAE`)
``ddpm``                     notebook 08's UNet (:func:`ddpm_unet`, :func:`train_ddpm_recipe`)
============================ ============================================================

Notebook 06 trains a WGAN-GP on digits in the notebook (:data:`WGAN_GP_MNIST`; nothing shipped).

Toy GANs (notebooks 05 and 06, ``benchmarks/bench_gan.py``): :data:`TOY_GANS` names the settings
of each experiment on a 2-D mixture, :func:`train_toy_gan` builds the toy nets
(:func:`gdmcourse.gan.toy_generator`, :func:`gdmcourse.gan.toy_discriminator`) and trains them
with :func:`gdmcourse.gan.train_gan`. The recipes need both :mod:`gdmcourse.gan` and
:mod:`gdmcourse.wgan`, which is why they live here and not in either topic.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from . import data, ddpm, gan, metrics, nets, runtime, train, vae, vqvae, wgan
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
    "wgan-clip": ToyGAN("wgan-clip", {"quick": 300, "full": 3000}, lr_g=1e-3, lr_d=1e-3, betas=(0.0, 0.9),
                        n_critic=5, batch_size=128, clip=0.01),
    # The same with the original paper's optimiser, RMSProp (Arjovsky et al. 2017, Algorithm 1, shown in
    # lecture 003; they use a learning rate of 5e-5, we keep 1e-3 so that only the optimiser differs).
    "wgan-clip-rmsprop": ToyGAN("wgan-clip", {"quick": 300, "full": 3000}, lr_g=1e-3, lr_d=1e-3, n_critic=5,
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
    r"""Notebook 04's DCGAN on 28×28 digits in [−1, 1], built as Radford et al. (2016) and lecture 003 list:

    strided convolutions instead of pooling; batch normalization in the generator and in the
    discriminator (not on its input layer, nor on the generator's output); no fully connected
    hidden layer in the discriminator; ReLU in the generator with ``tanh`` at its output, leaky
    ReLU (0.2) in the discriminator; weights from :math:`\mathcal N(0, 0.02^2)`
    (:func:`gdmcourse.nets.dcgan_init_`); Adam with β₁ = 0.5; batch 128.
    Deviations: two resolution steps (7 → 14 → 28) for 28×28 images instead of four for 64×64;
    learning rates that decay linearly to 0 instead of a constant 2·10⁻⁴, larger because our
    runs are short, and the generator's four times the discriminator's (a two time-scale
    update, Heusel et al. 2017, here slowing the discriminator, which otherwise pulls ahead).
    The shipped checkpoint: ``steps`` steps, the generator's moving average (``ema_decay``; Yazıcı et al. 2019).
    FID of 1,000 samples of the raw generator after 5,000 steps, width 32 (in brackets the best during
    the run; runs of one recipe differ by tens): G and D both 2·10⁻⁴: 384 after 4,000 (371); both 10⁻³:
    261, 287 (245, 237); G 2·10⁻³, D 2.5·10⁻⁴: 221; D 5·10⁻⁴: 196 (185); G 4·10⁻³, D 10⁻³: 163 (149),
    3,000 steps 216 (196); G 8·10⁻³, D 2·10⁻³: 208 (179); width 64: 199 (both 10⁻³), 156 (146). The
    163 run's average, decay 0.999 / 0.9995: 150 / 144 (five draws: raw 164, 154 / 149 on average);
    with seed 1, raw 209, averages 198 / 190: the average gains 15-20, the seed moves FID by ~45.
    """

    latent_dim: int = 64
    width: int = 32
    loss: str = "nonsaturating"
    batch_size: int = 128
    lr_g: float = 4e-3
    lr_d: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    steps: int = 5000
    ema_decay: float = 0.9995

    def networks(self, num_classes: int | None = None) -> tuple[nets.DCGANGenerator, nets.DCGANDiscriminator]:
        """A fresh generator and discriminator (conditional with ``num_classes``), initialised as
        Radford et al.; seed torch first."""
        G = nets.DCGANGenerator(latent_dim=self.latent_dim, width=self.width, num_classes=num_classes)
        D = nets.DCGANDiscriminator(width=self.width, hidden=None, batch_norm=True, num_classes=num_classes)
        return nets.dcgan_init_(G), nets.dcgan_init_(D)

    def train(self, G: nn.Module, D: nn.Module, images: torch.Tensor, *, steps: int, labels: torch.Tensor | None = None,
              seed: int = 0, device: torch.device | str | None = None, progress: bool = True,
              callback: Callable[[int, nn.Module], Any] | None = None, callback_every: int = 0,
              ema: bool = False) -> Any:
        """:func:`gdmcourse.gan.train_gan` with this recipe's loss, batch and Adam settings (with ``ema``, also
        the generator's moving average, ``history.ema``); ``images`` in [−1, 1]."""
        return gan.train_gan(G, D, images, labels=labels, loss=self.loss, steps=steps, batch_size=self.batch_size,
                             lr_g=self.lr_g, lr_d=self.lr_d, betas=self.betas, seed=seed, device=device,
                             progress=progress, callback=callback, callback_every=callback_every,
                             ema_decay=self.ema_decay if ema else None)


DCGAN = DCGANRecipe()


# ------------------------------------------------------------------------------ WGAN-GP on digits (notebook 06)

@dataclass(frozen=True)
class WGANGPRecipe:
    r"""Notebook 06's WGAN-GP on 28×28 digits in [−1, 1], small enough to train in half a minute on one CPU core.

    As Gulrajani et al. (2017, Algorithm 1 and their MNIST code): critic loss + λ·GP with λ = 10,
    5 critic updates per generator update, Adam with β = (0.5, 0.9), and no normalization layer in
    the critic (the penalty constrains each example's gradient; batch norm would mix the batch).
    Deviations: MLPs instead of their convolutional nets, generator ``latent_dim → 128 → 256 → 784``
    (ReLU, ``tanh`` output) and critic ``784 → 256 → 128 → 1`` (leaky ReLU 0.2); a learning rate of
    10⁻³ decaying linearly to 0 instead of a constant 10⁻⁴, and batch 64 instead of 50, because our
    runs are hundreds of steps, not 200,000. ``steps``: generator steps per profile.
    """

    latent_dim: int = 32
    g_hidden: tuple[int, ...] = (128, 256)
    d_hidden: tuple[int, ...] = (256, 128)
    lr: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.9)
    n_critic: int = 5
    gp_weight: float = 10.0
    batch_size: int = 64
    steps: dict[str, int] = field(default_factory=lambda: {"quick": 500, "full": 5000})

    def networks(self) -> tuple[nets.MLP, nets.MLP]:
        """A fresh generator ``(B, latent_dim) → (B, 1, 28, 28)`` in [−1, 1] and critic ``(B, 1, 28, 28) → (B,)``;
        seed torch first."""
        G = nets.MLP(self.latent_dim, (1, 28, 28), self.g_hidden, out_activation=nn.Tanh())
        G.latent_dim = self.latent_dim
        D = nets.MLP((1, 28, 28), (), self.d_hidden, activation=functools.partial(nn.LeakyReLU, 0.2))
        return G, D

    def train(self, G: nn.Module, D: nn.Module, images: torch.Tensor, *, steps: int, seed: int = 0,
              device: torch.device | str | None = None, progress: bool = True,
              callback: Callable[[int, nn.Module], Any] | None = None, callback_every: int = 0) -> History:
        """:func:`gdmcourse.gan.train_gan` with ``wgan.LOSSES["wgan-gp"]`` and this recipe's settings; ``images`` in [−1, 1]."""
        return gan.train_gan(G, D, images, loss=wgan.LOSSES["wgan-gp"], steps=steps, batch_size=self.batch_size,
                             lr_g=self.lr, lr_d=self.lr, betas=self.betas, n_critic=self.n_critic,
                             gp_weight=self.gp_weight, seed=seed, device=device, progress=progress,
                             callback=callback, callback_every=callback_every)


WGAN_GP_MNIST = WGANGPRecipe()


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

DDPM_STEPS, DDPM_BATCH_SIZE, DDPM_EMA_DECAY = 24000, 64, 0.9995  # batch 64: 0.4× the time per step of 128


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
    r"""DDIM (η = 0) with ``ddim_steps`` steps, or ancestral sampling through all T = 1000 steps
    (``ddim_steps=None``, Algorithm 2), with clipped :math:`\hat x_0`, mapped to [0, 1].

    Both samplers draw :math:`x_T` first from the generator, so the same seed and one batch
    (``sample_images(n, g, batch_size=n)``) start both from the same :math:`x_T`.
    """

    def __init__(self, model: nn.Module, device: torch.device | str = "cpu", ddim_steps: int | None = 50) -> None:
        super().__init__(model, device)
        self.schedule, self.ddim_steps = ddpm_schedule(), ddim_steps

    def _batch(self, b: int, generator: torch.Generator) -> torch.Tensor:
        eps_model = runtime.chunked(self.model)  # the same noise, the network on 64 images at a time: faster
        options = dict(generator=generator, clip=True, progress=False, device=self.device)
        if self.ddim_steps is None:
            x = self.schedule.sample(eps_model, (b, 1, 28, 28), **options)
        else:
            x = self.schedule.ddim_sample(eps_model, (b, 1, 28, 28), steps=self.ddim_steps, **options)
        return ddpm.to_image_range(x)


# ------------------------------------------------------------------------------ checkpoint trainers

class FIDRecord:
    """FIDs of 1,000 samples (one seeded generator) against the course's reference (the first 1,000 of
    :func:`gdmcourse.data.shuffled_test_set`), called during training; ``points`` rows hold the step,
    the training time so far without the scoring (``scoring`` seconds in all) and the FID under ``key``
    (and under each keyword's name, of the samplers passed as keywords)."""

    def __init__(self, key: str) -> None:
        self.extractor = metrics.feature_extractor("mnist", "cpu")
        self.real = self.extractor.features(data.shuffled_test_set("mnist")[0].images[:1000])
        self.key, self.points, self.scoring, self.start = key, [], 0.0, time.perf_counter()

    def __call__(self, step: int, sampler: ImageGenerator, **others: ImageGenerator) -> None:
        t0 = time.perf_counter()
        row: dict[str, float] = {"step": step, "train_seconds": round(t0 - self.start - self.scoring, 1)}
        for key, s in {self.key: sampler, **others}.items():
            fake = s.sample_images(1000, torch.Generator().manual_seed(0))
            row[key] = round(metrics.fid(self.extractor.features(fake), self.real), 1)
        self.points.append(row)
        self.scoring += time.perf_counter() - t0


def _train_classifier(dataset: str, epochs: int, progress: bool) -> tuple[State, dict[str, Any]]:
    runtime.startup(seed=0)
    x, y = data.load_images(dataset, "train")
    x_test, y_test = data.load_images(dataset, "test")
    model = nets.SmallCNN()

    def loss(m: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return F.cross_entropy(m(batch[0]), batch[1])  # batch: (images, labels)

    history = train.fit(model, loss, (x, y), epochs=epochs, batch_size=128, lr=2e-3, schedule="cosine", seed=0,
                        progress=progress, device="cpu")
    model.eval()
    with torch.no_grad():
        correct = sum((model(x_test[i:i + 1000]).argmax(1) == y_test[i:i + 1000]).sum().item()
                      for i in range(0, len(x_test), 1000))
    info = {"test_accuracy": round(correct / len(x_test), 4), "epochs": epochs,
            "train_seconds": round(history.seconds, 1)}
    return model.state_dict(), info


def train_ddpm_recipe(progress: bool = True, callbacks: Sequence[train.Every] = ()) -> tuple[State, dict[str, Any]]:
    """The shipped DDPM's training (``python -m gdmcourse train ddpm``): its EMA weights and a record.

    The record holds ``fid_1000_by_step``: at every quarter of the run, the FID of 1,000 DDIM-50
    samples of the EMA weights (one seeded generator) against the course's reference
    (:func:`gdmcourse.data.shuffled_test_set`), with the training time so far (scoring excluded).
    ``callbacks`` (:class:`gdmcourse.train.Every`) see the run, e.g. to snapshot ``history.ema``
    for ``benchmarks/bench_ddpm_frontier.py``.
    """
    runtime.startup(seed=0)
    x, _ = data.load_images("mnist", "train")
    model = ddpm_unet()
    record = FIDRecord("fid_ddim50")
    score = train.Every(DDPM_STEPS // 4, lambda step, h: record(step, DDPMImages(h.ema, "cpu", ddim_steps=50)))
    history = ddpm.train_ddpm(model, ddpm_schedule(), ddpm.to_model_range(x), steps=DDPM_STEPS,
                              batch_size=DDPM_BATCH_SIZE, lr=1e-3, warmup=200, ema_decay=DDPM_EMA_DECAY, seed=0,
                              device="cpu", progress=progress, callbacks=[*callbacks, score])
    tail = history.loss[-500:]
    info = {"steps": DDPM_STEPS, "batch_size": DDPM_BATCH_SIZE, "schedule": "linear, T=1000",
            "parameters": sum(p.numel() for p in model.parameters()),
            "final_loss_mean_last_500": round(sum(tail) / len(tail), 4),
            "train_seconds": round(history.seconds - record.scoring, 1), "weights": f"EMA (decay {DDPM_EMA_DECAY})",
            "fid_1000_by_step": record.points}
    return history.ema.state_dict(), info


def _train_vae(progress: bool) -> tuple[State, dict[str, Any]]:
    runtime.startup(seed=0)
    x, _ = data.load_images("mnist", "train")
    x_test, _ = data.load_images("mnist", "test")
    recipe = vae.RECIPES["quick"]
    model = MODELS["vae-mnist"]()
    history = train.fit(model, vae.vae_loss(generator=torch.Generator().manual_seed(3)), x, epochs=recipe.epochs,
                        batch_size=recipe.batch_size, lr=recipe.lr, lr_min=recipe.lr_min, schedule=recipe.schedule,
                        seed=0, progress=progress, device="cpu")
    model.eval()
    x_bin = vae.dynamic_binarize(x_test[:1000], torch.Generator().manual_seed(123))
    nll = vae.iwae_nll(model, x_bin, k=500, generator=torch.Generator().manual_seed(0))
    return model.state_dict(), {
        "recipe": "vae.RECIPES['quick'] (notebook 02: 784-512-256-32 ELU, Adam 1e-3 to 2e-4 cosine, batch 128)",
        "epochs": recipe.epochs, "test_nll_iwae500_first1000": round(nll, 2), "train_seconds": round(history.seconds, 1),
        "epoch_neg_elbo": [round(v, 2) for v in history.epochs["loss"]]}


@torch.no_grad()
def cvae_digit_agreement(model: vae.CVAE, extractor: metrics.FeatureExtractor, n: int = 100,
                         seed: int = 12) -> list[float]:
    """For each digit 0-9, the share of ``n`` samples of ``model`` asked for that digit that the
    course classifier (``extractor``) labels as it; samples drawn from one seeded generator."""
    g = torch.Generator().manual_seed(seed)
    shares = []
    for digit in range(model.num_classes):
        images = model.sample(n, digit, g).cpu().clamp(0, 1)
        shares.append((extractor.probs(images).argmax(1) == digit).float().mean().item())
    return shares


def _train_cvae(progress: bool) -> tuple[State, dict[str, Any]]:
    runtime.startup(seed=0)
    x, y = data.load_images("mnist", "train")
    recipe = vae.CVAE_RECIPE
    model = MODELS["cvae-mnist"]()
    history = train.fit(model, vae.vae_loss(generator=torch.Generator().manual_seed(10)), (x, y),
                        epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr, lr_min=recipe.lr_min,
                        schedule=recipe.schedule, seed=0, progress=progress, device="cpu")
    model.eval()
    shares = cvae_digit_agreement(model, metrics.feature_extractor("mnist", "cpu"))
    return model.state_dict(), {
        "recipe": "vae.CVAE_RECIPE (notebook 02: 784-512-256-2 ELU, label one-hot to both networks)",
        "epochs": recipe.epochs, "train_seconds": round(history.seconds, 1),
        "classifier_agreement_by_digit": [round(v, 3) for v in shares], "row_accuracy_min": round(min(shares), 3)}


def _train_dcgan(progress: bool) -> tuple[State, dict[str, Any]]:
    runtime.startup(seed=0)
    x, _ = data.load_images("mnist", "train")
    G, D = DCGAN.networks()
    record = FIDRecord("fid")  # the moving average's FID, and the raw generator's beside it
    history = DCGAN.train(G, D, 2 * x - 1, steps=DCGAN.steps, seed=0, device="cpu", progress=progress, ema=True,
                          callback=lambda step, avg: record(step, DCGANImages(avg), fid_raw_generator=DCGANImages(G)),
                          callback_every=DCGAN.steps // 4)
    recipe = (f"recipes.DCGAN (notebook 04: Radford et al.'s rules, width {DCGAN.width}, batch {DCGAN.batch_size}, "
              f"Adam G {DCGAN.lr_g:g}, D {DCGAN.lr_d:g}, decaying to 0; the generator's moving average, "
              f"decay {DCGAN.ema_decay:g})")
    return history.ema.state_dict(), {"recipe": recipe, "steps": DCGAN.steps, "train_seconds": round(history.seconds, 1),
                                      "fid_1000_by_step": record.points}


def _train_vqvae(progress: bool) -> tuple[State, dict[str, Any]]:
    runtime.startup(seed=0)
    x, _ = data.load_images("mnist", "train")
    x_test, _ = data.load_images("mnist", "test")
    model = MODELS["vqvae-mnist"]()
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
    "vae-mnist": lambda: vae.RECIPES["quick"].model(),
    "cvae-mnist": vae.CVAE_RECIPE.conditional_model,
    "dcgan-mnist": lambda: DCGAN.networks()[0],
    "vqvae-mnist": lambda: vqvae.VQVAEWithPrior(VQVAE.model(ema=True), VQVAE.prior()),
}
TRAINERS: dict[str, Callable[[bool], tuple[State, dict[str, Any]]]] = {
    "classifier-mnist": lambda progress: _train_classifier("mnist", 3, progress),
    "classifier-fashion-mnist": lambda progress: _train_classifier("fashion-mnist", 6, progress),
    "ddpm": train_ddpm_recipe,
    "vae-mnist": _train_vae,
    "cvae-mnist": _train_cvae,
    "dcgan-mnist": _train_dcgan,
    "vqvae-mnist": _train_vqvae,
}
#: The image models notebook 09 scores: checkpoint name → its :class:`ImageGenerator`.
GENERATORS: dict[str, type[ImageGenerator]] = {"vae-mnist": VAEImages, "dcgan-mnist": DCGANImages,
                                                "vqvae-mnist": VQVAEImages, "ddpm": DDPMImages}


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

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

:func:`train_gan` trains the toy and image GANs (one step = ``n_critic`` discriminator updates,
then one generator update, run by :func:`gdmcourse.train.fit`) with a :class:`GANLoss`; the
Wasserstein variants (critic loss, gradient penalty, hinge loss) are in :mod:`gdmcourse.wgan`,
which builds on this module, and the toy experiments' settings in :mod:`gdmcourse.recipes`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from . import runtime, train, validate
from .nets import MLP
from .train import History, Objective
from .types import GANLossName

__all__ = [
    "optimal_discriminator", "jensen_shannon", "generator_criterion",
    "discriminator_loss", "generator_loss_minimax", "generator_loss_nonsaturating",
    "check_outputs", "ModeCoverage", "mode_coverage", "GANLoss", "LOSSES", "gan_objectives", "train_gan",
    "truncate_towards_mean", "sample",
    "toy_generator", "toy_discriminator",
]


def _as_tensor(x: torch.Tensor | float, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    return validate.tensor(t, name, nonempty=False)


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

    Raises:
        ValueError: a density is negative, NaN or ±inf, or the two are on different devices.
    """
    p, q = _as_tensor(p_data, "p_data"), _as_tensor(p_model, "p_model")
    validate.same_device(("p_data", p), ("p_model", q))
    if validate.has_values(p) and validate.has_values(q) and ((p < 0).any() or (q < 0).any()):
        raise ValueError(f"densities must be non-negative, got values down to {min(p.min(), q.min()).item():.4g}")
    total = p + q
    return torch.where(total > 0, p / total.clamp_min(torch.finfo(total.dtype).tiny), torch.full_like(total, 0.5))


def _discrete(p: torch.Tensor | float, name: str) -> torch.Tensor:
    t = _as_tensor(p, name)
    if t.dim() == 0:
        raise ValueError(f"{name} must be a probability vector (last dim = outcomes), got a scalar")
    if not validate.has_values(t):
        return t
    if (t < 0).any():
        raise ValueError(f"{name} has negative entries (down to {t.min().item():.4g}); expected probabilities")
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

    Raises:
        ValueError: ``p`` or ``q`` is a scalar, has negative entries, NaN or ±inf, or does not sum to 1
            over its last dim; or they are on different devices.
    """
    p, q = _discrete(p, "p"), _discrete(q, "q")
    validate.same_device(("p", p), ("q", q))
    m = 0.5 * (p + q)
    return 0.5 * _kl_to(p, m) + 0.5 * _kl_to(q, m)


def generator_criterion(p_data: torch.Tensor, p_model: torch.Tensor) -> torch.Tensor:
    r"""The value of the game at the optimal discriminator, :math:`C(G) = 2\,\mathrm{JSD}(p_{data}, p_G) - \log 4`.

    Its minimum :math:`-\log 4` is reached only at :math:`p_G = p_{data}` (lecture 001).
    Discrete distributions over the last dim, as in :func:`jensen_shannon`.
    """
    return 2 * jensen_shannon(p_data, p_model) - math.log(4)


# ------------------------------------------------------------------------------ losses

def check_outputs(x: torch.Tensor, name: str, network: str = "discriminator") -> torch.Tensor:
    """Check a network's outputs before a loss uses them, and return them unchanged.

    ``x``: the outputs (any shape); ``name``: how the message calls them; ``network``: whose
    they are (``"discriminator"``, ``"critic"``). Used by every loss here and in :mod:`gdmcourse.wgan`.

    Raises:
        TypeError: ``x`` is not a tensor.
        ValueError: ``x`` is empty (a mean over no outputs is NaN), or contains NaN or ±inf (the
            network diverged). Skipped on the ``meta`` device, which holds no values.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of {network} outputs, got {type(x).__name__}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): the loss averages over at least one output")
    if validate.has_values(x) and not torch.isfinite(x).all():
        bad = "NaN" if torch.isnan(x).any() else "±inf"
        raise ValueError(f"{name} contains {bad}: the {network} diverged (lower the learning rate?)")
    return x


def _pair(real: torch.Tensor, fake: torch.Tensor, names: tuple[str, str], network: str) -> tuple[torch.Tensor, torch.Tensor]:
    real, fake = check_outputs(real, names[0], network), check_outputs(fake, names[1], network)
    validate.same_device((names[0], real), (names[1], fake))
    return real, fake


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

    Raises:
        TypeError: a logits argument is not a tensor.
        ValueError: a logits argument contains NaN (the discriminator diverged).
    """
    real, fake = _pair(real_logits, fake_logits, ("real_logits", "fake_logits"), "discriminator")
    return -F.logsigmoid(real).mean() - F.logsigmoid(-fake).mean()


def generator_loss_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    r"""The generator's loss of the original minimax game, :math:`\mathbb E_z[\log(1 - D(G(z)))]`.

    .. math:: L_G^{mm} = \overline{\log \sigma(-\ell_{fake})}

    Its gradient vanishes when the discriminator confidently rejects the samples
    (:math:`D(G(z)) \to 0`), which is where a young generator starts: it *saturates*.

    Raises:
        TypeError: ``fake_logits`` is not a tensor.
        ValueError: ``fake_logits`` contains NaN (the discriminator diverged).
    """
    return F.logsigmoid(-check_outputs(fake_logits, "fake_logits")).mean()


def generator_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    r"""The non-saturating generator loss, :math:`-\mathbb E_z[\log D(G(z))]` (lecture 003).

    .. math:: L_G^{ns} = -\overline{\log \sigma(\ell_{fake})}

    Same fixed point as the minimax loss, but its gradient is largest where
    :math:`D(G(z))` is small, i.e. where the generator is bad.

    Raises:
        TypeError: ``fake_logits`` is not a tensor.
        ValueError: ``fake_logits`` contains NaN (the discriminator diverged).
    """
    return -F.logsigmoid(check_outputs(fake_logits, "fake_logits")).mean()


# -------------------------------------------------------------------------- evaluation

class ModeCoverage(NamedTuple):
    """What :func:`mode_coverage` returns: ``modes`` covered (an int in ``0..K``) and the
    ``high_quality`` fraction of the samples (a float in [0, 1])."""

    modes: int
    high_quality: float


def mode_coverage(samples: torch.Tensor, centers: torch.Tensor, std: float) -> ModeCoverage:
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
        :class:`ModeCoverage` ``(modes, high_quality)``: an int in ``0..K`` and a float in [0, 1].
    Raises:
        ValueError: ``samples`` and ``centers`` are not ``(N, D)`` and ``(K, D)``, there are no
            samples or centers, a center is not finite, or ``std`` is not positive. (Non-finite
            samples, from a diverged generator, are simply not high-quality.)
    """
    samples = validate.tensor(samples, "samples", rank=2, expected="(N, D)", nonempty=False, finite=False)
    centers = validate.tensor(centers, "centers", rank=2, expected="(K, D)")
    if samples.shape[1] != centers.shape[1]:
        raise ValueError(f"samples (N, D) and centers (K, D) must share D; got {tuple(samples.shape)} "
                         f"and {tuple(centers.shape)}")
    if len(samples) == 0:
        raise ValueError(f"samples is empty (shape {tuple(samples.shape)}); expected at least one sample (N, D)")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    samples = samples.detach().to("cpu", torch.float64)
    centers = centers.detach().to("cpu", torch.float64)
    # A diverged generator's non-finite samples are simply not high-quality.
    finite = torch.isfinite(samples).all(dim=1)
    # distances from the differences (no matrix-product shortcut, which cancels far from the origin)
    dist = torch.cdist(samples[finite], centers, compute_mode="donot_use_mm_for_euclid_dist")
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= 3 * std
    n_good = int(good.sum())
    if n_good == 0:
        return ModeCoverage(0, 0.0)
    counts = torch.bincount(nearest[good], minlength=len(centers))
    covered = int((counts >= 0.01 * n_good).sum())
    return ModeCoverage(covered, n_good / len(finite))


# ---------------------------------------------------------------------------- training

class GANLoss(NamedTuple):
    r"""The two players' losses of one GAN variant, as :func:`train_gan` applies them.

    ``discriminator(real_out, fake_out)``: the discriminator's (critic's) loss from its outputs
    on a real and a generated batch, minimised; ``generator(fake_out)``: the generator's loss
    from the discriminator's outputs on generated samples, minimised. Optional:
    ``penalty(critic, real, fake, generator)``, added with weight ``gp_weight`` (WGAN-GP's
    gradient penalty; ``generator`` is the run's CPU torch.Generator); ``constrain(D, clip)``,
    applied after every discriminator update (the original WGAN's weight clipping).
    This module defines ``"minimax"`` and ``"nonsaturating"`` (:data:`LOSSES`);
    :data:`gdmcourse.wgan.LOSSES` adds ``"wgan-clip"``, ``"wgan-gp"`` and ``"hinge"``.
    """

    name: str
    discriminator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    generator: Callable[[torch.Tensor], torch.Tensor]
    penalty: Callable[[Callable[[torch.Tensor], torch.Tensor], torch.Tensor, torch.Tensor, torch.Generator],
                      torch.Tensor] | None = None
    constrain: Callable[[nn.Module, float], Any] | None = None


#: The losses of the original GAN (lecture 001, 003); the WGAN family is in :data:`gdmcourse.wgan.LOSSES`.
LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss("minimax", discriminator_loss, generator_loss_minimax),
    "nonsaturating": GANLoss("nonsaturating", discriminator_loss, generator_loss_nonsaturating),
}
_WGAN_FAMILY = ("wgan-clip", "wgan-gp", "hinge")


def _resolve(loss: str | GANLoss) -> GANLoss:
    if isinstance(loss, GANLoss):
        return loss
    if loss in LOSSES:
        return LOSSES[loss]
    if loss in _WGAN_FAMILY:
        raise ValueError(f"loss {loss!r} is a Wasserstein loss, defined in gdmcourse.wgan: pass "
                         f"loss=wgan.LOSSES[{loss!r}]")
    raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)} or a GANLoss "
                     f"(wgan.LOSSES has {', '.join(_WGAN_FAMILY)})")


def _call(net: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    return net(x) if y is None else net(x, y)


def gan_objectives(G: nn.Module, D: nn.Module, loss: GANLoss, opt_g: torch.optim.Optimizer,
                   opt_d: torch.optim.Optimizer, rng: torch.Generator, *, n_critic: int = 1,
                   gp_weight: float = 10.0, clip: float = 0.01) -> list[Objective]:
    r"""One GAN training step as :class:`gdmcourse.train.Objective`\ s: ``n_critic`` discriminator updates, one generator update.

    A batch is ``(real, y, z, y_fake)``: data ``(B, ...)``, its labels ``(B,)`` or None,
    noise ``(B, latent_dim)`` and the labels of the samples to generate (or None).

    1. Discriminator: :math:`L_D(D(x), D(G(z)))` with :math:`G(z)` held fixed, plus
       ``gp_weight`` × the loss's penalty (computed on ``x`` only, the labels held fixed);
       then the loss's constraint (``clip``), after every update.
    2. Generator: :math:`L_G(D(G(z)))`, recorded as ``"g_loss"`` (the discriminator's as ``"d_loss"``).
    """
    def d_loss(batch: tuple) -> torch.Tensor:
        real, y, z, y_fake = batch
        with torch.no_grad():
            fake = _call(G, z, y_fake)
        value = loss.discriminator(_call(D, real, y), _call(D, fake, y_fake))
        if loss.penalty is not None:
            critic = D if y is None else (lambda x: D(x, y))  # the penalty is on x only
            # L_D + lambda GP                                   (Gulrajani et al. 2017, Algorithm 1)
            value = value + gp_weight * loss.penalty(critic, real, fake, rng)
        return value

    def g_loss(batch: tuple) -> torch.Tensor:
        _, _, z, y_fake = batch
        return loss.generator(_call(D, _call(G, z, y_fake), y_fake))

    after = None if loss.constrain is None else (lambda out: loss.constrain(D, clip))
    return [Objective(opt_d, d_loss, after=after, repeat=n_critic, name="d_loss"),
            Objective(opt_g, g_loss, name="g_loss")]


def train_gan(generator: nn.Module, discriminator: nn.Module, data: torch.Tensor, *,
              loss: GANLossName | GANLoss = "nonsaturating", steps: int = 2000, batch_size: int = 256,
              lr_g: float = 1e-3, lr_d: float = 1e-3, betas: tuple[float, float] = (0.5, 0.999),
              n_critic: int = 1, gp_weight: float = 10.0, clip: float = 0.01, lr_decay: bool = True,
              optimizer: str = "adam", labels: torch.Tensor | None = None, seed: int = 0, device: torch.device | str | None = None,
              progress: bool = True, callback: Callable[[int, nn.Module], Any] | None = None,
              callback_every: int = 0, ema_decay: float | None = None) -> History:
    r"""Train a GAN by alternating steps: ``n_critic`` discriminator steps, then one generator step.

    The losses (``loss``, a :class:`GANLoss` or the name of one in :data:`LOSSES`):

    ============== ================================================ =================================
    ``loss``        discriminator / critic (minimised)               generator (minimised)
    ============== ================================================ =================================
    minimax         :func:`discriminator_loss`                       :func:`generator_loss_minimax`
    nonsaturating   :func:`discriminator_loss`                       :func:`generator_loss_nonsaturating`
    wgan-clip       ``wgan.critic_loss``, then ``clip_weights(c)``   ``wgan.generator_loss``
    wgan-gp         ``critic_loss + gp_weight · gradient_penalty``   ``wgan.generator_loss``
    hinge           ``wgan.hinge_discriminator_loss``                ``wgan.hinge_generator_loss``
    ============== ================================================ =================================

    (the last three from :data:`gdmcourse.wgan.LOSSES`, e.g. ``loss=wgan.LOSSES["wgan-gp"]``).
    Both players use Adam (``betas``, β₁ = 0.5 as in DCGAN; WGAN-GP uses (0, 0.9)), or RMSProp
    with ``optimizer="rmsprop"`` (``betas`` ignored; the original WGAN's optimiser); with
    ``lr_decay`` both learning rates fall linearly to 0 over the ``steps``, which lets the
    generator settle precisely on thin modes instead of orbiting them (notebook 05). The loop
    is :func:`gdmcourse.train.fit` with the objectives of :func:`gan_objectives`.

    Args:
        generator: maps noise ``(B, generator.latent_dim)`` (and labels, if conditional) to samples.
        discriminator: maps samples (and labels) to logits / scores of shape ``(B,)``.
        data: ``(N, ...)`` training examples, on the CPU; mini-batches are drawn with replacement.
        labels: ``(N,)`` class labels for conditional models (``G(z, y)``, ``D(x, y)``);
            generated samples get labels drawn like the data's.
        seed: seeds the batches, the noise and the penalty's interpolation (one CPU generator,
            drawn in this order: batch indices, noise, generated labels, penalty ε).
        callback: ``callback(step, generator)`` every ``callback_every`` generator steps (and
            after the last), the generator in eval mode (its moving average with ``ema_decay``);
            its non-None results are kept in ``history.snapshots``.
        ema_decay: keep a moving average of the generator's weights and batch-norm statistics,
            :math:`\bar\theta \leftarrow d\,\bar\theta + (1 - d)\,\theta` after every step, as
            ``history.ema``: averaging the iterates of a game damps the players' orbiting
            (Yazıcı et al. 2019, "The unusual effectiveness of averaging in GAN training").
    Returns:
        a :class:`gdmcourse.train.History`: ``d_loss`` (the mean over the ``n_critic`` updates)
        and ``g_loss`` per generator step, ``snapshots``, ``seconds``, ``ema`` (the averaged
        generator, or None); the models are trained in place and left on ``device`` in eval mode.
    Raises:
        ValueError: unknown loss or optimizer, a generator without ``latent_dim``, labels of the wrong length,
            non-finite data, non-positive ``steps``/``n_critic``.
        FloatingPointError: a loss became NaN or infinite (the message names the step).
    """
    loss = _resolve(loss)
    if not hasattr(generator, "latent_dim"):
        raise ValueError("the generator needs a `latent_dim` attribute (the size of its noise input)")
    if labels is not None and len(labels) != len(data):
        raise ValueError(f"labels ({len(labels)}) and data ({len(data)}) must have the same length")
    if not torch.isfinite(data).all():
        raise ValueError("data contains NaN or infinite values; clean it before training")
    if steps < 1 or n_critic < 1:
        raise ValueError(f"steps and n_critic must be positive, got {steps} and {n_critic}")
    device = torch.device(device) if device is not None else runtime.device()
    G, D = generator.to(device).train(), discriminator.to(device).train()
    if optimizer not in ("adam", "rmsprop"):
        raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {optimizer!r}")
    if optimizer == "adam":
        opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=betas)
        opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=betas)
    else:  # the original WGAN's choice: no momentum (Arjovsky et al. 2017, Algorithm 1)
        opt_g = torch.optim.RMSprop(G.parameters(), lr=lr_g)
        opt_d = torch.optim.RMSprop(D.parameters(), lr=lr_d)
    rows = train.RandomBatches(data if labels is None else (data, labels), batch_size, seed=seed, device=device)
    rng = rows.generator

    def batch() -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
        real, *y = rows()
        z = torch.randn(batch_size, G.latent_dim, generator=rng).to(device)
        if labels is None:
            return real, None, z, None
        y_fake = labels[torch.randint(len(data), (batch_size,), generator=rng)]
        return real, y[0], z, y_fake.to(device)

    def snapshot(step: int, history: History) -> Any:
        G.eval()
        result = callback(step, G if history.ema is None else history.ema)
        G.train()
        return result

    hooks = [train.Every(callback_every, snapshot, last=True)] if callback is not None else []
    history = train.fit(nn.ModuleList([G, D]),
                        gan_objectives(G, D, loss, opt_g, opt_d, rng, n_critic=n_critic, gp_weight=gp_weight, clip=clip),
                        batches=batch, steps=steps, schedule="linear" if lr_decay else "constant", ema_decay=ema_decay,
                        ema_of=G, callbacks=hooks, progress=progress, desc=f"GAN ({loss.name})")
    G.eval()
    D.eval()
    return history


@torch.no_grad()
def truncate_towards_mean(w: torch.Tensor, w_mean: torch.Tensor, psi: float) -> torch.Tensor:
    r"""StyleGAN's truncation trick: :math:`w' = \hat w + \psi\,(w - \hat w)`.

    Pulls intermediate latents ``w (B, ...)`` towards their mean ``w_mean`` (broadcastable,
    e.g. ``(...)``, an estimate of :math:`\hat w = \mathbb E_z f(z)`): ``psi = 1`` leaves them,
    ``psi = 0`` maps every sample to the mean, ``0 < psi < 1`` trades diversity for fidelity.
    Karras et al. (2019), section 2 / appendix B; lecture 004 ("StyleGAN: truncation trick").
    BigGAN's threshold form (resample components of :math:`z` outside :math:`[-\psi, \psi]`)
    is the other truncation of the lectures.

    Raises:
        ValueError: ``psi`` is not a finite number, ``w`` or ``w_mean`` holds NaN or infinite values,
            or ``w_mean`` does not broadcast against ``w``.
    """
    psi = validate.finite_number(psi, "psi")
    w = validate.tensor(w, "w", min_rank=1, nonempty=False, floating=True, expected="(B, ...) latents")
    w_mean = validate.tensor(w_mean, "w_mean", floating=True, expected="the mean latent, broadcastable against w")
    try:
        torch.broadcast_shapes(w.shape, w_mean.shape)
    except RuntimeError:
        raise ValueError(f"w_mean of shape {tuple(w_mean.shape)} does not broadcast against w of shape "
                         f"{tuple(w.shape)}") from None
    # w' = ŵ + ψ (w − ŵ)
    return w_mean + psi * (w - w_mean)


@torch.no_grad()
def sample(generator: nn.Module, n: int, *, labels: torch.Tensor | None = None, seed: int = 0,
           batch_size: int = 1000) -> torch.Tensor:
    """``n`` samples of a trained generator (eval mode), noise from a CPU generator seeded ``seed``; on the CPU.

    ``labels``: ``(n,)`` classes for a conditional generator.

    Raises:
        ValueError: ``n`` or ``batch_size`` is not a positive integer, ``labels`` does not hold one label per
            sample (or the generator rejects them: see :class:`gdmcourse.nets.DCGANGenerator`).
    """
    validate.positive_int(n, "n")
    validate.positive_int(batch_size, "batch_size")
    if labels is not None and len(labels) != n:
        raise ValueError(f"need one label per sample: {len(labels)} labels for n = {n}")
    rng = torch.Generator().manual_seed(seed)
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    noise = torch.randn(n, generator.latent_dim, generator=rng)  # all at once: independent of batch_size
    out = []
    for start in range(0, n, batch_size):
        z = noise[start:start + batch_size].to(device)
        y = None if labels is None else labels[start:start + len(z)].to(device)
        out.append(_call(generator, z, y).cpu())
    generator.train(was_training)
    return torch.cat(out)


# ------------------------------------------------------------------ the toy experiments

def toy_generator(latent_dim: int = 2, hidden: Sequence[int] = (128, 128, 128), out_dim: int = 2) -> nn.Module:
    """An MLP generator for 2-D toy data: noise ``(B, latent_dim)`` → points ``(B, out_dim)`` (ReLU)."""
    net = MLP(latent_dim, out_dim, hidden)
    net.latent_dim = latent_dim
    return net


def toy_discriminator(hidden: Sequence[int] = (128, 128, 128), in_dim: int = 2,
                      spectral_norm: bool = False) -> nn.Module:
    """An MLP discriminator / critic for 2-D toy data: ``(B, in_dim)`` → scores ``(B,)`` (leaky ReLU).

    ``spectral_norm``: wrap every ``Linear`` in ``torch.nn.utils.parametrizations.spectral_norm``.
    """
    net = MLP(in_dim, (), hidden, activation=nn.LeakyReLU)
    if spectral_norm:
        for module in net.modules():
            if isinstance(module, nn.Linear):
                nn.utils.parametrizations.spectral_norm(module)
    return net

r"""Denoising diffusion probabilistic models (Ho et al. 2020): schedules, the forward process,
the posterior, the training loss and the samplers.

Follows lecture 001 ("Diffusion"): the forward process adds Gaussian noise in :math:`T` steps,

.. math:: q(x_t \mid x_{t-1}) = \mathcal N\big(\sqrt{1 - \beta_t}\, x_{t-1},\ \beta_t I\big), \qquad
          q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\, x_0,\ (1 - \bar\alpha_t) I\big),
          \quad \bar\alpha_t = \prod_{s \le t} (1 - \beta_s),

a network :math:`\epsilon_\theta(x_t, t)` learns to predict the added noise (:meth:`DiffusionSchedule.loss_simple`,
Algorithm 1), and sampling runs the learned reverse process (:meth:`DiffusionSchedule.sample`,
Algorithm 2) or its deterministic shortcut DDIM (:meth:`DiffusionSchedule.ddim_sample`).

As in diffusers, the *schedule* (this module) and the *model* (any ``model(x_t, t) -> ε̂``,
e.g. :class:`gdmcourse.nets.UNet`) are separate objects, and both work on any device.

**Indexing.** The lecture counts steps :math:`t = 1, \dots, T`; arrays here are indexed from 0,
so index ``t`` holds step :math:`t + 1`: ``alphas_cumprod[0]`` is :math:`\bar\alpha_1` and the last
index ``T - 1`` is step :math:`T`. A model receives the index ``t`` (``0 ≤ t < T``).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .types import VarianceName

__all__ = ["linear_beta_schedule", "cosine_beta_schedule", "DiffusionSchedule", "DDPMHistory", "train_ddpm",
           "to_model_range", "to_image_range", "toy_schedule", "train_toy",
           "toy_energy_ratio"]

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def linear_beta_schedule(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    r"""Ho et al.'s schedule: :math:`\beta_t` linear from ``beta_start`` to ``beta_end`` over ``T`` steps (float64, ``(T,)``)."""
    if T < 1 or not 0 < beta_start <= beta_end < 1:
        raise ValueError(f"need T >= 1 and 0 < beta_start <= beta_end < 1, got T={T}, {beta_start}, {beta_end}")
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


def cosine_beta_schedule(T: int, s: float = 0.008) -> torch.Tensor:
    r"""Nichol & Dhariwal's schedule: :math:`\bar\alpha_t = f(t)/f(0)`, :math:`f(t) = \cos^2\big(\frac{t/T + s}{1 + s}\cdot\frac{\pi}{2}\big)`.

    :math:`\beta_t = 1 - \bar\alpha_t / \bar\alpha_{t-1}`, clipped at 0.999 (near :math:`t = T`,
    where :math:`\bar\alpha` reaches 0). Float64, ``(T,)``.
    """
    if T < 1 or s < 0:
        raise ValueError(f"need T >= 1 and s >= 0, got T={T}, s={s}")
    steps = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((steps / T + s) / (1 + s) * math.pi / 2) ** 2
    alphas_cumprod = f / f[0]
    return (1 - alphas_cumprod[1:] / alphas_cumprod[:-1]).clamp(max=0.999)


class DiffusionSchedule:
    r"""The fixed quantities of a diffusion process with noise levels ``betas`` and the operations on them.

    Attributes (float64 tensors of shape ``(T,)``, on the CPU; index ``t`` is step ``t + 1``):
        betas: :math:`\beta_t`; alphas: :math:`\alpha_t = 1 - \beta_t`;
        alphas_cumprod: :math:`\bar\alpha_t`; alphas_cumprod_prev: :math:`\bar\alpha_{t-1}` (1 at the first step);
        posterior_variance: :math:`\tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t` (0 at the first step);
        posterior_log_variance_clipped: :math:`\log\tilde\beta_t` with the first step's 0 replaced by :math:`\tilde\beta_2`.
    """

    def __init__(self, betas: torch.Tensor | Sequence[float]) -> None:
        betas = torch.as_tensor(betas, dtype=torch.float64).cpu()
        if betas.dim() != 1 or len(betas) < 1:
            raise ValueError(f"betas must be a 1-D sequence of noise levels, got shape {tuple(betas.shape)}")
        if not ((betas > 0) & (betas < 1)).all():
            raise ValueError("every beta must lie strictly between 0 and 1")
        self.betas = betas
        self.alphas = 1 - betas
        self.alphas_cumprod = torch.cumprod(self.alphas, 0)
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])
        self.posterior_variance = betas * (1 - self.alphas_cumprod_prev) / (1 - self.alphas_cumprod)
        variance = self.posterior_variance.clone()
        if len(variance) > 1:
            variance[0] = variance[1]  # log 0 at the first step: Ho et al. clip it to the next value
        self.posterior_log_variance_clipped = torch.log(variance.clamp_min(1e-20))
        # mean of q(x_{t-1} | x_t, x_0) = coef_x0 · x_0 + coef_xt · x_t
        self.posterior_mean_coef_x0 = betas * self.alphas_cumprod_prev.sqrt() / (1 - self.alphas_cumprod)
        self.posterior_mean_coef_xt = (1 - self.alphas_cumprod_prev) * self.alphas.sqrt() / (1 - self.alphas_cumprod)

    @property
    def T(self) -> int:  # noqa: N802 - the lecture's name
        """The number of diffusion steps."""
        return len(self.betas)

    def _at(self, values: torch.Tensor, t: torch.Tensor | int, x: torch.Tensor) -> torch.Tensor:
        """``values[t]`` on ``x``'s device and dtype, shaped ``(B, 1, ..., 1)`` to broadcast over an example."""
        t = torch.as_tensor(t, device="cpu").long().reshape(-1)
        if (t < 0).any() or (t >= self.T).any():
            raise ValueError(f"timestep indices must lie in 0..{self.T - 1} (index t is step t + 1), "
                             f"got {t.min().item()}..{t.max().item()}")
        out = values[t].to(device=x.device, dtype=x.dtype)
        return out.reshape(-1, *([1] * (x.dim() - 1)))

    # --------------------------------------------------------------- the forward process

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor | int, noise: torch.Tensor) -> torch.Tensor:
        r"""A draw from :math:`q(x_t \mid x_0)`: :math:`x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \epsilon`.

        ``x0``, ``noise``: ``(B, ...)``; ``t``: ``(B,)`` indices or one int.
        """
        if noise.shape != x0.shape:
            raise ValueError(f"noise must have x0's shape {tuple(x0.shape)}, got {tuple(noise.shape)}")
        return self._at(self.alphas_cumprod.sqrt(), t, x0) * x0 + self._at((1 - self.alphas_cumprod).sqrt(), t, x0) * noise

    def q_posterior(self, x0: torch.Tensor, xt: torch.Tensor,
                    t: torch.Tensor | int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""Mean, variance and clipped log-variance of :math:`q(x_{t-1} \mid x_t, x_0) = \mathcal N(\tilde\mu_t, \tilde\beta_t I)`:

        .. math:: \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t} x_0
                              + \frac{\sqrt{\alpha_t}\,(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t} x_t,
                  \qquad \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t
        """
        mean = self._at(self.posterior_mean_coef_x0, t, xt) * x0 + self._at(self.posterior_mean_coef_xt, t, xt) * xt
        return mean, self._at(self.posterior_variance, t, xt), self._at(self.posterior_log_variance_clipped, t, xt)

    def predict_x0(self, xt: torch.Tensor, t: torch.Tensor | int, eps: torch.Tensor) -> torch.Tensor:
        r"""Invert :meth:`q_sample` for a noise estimate: :math:`\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\,\hat\epsilon)/\sqrt{\bar\alpha_t}`."""
        return (xt - self._at((1 - self.alphas_cumprod).sqrt(), t, xt) * eps) / self._at(self.alphas_cumprod.sqrt(), t, xt)

    # ----------------------------------------------------------------------- training

    def loss_simple(self, model: Model, x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""Algorithm 1's loss :math:`L_{simple} = \mathbb E_{t, x_0, \epsilon}\|\epsilon - \epsilon_\theta(x_t, t)\|^2`.

        One uniformly drawn step per example and fresh noise (both from ``generator``, on the
        CPU, then moved to ``x0``'s device); the squared error is averaged over all elements.
        """
        t = torch.randint(self.T, (len(x0),), generator=generator)
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
        t = t.to(x0.device)
        return (noise - model(self.q_sample(x0, t, noise), t)).pow(2).mean()

    # ----------------------------------------------------------------------- sampling

    def p_mean_variance(self, model: Model, xt: torch.Tensor, t: int, variance: VarianceName = "posterior",
                        clip: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""Mean and variance of the learned :math:`p_\theta(x_{t-1} \mid x_t)`, and the model's :math:`\hat\epsilon`:

        .. math:: \mu_\theta = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\hat\epsilon\Big),
                  \qquad \sigma_t^2 = \tilde\beta_t \ (\text{``posterior''}) \text{ or } \beta_t \ (\text{``beta''})

        ``clip=True`` (as in Ho et al.'s code, not in Algorithm 2) clamps :math:`\hat x_0` to
        [−1, 1] and uses the posterior mean :math:`\tilde\mu_t(\hat x_0, x_t)`, which equals
        :math:`\mu_\theta` whenever nothing is clamped.
        """
        if variance not in ("posterior", "beta"):
            raise ValueError(f"variance must be 'posterior' (β̃_t) or 'beta' (β_t), got {variance!r}")
        t_batch = torch.full((len(xt),), t, dtype=torch.long, device=xt.device)
        eps = model(xt, t_batch)
        if clip:
            mean = self.q_posterior(self.predict_x0(xt, t, eps).clamp(-1, 1), xt, t)[0]
        else:
            mean = (xt - self._at(self.betas / (1 - self.alphas_cumprod).sqrt(), t, xt) * eps) / self._at(self.alphas.sqrt(), t, xt)
        var = self._at(self.posterior_variance if variance == "posterior" else self.betas, t, xt)
        return mean, var, eps

    @torch.no_grad()
    def p_sample(self, model: Model, xt: torch.Tensor, t: int, generator: torch.Generator | None = None,
                 variance: VarianceName = "posterior", clip: bool = False) -> torch.Tensor:
        r"""One step of Algorithm 2: :math:`x_{t-1} = \mu_\theta(x_t, t) + \sigma_t z`, with :math:`z = 0` at the last step (index 0)."""
        mean, var, _ = self.p_mean_variance(model, xt, t, variance, clip=clip)
        if t == 0:
            return mean  # no noise is added when producing x_0
        z = torch.randn(xt.shape, generator=generator, dtype=xt.dtype).to(xt.device)
        return mean + var.sqrt() * z

    @torch.no_grad()
    def sample(self, model: Model, shape: Sequence[int], generator: torch.Generator | None = None,
               progress: bool = True, variance: VarianceName = "posterior", device: torch.device | str | None = None,
               keep: Sequence[int] = (), clip: bool = False) -> torch.Tensor | tuple[torch.Tensor, dict[int, torch.Tensor]]:
        r"""Algorithm 2: start from :math:`x_T \sim \mathcal N(0, I)` and apply :meth:`p_sample` ``T`` times.

        ``keep``: step indices whose :math:`x_t` to return as well (e.g. for an animation), as
        ``(x_0, {t: x_t})``; ``x_T`` is kept under index ``T``.
        """
        from tqdm.auto import tqdm

        device = torch.device(device) if device is not None else _device_of(model)
        x = torch.randn(tuple(shape), generator=generator, dtype=torch.float32).to(device)
        frames = {self.T: x.cpu()} if self.T in keep else {}
        for t in tqdm(range(self.T - 1, -1, -1), desc="sampling", disable=not progress, leave=False):
            x = self.p_sample(model, x, t, generator=generator, variance=variance, clip=clip)
            if t in keep:
                frames[t] = x.cpu()
        return (x, frames) if keep else x

    @torch.no_grad()
    def ddim_sample(self, model: Model, shape: Sequence[int], steps: int, eta: float = 0.0,
                    generator: torch.Generator | None = None, progress: bool = True,
                    device: torch.device | str | None = None, clip: bool = False) -> torch.Tensor:
        r"""DDIM (Song et al. 2021): sample with ``steps`` of the ``T`` noise levels, evenly spaced.

        From level :math:`t` to the previous kept level :math:`s`:

        .. math:: \hat x_0 = \frac{x_t - \sqrt{1 - \bar\alpha_t}\,\hat\epsilon}{\sqrt{\bar\alpha_t}},\quad
                  \sigma = \eta\sqrt{\frac{1 - \bar\alpha_s}{1 - \bar\alpha_t}\Big(1 - \frac{\bar\alpha_t}{\bar\alpha_s}\Big)},\quad
                  x_s = \sqrt{\bar\alpha_s}\,\hat x_0 + \sqrt{1 - \bar\alpha_s - \sigma^2}\,\hat\epsilon + \sigma z

        with :math:`\bar\alpha_s = 1` after the last level. ``eta = 0`` is deterministic; ``eta = 1``
        with ``steps = T`` matches the ancestral sampler's variance :math:`\tilde\beta_t`.
        ``clip=True`` clamps :math:`\hat x_0` to [−1, 1] (and re-derives :math:`\hat\epsilon` from it).
        """
        from tqdm.auto import tqdm

        if not 1 <= steps <= self.T:
            raise ValueError(f"steps must be between 1 and T = {self.T}, got {steps}")
        device = torch.device(device) if device is not None else _device_of(model)
        levels = torch.linspace(self.T - 1, 0, steps).round().long().tolist()
        x = torch.randn(tuple(shape), generator=generator, dtype=torch.float32).to(device)
        for i, t in enumerate(tqdm(levels, desc="DDIM", disable=not progress, leave=False)):
            a_t = self.alphas_cumprod[t].item()
            a_s = self.alphas_cumprod[levels[i + 1]].item() if i + 1 < len(levels) else 1.0
            eps = model(x, torch.full((len(x),), t, dtype=torch.long, device=device))
            x0 = (x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
            if clip:
                x0 = x0.clamp(-1, 1)
                eps = (x - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
            sigma = eta * math.sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s))
            x = math.sqrt(a_s) * x0 + math.sqrt(max(1 - a_s - sigma**2, 0.0)) * eps
            if sigma > 0:
                x = x + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(device)
        return x


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """Pixels in [0, 1] → [−1, 1], the range DDPM's data and its N(0, I) prior share."""
    return images * 2 - 1


def to_image_range(x: torch.Tensor) -> torch.Tensor:
    """Samples in [−1, 1] → pixels in [0, 1] (clamped)."""
    return ((x + 1) / 2).clamp(0, 1)


@dataclass
class DDPMHistory:
    """What :func:`train_ddpm` returns: the per-step loss, the wall time, the EMA model (and, from :func:`train_toy`, the data scale)."""

    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    ema: torch.nn.Module | None = None
    scale: float = 1.0


def train_ddpm(model: torch.nn.Module, schedule: DiffusionSchedule, data: torch.Tensor, *, steps: int,
               batch_size: int = 128, lr: float = 1e-3, warmup: int = 100, ema_decay: float = 0.995,
               seed: int = 0, device: torch.device | str | None = None, progress: bool = True) -> DDPMHistory:
    r"""Algorithm 1 for ``steps`` Adam updates of :meth:`DiffusionSchedule.loss_simple`.

    Each step draws a batch of ``data`` (with replacement), a step index per example and
    the noise from one seeded CPU generator, so runs repeat on any device. The learning rate
    rises linearly for ``warmup`` steps, then follows a cosine to 0. An exponential moving
    average of the weights, :math:`\bar\theta \leftarrow d\,\bar\theta + (1 - d)\,\theta` with
    ``d = ema_decay`` (Ho et al. use 0.9999 over 800k steps; short runs need a shorter
    memory), is returned as ``history.ema``: it gives smoother samples than the last weights.

    Args:
        model: ``model(x_t, t) -> ε̂``; trained in place on ``device`` (its own by default).
        data: ``(N, ...)`` training examples already in the model's range (images: :func:`to_model_range`).
    """
    from tqdm.auto import tqdm

    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive, got {steps} and {batch_size}")
    if not torch.isfinite(data).all():
        raise ValueError("the training data contain NaN or infinite values")
    device = torch.device(device) if device is not None else _device_of(model)
    model.to(device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(steps - warmup, 1)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    gen = torch.Generator().manual_seed(seed)
    history = DDPMHistory()
    start = time.perf_counter()
    bar = tqdm(range(steps), desc="DDPM training", disable=not progress, leave=False)
    for step in bar:
        x0 = data[torch.randint(len(data), (batch_size,), generator=gen)].to(device)
        loss = schedule.loss_simple(model, x0, generator=gen)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), model.parameters()):
                p_ema.lerp_(p, 1 - ema_decay)
        value = loss.item()
        if value != value:
            bar.close()
            raise FloatingPointError(f"the loss became NaN at step {step + 1}; lower the learning rate")
        history.loss.append(value)
        if step % 50 == 0:
            bar.set_postfix(loss=f"{value:.4f}", refresh=False)
    bar.close()
    model.eval()
    history.seconds = time.perf_counter() - start
    history.ema = ema
    return history


def toy_schedule() -> DiffusionSchedule:
    """The 2-D toys' schedule: linear, T = 200, β from 10⁻⁴ to 0.1 (Ho et al.'s 0.02 scaled to 5× fewer steps)."""
    return DiffusionSchedule(linear_beta_schedule(200, 1e-4, 0.1))


def train_toy(name: str = "swissroll", *, steps: int = 8000, seed: int = 0, device: torch.device | str | None = None,
              progress: bool = True) -> tuple[torch.nn.Module, DiffusionSchedule, DDPMHistory]:
    """DDPM on a 2-D toy of :func:`gdmcourse.data.toy2d` (20,000 points scaled to unit std), the recipe of notebook 08.

    A :class:`gdmcourse.nets.TimeMLP` (3 layers of 128) trained with :func:`train_ddpm` (batch
    256, learning rate 2·10⁻³, EMA 0.99) under :func:`toy_schedule`. Returns the EMA model, the
    schedule and the history; the data scale is ``history.scale`` (sample, then multiply).
    """
    from . import data, nets

    x = data.toy2d(name, 20_000, seed=seed)
    scale = float(x.std())
    torch.manual_seed(seed)
    model = nets.TimeMLP(2, hidden=128, layers=3)
    schedule = toy_schedule()
    history = train_ddpm(model, schedule, x / scale, steps=steps, batch_size=256, lr=2e-3, warmup=100,
                         ema_decay=0.99, seed=seed, device=device if device is not None else "cpu", progress=progress)
    history.scale = scale
    return history.ema, schedule, history


@torch.no_grad()
def toy_energy_ratio(model: Model, schedule: DiffusionSchedule, real: torch.Tensor, seeds: int = 3,
                     n: int = 2000) -> list[float]:
    """How close a toy DDPM's samples are to its data, per sampling seed (notebook 08, the benchmarks).

    For each seed: ``n`` samples (Algorithm 2) against ``n`` data points, as
    :func:`gdmcourse.metrics.energy_distance`, divided by that between two disjoint ``n``-point
    draws of ``real (N, 2)`` (``N >= 2n``): 1 is as close as two samples of the data itself.
    """
    from . import metrics

    if len(real) < 2 * n:
        raise ValueError(f"need at least {2 * n} data points for two disjoint samples of {n}, got {len(real)}")
    ratios = []
    for seed in range(seeds):
        s = schedule.sample(model, (n, 2), generator=torch.Generator().manual_seed(100 + seed), progress=False)
        pick = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:2 * n]
        a, b = real[pick[:n]], real[pick[n:]]
        ratios.append(metrics.energy_distance(s.cpu(), a) / metrics.energy_distance(b, a))
    return ratios


def _device_of(model: Model) -> torch.device:
    params = getattr(model, "parameters", None)
    if params is not None:
        for p in params():
            return p.device
    return torch.device("cpu")

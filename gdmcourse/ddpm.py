r"""Denoising diffusion probabilistic models (Ho et al. 2020): schedules, the forward process,
the posterior, the training loss and the samplers.

Follows lecture 001 ("Diffusion"): the forward process adds Gaussian noise in :math:`T` steps,

.. math:: q(x_t \mid x_{t-1}) = \mathcal N\big(\sqrt{1 - \beta_t}\, x_{t-1},\ \beta_t I\big), \qquad
          q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\, x_0,\ (1 - \bar\alpha_t) I\big),
          \quad \bar\alpha_t = \prod_{s \le t} (1 - \beta_s),

a network :math:`\epsilon_\theta(x_t, t)` learns to predict the added noise (:meth:`DiffusionSchedule.loss_simple`,
Algorithm 1), and sampling runs the learned reverse process (:meth:`DiffusionSchedule.sample`,
Algorithm 2; :meth:`DiffusionSchedule.sample_trajectory` keeps the intermediate states) or its
deterministic shortcut DDIM (:meth:`DiffusionSchedule.ddim_sample`). :func:`extract` is the
broadcasting helper the formulas share: ``values[t]`` per example, shaped ``(B, 1, ..., 1)``.

As in diffusers, the *schedule* (this module) and the *model* (any ``model(x_t, t) -> ε̂``,
e.g. :class:`gdmcourse.nets.UNet`) are separate objects, and both work on any device.

**Indexing.** The lecture counts steps :math:`t = 1, \dots, T`; arrays here are indexed from 0,
so index ``t`` holds step :math:`t + 1`: ``alphas_cumprod[0]`` is :math:`\bar\alpha_1` and the last
index ``T - 1`` is step :math:`T`. A model receives the index ``t`` (``0 ≤ t < T``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple, get_args

import torch

from . import data, nets, train, validate
from .runtime import progress_bar
from .train import History
from .types import VarianceName

__all__ = ["linear_beta_schedule", "cosine_beta_schedule", "extract", "PosteriorMoments", "ReverseMoments",
           "Trajectory", "DiffusionSchedule", "vlb_weights", "train_ddpm", "to_model_range", "to_image_range", "toy_schedule",
           "ToyDDPM", "train_toy"]

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def linear_beta_schedule(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    r"""Ho et al.'s schedule: :math:`\beta_t` linear from ``beta_start`` to ``beta_end`` over ``T`` steps (float64, ``(T,)``).

    Raises:
        ValueError: ``T < 1``, or not ``0 < beta_start <= beta_end < 1``.
    """
    if T < 1 or not 0 < beta_start <= beta_end < 1:
        raise ValueError(f"need T >= 1 and 0 < beta_start <= beta_end < 1, got T={T}, {beta_start}, {beta_end}")
    # β_t from 10⁻⁴ to 0.02 in T = 1000 steps in the paper (DDPM, section 4)
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


def cosine_beta_schedule(T: int, s: float = 0.008) -> torch.Tensor:
    r"""Nichol & Dhariwal's schedule: :math:`\bar\alpha_t = f(t)/f(0)`, :math:`f(t) = \cos^2\big(\frac{t/T + s}{1 + s}\cdot\frac{\pi}{2}\big)`.

    :math:`\beta_t = 1 - \bar\alpha_t / \bar\alpha_{t-1}`, clipped at 0.999 (near :math:`t = T`,
    where :math:`\bar\alpha` reaches 0). Float64, ``(T,)``.

    Raises:
        ValueError: ``T < 1`` or ``s < 0``.
    """
    if T < 1 or s < 0:
        raise ValueError(f"need T >= 1 and s >= 0, got T={T}, s={s}")
    steps = torch.arange(T + 1, dtype=torch.float64)
    # f(t) = cos²((t/T + s)/(1 + s) · π/2)                      (Improved DDPM, eq. 17)
    f = torch.cos((steps / T + s) / (1 + s) * math.pi / 2) ** 2
    # ᾱ_t = f(t) / f(0)                                          (Improved DDPM, eq. 17)
    alphas_cumprod = f / f[0]
    # β_t = 1 − ᾱ_t / ᾱ_{t−1}, clipped at 0.999                  (Improved DDPM, after eq. 17)
    return (1 - alphas_cumprod[1:] / alphas_cumprod[:-1]).clamp(max=0.999)


def extract(values: torch.Tensor, t: torch.Tensor | int, x: torch.Tensor) -> torch.Tensor:
    r"""Per-example schedule values ``values[t]``, shaped to broadcast against a batch ``x``.

    The broadcasting helper of every formula below: with ``t`` one index per example of ``x``
    (``(B,)``), ``extract(values, t, x)`` has shape ``(B, 1, ..., 1)`` (as many ones as ``x``
    has dimensions after the batch), so ``extract(schedule.alphas_cumprod, t, x).sqrt() * x``
    multiplies each example by its own :math:`\sqrt{\bar\alpha_t}`. Works for any rank of ``x``.

    Args:
        values: a 1-D table indexed by step, e.g. ``schedule.betas`` ``(T,)`` (on any device).
        t: step indices ``(B,)`` (ints, on any device) or one int for the whole batch
            (then the result is ``(1, 1, ..., 1)``).
        x: the batch ``(B, ...)`` to broadcast against; only its rank, device and dtype are used.
    Returns:
        ``values[t]`` in ``x``'s dtype on ``x``'s device, shape ``(len(t), 1, ..., 1)``.
    Raises:
        ValueError: ``values`` is not a non-empty 1-D table, ``t`` is not integers (or is more than
            1-D), or an index in ``t`` lies outside ``0..len(values) - 1``.
    """
    values = validate.tensor(values, "values", rank=1, expected="(T,)", finite=False)
    t = validate.tensor(t, "t", rank=(0, 1), expected="(B,) step indices", nonempty=False, integer=True)
    if not validate.has_values(t):
        return torch.empty(t.numel() if t.dim() else 1, *([1] * (x.dim() - 1)), device=x.device, dtype=x.dtype)
    t = t.to("cpu").long().reshape(-1)
    if len(t) and ((t < 0).any() or (t >= len(values)).any()):
        raise ValueError(f"timestep indices must lie in 0..{len(values) - 1} (index t is step t + 1), "
                         f"got {t.min().item()}..{t.max().item()}")
    out = values.cpu()[t].to(device=x.device, dtype=x.dtype)
    return out.reshape(-1, *([1] * (x.dim() - 1)))


class PosteriorMoments(NamedTuple):
    r"""The Gaussian :math:`q(x_{t-1} \mid x_t, x_0) = \mathcal N(\tilde\mu_t, \tilde\beta_t I)` (DDPM, eqs. 6–7).

    ``mean`` :math:`\tilde\mu_t` has ``x_t``'s shape; ``variance`` :math:`\tilde\beta_t` and
    ``log_variance`` (clipped at the first step, see :class:`DiffusionSchedule`) are ``(B, 1, ..., 1)``.
    """

    mean: torch.Tensor
    variance: torch.Tensor
    log_variance: torch.Tensor


class ReverseMoments(NamedTuple):
    r"""The learned :math:`p_\theta(x_{t-1} \mid x_t) = \mathcal N(\mu_\theta, \sigma_t^2 I)` and the network's :math:`\hat\epsilon`.

    ``mean`` :math:`\mu_\theta(x_t, t)` and ``eps`` :math:`\epsilon_\theta(x_t, t)` have ``x_t``'s
    shape; ``variance`` :math:`\sigma_t^2` is ``(B, 1, ..., 1)``.
    """

    mean: torch.Tensor
    variance: torch.Tensor
    eps: torch.Tensor


class Trajectory(NamedTuple):
    r"""What :meth:`DiffusionSchedule.sample_trajectory` returns.

    ``x0``: the final samples :math:`x_0` ``(B, ...)``, on the sampling device (as :meth:`DiffusionSchedule.sample`);
    ``frames``: ``{t: x_t}`` on the CPU for each kept index ``t`` (the index ``T`` holds the
    starting noise :math:`x_T`, the index ``t < T`` the state after the step that produced it).
    """

    x0: torch.Tensor
    frames: dict[int, torch.Tensor]


def _batches(**named: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Check tensors a formula combines: each a batch ``(B, ...)`` without NaN/inf, all on one device."""
    checked = [validate.tensor(x, name, min_rank=1, expected="(B, ...)", nonempty=False) for name, x in named.items()]
    validate.same_device(*zip(named, checked))
    return tuple(checked)


class DiffusionSchedule:
    r"""The fixed quantities of a diffusion process with noise levels ``betas`` and the operations on them.

    Attributes (float64 tensors of shape ``(T,)``, on the CPU; index ``t`` is step ``t + 1``):
        betas: :math:`\beta_t`; alphas: :math:`\alpha_t = 1 - \beta_t`;
        alphas_cumprod: :math:`\bar\alpha_t`; alphas_cumprod_prev: :math:`\bar\alpha_{t-1}` (1 at the first step);
        posterior_variance: :math:`\tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t` (0 at the first step);
        posterior_log_variance_clipped: :math:`\log\tilde\beta_t` with the first step's 0 replaced by :math:`\tilde\beta_2`.

    Raises:
        ValueError: ``betas`` is not a non-empty 1-D sequence, or a beta lies outside (0, 1).
    """

    def __init__(self, betas: torch.Tensor | Sequence[float]) -> None:
        betas = torch.as_tensor(betas, dtype=torch.float64).cpu()
        if betas.dim() != 1 or len(betas) < 1:
            raise ValueError(f"betas must be a 1-D sequence of noise levels, got shape {tuple(betas.shape)}")
        if not ((betas > 0) & (betas < 1)).all():
            raise ValueError("every beta must lie strictly between 0 and 1")
        self.betas = betas
        # α_t = 1 − β_t                                             (DDPM, before eq. 4)
        self.alphas = 1 - betas
        # ᾱ_t = ∏_{s≤t} α_s                                         (DDPM, before eq. 4)
        self.alphas_cumprod = torch.cumprod(self.alphas, 0)
        # ᾱ_{t−1}, with ᾱ_0 = 1 before the first step
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])
        # β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t                       (DDPM, eq. 7)
        self.posterior_variance = betas * (1 - self.alphas_cumprod_prev) / (1 - self.alphas_cumprod)
        variance = self.posterior_variance.clone()
        if len(variance) > 1:
            variance[0] = variance[1]  # log 0 at the first step: Ho et al.'s code clips it to the next value
        self.posterior_log_variance_clipped = torch.log(variance.clamp_min(1e-20))
        # μ̃_t = coef_x0 · x_0 + coef_xt · x_t, where                  (DDPM, eq. 7)
        # coef_x0 = sqrt(ᾱ_{t−1}) β_t / (1 − ᾱ_t)
        self.posterior_mean_coef_x0 = betas * self.alphas_cumprod_prev.sqrt() / (1 - self.alphas_cumprod)
        # coef_xt = sqrt(α_t) (1 − ᾱ_{t−1}) / (1 − ᾱ_t)
        self.posterior_mean_coef_xt = (1 - self.alphas_cumprod_prev) * self.alphas.sqrt() / (1 - self.alphas_cumprod)

    @property
    def T(self) -> int:  # noqa: N802 - the lecture's name
        """The number of diffusion steps."""
        return len(self.betas)

    # --------------------------------------------------------------- the forward process

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor | int, noise: torch.Tensor) -> torch.Tensor:
        r"""A draw from :math:`q(x_t \mid x_0)`: :math:`x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \epsilon`.

        ``x0``, ``noise``: ``(B, ...)``; ``t``: ``(B,)`` indices or one int.

        Raises:
            ValueError: ``noise`` does not have ``x0``'s shape or device, either contains NaN or ±inf,
                or an index in ``t`` lies outside ``0..T-1``.
        """
        x0, noise = _batches(x0=x0, noise=noise)
        if noise.shape != x0.shape:
            raise ValueError(f"noise must have x0's shape {tuple(x0.shape)}, got {tuple(noise.shape)}")
        sqrt_abar = extract(self.alphas_cumprod.sqrt(), t, x0)                  # sqrt(ᾱ_t), (B, 1, ..., 1)
        sqrt_one_minus_abar = extract((1 - self.alphas_cumprod).sqrt(), t, x0)  # sqrt(1 − ᾱ_t)
        # x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε                      (DDPM, eq. 4; Algorithm 1)
        return sqrt_abar * x0 + sqrt_one_minus_abar * noise

    def q_posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor | int) -> PosteriorMoments:
        r"""Mean, variance and clipped log-variance of :math:`q(x_{t-1} \mid x_t, x_0) = \mathcal N(\tilde\mu_t, \tilde\beta_t I)`:

        .. math:: \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t} x_0
                              + \frac{\sqrt{\alpha_t}\,(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t} x_t,
                  \qquad \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t

        (DDPM, eqs. 6–7). Returns :class:`PosteriorMoments` ``(mean, variance, log_variance)``.

        Raises:
            ValueError: an index in ``t`` lies outside ``0..T-1``, ``x0`` and ``xt`` differ in device,
                or contain NaN or ±inf.
        """
        x0, xt = _batches(x0=x0, xt=xt)
        coef_x0 = extract(self.posterior_mean_coef_x0, t, xt)
        coef_xt = extract(self.posterior_mean_coef_xt, t, xt)
        # μ̃_t = sqrt(ᾱ_{t−1}) β_t / (1 − ᾱ_t) · x_0 + sqrt(α_t) (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · x_t  (DDPM, eq. 7)
        mean = coef_x0 * x0 + coef_xt * xt
        # β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t                                                (DDPM, eq. 7)
        variance = extract(self.posterior_variance, t, xt)
        return PosteriorMoments(mean, variance, extract(self.posterior_log_variance_clipped, t, xt))

    def predict_x0(self, xt: torch.Tensor, t: torch.Tensor | int, eps: torch.Tensor) -> torch.Tensor:
        r"""Invert :meth:`q_sample` for a noise estimate: :math:`\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\,\hat\epsilon)/\sqrt{\bar\alpha_t}`.

        Raises:
            ValueError: an index in ``t`` lies outside ``0..T-1``, ``xt`` and ``eps`` differ in device,
                or contain NaN or ±inf.
        """
        xt, eps = _batches(xt=xt, eps=eps)
        sqrt_abar = extract(self.alphas_cumprod.sqrt(), t, xt)                  # sqrt(ᾱ_t), (B, 1, ..., 1)
        sqrt_one_minus_abar = extract((1 - self.alphas_cumprod).sqrt(), t, xt)  # sqrt(1 − ᾱ_t)
        # x̂_0 = (x_t − sqrt(1 − ᾱ_t) ε̂) / sqrt(ᾱ_t)                 (DDPM, eq. 4 solved for x_0)
        return (xt - sqrt_one_minus_abar * eps) / sqrt_abar

    # ----------------------------------------------------------------------- training

    def loss_simple(self, model: Model, x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""Algorithm 1's loss :math:`L_{simple} = \mathbb E_{t, x_0, \epsilon}\|\epsilon - \epsilon_\theta(x_t, t)\|^2`.

        One uniformly drawn step per example and fresh noise (both from ``generator``, on the
        CPU, then moved to ``x0``'s device); the squared error is averaged over all elements.

        Raises:
            ValueError: ``x0`` is empty (a mean over no examples), has no batch dim, or contains NaN or ±inf.
        """
        x0 = validate.tensor(x0, "x0", min_rank=1, expected="(B, ...)", floating=True)
        # t ~ Uniform({1, ..., T}), ε ~ N(0, I)                       (DDPM, Algorithm 1, lines 3–4)
        t = torch.randint(self.T, (len(x0),), generator=generator)
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
        t = t.to(x0.device)
        # L_simple = ‖ε − ε_θ(sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε, t)‖²  (DDPM, eq. 14; Algorithm 1, line 5)
        return (noise - model(self.q_sample(x0, t, noise), t)).pow(2).mean()

    # ----------------------------------------------------------------------- sampling

    def p_mean_variance(self, model: Model, xt: torch.Tensor, t: int, variance: VarianceName = "posterior",
                        clip: bool = False) -> ReverseMoments:
        r"""Mean and variance of the learned :math:`p_\theta(x_{t-1} \mid x_t)`, and the model's :math:`\hat\epsilon`:

        .. math:: \mu_\theta = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\hat\epsilon\Big),
                  \qquad \sigma_t^2 = \tilde\beta_t \ (\text{``posterior''}) \text{ or } \beta_t \ (\text{``beta''})

        (DDPM, eq. 11; the two variances of section 3.2). ``clip=True`` (as in Ho et al.'s code,
        not in Algorithm 2) clamps :math:`\hat x_0` to [−1, 1] and uses the posterior mean
        :math:`\tilde\mu_t(\hat x_0, x_t)`, which equals :math:`\mu_\theta` whenever nothing is clamped.
        Returns :class:`ReverseMoments` ``(mean, variance, eps)``.

        Raises:
            ValueError: ``variance`` is not ``"posterior"`` or ``"beta"``, or ``t`` lies outside ``0..T-1``.
        """
        if variance not in get_args(VarianceName):
            raise ValueError(f"variance must be 'posterior' (β̃_t) or 'beta' (β_t), got {variance!r}")
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < self.T:
            raise ValueError(f"t must be one step index in 0..{self.T - 1} (an int), got {t!r}")
        xt = validate.tensor(xt, "xt", min_rank=1, expected="(B, ...)", nonempty=False, floating=True)
        t_batch = torch.full((len(xt),), t, dtype=torch.long, device=xt.device)
        eps = model(xt, t_batch)
        if clip:
            # x̂_0 clamped to [−1, 1], then μ̃_t(x̂_0, x_t)            (DDPM, eq. 7; Ho et al.'s code)
            mean = self.q_posterior(self.predict_x0(xt, t, eps).clamp(-1, 1), xt, t).mean
        else:
            eps_coef = extract(self.betas / (1 - self.alphas_cumprod).sqrt(), t, xt)  # β_t / sqrt(1 − ᾱ_t)
            sqrt_alpha = extract(self.alphas.sqrt(), t, xt)                          # sqrt(α_t)
            # μ_θ = (x_t − β_t / sqrt(1 − ᾱ_t) · ε_θ) / sqrt(α_t)     (DDPM, eq. 11; Algorithm 2, line 4)
            mean = (xt - eps_coef * eps) / sqrt_alpha
        # σ_t² = β̃_t or β_t                                          (DDPM, section 3.2)
        var = extract(self.posterior_variance if variance == "posterior" else self.betas, t, xt)
        return ReverseMoments(mean, var, eps)

    @torch.no_grad()
    def p_sample(self, model: Model, xt: torch.Tensor, t: int, generator: torch.Generator | None = None,
                 variance: VarianceName = "posterior", clip: bool = False) -> torch.Tensor:
        r"""One step of Algorithm 2: :math:`x_{t-1} = \mu_\theta(x_t, t) + \sigma_t z`, with :math:`z = 0` at the last step (index 0).

        Raises:
            ValueError: as :meth:`p_mean_variance`.
        """
        mean, var, _ = self.p_mean_variance(model, xt, t, variance, clip=clip)
        if t == 0:
            return mean  # no noise is added when producing x_0   (Algorithm 2, line 3: z = 0 if t = 1)
        # z ~ N(0, I)                                                (DDPM, Algorithm 2, line 3)
        z = torch.randn(xt.shape, generator=generator, dtype=xt.dtype).to(xt.device)
        # x_{t−1} = μ_θ(x_t, t) + σ_t z                              (DDPM, Algorithm 2, line 4)
        return mean + var.sqrt() * z

    @torch.no_grad()
    def sample(self, model: Model, shape: Sequence[int], generator: torch.Generator | None = None,
               progress: bool = True, variance: VarianceName = "posterior", device: torch.device | str | None = None,
               clip: bool = False) -> torch.Tensor:
        r"""Algorithm 2: start from :math:`x_T \sim \mathcal N(0, I)` and apply :meth:`p_sample` ``T`` times.

        Returns the samples :math:`x_0` of ``shape`` on ``device`` (the model's by default). For the
        intermediate :math:`x_t` as well (e.g. for an animation), use :meth:`sample_trajectory`.

        Raises:
            ValueError: ``variance`` is not ``"posterior"`` or ``"beta"``.
        """
        return self.sample_trajectory(model, shape, keep=(), generator=generator, progress=progress,
                                      variance=variance, device=device, clip=clip).x0

    @torch.no_grad()
    def sample_trajectory(self, model: Model, shape: Sequence[int], keep: Sequence[int],
                          generator: torch.Generator | None = None, progress: bool = True,
                          variance: VarianceName = "posterior", device: torch.device | str | None = None,
                          clip: bool = False) -> Trajectory:
        r"""Algorithm 2, keeping the states :math:`x_t` at the step indices ``keep``.

        The same draws as :meth:`sample` with the same ``generator``: ``sample_trajectory(...).x0``
        equals ``sample(...)``.

        Args:
            keep: step indices ``0 ≤ t ≤ T`` whose :math:`x_t` to return; ``T`` is the starting
                noise :math:`x_T`, ``0`` the final sample.
            (the others as :meth:`sample`)
        Returns:
            :class:`Trajectory` ``(x0, frames)`` with ``frames = {t: x_t}`` on the CPU.
        Raises:
            ValueError: an index in ``keep`` lies outside ``0..T``, or ``variance`` is not
                ``"posterior"`` or ``"beta"``.
        """
        keep = set(int(t) for t in keep)
        if any(not 0 <= t <= self.T for t in keep):
            raise ValueError(f"keep holds step indices 0..{self.T} (T = the starting noise), got {sorted(keep)}")
        if variance not in get_args(VarianceName):
            raise ValueError(f"variance must be 'posterior' (β̃_t) or 'beta' (β_t), got {variance!r}")
        device = torch.device(device) if device is not None else _device_of(model)
        # x_T ~ N(0, I)                                               (DDPM, Algorithm 2, line 1)
        x = torch.randn(tuple(shape), generator=generator, dtype=torch.float32).to(device)
        frames = {self.T: x.cpu()} if self.T in keep else {}
        # for t = T, ..., 1                                           (DDPM, Algorithm 2, line 2)
        for t in progress_bar(range(self.T - 1, -1, -1), desc="sampling", disable=not progress):
            x = self.p_sample(model, x, t, generator=generator, variance=variance, clip=clip)
            if t in keep:
                frames[t] = x.cpu()
        return Trajectory(x, frames)

    @torch.no_grad()
    def ddim_sample(self, model: Model, shape: Sequence[int], steps: int, eta: float = 0.0,
                    generator: torch.Generator | None = None, progress: bool = True,
                    device: torch.device | str | None = None, clip: bool = False) -> torch.Tensor:
        r"""DDIM (Song et al. 2021): sample with ``steps`` of the ``T`` noise levels, evenly spaced.

        From level :math:`t` to the previous kept level :math:`s`:

        .. math:: \hat x_0 = \frac{x_t - \sqrt{1 - \bar\alpha_t}\,\hat\epsilon}{\sqrt{\bar\alpha_t}},\quad
                  \sigma = \eta\sqrt{\frac{1 - \bar\alpha_s}{1 - \bar\alpha_t}\Big(1 - \frac{\bar\alpha_t}{\bar\alpha_s}\Big)},\quad
                  x_s = \sqrt{\bar\alpha_s}\,\hat x_0 + \sqrt{1 - \bar\alpha_s - \sigma^2}\,\hat\epsilon + \sigma z

        (DDIM, eq. 12, with σ as in eq. 16; DDIM's :math:`\alpha_t` is :math:`\bar\alpha_t` here)
        with :math:`\bar\alpha_s = 1` after the last level. ``eta = 0`` is deterministic; ``eta = 1``
        with ``steps = T`` matches the ancestral sampler's variance :math:`\tilde\beta_t`.
        ``clip=True`` clamps :math:`\hat x_0` to [−1, 1] (and re-derives :math:`\hat\epsilon` from it).

        Raises:
            ValueError: ``steps`` is not between 1 and ``T``.
        """
        if not 1 <= steps <= self.T:
            raise ValueError(f"steps must be between 1 and T = {self.T}, got {steps}")
        device = torch.device(device) if device is not None else _device_of(model)
        levels = torch.linspace(self.T - 1, 0, steps).round().long().tolist()
        x = torch.randn(tuple(shape), generator=generator, dtype=torch.float32).to(device)
        for i, t in enumerate(progress_bar(levels, desc="DDIM", disable=not progress)):
            a_t = self.alphas_cumprod[t].item()                                              # ᾱ_t
            a_s = self.alphas_cumprod[levels[i + 1]].item() if i + 1 < len(levels) else 1.0  # ᾱ_s, 1 at the end
            eps = model(x, torch.full((len(x),), t, dtype=torch.long, device=device))
            # x̂_0 = (x_t − sqrt(1 − ᾱ_t) ε̂) / sqrt(ᾱ_t)              (DDIM, eq. 12, "predicted x_0")
            x0 = (x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
            if clip:
                x0 = x0.clamp(-1, 1)
                # ε̂ = (x_t − sqrt(ᾱ_t) x̂_0) / sqrt(1 − ᾱ_t), consistent with the clamped x̂_0
                eps = (x - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
            # σ = η sqrt((1 − ᾱ_s)/(1 − ᾱ_t)) sqrt(1 − ᾱ_t/ᾱ_s)     (DDIM, eq. 16)
            sigma = eta * math.sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s))
            # x_s = sqrt(ᾱ_s) x̂_0 + sqrt(1 − ᾱ_s − σ²) ε̂ + σ z       (DDIM, eq. 12)
            x = math.sqrt(a_s) * x0 + math.sqrt(max(1 - a_s - sigma**2, 0.0)) * eps
            if sigma > 0:
                x = x + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(device)
        return x


def vlb_weights(schedule: DiffusionSchedule, variance: VarianceName = "posterior") -> torch.Tensor:
    r"""The weights :math:`\lambda_t` that make each KL term of the variational bound a weighted :math:`\epsilon`-regression.

    The bound (lecture 001, "Variational upper bound"; Ho et al. 2020, eq. 5) is
    :math:`L = L_T + \sum_{t>1} L_{t-1} + L_0` with
    :math:`L_{t-1} = D_{KL}\big(q(x_{t-1} \mid x_t, x_0)\,\|\,p_\theta(x_{t-1} \mid x_t)\big)`. With
    :math:`p_\theta = \mathcal N(\mu_\theta, \sigma_t^2 I)` and :math:`\mu_\theta` parameterised by
    :math:`\epsilon_\theta` (eq. 11), for :math:`x_t = \sqrt{\bar\alpha_t}x_0 + \sqrt{1 - \bar\alpha_t}\epsilon`,

    .. math:: L_{t-1} = \lambda_t \|\epsilon - \epsilon_\theta(x_t, t)\|^2 + C_t, \qquad
              \lambda_t = \frac{\beta_t^2}{2\sigma_t^2\,\alpha_t\,(1 - \bar\alpha_t)}

    (Ho et al. 2020, eq. 12; lecture 001, "Training Objective Weighting"), where
    :math:`C_t = \frac d2\big(\tilde\beta_t/\sigma_t^2 - 1 - \log(\tilde\beta_t/\sigma_t^2)\big)` does not
    depend on :math:`\theta` (:math:`d` elements per example); it is 0 for :math:`\sigma_t^2 = \tilde\beta_t`.
    :math:`L_{simple}` sets :math:`\lambda_t = 1`.

    Args:
        schedule: the diffusion's :class:`DiffusionSchedule`.
        variance: :math:`\sigma_t^2 = \tilde\beta_t` (``"posterior"``) or :math:`\beta_t` (``"beta"``).
    Returns:
        :math:`\lambda_t`, float64 ``(T,)``; index ``t`` is step ``t + 1``. With ``"posterior"`` index 0
        (step 1) is ``inf``: :math:`\tilde\beta_1 = 0`, and step 1 is the decoder term :math:`L_0`, not a KL.
    Raises:
        ValueError: ``variance`` is not ``"posterior"`` or ``"beta"``.
    """
    if variance not in get_args(VarianceName):
        raise ValueError(f"variance must be 'posterior' (β̃_t) or 'beta' (β_t), got {variance!r}")
    sigma2 = schedule.posterior_variance if variance == "posterior" else schedule.betas
    # λ_t = β_t² / (2 σ_t² α_t (1 − ᾱ_t))                         (DDPM, eq. 12)
    numerator = schedule.betas**2
    denominator = 2 * sigma2 * schedule.alphas * (1 - schedule.alphas_cumprod)
    return torch.where(denominator > 0, numerator / denominator.clamp_min(1e-300), torch.full_like(numerator, math.inf))


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """Pixels in [0, 1] → [−1, 1], the range DDPM's data and its N(0, I) prior share.

    Raises:
        ValueError: a pixel lies outside [0, 1] (0..255 pixels: divide by 255 first), or is NaN or ±inf.
    """
    images = validate.images(images, "images", rank=None, expected="(...) in [0, 1]", nonempty=False)
    # x = 2 p − 1
    return images * 2 - 1


def to_image_range(x: torch.Tensor) -> torch.Tensor:
    """Samples in [−1, 1] → pixels in [0, 1] (clamped: samples may overshoot [−1, 1]).

    Raises:
        ValueError: ``x`` contains NaN or ±inf (a diverged sampler).
    """
    x = validate.tensor(x, "x", nonempty=False)
    # p = (x + 1) / 2, clamped to [0, 1]
    return ((x + 1) / 2).clamp(0, 1)


def train_ddpm(model: torch.nn.Module, schedule: DiffusionSchedule, data: torch.Tensor, *, steps: int,
               batch_size: int = 128, lr: float = 1e-3, warmup: int = 100, ema_decay: float = 0.995,
               seed: int = 0, device: torch.device | str | None = None, progress: bool = True,
               callbacks: Sequence[train.Every] = ()) -> History:
    r"""Algorithm 1 for ``steps`` Adam updates of :meth:`DiffusionSchedule.loss_simple`.

    Each step draws a batch of ``data`` (with replacement), a step index per example and
    the noise from one seeded CPU generator, so runs repeat on any device. The learning rate
    rises linearly for ``warmup`` steps, then follows a cosine to 0
    (:func:`gdmcourse.train.warmup_cosine`). An exponential moving average of the weights,
    :math:`\bar\theta \leftarrow d\,\bar\theta + (1 - d)\,\theta` with ``d = ema_decay`` (Ho et al.
    use 0.9999 over 800k steps; short runs need a shorter memory), is returned as
    ``history.ema``: it gives smoother samples than the last weights. The loop is
    :func:`gdmcourse.train.fit`.

    Args:
        model: ``model(x_t, t) -> ε̂``; trained in place on ``device`` (its own by default), left in eval mode.
        data: ``(N, ...)`` training examples already in the model's range (images: :func:`to_model_range`).
        callbacks: :class:`gdmcourse.train.Every` hooks (e.g. saving ``history.ema`` every n steps).
    Returns:
        a :class:`gdmcourse.train.History`: ``loss`` (one value per step), ``ema``, ``seconds``.
    Raises:
        ValueError: non-positive ``steps`` or ``batch_size``, non-finite data.
        FloatingPointError: the loss became NaN or infinite (the message names the step).
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive, got {steps} and {batch_size}")
    if not torch.isfinite(data).all():
        raise ValueError("the training data contain NaN or infinite values")
    device = torch.device(device) if device is not None else _device_of(model)
    model.to(device).train()
    batches = train.RandomBatches(data, batch_size, seed=seed, device=device)
    objective = train.Objective(torch.optim.Adam(model.parameters(), lr=lr),
                                lambda batch: schedule.loss_simple(model, batch[0], generator=batches.generator))
    history = train.fit(model, [objective], batches=batches, steps=steps, schedule="warmup-cosine", warmup=warmup,
                        ema_decay=ema_decay, callbacks=callbacks, progress=progress, desc="DDPM training")
    model.eval()
    return history


def toy_schedule() -> DiffusionSchedule:
    """The 2-D toys' schedule: linear, T = 200, β from 10⁻⁴ to 0.1 (Ho et al.'s 0.02 scaled to 5× fewer steps)."""
    return DiffusionSchedule(linear_beta_schedule(200, 1e-4, 0.1))


class ToyDDPM(NamedTuple):
    """What :func:`train_toy` returns (unpacks as ``model, schedule, history``), and the data scale.

    ``model``: the EMA network; ``scale``: the std the data was divided by (multiply samples by it,
    or divide the data by it to compare).
    """

    model: torch.nn.Module
    schedule: DiffusionSchedule
    history: History
    scale: float


def train_toy(name: str = "swissroll", *, steps: int = 8000, seed: int = 0, device: torch.device | str | None = None,
              progress: bool = True) -> ToyDDPM:
    """DDPM on a 2-D toy of :func:`gdmcourse.data.toy2d` (20,000 points scaled to unit std), the recipe of notebook 08.

    A :class:`gdmcourse.nets.TimeMLP` (3 layers of 128) trained with :func:`train_ddpm` (batch
    256, learning rate 2·10⁻³, EMA 0.99) under :func:`toy_schedule`.

    Returns:
        ``ToyDDPM(model, schedule, history, scale)``: the EMA model, the schedule, the history
        and the data scale (sample, then multiply by ``scale``); it unpacks as
        ``model, schedule, history, scale = train_toy(...)``.
    """
    x = data.toy2d(name, 20_000, seed=seed)
    scale = float(x.std())
    torch.manual_seed(seed)
    model = nets.TimeMLP(2, hidden=128, layers=3)
    schedule = toy_schedule()
    history = train_ddpm(model, schedule, x / scale, steps=steps, batch_size=256, lr=2e-3, warmup=100,
                         ema_decay=0.99, seed=seed, device=device if device is not None else "cpu", progress=progress)
    return ToyDDPM(history.ema, schedule, history, scale)


def _device_of(model: Model) -> torch.device:
    params = getattr(model, "parameters", None)
    if params is not None:
        for p in params():
            return p.device
    return torch.device("cpu")

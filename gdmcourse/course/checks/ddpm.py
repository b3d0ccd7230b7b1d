r"""Exercises of notebook 08 (DDPM): q(x_t | x_0), the posterior, L_simple, one sampling step.

The reference is :class:`gdmcourse.ddpm.DiffusionSchedule`. The loss and the sampling step
are random: the loss is checked through a recording model (which step and which x_t it was
given, hence which noise was used), the sampling step by the mean and variance of many draws.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ... import ddpm
from .engine import Case, Exercise, Mistake, call, fail, generator, judge, reproducible, tensor


def _schedule(beta_start: float = 0.05, beta_end: float = 0.3) -> ddpm.DiffusionSchedule:
    return ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(10, beta_start, beta_end))


def _case(what: str, posterior: bool = False) -> list[Case]:
    g = generator(80)
    x0, noise = torch.randn(10, 3, generator=g, dtype=torch.float64), torch.randn(10, 3, generator=g, dtype=torch.float64)
    t = torch.arange(10)  # one example at every index t, 0 included
    return [Case((x0, noise, t, _schedule()) if posterior else (x0, t, noise, _schedule()), what)]


def _ab(s: Any, t: torch.Tensor, x: torch.Tensor, values: torch.Tensor | None = None) -> torch.Tensor:
    return (s.alphas_cumprod if values is None else values)[t].reshape(-1, *([1] * (x.dim() - 1))).to(x.dtype)


def _q(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, s: Any, values: torch.Tensor | None = None,
       sqrt: bool = True) -> torch.Tensor:
    ab = _ab(s, t, x0, values)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise if sqrt else ab * x0 + (1 - ab) * noise


OFF_BY_ONE = "off by one: index t holds step t + 1, so use alphas_cumprod[t] itself."

q_sample = Exercise(
    name="q_sample",
    doc=r"""Check ``fn(x0, t, noise, schedule)`` = :math:`\sqrt{\bar\alpha_t}x_0 + \sqrt{1 - \bar\alpha_t}\epsilon` (index t =
    step t + 1) at every index, against :meth:`gdmcourse.ddpm.DiffusionSchedule.q_sample`.""",
    passed="x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε at every index t.",
    reference=lambda x0, t, noise, schedule: schedule.q_sample(x0, t, noise),
    cases=lambda: _case("x_t for 10 examples, one at each index t = 0..9"),
    shape_hint="same shape as x0: index ᾱ by t and broadcast over each example.",
    mistakes=[
        Mistake("no sqrt", lambda x0, t, n, s: _q(x0, t, n, s, sqrt=False),
                "square roots: x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (ᾱ_t is a variance factor)."),
        Mistake("alphas not cumulative", lambda x0, t, n, s: _q(x0, t, n, s, s.alphas),
                "use the CUMULATIVE product ᾱ_t = Π α_s (schedule.alphas_cumprod), not α_t."),
        Mistake("off by one (prev)", lambda x0, t, n, s: _q(x0, t, n, s, s.alphas_cumprod_prev), OFF_BY_ONE),
        Mistake("off by one (next)", lambda x0, t, n, s: _q(x0, (t + 1).clamp(max=s.T - 1), n, s), OFF_BY_ONE),
        Mistake("1 - sqrt", lambda x0, t, n, s: _ab(s, t, x0).sqrt() * x0 + (1 - _ab(s, t, x0).sqrt()) * n,
                "the noise is scaled by √(1 − ᾱ_t), not 1 − √ᾱ_t."),
    ],
)


def _posterior(x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor, s: Any, *, prev: str = "prev", variance: str = "tilde",
               sqrt_alpha: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """A plain student posterior, with switches for the usual slips."""
    abp = {"wrap": s.alphas_cumprod[t - 1], "same": s.alphas_cumprod[t], "prev": s.alphas_cumprod_prev[t]}[prev]
    b, a, ab, abp = (v.reshape(-1, 1) for v in (s.betas[t], s.alphas[t], s.alphas_cumprod[t], abp))
    mean = abp.sqrt() * b / (1 - ab) * x0 + (a.sqrt() if sqrt_alpha else a) * (1 - abp) / (1 - ab) * xt
    return mean, b if variance == "beta" else (1 - abp) / (1 - ab) * b


def _broadcast_variance(mean: torch.Tensor, var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Accept one variance per example, (B,) or (B, 1), or per entry."""
    if var.numel() == len(mean) and len(mean):
        var = var.reshape(-1, *([1] * (mean.dim() - 1))).expand_as(mean)
    return mean, var


q_posterior = Exercise(
    name="q_posterior",
    doc=r"""Check ``fn(x0, xt, t, schedule)`` → ``(mean, variance)`` of :math:`q(x_{t-1} \mid x_t, x_0)` at every index
    (:math:`\bar\alpha_0 = 1` at the first step) against :meth:`gdmcourse.ddpm.DiffusionSchedule.q_posterior`.""",
    passed="μ̃_t and β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t, with ᾱ_0 = 1 at the first step.",
    reference=lambda x0, xt, t, schedule: schedule.q_posterior(x0, xt, t)[:2],
    cases=lambda: _case("posterior mean and variance at every index t = 0..9", posterior=True),
    names=("mean", "variance"),
    canon=_broadcast_variance,
    shape_hint="the mean has x0's shape; one variance per example ((10,) or (10, 1)) or per entry.",
    generic_hint="μ̃_t = √ᾱ_{t−1} β_t / (1 − ᾱ_t) · x_0 + √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · x_t; "
                 "β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t.",
    mistakes=[
        Mistake("wraps at t=0", lambda x0, xt, t, s: _posterior(x0, xt, t, s, prev="wrap"),
                "at index t = 0 (step 1) ᾱ_{t−1} = ᾱ_0 = 1: alphas_cumprod[t − 1] wraps round to the LAST step there. "
                "Use schedule.alphas_cumprod_prev."),
        Mistake("off by one", lambda x0, xt, t, s: _posterior(x0, xt, t, s, prev="same"),
                "off by one: the mean uses ᾱ_{t−1} (schedule.alphas_cumprod_prev[t]), not ᾱ_t."),
        Mistake("alpha, not sqrt", lambda x0, xt, t, s: _posterior(x0, xt, t, s, sqrt_alpha=False),
                "the x_t coefficient has √α_t, not α_t."),
        Mistake("beta variance", lambda x0, xt, t, s: _posterior(x0, xt, t, s, variance="beta"),
                "that variance is β_t; the posterior's is β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t (conditioning on x_0 "
                "shrinks it)."),
        Mistake("returns triple", lambda x0, xt, t, s: tuple(s.q_posterior(x0, xt, t)), "end with `return mean, variance`.",
                match=False),
    ],
)


# ---- L_simple

class _NoiseRecorder(nn.Module):
    """A noise predictor returning 0.5 everywhere that remembers its inputs ``(x_t, t)``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls.append((x.detach().clone(), torch.as_tensor(t).detach().clone()))
        return torch.full_like(x, 0.5)


T_RANGE = "torch.randint(schedule.T, ...) draws 0..T − 1 (index t is step t + 1)."
SAME_T = "x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε with alphas_cumprod[t] at the SAME t you pass to the model."
ONE_T = "draw one step t per example: t = torch.randint(schedule.T, (len(x0),), generator=generator)."
LOSS_SEEDED = "draw t and ε with the given generator."
LOSS_SUM = "average over all elements (mean), do not sum."
PREDICTS_X0 = "the model predicts the noise ε, not x_0."


def _ddpm_loss(fn: Any) -> None:
    schedule, x0, rec = _schedule(), torch.full((4000, 2), 2.0), _NoiseRecorder()
    got = tensor(call(fn, rec, x0, schedule, generator(0)), "ddpm_loss")
    if len(rec.calls) != 1:
        fail(f"the model was called {len(rec.calls)} times; once per batch is enough.", "call model(x_t, t) once with the whole batch.")
    xt, t = rec.calls[0]
    if xt.shape != x0.shape:
        fail(f"the model got x_t of shape {tuple(xt.shape)}, expected {tuple(x0.shape)}.")
    t = t.reshape(-1).long()
    if t.numel() != len(x0):
        fail("the model got one step t for the whole batch.", ONE_T)
    if t.min() < 0 or t.max() >= schedule.T:
        fail(f"the steps given to the model run {t.min().item()}..{t.max().item()}; indices must lie in 0..T − 1.", T_RANGE)
    counts = torch.bincount(t, minlength=schedule.T).double()
    if (counts == 0).any() or counts.std() / counts.mean() > 0.15:
        fail(f"the steps are not drawn uniformly from 0..T − 1 (counts {counts.long().tolist()}).", ONE_T)
    # the noise the student used, if x_t = q_sample(x0, t, eps): invert the package's q_sample
    eps = schedule.q_sample(torch.zeros_like(x0), t, torch.ones_like(x0))  # √(1 − ᾱ_t)
    eps = (xt - schedule.q_sample(x0, t, torch.zeros_like(x0))) / eps
    if max(abs(eps[t == k].mean().item()) for k in range(schedule.T)) > 0.15 or abs(eps.std().item() - 1) > 0.1:
        fail("x_t is not distributed as q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) for the step t given to the model.", SAME_T)
    judge((got.detach().reshape(()) if got.numel() == 1 else got.detach(),), ((eps - 0.5).pow(2).mean(),), [
        (((eps - 0.5).pow(2).sum(),), LOSS_SUM),
        (((xt - 0.5).pow(2).mean(),), "compare the prediction with the NOISE ε, not with x_t."),
        (((x0 - 0.5).pow(2).mean(),), PREDICTS_X0)],
        "L_simple for a model that predicts ε̂ = 0.5", shape_hint="return one number: the mean of (ε − ε̂)².", rtol=1e-3)
    reproducible(fn, lambda: (_NoiseRecorder(), x0, schedule, generator(0)), "losses", LOSS_SEEDED)


def _loss(m: Any, x0: torch.Tensor, s: Any, g: Any, *, target: str = "noise", total: bool = False, t_offset: int = 0,
          one_t: bool = False, t_from_one: bool = False) -> torch.Tensor:
    """A plain student L_simple, with switches for the usual slips."""
    t = torch.randint(int(t_from_one), s.T + int(t_from_one), (1 if one_t else len(x0),), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    xt = s.q_sample(x0, (t + t_offset - int(t_from_one)).clamp(max=s.T - 1), noise)
    err = ((noise if target == "noise" else x0) - m(xt, int(t) if one_t else t)).pow(2)
    return err.sum() if total else err.mean()


ddpm_loss = Exercise(
    name="ddpm_loss",
    doc=r"""Check ``fn(model, x0, schedule, generator)`` = Algorithm 1's :math:`\|\epsilon - \epsilon_\theta(x_t, t)\|^2`
    (mean), as :meth:`gdmcourse.ddpm.DiffusionSchedule.loss_simple`: one call of the model, t uniform in 0..T − 1,
    x_t from q(x_t | x_0) at that t, the squared error against the noise, reproducible.""",
    passed="t uniform in 0..T − 1, x_t from q(x_t | x_0), mean squared error against the noise.",
    reference=lambda model, x0, schedule, generator: schedule.loss_simple(model, x0, generator=generator),
    procedure=_ddpm_loss,
    mistakes=[
        Mistake("t in 1..T", lambda *a: _loss(*a, t_from_one=True), T_RANGE),
        Mistake("x_t at t+1", lambda *a: _loss(*a, t_offset=1), SAME_T),
        Mistake("predicts x0", lambda *a: _loss(*a, target="x0"), PREDICTS_X0),
        Mistake("sum", lambda *a: _loss(*a, total=True), LOSS_SUM),
        Mistake("one t", lambda *a: _loss(*a, one_t=True), ONE_T),
        Mistake("unseeded", lambda m, x0, s, g: s.loss_simple(m, x0), LOSS_SEEDED),
    ],
)


# ---- one step of Algorithm 2

class _ConstantEps(nn.Module):
    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, 0.3)


NOISE_AT_0 = "return the mean alone when t == 0: x_0 = μ_θ(x_1, 1)."
NO_NOISE = "add σ_t z with z ~ N(0, I) (drawn with the generator) for every t > 0."
BETA = "σ_t² = β̃_t = schedule.posterior_variance[t] (Algorithm 2 allows β_t too, but not here)."
STD_IS_VAR = "scale z by σ_t = √β̃_t: you used the variance β̃_t as the STANDARD DEVIATION."
STEP_SEEDED = "draw z with torch.randn(x_t.shape, generator=generator)."


def _p_sample_step(fn: Any) -> None:
    schedule, model, xt = _schedule(0.1, 0.3), _ConstantEps(), torch.full((20000, 1), 0.8)
    for t in (0, 1, 6):
        out = tensor(call(fn, model, xt, t, schedule, generator(t)), "p_sample_step")
        if out.shape != xt.shape:
            fail(f"x_(t-1) should have x_t's shape {tuple(xt.shape)}, got {tuple(out.shape)}.")
        mean, var, _ = schedule.p_mean_variance(model, xt[:1], t)
        mean, tilde, beta = mean.item(), var.item(), schedule.betas[t].item()
        mu, v = out.double().mean().item(), out.double().var().item()
        if t == 0:
            if v > 1e-10:
                fail("at index t = 0 (the last step, producing x_0) noise was added.", NOISE_AT_0)
            if not math.isclose(mu, mean, abs_tol=1e-5):
                fail(f"at t = 0 the mean should be {mean:.5f}, got {mu:.5f}.", "μ_θ = (x_t − β_t / √(1 − ᾱ_t) · ε̂) / √α_t.")
            continue
        if v < 1e-10:
            fail(f"at index t = {t} no noise was added: the sampler would be deterministic and collapse.", NO_NOISE)
        if abs(mu - mean) > 6 * math.sqrt(tilde / len(out)) + 1e-6:
            fail(f"at t = {t} the samples average {mu:.4f}; μ_θ(x_t, t) = {mean:.4f}.",
                 "μ_θ = (x_t − β_t / √(1 − ᾱ_t) · ε̂) / √α_t, with ᾱ_t = alphas_cumprod[t].")
        if abs(v - tilde) > 6 * tilde * math.sqrt(2 / len(out)):
            if abs(v - beta) < 6 * beta * math.sqrt(2 / len(out)):
                fail(f"at t = {t} the noise variance is β_t = {beta:.4f}; this exercise uses β̃_t = {tilde:.4f}.", BETA)
            if abs(math.sqrt(v) - tilde) < 0.05 * tilde:
                fail(f"at t = {t} the noise's standard deviation is β̃_t.", STD_IS_VAR)
            fail(f"at t = {t} the noise variance is {v:.4f}, expected β̃_t = {tilde:.4f}.", "x_(t−1) = μ_θ + √β̃_t · z.")
    reproducible(fn, lambda: (model, xt[:5], 3, schedule, generator(1)), "samples", STEP_SEEDED)


def _step(m: Any, xt: torch.Tensor, t: int, s: Any, g: Any, *, variance: str = "posterior", noise_at_0: bool = False,
          noise: bool = True, std_is_var: bool = False) -> torch.Tensor:
    """A plain student sampling step, with switches for the usual slips."""
    mean, var, _ = s.p_mean_variance(m, xt, t, variance="beta" if variance == "beta" else "posterior")
    if variance == "clipped":  # Ho et al.'s clipped log-variance: log β̃_2 at index 0
        var = s.posterior_log_variance_clipped[t].exp()
    if (t == 0 and not noise_at_0) or not noise:
        return mean
    return mean + (var if std_is_var else var**0.5) * torch.randn(xt.shape, generator=g, dtype=xt.dtype)


p_sample_step = Exercise(
    name="p_sample_step",
    doc=r"""Check ``fn(model, xt, t, schedule, generator)``: one step of Algorithm 2 with :math:`\sigma_t^2 = \tilde\beta_t`, no
    noise at t = 0: mean and variance of 20,000 draws against :meth:`gdmcourse.ddpm.DiffusionSchedule.p_mean_variance`.""",
    passed="mean μ_θ, noise of variance β̃_t for t > 0, none at t = 0.",
    reference=lambda model, xt, t, schedule, generator: schedule.p_sample(model, xt, t, generator=generator),
    procedure=_p_sample_step,
    mistakes=[
        Mistake("beta variance", lambda *a: _step(*a, variance="beta"), BETA),
        Mistake("noise at t=0", lambda *a: _step(*a, variance="clipped", noise_at_0=True), NOISE_AT_0),
        Mistake("no noise", lambda *a: _step(*a, noise=False), NO_NOISE),
        Mistake("std is variance", lambda *a: _step(*a, std_is_var=True), STD_IS_VAR),
        Mistake("unseeded", lambda m, x, t, s, g: _step(m, x, t, s, None), STEP_SEEDED),
    ],
)

EXERCISES = [q_sample, q_posterior, ddpm_loss, p_sample_step]

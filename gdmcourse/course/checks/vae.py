"""Exercises of notebook 02 (VAE / ELBO): Gaussian KL, reparameterization, ELBO, IWAE bound."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions import Normal

from ... import vae
from .engine import (MIXED_DEVICE_HINT, NO_GRAD_HINT, Case, Exercise, Mistake, call, close, fail, fmt, generator, parse,
                     reproducible, tensor)

KL = vae.gaussian_kl
LL = vae.bernoulli_log_likelihood
LOG_OF_LOGVAR = "logvar may be negative: σ² = exp(logvar); never take the log or square root of logvar."


def _kl_terms_std(mu: torch.Tensor, lv: torch.Tensor) -> torch.Tensor:  # a wrong KL: σ where σ² belongs
    return 0.5 * (mu**2 + (0.5 * lv).exp() - 1 - lv).sum(-1)


def _zero_at_prior(fn: Any) -> None:
    zero = tensor(call(fn, torch.zeros(2, 5), torch.zeros(2, 5)), "gaussian_kl")
    if not close(zero, KL(torch.zeros(2, 5), torch.zeros(2, 5))):
        fail(f"KL(N(0, I) ‖ N(0, I)) must be 0, got {zero.tolist()}.")


gaussian_kl = Exercise(
    name="gaussian_kl",
    doc=r"""Check ``fn(mu, logvar)`` = :math:`D_{KL}(\mathcal N(\mu, \operatorname{diag} e^{\text{logvar}}) \| \mathcal N(0, I))`
    per example, shape ``(B,)``, against :func:`gdmcourse.vae.gaussian_kl`; differentiable, 0 at the prior.""",
    passed="matches ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²) per example, with gradients.",
    reference=KL,
    cases=lambda: [Case((torch.randn(4, 3, generator=generator(2)), torch.randn(4, 3, generator=generator(22))),
                        "KL for mu, logvar of shape (4, 3)")],
    grad=(0, 1),
    no_grad="the KL does not depend differentiably on mu and logvar (no gradient).",
    properties=[_zero_at_prior],
    finite_hint=LOG_OF_LOGVAR,
    shape_hint="return one KL per example: sum over the latent dimension (dim=-1), giving shape (B,).",
    mistakes=[
        Mistake("missing half", lambda mu, lv: 2 * KL(mu, lv),
                "the closed form has a factor ½: KL = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)."),
        Mistake("sign (lecture's sum)", lambda mu, lv: 0.5 * (1 + lv - mu**2 - lv.exp()).sum(-1),
                "sign error: KL ≥ 0. The lecture's sum (1 + log σ² − μ² − σ²) is −2·KL."),
        Mistake("logvar as log sigma", lambda mu, lv: KL(mu, 2 * lv),
                "logvar is log σ² (the log-variance), so σ² = exp(logvar), not exp(2·logvar) (that treats it as log σ)."),
        Mistake("std for variance", _kl_terms_std,
                "σ² = exp(logvar); exp(logvar / 2) is the standard deviation σ, not the variance."),
        Mistake("log variance halved", lambda mu, lv: KL(mu, lv) + 0.25 * lv.sum(-1), "log σ² is logvar itself, not logvar / 2."),
        Mistake("missing -1", lambda mu, lv: KL(mu, lv) + 0.5 * mu.shape[-1], "you dropped the −1 inside the sum."),
        Mistake("mean over latents", lambda mu, lv: KL(mu, lv) / mu.shape[-1], "sum over the latent dimensions; do not average them."),
        Mistake("sum over batch", lambda mu, lv: KL(mu, lv).sum(),
                "you summed over the batch: return one KL per example (sum over the last dim only)."),
        Mistake("mean over batch", lambda mu, lv: KL(mu, lv).mean(),
                "you averaged over the batch: return one KL per example, shape (B,)."),
        Mistake("wrong axis", lambda mu, lv: KL(mu.T, lv.T),
                "wrong axis: sum over the latent dimension (dim=-1), not over the batch (dim 0)."),
        Mistake("log of logvar", lambda mu, lv: 0.5 * (mu**2 + lv - 1 - lv.log()).sum(-1), LOG_OF_LOGVAR, match=False),
        Mistake("detached", lambda mu, lv: KL(mu, lv).detach(), NO_GRAD_HINT, match=False),
    ],
)

# ---- reparameterize: checked by its statistics, gradients and reproducibility

ADD_MEAN = "add the mean: z = mu + σ ε."
RANDN = "use Gaussian noise torch.randn, not uniform torch.rand."
VAR_AS_STD = "you scaled ε by σ² = exp(logvar); the standard deviation is σ = exp(logvar / 2)."
EXP_2LV = "you scaled ε by exp(2·logvar); the standard deviation is σ = exp(logvar / 2)."
NO_SCALE = "scale the noise by σ = exp(logvar / 2): z = mu + σ ε."
PER_EXAMPLE = "draw ε with the full shape of mu: torch.randn(mu.shape, generator=generator).to(mu.device)."
CUT_GRAPH = ("z must stay differentiable in mu and logvar: compute mu + std * eps with torch ops; Normal(...).sample() "
             "and .detach() cut the graph (use rsample() if you use torch.distributions).")
UNSEEDED = "draw ε with the generator: torch.randn(mu.shape, generator=generator).to(mu.device)."
SQRT_LOGVAR = "σ = exp(logvar / 2); never take the log or square root of logvar."


def _reparameterize(fn: Any) -> None:
    n = 40_000
    mu = torch.tensor([1.5, -2.0]).expand(n, 2).contiguous()
    logvar = torch.log(torch.tensor([0.25, 4.0])).expand(n, 2).contiguous()
    z = tensor(call(fn, mu.clone(), logvar.clone(), generator(0)), "reparameterize", SQRT_LOGVAR)
    if z.shape != mu.shape:
        fail(f"z should have mu's shape {tuple(mu.shape)}, got {tuple(z.shape)}.", PER_EXAMPLE)
    if (z == z[:1]).all():
        fail("every row of z is the same: the noise is not drawn per example.", PER_EXAMPLE)
    mean, std = z.detach().mean(0), z.detach().std(0)
    if ((mean - mu[0]).abs() > torch.tensor([0.02, 0.08])).any():
        fail(f"with μ = (1.5, −2) the sample mean should be ≈ μ, got ({mean[0]:.3f}, {mean[1]:.3f}).",
             ADD_MEAN if mean.abs().max() < 0.1 else RANDN)
    sigma = torch.tensor([0.5, 2.0])
    if ((std - sigma).abs() > 0.03 * sigma).any():
        near = [(sigma**2, VAR_AS_STD), (sigma**4, EXP_2LV), (torch.ones(2), NO_SCALE), (sigma / 3**0.5, RANDN)]
        hint = next((h for v, h in near if torch.allclose(std, v, rtol=0.05)),
                    "z = mu + exp(0.5 * logvar) * eps with eps = torch.randn(mu.shape, generator=generator).")
        fail(f"with σ = (0.5, 2) the sample standard deviation should be ≈ σ, got ({std[0]:.3f}, {std[1]:.3f}).", hint)
    mu_g = torch.tensor([[0.3, -1.0], [2.0, 0.5]], requires_grad=True)  # dz/dμ = 1, dz/dlogvar = ½ (z − μ)
    logvar_g = torch.tensor([[0.2, -0.7], [1.0, 0.0]], requires_grad=True)
    z_g = tensor(call(fn, mu_g, logvar_g, generator(1)), "reparameterize")
    if not z_g.requires_grad:
        fail("no gradient flows from z back to mu and logvar.", CUT_GRAPH)
    d_mu, d_logvar = torch.autograd.grad(z_g.sum(), (mu_g, logvar_g), allow_unused=True)
    if d_mu is None or not torch.allclose(d_mu, torch.ones(2, 2)):
        fail(f"dz/dmu should be 1 for every element, got {None if d_mu is None else d_mu.tolist()}.", CUT_GRAPH)
    if d_logvar is None or not torch.allclose(d_logvar, 0.5 * (z_g.detach() - mu_g.detach()), atol=1e-5):
        fail("dz/dlogvar should be ½ σ ε = ½ (z − μ).",
             "compute σ = exp(0.5 * logvar) from logvar inside the graph (no .detach(), no .item()).")
    reproducible(fn, lambda: (mu[:5], logvar[:5], generator(7)), "samples", UNSEEDED)


def _eps(mu: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    return torch.randn(mu.shape, generator=g)


reparameterize = Exercise(
    name="reparameterize",
    doc=r"""Check ``fn(mu, logvar, generator)`` = :math:`\mu + e^{\text{logvar}/2}\varepsilon` (:func:`gdmcourse.vae.reparameterize`):
    sample mean and standard deviation, gradients dz/dμ = 1 and dz/dlogvar = ½σε, reproducibility.""",
    passed="z = μ + σ ε has the right mean and standard deviation, gradients dz/dμ = 1 and dz/dlogvar = ½σε.",
    reference=vae.reparameterize,
    procedure=_reparameterize,
    device_case=lambda: Case((torch.zeros(4, 2), torch.zeros(4, 2), generator(0)), "a batch of means and log-variances"),
    mistakes=[
        Mistake("variance as std", lambda mu, lv, g=None: mu + lv.exp() * _eps(mu, g), VAR_AS_STD),
        Mistake("logvar as log sigma", lambda mu, lv, g=None: mu + (2 * lv).exp() * _eps(mu, g), EXP_2LV),
        Mistake("no scaling", lambda mu, lv, g=None: mu + _eps(mu, g), NO_SCALE),
        Mistake("no mean", lambda mu, lv, g=None: (0.5 * lv).exp() * _eps(mu, g), ADD_MEAN),
        Mistake("uniform noise", lambda mu, lv, g=None: mu + (0.5 * lv).exp() * torch.rand(mu.shape, generator=g), RANDN),
        Mistake("one eps for the batch", lambda mu, lv, g=None: mu + (0.5 * lv).exp() * torch.randn(mu.shape[-1], generator=g),
                PER_EXAMPLE),
        Mistake("sample, not rsample", lambda mu, lv, g=None: Normal(mu, (0.5 * lv).exp()).sample(), CUT_GRAPH),
        Mistake("detached", lambda mu, lv, g=None: (mu + (0.5 * lv).exp() * _eps(mu, g)).detach(), CUT_GRAPH),
        Mistake("ignores generator", lambda mu, lv, g=None: mu + (0.5 * lv).exp() * torch.randn(mu.shape), UNSEEDED),
        Mistake("sqrt of logvar", lambda mu, lv, g=None: mu + lv.sqrt() * _eps(mu, g), SQRT_LOGVAR),
        Mistake("noise left on the CPU", lambda mu, lv, g=None: mu + (0.5 * lv).exp() * torch.randn(mu.shape, generator=g),
                MIXED_DEVICE_HINT, match=False),
    ],
)

# ---- ELBO = log p(x|z) − KL, per example, stable at large logits

STABLE = ("compute log p(x|z) from the logits (x·logits − softplus(logits), or F.binary_cross_entropy_with_logits); "
          "log(sigmoid(·)) underflows and F.binary_cross_entropy clips each log at −100.")
DEFAULT_REDUCTION = ("use reduction='none' and sum over each example's pixels: F.binary_cross_entropy_with_logits "
                     "averages over everything by default.")


def _elbo_ref(x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return LL(logits, x) - KL(mu, logvar)


def _stable_at_extreme_logits(fn: Any) -> None:
    args = (torch.tensor([1.0, 0.0, 0.0, 1.0]).reshape(1, 1, 2, 2), 200 * torch.tensor([1.0, -1, 1, -1]).reshape(1, 1, 2, 2),
            torch.zeros(1, 2), torch.zeros(1, 2))
    got = parse(call(fn, *args), "elbo at logits ±200", "tensor", finite_hint=STABLE)[0].reshape(-1)
    expected = _elbo_ref(*args)  # two confidently wrong pixels cost 200 nats each
    if not close(got.detach(), expected):
        fail(f"at logits ±200 with two wrong pixels the ELBO is {fmt(expected)} nats, got {got.tolist()}.", STABLE)


def _bce(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)


def _kl_mistake(m: Mistake) -> Mistake:
    return Mistake("kl: " + m.name, lambda x, l, mu, lv: LL(l, x) - m.fn(mu, lv), m.hint)  # type: ignore[operator]


elbo = Exercise(
    name="elbo",
    doc=r"""Check ``fn(x, logits, mu, logvar)`` = :math:`\log p(x|z) - D_{KL}(q\|\mathcal N(0,I))` per example, ``(B,)``,
    against :func:`gdmcourse.vae.bernoulli_log_likelihood` − :func:`gdmcourse.vae.gaussian_kl`; differentiable, stable.

    ``logits`` are the decoder's Bernoulli logits for one sample :math:`z\sim q`; ``x`` binary images ``(B, C, H, W)``;
    ``mu``, ``logvar`` ``(B, J)``.""",
    passed="log p(x|z) summed over pixels minus ½ Σ(μ² + σ² − 1 − log σ²), per example, stable at large logits.",
    reference=_elbo_ref,
    cases=lambda: [Case(((torch.rand(4, 1, 3, 3, generator=generator(3)) < 0.5).float(),
                         2 * torch.randn(4, 1, 3, 3, generator=generator(33)), torch.randn(4, 2, generator=generator(34)),
                         torch.randn(4, 2, generator=generator(35))), "ELBO for a batch of 4 images")],
    grad=(1, 2, 3),
    no_grad="the ELBO does not depend differentiably on logits, mu and logvar.",
    properties=[_stable_at_extreme_logits],
    finite_hint=STABLE,
    shape_hint="return one value per example: sum log p(x|z) over each image's pixels, subtract the per-example KL.",
    mistakes=[
        Mistake("negative elbo", lambda x, l, m, v: -_elbo_ref(x, l, m, v),
                "you returned the loss −ELBO; the ELBO itself is log p(x|z) − KL."),
        Mistake("kl added", lambda x, l, m, v: LL(l, x) + KL(m, v), "subtract the KL term: ELBO = log p(x|z) − KL(q ‖ p(z))."),
        Mistake("bce as log-likelihood", lambda x, l, m, v: -LL(l, x) - KL(m, v),
                "log p(x|z) is minus the binary cross-entropy: ELBO = −BCE − KL."),
        Mistake("mean over pixels", lambda x, l, m, v: -_bce(l, x).mean(1) - KL(m, v),
                "sum the log-likelihood over the pixels; do not average it (F.binary_cross_entropy_with_logits "
                "averages by default: use reduction='none')."),
        Mistake("default bce reduction", lambda x, l, m, v: -F.binary_cross_entropy_with_logits(l, x) - KL(m, v),
                DEFAULT_REDUCTION),
        Mistake("default bce reduction, batch mean",
                lambda x, l, m, v: -F.binary_cross_entropy_with_logits(l, x) - KL(m, v).mean(), DEFAULT_REDUCTION),
        Mistake("batch mean", lambda x, l, m, v: _elbo_ref(x, l, m, v).mean(),
                "return one ELBO per example, shape (B,): do not average over the batch."),
        Mistake("batch sum", lambda x, l, m, v: _elbo_ref(x, l, m, v).sum(),
                "return one ELBO per example, shape (B,): do not sum over the batch."),
        Mistake("no kl", lambda x, l, m, v: LL(l, x), "you forgot the KL term."),
        *[_kl_mistake(m) for m in gaussian_kl.mistakes
          if m.name in ("missing half", "logvar as log sigma", "std for variance", "log variance halved", "missing -1",
                        "mean over latents")],
        Mistake("log of sigmoid", lambda x, l, m, v: (x * torch.sigmoid(l).log() + (1 - x) * (1 - torch.sigmoid(l)).log())
                .flatten(1).sum(1) - KL(m, v), STABLE, match=False),
        Mistake("bce on probabilities", lambda x, l, m, v: -F.binary_cross_entropy(torch.sigmoid(l), x, reduction="none")
                .flatten(1).sum(1) - KL(m, v), STABLE, match=False),
        Mistake("detached", lambda x, l, m, v: _elbo_ref(x, l, m, v).detach(), NO_GRAD_HINT, match=False),
    ],
)

# ---- IWAE bound: log-mean-exp over the k samples

LOGSUMEXP = "exp(−300) underflows to 0: compute log-mean-exp with torch.logsumexp(log_weights, dim=0) − log k."
WRONG_AXIS = "wrong axis: the k samples are along dim 0 (shape (k, B))."


def _k_equals_one(fn: Any) -> None:
    log_w = -300 + 3 * torch.randn(1, 3, generator=generator(4))
    one = tensor(call(fn, log_w.clone()), "iwae_bound with k = 1", LOGSUMEXP)
    if not close(one.reshape(-1), log_w[0]):
        fail("with k = 1 the bound must equal the single log-weight (the ELBO).")


iwae_bound = Exercise(
    name="iwae_bound",
    doc=r"""Check ``fn(log_weights)`` with ``log_weights`` ``(k, B)`` = :math:`\log\frac1k\sum_i e^{\log w_i}` per example,
    ``(B,)``, against :func:`gdmcourse.vae.log_mean_exp`; finite for log-weights around −300, differentiable.""",
    passed="logsumexp over the k samples minus log k, per example, finite for log-weights around −300.",
    reference=vae.log_mean_exp,
    cases=lambda: [Case((-300 + 3 * torch.randn(5, 3, generator=generator(4)),), "bound for log-weights of shape (5, 3)")],
    grad=(0,),
    no_grad="the bound does not depend differentiably on the log-weights.",
    properties=[_k_equals_one],
    finite_hint=LOGSUMEXP,
    shape_hint="reduce over dim 0 (the k samples) and keep the batch: shape (B,).",
    mistakes=[
        Mistake("no log k", lambda lw: torch.logsumexp(lw, 0),
                "subtract log k: the bound is log of the *mean* of the weights, logsumexp(log_w, dim=0) − log k."),
        Mistake("mean of log weights", lambda lw: lw.mean(0),
                "averaging the log-weights gives the (k-sample) ELBO; the IWAE bound averages the weights inside the log: "
                "logsumexp(log_w, dim=0) − log k."),
        Mistake("max", lambda lw: lw.max(0).values, "the max is only the largest term: logsumexp(log_w, dim=0) − log k."),
        Mistake("minus k", lambda lw: torch.logsumexp(lw, 0) - len(lw), "subtract log k, not k."),
        Mistake("wrong axis", lambda lw: vae.log_mean_exp(lw, 1), WRONG_AXIS),
        Mistake("wrong axis, log k", lambda lw: torch.logsumexp(lw, 1) - math.log(len(lw)), WRONG_AXIS),
        Mistake("batch mean", lambda lw: vae.log_mean_exp(lw).mean(),
                "return one bound per example, shape (B,): do not average over the batch."),
        Mistake("batch sum", lambda lw: vae.log_mean_exp(lw).sum(),
                "return one bound per example, shape (B,): do not sum over the batch."),
        Mistake("everything", lambda lw: vae.log_mean_exp(lw.flatten()), "reduce over dim 0 only (the k samples)."),
        Mistake("naive log mean exp", lambda lw: lw.exp().mean(0).log(), LOGSUMEXP, match=False),
    ],
)

EXERCISES = [gaussian_kl, reparameterize, elbo, iwae_bound]

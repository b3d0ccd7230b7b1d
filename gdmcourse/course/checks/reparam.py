"""Exercises of notebook 03 (reparameterization): score-function and pathwise gradients, Gumbel-softmax.

The two gradient estimators are Monte Carlo estimates: they are checked against the exact
gradient of E[f(z)] within 5 standard errors, the standard errors measured on the package's own
estimator (:func:`gdmcourse.reparam.estimator_stats`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions import Normal

from ... import reparam
from .engine import (NOT_IMPLEMENTED_HINT, Case, RAISED_HINT, Exercise, Fail, Mistake, call, fail, generator, parse,
                     reproducible, tensor, within)

M, S = 0.8, 0.6
GRADS = ("grad_mu", "grad_sigma")
UNSEEDED = "draw ε with the generator: torch.randn(n, generator=generator)."


def _pair(value: Any, what: str) -> tuple[float, float]:
    a, b = parse(value, what, "number", GRADS)
    return float(a), float(b)


def _se(estimator: Any, f: Any, n: int) -> tuple[float, float]:
    """Standard errors of an n-sample estimate: the package's per-sample spread over 200,000 draws / √n."""
    stats = reparam.estimator_stats(estimator, f, M, S, n=1, repeats=200_000, generator=generator(5))
    return stats["mu_std"] / n**0.5, stats["sigma_std"] / n**0.5


# ---- score function (REINFORCE)

SF_SUM = "average over the n samples (mean), do not sum."
SF_MU = "∇_μ log N(z; μ, σ²) = (z − μ)/σ²: divide by σ², not σ."
SF_DROP = "∇_σ log N(z; μ, σ²) = ((z − μ)² − σ²)/σ³: you dropped the −σ²."
SF_SIGMA = "∇_σ log N(z; μ, σ²) = ((z − μ)² − σ²)/σ³: divide by σ³."
NEVER_DIFF = "the score-function estimator never differentiates f: it multiplies f(z) by ∇ log N(z; μ, σ²)."


def _score_function(fn: Any) -> None:
    n = 200_000
    se_mu, se_sigma = _se(reparam.score_function_grad, lambda v: v**2, n)
    g_mu, g_sigma = _pair(call(fn, lambda v: v**2, torch.tensor(M), torch.tensor(S), n, generator(0)), "score_function_grad")
    exact_mu, exact_sigma = 2 * M, 2 * S  # E[z²] = μ² + σ²
    if not (within(g_mu, exact_mu, se_mu) and within(g_sigma, exact_sigma, se_sigma)):
        near = [(within(g_mu, n * exact_mu, n * se_mu), SF_SUM), (within(g_mu, exact_mu * S, se_mu * S), SF_MU),
                (within(g_sigma, exact_sigma + (M**2 + S**2) / S, se_sigma), SF_DROP),
                (within(g_sigma, exact_sigma * S, se_sigma * S), SF_SIGMA),
                (not within(g_mu, exact_mu, se_mu), "grad_mu = mean of f(z)·(z − μ)/σ² over samples z = μ + σε.")]
        fail(f"for f(z) = z², μ = 0.8, σ = 0.6 (exact gradient (1.6, 1.2)), got ({g_mu:.4g}, {g_sigma:.4g}) (tolerance 5 "
             f"standard errors ≈ ({5 * se_mu:.3f}, {5 * se_sigma:.3f})).",
             next((h for c, h in near if c), "grad_sigma = mean of f(z)·((z − μ)² − σ²)/σ³ over samples z = μ + σε."))
    c, a = 0.5, (M - 0.5) / S  # a step function: E[f] = Φ(a), no derivative of f needed
    pdf = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    try:
        step = _pair(fn(lambda v: (v > c).to(v.dtype), torch.tensor(M), torch.tensor(S), n, generator(1)),
                     "score_function_grad")
    except Fail:
        raise
    except Exception as error:  # noqa: BLE001 - e.g. autograd through a step function
        fail(f"for the step function f(z) = [z > 0.5] your code raised {type(error).__name__}: {error}", NEVER_DIFF)
    if not (within(step[0], pdf / S, 0.004) and within(step[1], -pdf * a / S, 0.005)):
        fail(f"for the step function f(z) = [z > 0.5] expected ≈ ({pdf / S:.4f}, {-pdf * a / S:.4f}), "
             f"got ({step[0]:.4f}, {step[1]:.4f}).", NEVER_DIFF)
    reproducible(fn, lambda: (lambda v: v**2, torch.tensor(M), torch.tensor(S), 100, generator(9)), "estimates", UNSEEDED)


def _score(f: Any, mu: Any, sigma: Any, n: int, g: Any = None, *, p_mu: int = 2, drop: bool = False, p_sigma: int = 3,
           total: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """A plain student score-function estimator, with switches for the usual slips."""
    z = mu + sigma * torch.randn(n, generator=g)
    s_mu, s_sigma = (z - mu) / sigma**p_mu, ((z - mu) ** 2 - (0 if drop else sigma**2)) / sigma**p_sigma
    red = torch.sum if total else torch.mean
    return red(f(z) * s_mu), red(f(z) * s_sigma)


def _pathwise(f: Any, mu: Any, sigma: Any, n: int, g: Any = None, *, p: int = 1, detach: bool = False,
              total: bool = False, sample: bool = False) -> tuple[torch.Tensor, ...]:
    """A plain student pathwise estimator, with switches for the usual slips."""
    mu, sigma = mu.clone().requires_grad_(True), sigma.clone().requires_grad_(True)
    z = Normal(mu, sigma).sample((n,)) if sample else mu + sigma**p * torch.randn(n, generator=g)
    out = f(z.detach() if detach else z)
    return torch.autograd.grad(out.sum() if total else out.mean(), (mu, sigma))


score_function_grad = Exercise(
    name="score_function_grad",
    doc=r"""Check ``fn(f, mu, sigma, n, generator)`` → ``(grad_mu, grad_sigma)``, the score-function estimate of
    :math:`\nabla_{\mu,\sigma}\mathbb E_{\mathcal N(\mu,\sigma^2)}[f(z)]` (``mu``, ``sigma``: 0-d tensors): unbiased within 5
    standard errors (those of :func:`gdmcourse.reparam.score_function_grad`) for z² and a step function, reproducible.""",
    passed="unbiased for f(z) = z² and for a step function (no derivative needed), reproducible.",
    reference=reparam.score_function_grad,
    procedure=_score_function,
    mistakes=[
        Mistake("mu over sigma", lambda *a: _score(*a, p_mu=1), SF_MU),
        Mistake("dropped -sigma^2", lambda *a: _score(*a, drop=True), SF_DROP),
        Mistake("sigma power 2", lambda *a: _score(*a, p_sigma=2), SF_SIGMA),
        Mistake("sum over samples", lambda *a: _score(*a, total=True), SF_SUM),
        Mistake("pathwise instead", _pathwise, NEVER_DIFF),
        Mistake("ignores generator", lambda f, mu, s, n, g=None: _score(f, mu, s, n, None), UNSEEDED),
        Mistake("one output", lambda *a: _score(*a)[0], "end with `return grad_mu, grad_sigma`."),
    ],
)

# ---- pathwise (reparameterization)

NO_GRAPH = ("f received samples z that carry no gradient. Build z = mu + sigma * eps from mu and sigma that require "
            "grad (like Normal.rsample(); .sample() and .detach() cut the graph), then differentiate the mean of f(z) "
            "with torch.autograd.grad. Multiplying f(z) by the score is the other estimator.")
PW_SUM = "average f(z) over the n samples (mean), do not sum."
PW_SIGMA2 = "z = mu + sigma * eps: scale eps by sigma, not sigma²."


def _pathwise_check(fn: Any) -> None:
    n, seen = 100_000, {}

    def probe_sin(v: torch.Tensor) -> torch.Tensor:
        seen["grad"] = seen.get("grad", False) or bool(getattr(v, "requires_grad", False))
        return torch.sin(v)

    try:
        result = fn(probe_sin, torch.tensor(M), torch.tensor(S), n, generator(0))
    except NotImplementedError:
        fail("not implemented yet (the function still raises NotImplementedError).", NOT_IMPLEMENTED_HINT)
    except Exception as error:  # noqa: BLE001 - any student error becomes a verdict
        fail(f"your code raised {type(error).__name__}: {error}", NO_GRAPH if seen and not seen["grad"] else RAISED_HINT)
    if seen and not seen["grad"]:
        fail("the samples z passed to f do not depend differentiably on mu and sigma.", NO_GRAPH)
    g_mu, g_sigma = _pair(result, "pathwise_grad")
    damp = math.exp(-S * S / 2)  # E[sin z] = sin μ · e^{−σ²/2}
    exact_mu, exact_sigma = math.cos(M) * damp, -S * math.sin(M) * damp
    se_mu, se_sigma = _se(reparam.pathwise_grad, torch.sin, n)
    if not (within(g_mu, exact_mu, se_mu) and within(g_sigma, exact_sigma, se_sigma)):
        near = [(within(g_mu, n * exact_mu, n * se_mu), PW_SUM),
                (within(g_mu, math.cos(M) * math.exp(-S**4 / 2), se_mu), PW_SIGMA2),
                (within(g_mu, exact_mu, se_mu) and abs(g_sigma) < 1e-12,
                 "sigma got no gradient: z = mu + sigma * eps must use the sigma that requires grad.")]
        fail(f"for f(z) = sin z, μ = 0.8, σ = 0.6 expected ≈ ({exact_mu:.4f}, {exact_sigma:.4f}), got ({g_mu:.4g}, "
             f"{g_sigma:.4g}).", next((h for c, h in near if c), "z = mu + sigma * eps (sigma is the standard deviation), "
                                                                 "eps = torch.randn(n, generator=generator)."))
    sq = _pair(call(fn, lambda v: v**2, torch.tensor(M), torch.tensor(S), n, generator(2)), "pathwise_grad")
    if not (within(sq[0], 2 * M, 2 * S / n**0.5) and within(sq[1], 2 * S, 2 * S * 2**0.5 / n**0.5)):
        fail(f"for f(z) = z² expected ≈ (1.6, 1.2), got ({sq[0]:.4g}, {sq[1]:.4g}).",
             PW_SIGMA2 if within(sq[1], 4 * S**3, 0.02) else "z = mu + sigma * eps, then autograd of f(z).mean().")
    reproducible(fn, lambda: (torch.sin, torch.tensor(M), torch.tensor(S), 50, generator(9)), "estimates", UNSEEDED)


pathwise_grad = Exercise(
    name="pathwise_grad",
    doc=r"""Check ``fn(f, mu, sigma, n, generator)`` → ``(grad_mu, grad_sigma)``, the pathwise (reparametrization) estimate
    of :math:`\nabla_{\mu,\sigma}\mathbb E_{\mathcal N(\mu,\sigma^2)}[f(z)]`: f sees differentiable samples, unbiased within
    5 standard errors (those of :func:`gdmcourse.reparam.pathwise_grad`) for sin z and z², reproducible.""",
    passed="differentiates through z = μ + σε; unbiased for sin z and z², reproducible.",
    reference=reparam.pathwise_grad,
    procedure=_pathwise_check,
    mistakes=[
        Mistake("sample, not rsample", lambda *a: _pathwise(*a, sample=True), NO_GRAPH),
        Mistake("detached", lambda *a: _pathwise(*a, detach=True), NO_GRAPH),
        Mistake("score function instead", reparam.score_function_grad, NO_GRAPH),
        Mistake("sigma squared", lambda *a: _pathwise(*a, p=2), PW_SIGMA2),
        Mistake("sum over samples", lambda *a: _pathwise(*a, total=True), PW_SUM),
        Mistake("ignores generator", lambda f, mu, s, n, g=None: _pathwise(f, mu, s, n, None), UNSEEDED),
    ],
)

# ---- Gumbel-softmax

GUMBEL = ("use Gumbel noise g = −log(−log U) with U ~ Uniform(0, 1) (not Gaussian noise, not log(−log U)), added to "
          "the logits.")
NO_NOISE = "add Gumbel noise g = −log(−log U), U = torch.rand(logits.shape, generator=generator)."
TAU_OUTSIDE = "divide the noisy logits by τ: softmax((logits + g) / τ), not softmax(logits / τ + g)."
TAU_IGNORED = "the output does not depend on τ: divide (logits + g) by tau before the softmax."
TAU_MULTIPLIES = "divide by tau (do not multiply): softmax((logits + g) / tau)."
STRAIGHT_THROUGH = ("straight-through: return y_hard − y.detach() + y, so the forward value is one-hot and the gradient "
                    "is the soft one.")
ARGMAX_OF_SAMPLE = "take the argmax of the relaxed sample y (with the same noise), not of the logits."
SIMPLEX = "apply the softmax over the categories: F.softmax((logits + g) / tau, dim=-1)."
GS_UNSEEDED = "draw U with the generator: torch.rand(logits.shape, generator=generator)."


def _gumbel(fn: Any) -> None:
    from scipy.stats import chi2

    logits, n = torch.tensor([1.0, 0.0, -1.0, 0.5]), 20_000
    probs = F.softmax(logits, -1).double()

    def draw(tau: float, seed: int) -> torch.Tensor:
        return tensor(call(fn, logits.expand(n, 4).clone(), tau, hard=False, generator=generator(seed)), "gumbel_softmax",
                      "g = −log(−log U) needs U strictly inside (0, 1); clamp U or use torch.finfo(...).tiny.").detach()

    def follows_softmax(y: torch.Tensor) -> bool:
        counts = torch.bincount(y.argmax(-1), minlength=4).double()
        return float(chi2.sf(((counts - probs * n) ** 2 / (probs * n)).sum().item(), 3)) >= 1e-5

    y = draw(1.0, 0)
    if y.shape != (n, 4):
        fail(f"for logits of shape ({n}, 4) the output should have that shape, got {tuple(y.shape)}.")
    if (y < 0).any() or not torch.allclose(y.sum(-1), torch.ones(n), atol=1e-4):
        fail("each sample must lie on the simplex (non-negative, summing to 1 over the last dim).", SIMPLEX)
    if torch.equal(y, draw(1.0, 1)):
        fail("two different seeds gave the same output: no noise was added.", NO_NOISE)
    if not torch.equal(y, draw(1.0, 0)):
        fail("two calls with identically seeded generators gave different samples.", GS_UNSEEDED)
    if not follows_softmax(y):
        freq = torch.bincount(y.argmax(-1), minlength=4).double() / n
        fail(f"the argmax of the samples should be distributed as softmax(logits) = {[round(p, 3) for p in probs.tolist()]}, "
             f"got frequencies {[round(f, 3) for f in freq.tolist()]}.", GUMBEL)
    cold, hot = draw(0.05, 2), draw(5.0, 3)
    if not follows_softmax(cold):
        fail("at τ = 0.05 the argmax no longer follows softmax(logits).", TAU_OUTSIDE)
    sharp_cold, sharp_hot = cold.max(-1).values.mean().item(), hot.max(-1).values.mean().item()
    if abs(sharp_cold - sharp_hot) < 1e-3:
        fail("the output does not depend on τ.", TAU_IGNORED)
    if not sharp_cold > 0.95 > 0.5 > sharp_hot:
        fail(f"small τ should give nearly one-hot samples and large τ nearly uniform ones; the mean largest entry was "
             f"{sharp_cold:.3f} at τ = 0.05 and {sharp_hot:.3f} at τ = 5.", TAU_MULTIPLIES)
    small, weights = torch.randn(6, 5, generator=generator(4)), torch.randn(6, 5, generator=generator(5))
    lg_hard, lg_soft = small.clone().requires_grad_(True), small.clone().requires_grad_(True)
    y_hard = tensor(call(fn, lg_hard, 0.7, hard=True, generator=generator(6)), "gumbel_softmax")
    y_soft = tensor(call(fn, lg_soft, 0.7, hard=False, generator=generator(6)), "gumbel_softmax")
    if not torch.allclose(y_hard.detach(), F.one_hot(y_soft.detach().argmax(-1), 5).to(y_hard.dtype), atol=1e-6):
        fail("with hard=True the output should be the one-hot vector of the soft sample's argmax.",
             ARGMAX_OF_SAMPLE if set(y_hard.detach().unique().tolist()) <= {0.0, 1.0}
             else "with hard=True the forward value is one-hot: F.one_hot(y.argmax(-1), K).")
    if not y_hard.requires_grad:
        fail("with hard=True no gradient reaches the logits.", STRAIGHT_THROUGH)
    (g_hard,) = torch.autograd.grad((y_hard * weights).sum(), lg_hard, allow_unused=True)
    (g_soft,) = torch.autograd.grad((y_soft * weights).sum(), lg_soft, allow_unused=True)
    if g_hard is None or g_soft is None or not torch.allclose(g_hard, g_soft, atol=1e-5):
        fail("with hard=True the gradient should equal the soft sample's gradient.", STRAIGHT_THROUGH)


def _gs(logits: torch.Tensor, tau: float, hard: bool = False, generator: Any = None, *, noise: str = "gumbel",
        scale: str = "divide", st: bool = True, argmax_of: str = "sample") -> torch.Tensor:
    """A plain student Gumbel-softmax, with switches for the usual slips."""
    u = torch.rand(logits.shape, generator=generator)
    g = {"gumbel": -torch.log(-torch.log(u)), "none": torch.zeros(logits.shape), "neg": torch.log(-torch.log(u)),
         "gaussian": torch.randn(logits.shape, generator=generator)}[noise]
    z = {"divide": (logits + g) / tau, "logits only": logits / tau + g, "ignored": logits + g, "multiply": (logits + g) * tau}
    y = F.softmax(z[scale], -1)
    if not hard:
        return y
    y_hard = F.one_hot((y if argmax_of == "sample" else logits).argmax(-1), logits.shape[-1]).to(y.dtype)
    return y_hard - y.detach() + y if st else y_hard


gumbel_softmax = Exercise(
    name="gumbel_softmax",
    doc=r"""Check ``fn(logits, tau, hard=False, generator=None)`` (:func:`gdmcourse.reparam.gumbel_softmax`): samples on the
    simplex, argmax distributed as softmax(logits) (χ² test), sharper as τ → 0, reproducible; hard=True is the one-hot
    argmax of the soft sample with its gradient (straight-through).""",
    passed="samples on the simplex whose argmax follows softmax(logits), sharper as τ → 0; hard=True is one-hot with the "
           "soft gradient.",
    reference=reparam.gumbel_softmax,
    procedure=_gumbel,
    device_case=lambda: Case((torch.zeros(3, 4), 0.5), "a batch of logits", {"generator": generator(0)}),
    mistakes=[
        Mistake("no noise", lambda *a, **k: _gs(*a, **k, noise="none"), NO_NOISE),
        Mistake("gaussian noise", lambda *a, **k: _gs(*a, **k, noise="gaussian"), GUMBEL),
        Mistake("sign error", lambda *a, **k: _gs(*a, **k, noise="neg"), GUMBEL),
        Mistake("tau on logits only", lambda *a, **k: _gs(*a, **k, scale="logits only"), TAU_OUTSIDE),
        Mistake("tau ignored", lambda *a, **k: _gs(*a, **k, scale="ignored"), TAU_IGNORED),
        Mistake("tau multiplies", lambda *a, **k: _gs(*a, **k, scale="multiply"), TAU_MULTIPLIES),
        Mistake("hard without straight-through", lambda *a, **k: _gs(*a, **k, st=False), STRAIGHT_THROUGH),
        Mistake("hard argmax of logits", lambda *a, **k: _gs(*a, **k, argmax_of="logits"), ARGMAX_OF_SAMPLE),
        Mistake("softmax over batch", lambda lg, tau, hard=False, generator=None:
                F.softmax((lg - torch.log(-torch.log(torch.rand(lg.shape, generator=generator)))) / tau, 0), SIMPLEX),
        Mistake("ignores generator", lambda lg, tau, hard=False, generator=None: _gs(lg, tau, hard, None), GS_UNSEEDED),
    ],
)

EXERCISES = [score_function_grad, pathwise_grad, gumbel_softmax]

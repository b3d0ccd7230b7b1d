"""Exercises of notebook 04 (GAN optimality): D*, Jensen–Shannon divergence, the GAN losses."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ... import gan
from .engine import Case, Exercise, Mistake, generator

ls = F.logsigmoid
LOGSIGMOID = ("compute log σ(ℓ) with F.logsigmoid(ℓ) and log(1 − σ(ℓ)) with F.logsigmoid(−ℓ); torch.log(torch.sigmoid(ℓ)) "
              "underflows to log 0 = −inf for large logits.")
EXTREME = torch.tensor([-200.0, -30.0, 0.0, 30.0, 200.0])


def _logits() -> tuple[torch.Tensor, torch.Tensor]:
    g = generator(42)
    return 2 * torch.randn(7, generator=g), 2 * torch.randn(5, generator=g)


def _no_half(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return torch.where(p + q > 0, p / (p + q), torch.full_like(p, math.nan))


HALF = "every D is optimal where p_data = p_model = 0 (0 / 0 is nan there): return 1/2, e.g. torch.where(total > 0, p_data / total, 0.5)."

optimal_discriminator = Exercise(
    name="optimal_discriminator",
    doc=r"""Check ``fn(p_data, p_model)`` = :math:`p_{data}/(p_{data} + p_G)` elementwise, 1/2 where both are 0, against
    :func:`gdmcourse.gan.optimal_discriminator`.""",
    passed="D* = p_data / (p_data + p_model), and 1/2 where both densities vanish.",
    reference=gan.optimal_discriminator,
    cases=lambda: [Case((torch.rand(3, 5, generator=generator(40)) + 0.05, torch.rand(3, 5, generator=generator(41)) + 0.05),
                        "D* for densities of shape (3, 5)"),
                   Case((torch.tensor([0.0, 0.0, 2.0, 0.0]), torch.tensor([0.0, 1.0, 0.0, 3.0])),
                        "D* for p_data = [0, 0, 2, 0], p_model = [0, 1, 0, 3]")],
    finite_hint=HALF,
    shape_hint="return a tensor of the inputs' shape (elementwise).",
    generic_hint="D* = 1 where only the data has mass, 0 where only the model has, 1/2 where neither has.",
    mistakes=[
        Mistake("swapped", lambda p, q: q / (p + q), "D* is the probability that x is REAL: p_data on top, p_data / (p_data + p_model)."),
        Mistake("over model", lambda p, q: p / q, "divide by the sum p_data + p_model, not by p_model alone (D* must lie in [0, 1])."),
        Mistake("over the total", lambda p, q: p / (p + q).sum(),
                "elementwise: divide each p_data(x) by p_data(x) + p_model(x), not by a total."),
        Mistake("nan at 0/0", _no_half, HALF, match=False),
    ],
)


def _kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:  # a wrong JSD is built from plain KLs
    return torch.where(p > 0, p * (p.clamp_min(1e-300).log() - q.clamp_min(1e-300).log()), torch.zeros_like(p)).sum(-1)


MIXTURE = "compare each distribution with the mixture m = (p + q)/2, not with each other."
PER_ROW = "return one JSD per row (sum over the last dim only), shape (4,)."
ZERO_LOG = "0 log 0 counts as 0: drop the terms with p_k = 0, e.g. torch.where(p > 0, p * (p.log() - m.log()), 0)."

jensen_shannon = Exercise(
    name="jensen_shannon",
    doc=r"""Check ``fn(p, q)`` = JSD over the last dim, in nats, batched, with zero probabilities and disjoint supports,
    against :func:`gdmcourse.gan.jensen_shannon`.""",
    passed="matches ½ KL(p‖m) + ½ KL(q‖m) in nats, per row, and handles zero probabilities.",
    reference=gan.jensen_shannon,
    cases=lambda: [Case((torch.softmax(2 * torch.randn(4, 6, generator=generator(41), dtype=torch.float64), -1),
                         torch.softmax(2 * torch.randn(4, 6, generator=generator(43), dtype=torch.float64), -1)),
                        "JSD of p, q of shape (4, 6)"),
                   Case((torch.tensor([0.5, 0.5, 0.0]), torch.tensor([0.0, 0.5, 0.5])), "JSD([½, ½, 0], [0, ½, ½])"),
                   Case((torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])), "JSD of disjoint distributions")],
    finite_hint=ZERO_LOG,
    shape_hint="sum over the last dimension only: for inputs (4, 6) return shape (4,).",
    mistakes=[
        Mistake("bits", lambda p, q: gan.jensen_shannon(p, q) / math.log(2), "use the natural logarithm (nats), not log base 2 (bits)."),
        Mistake("no half", lambda p, q: 2 * gan.jensen_shannon(p, q), "JSD has factors ½: ½ KL(p‖m) + ½ KL(q‖m)."),
        Mistake("symmetric KL", lambda p, q: _kl(p, q) + _kl(q, p), MIXTURE),
        Mistake("half symmetric KL", lambda p, q: 0.5 * _kl(p, q) + 0.5 * _kl(q, p), MIXTURE),
        Mistake("KL(p|q)", _kl, "JSD is not KL(p‖q): use the mixture m = (p + q)/2 on both sides."),
        Mistake("difference", lambda p, q: 0.5 * _kl(p, (p + q) / 2) - 0.5 * _kl(q, (p + q) / 2),
                "both KL terms are added: ½ KL(p‖m) + ½ KL(q‖m)."),
        Mistake("sum", lambda p, q: gan.jensen_shannon(p, q).sum(), PER_ROW),
        Mistake("mean", lambda p, q: gan.jensen_shannon(p, q).mean(), PER_ROW),
        Mistake("nan with zeros", lambda p, q: 0.5 * (p * (2 * p / (p + q)).log()).sum(-1)
                + 0.5 * (q * (2 * q / (p + q)).log()).sum(-1), ZERO_LOG, match=False),
    ],
)

MINUS = "the discriminator MINIMISES the negated value: put a minus sign in front."

discriminator_loss = Exercise(
    name="discriminator_loss",
    doc=r"""Check ``fn(real_logits, fake_logits)`` = :math:`-\overline{\log\sigma(\ell_r)} - \overline{\log\sigma(-\ell_f)}`
    against :func:`gdmcourse.gan.discriminator_loss`, also for logits of ±200.""",
    passed="matches −mean log σ(ℓ_real) − mean log σ(−ℓ_fake), stable for large logits.",
    reference=gan.discriminator_loss,
    cases=lambda: [Case(_logits(), "loss for 7 real and 5 fake logits"),
                   Case((EXTREME, EXTREME), "loss for logits [−200, −30, 0, 30, 200]")],
    finite_hint=LOGSIGMOID,
    shape_hint="return one number: the mean over each batch, summed.",
    mistakes=[
        Mistake("sign", lambda r, f: ls(r).mean() + ls(-f).mean(), MINUS),
        Mistake("labels swapped", lambda r, f: -ls(-r).mean() - ls(f).mean(),
                "labels swapped: real samples should get D → 1, i.e. the term −log σ(ℓ_real)."),
        Mistake("sum", lambda r, f: -ls(r).sum() - ls(-f).sum(), "average over each batch (mean), do not sum."),
        Mistake("fake term", lambda r, f: -ls(r).mean() - ls(f).mean(),
                "for generated samples the term is log(1 − D) = logsigmoid(−ℓ_fake)."),
        Mistake("probabilities", lambda r, f: -torch.log(r.clamp_min(1e-12)).mean(),
                "the inputs are logits, not probabilities: D = σ(ℓ)."),
        Mistake("unstable", lambda r, f: -torch.sigmoid(r).log().mean() - (1 - torch.sigmoid(f)).log().mean(), LOGSIGMOID,
                match=False),
    ],
)


def _generator_loss(name: str, reference: object, formula: str, doc: str, mistakes: list[Mistake]) -> Exercise:
    return Exercise(
        name=name, doc=doc + " Also for logits of ±200.", passed=f"matches {formula}, stable for large logits.",
        reference=reference,  # type: ignore[arg-type]
        cases=lambda: [Case(_logits()[1:], "loss for 5 fake logits"), Case((EXTREME,), "loss for logits [−200, −30, 0, 30, 200]")],
        finite_hint=LOGSIGMOID, shape_hint="return one number: the mean over the batch.", mistakes=mistakes)


generator_loss_minimax = _generator_loss(
    "generator_loss_minimax", gan.generator_loss_minimax, "mean log(1 − D(G(z)))",
    r"""Check ``fn(fake_logits)`` = :math:`\overline{\log(1 - \sigma(\ell))}` (minimised by the generator) against
    :func:`gdmcourse.gan.generator_loss_minimax`.""",
    [Mistake("sign", lambda f: -ls(-f).mean(), "no minus sign: the generator minimises the game's value, log(1 − D(G(z)))."),
     Mistake("non-saturating", gan.generator_loss_nonsaturating,
             "that is the non-saturating loss −log D(G(z)); here write the minimax one, log(1 − D)."),
     Mistake("logsigmoid of ℓ", lambda f: ls(f).mean(), "log(1 − D) = logsigmoid(−ℓ), not logsigmoid(ℓ)."),
     Mistake("sum", lambda f: ls(-f).sum(), "average over the batch (mean), do not sum."),
     Mistake("unstable", lambda f: (1 - torch.sigmoid(f)).log().mean(), LOGSIGMOID, match=False)])

generator_loss_nonsaturating = _generator_loss(
    "generator_loss_nonsaturating", gan.generator_loss_nonsaturating, "−mean log D(G(z))",
    r"""Check ``fn(fake_logits)`` = :math:`-\overline{\log \sigma(\ell)}` against :func:`gdmcourse.gan.generator_loss_nonsaturating`.""",
    [Mistake("sign", lambda f: ls(f).mean(), "missing minus sign: the generator minimises −log D(G(z))."),
     Mistake("minimax", gan.generator_loss_minimax, "that is the minimax loss log(1 − D); the non-saturating one is −log D(G(z))."),
     Mistake("logsigmoid of −ℓ", lambda f: -ls(-f).mean(), "−log D = −logsigmoid(ℓ), not −logsigmoid(−ℓ)."),
     Mistake("sum", lambda f: -ls(f).sum(), "average over the batch (mean), do not sum."),
     Mistake("unstable", lambda f: -torch.sigmoid(f).log().mean(), LOGSIGMOID, match=False)])

EXERCISES = [optimal_discriminator, jensen_shannon, discriminator_loss, generator_loss_minimax, generator_loss_nonsaturating]

# ---- what the non-saturating generator loss is at the optimal discriminator (checked against scipy's KL)


def _ns_at_optimum_scipy(p: torch.Tensor, q: torch.Tensor) -> float:
    r"""E_q[−log D*] = KL(q‖p) + log 2 − KL(q‖m), m = (p + q)/2: with D* = p/(p+q),
    −log D* = log(q/p) + log((p+q)/q) = log(q/p) + log 2 − log(q/m); scipy.stats.entropy gives the KLs."""
    from scipy.stats import entropy

    p_, q_ = p.detach().double().numpy(), q.detach().double().numpy()
    m = (p_ + q_) / 2
    return float(entropy(q_, p_) + math.log(2) - entropy(q_, m))


def _ns_cases() -> list[Case]:
    g = generator(44)
    p, q = torch.rand(6, generator=g, dtype=torch.float64) + 0.1, torch.rand(6, generator=g, dtype=torch.float64) + 0.1
    q_gap = q.clone()
    q_gap[2] = 0.0  # the model puts no mass on one outcome the data has
    return [Case((p / p.sum(), q / q.sum()), "two distributions on 6 outcomes"),
            Case((p / p.sum(), p / p.sum()), "p_model = p_data (then D* = ½ and the loss is log 2)", scale=math.log(2)),
            Case((p / p.sum(), q_gap / q_gap.sum()), "a model with no mass on outcome 2 (its terms count 0)"),
            Case(((p / p.sum()).float(), (q / q.sum()).float()), "two distributions in float32")]


def _ns(p: torch.Tensor, q: torch.Tensor, *, under: str = "model", d: str = "p", loss: str = "-log D") -> torch.Tensor:
    d_star = p / (p + q) if d == "p" else q / (p + q)
    term = {"-log D": -torch.log(d_star), "log(1-D)": torch.log1p(-d_star), "log D": torch.log(d_star)}[loss]
    weights = {"model": q, "data": p, "uniform": torch.full_like(q, 1 / len(q))}[under]
    return (weights * term.nan_to_num(posinf=0.0, neginf=0.0)).sum()


nonsaturating_at_optimum = Exercise(
    name="nonsaturating_at_optimum",
    doc=r"""Check ``fn(p_data, p_model)`` = :math:`\mathbb E_{x\sim p_{model}}[-\log D^*(x)]` with
    :math:`D^* = p_{data}/(p_{data}+p_{model})`, for discrete distributions, against the identity
    :math:`\mathrm{KL}(q\|p) + \log 2 - \mathrm{KL}(q\|m)` evaluated with :func:`scipy.stats.entropy`.""",
    passed="E_q[−log D*] = KL(q‖p) + log 2 − KL(q‖m), matching scipy's KL divergences (log 2 when q = p).",
    reference=_ns_at_optimum_scipy,
    cases=_ns_cases,
    output="number",
    points=2.0,
    finite_hint="an outcome with p_model = 0 contributes 0 to E_{p_model}[...]: weight the terms by p_model "
                "(0 · log(...) = 0), e.g. with torch.where or torch.xlogy.",
    mistakes=[
        Mistake("under the data", lambda p, q: _ns(p, q, under="data"),
                "the generator's loss averages over ITS samples: weight by p_model, not p_data."),
        Mistake("minimax loss", lambda p, q: _ns(p, q, loss="log(1-D)"),
                "that is the minimax (saturating) loss E[log(1 − D*)]; the non-saturating one is E[−log D*]."),
        Mistake("missing minus", lambda p, q: _ns(p, q, loss="log D"), "the loss is −log D*: you dropped the minus sign."),
        Mistake("D* swapped", lambda p, q: _ns(p, q, d="q"), "D*(x) = p_data/(p_data + p_model): the DATA density on top."),
        Mistake("unweighted mean", lambda p, q: _ns(p, q, under="uniform"),
                "an expectation under p_model weights each outcome by p_model(x); a plain mean weights them equally."),
    ],
)

EXERCISES += [nonsaturating_at_optimum]

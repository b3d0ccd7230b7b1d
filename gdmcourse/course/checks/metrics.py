"""Exercises of notebook 09 (evaluation): Fréchet distance, Inception Score, precision and recall."""

from __future__ import annotations

import math

import torch

from ... import metrics
from .engine import Case, Exercise, Mistake, generator


def _gaussians() -> tuple[torch.Tensor, ...]:
    g = generator(90)
    a, b = torch.randn(4, 4, generator=g, dtype=torch.float64), torch.randn(4, 4, generator=g, dtype=torch.float64)
    eye = 0.1 * torch.eye(4, dtype=torch.float64)
    m1, m2 = torch.randn(4, generator=g, dtype=torch.float64), torch.randn(4, generator=g, dtype=torch.float64)
    return m1, a @ a.T + eye, m2, b @ b.T + eye


def _fd_cases() -> list[Case]:
    m1, s1, m2, s2 = _gaussians()
    # at Σ₁ = Σ₂ the terms Tr Σ₁ + Tr Σ₂ and 2 Tr (Σ₁Σ₂)^½ cancel: the tolerance scales with their size
    cancel = float(4 * s1.trace())
    return [Case((m1, s1, m2, s2), "Fréchet distance of two 4-D Gaussians"),
            Case((m1, s1, m1, s1), "distance of a Gaussian to itself (0)", scale=cancel),
            Case(tuple(a.float() for a in (m1, s1, m2, s2)), "Fréchet distance of two 4-D Gaussians in float32")]


def _fd(m1: torch.Tensor, s1: torch.Tensor, m2: torch.Tensor, s2: torch.Tensor, *, factor: float = 2.0,
        cross: str = "sqrtm", mean: str = "squared") -> float:
    """A plain student Fréchet distance (via scipy's sqrtm), with switches for the usual slips."""
    from scipy.linalg import sqrtm

    d2 = float(((m1 - m2) ** 2).sum())
    mean_term = {"squared": d2, "root": math.sqrt(d2), "none": 0.0}[mean]
    root = {"sqrtm": lambda: float(sqrtm(s1.numpy() @ s2.numpy()).real.trace()),
            "elementwise": lambda: float(torch.sqrt(s1 * s2).nan_to_num().trace()),
            "sqrt of trace": lambda: math.sqrt(float(torch.trace(s1 @ s2)))}[cross]()
    return mean_term + float(torch.trace(s1) + torch.trace(s2)) - factor * root


frechet_distance = Exercise(
    name="frechet_distance",
    doc=r"""Check ``fn(mu1, sigma1, mu2, sigma2)`` = :math:`\|\mu_1-\mu_2\|^2 + \mathrm{Tr}(\Sigma_1 + \Sigma_2 - 2(\Sigma_1\Sigma_2)^{1/2})`
    against :func:`gdmcourse.metrics.frechet_distance` (which takes another route to the trace), and 0 for equal Gaussians.""",
    passed="‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½), matching scipy's sqrtm, and 0 for equal Gaussians.",
    reference=metrics.frechet_distance,
    cases=_fd_cases,
    output="number",
    rtol=1e-5,
    finite_hint="look for a square root of a negative number or a log of 0.",
    mistakes=[
        Mistake("factor 1", lambda *a: _fd(*a, factor=1.0), "the cross term is −2·Tr((Σ₁Σ₂)^½): you have the factor 1."),
        Mistake("elementwise sqrt", lambda *a: _fd(*a, cross="elementwise"),
                "(Σ₁Σ₂)^½ is a MATRIX square root (of the product), not the element-wise sqrt of Σ₁ ⊙ Σ₂."),
        Mistake("no mean term", lambda *a: _fd(*a, mean="none"), "add the squared distance between the means, ‖μ₁ − μ₂‖²."),
        Mistake("mean not squared", lambda *a: _fd(*a, mean="root"), "the mean term is SQUARED: ‖μ₁ − μ₂‖²."),
        Mistake("sqrt of trace", lambda *a: _fd(*a, cross="sqrt of trace"),
                "Tr(M^½) is not √Tr(M): take the matrix square root first, then the trace."),
    ],
)


def _probs() -> torch.Tensor:
    probs = torch.softmax(3 * torch.randn(50, 6, generator=generator(91), dtype=torch.float64), dim=1)
    probs[0] = torch.tensor([1.0, 0, 0, 0, 0, 0], dtype=torch.float64)  # a zero probability: 0 log 0 = 0
    return probs


def _is(p: torch.Tensor, *, reverse: bool = False, exp: str = "of mean", marginal_only: bool = False) -> float:
    """A plain student Inception Score, with switches for the usual slips."""
    py = p.mean(0, keepdim=True)
    lp = p.clamp_min(1e-300).log()
    if marginal_only:
        return float((-(py * py.log()).sum()).exp())
    kl = (py * (py.log() - lp)).sum(1) if reverse else torch.where(p > 0, p * (lp - py.log()), torch.zeros_like(p)).sum(1)
    return {"of mean": kl.mean().exp(), "none": kl.mean(), "mean of": kl.exp().mean()}[exp].item()


inception_score = Exercise(
    name="inception_score",
    doc=r"""Check ``fn(probs (N, K))`` = :math:`\exp \frac1N\sum_i \mathrm{KL}(p(y|x_i) \| p(y))` (one split) against
    :func:`gdmcourse.metrics.inception_score` ``(probs, splits=1)``, with a zero probability, and 1 for uniform predictions.""",
    passed="exp of the mean KL(p(y|x) ‖ p(y)): 1 for uninformative predictions, up to K.",
    reference=lambda probs: metrics.inception_score(probs, splits=1)[0],
    cases=lambda: [Case((_probs(),), "IS of 50 predictions over 6 classes"),
                   Case((torch.full((20, 4), 0.25, dtype=torch.float64),), "IS of identical uniform predictions (1)")],
    output="number",
    rtol=1e-5,
    finite_hint="0 log 0 counts as 0: drop the terms with p = 0.",
    mistakes=[
        Mistake("no exp", lambda p: _is(p, exp="none"), "exponentiate: IS = exp(mean KL)."),
        Mistake("reversed KL", lambda p: _is(p, reverse=True), "the KL is KL(p(y|x) ‖ p(y)): conditional first, marginal second."),
        Mistake("mean of exps", lambda p: _is(p, exp="mean of"),
                "average the KLs first, then take exp (exp of the mean, not the mean of exps)."),
        Mistake("marginal entropy", lambda p: _is(p, marginal_only=True),
                "that is exp of the marginal's entropy alone; subtract the mean entropy of p(y|x) (that is what the KL does)."),
    ],
)


def _pr(real: torch.Tensor, fake: torch.Tensor, k: int, *, swap: bool = False,
        self_neighbour: bool = False) -> tuple[float, float]:
    """Precision and recall with the usual slips: swapped, or each point counted as its own neighbour."""
    if self_neighbour:
        def radii(x: torch.Tensor) -> torch.Tensor:
            return torch.cdist(x, x).sort(dim=1).values[:, k - 1]
        return ((torch.cdist(fake, real) <= radii(real)[None]).any(1).double().mean().item(),
                (torch.cdist(real, fake) <= radii(fake)[None]).any(1).double().mean().item())
    p, r = metrics.precision_recall(real, fake, k=k)
    return (r, p) if swap else (p, r)


precision_recall = Exercise(
    name="precision_recall",
    doc="""Check ``fn(real (N, D), fake (M, D), k)`` → ``(precision, recall)`` with k-NN balls (Kynkäänniemi et al.) against
    :func:`gdmcourse.metrics.precision_recall`.""",
    passed="precision = generated points inside the real k-NN balls, recall = the reverse.",
    reference=lambda real, fake, k: metrics.precision_recall(real, fake, k=k),
    cases=lambda: [Case((torch.randn(120, 3, generator=generator(92)),
                         0.6 * torch.randn(80, 3, generator=generator(93)) + torch.tensor([1.5, 0.0, 0.0]), 3),
                        "precision and recall of 80 generated and 120 real points, k = 3")],
    output="number",
    names=("precision", "recall"),
    generic_hint="radius of each real point = distance to its k-th nearest real neighbour; a generated point counts for "
                 "precision if it lies within the radius of ANY real point.",
    mistakes=[
        Mistake("swapped", lambda r, f, k: _pr(r, f, k, swap=True),
                "precision and recall are swapped. precision: GENERATED points inside the REAL manifold; recall: real "
                "points inside the generated one."),
        Mistake("self as neighbour", lambda r, f, k: _pr(r, f, k, self_neighbour=True),
                "the radii are one neighbour short: each point is its own nearest neighbour (distance 0); the k-th "
                "nearest OTHER point is at index k of the sorted distances."),
    ],
)

EXERCISES = [frechet_distance, inception_score, precision_recall]

"""Exercises of notebook 07 (VQ-VAE): nearest codes, straight-through, VQ loss, perplexity.

The straight-through estimator and the VQ loss have no function of their own in the package:
the reference is the expression :class:`gdmcourse.vqvae.VectorQuantizer` computes inline.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ... import vqvae
from .engine import INDEX_HINT, Case, Exercise, Mistake, call, compare, fail, generator, parse, tensor

LEADING = "one index per vector: reduce over the code axis only, keep the leading dims."


def _codes_case() -> list[Case]:
    g = generator(70)  # codes of very different norms, so the largest dot product is often not the nearest code
    codebook = torch.randn(9, 3, generator=g) * torch.linspace(0.2, 4.0, 9)[:, None]
    return [Case((torch.randn(2, 5, 3, generator=g), codebook), "indices for z of shape (2, 5, 3) and 9 codes")]


nearest_codes = Exercise(
    name="nearest_codes",
    doc=r"""Check ``fn(z (..., D), codebook (K, D))`` = :math:`\arg\min_k \|z - e_k\|` for every vector (int64, shape ``(...)``)
    against :func:`gdmcourse.vqvae.nearest_codes`.""",
    passed="argmin of the distances, one index per vector.",
    reference=vqvae.nearest_codes,
    cases=_codes_case,
    output="index",
    shape_hint=LEADING,
    generic_hint="compute all N × K distances (torch.cdist or the expanded square) and argmin over K.",
    mistakes=[
        Mistake("farthest", lambda z, e: torch.cdist(z.reshape(-1, z.shape[-1]), e).argmax(1).reshape(z.shape[:-1]),
                "you picked the FARTHEST code: argmin, not argmax, of the distances."),
        Mistake("dot product", lambda z, e: (z @ e.T).argmax(-1),
                "you picked the largest dot product z·e_k; the nearest code minimises ‖z − e_k‖² = ‖z‖² − 2 z·e_k + ‖e_k‖²: "
                "the ‖e_k‖² term matters."),
        Mistake("flattens", lambda z, e: vqvae.nearest_codes(z, e).flatten(), LEADING),
        Mistake("returns vectors", lambda z, e: e[vqvae.nearest_codes(z, e)], INDEX_HINT, match=False),
    ],
)

# ---- straight-through: forward = codes, gradient copied to z, none to the codes

FORWARD_Z = "the forward value is z itself: the decoder would never see the codes. z_q = z + (codes − z).detach()."
NO_GRADIENT = "no gradient: do not detach everything; z_q = z + (codes − z).detach() keeps z's gradient path."
DETACH_DIFF = "detach (codes − z), so the gradient of z_q with respect to z is the identity: z_q = z + (codes − z).detach()."


def _grads(output: torch.Tensor, inputs: tuple[torch.Tensor, ...],
           upstream: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
    """d output / d inputs by torch.autograd.grad, zeros for an input the output does not depend on."""
    grads = torch.autograd.grad(output, inputs, upstream, allow_unused=True)
    return tuple(torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs))


def _straight_through_ref(z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    return z + (codes - z).detach()  # as in VectorQuantizer.forward


def _straight_through(fn: Any) -> None:
    g = generator(71)
    z, codes = torch.randn(4, 3, generator=g, requires_grad=True), torch.randn(4, 3, generator=g, requires_grad=True)
    out = tensor(call(fn, z, codes), "straight_through")
    if out.shape != z.shape:
        fail(f"expected shape {tuple(z.shape)}, got {tuple(out.shape)}.")
    if not torch.allclose(out.detach(), codes.detach(), atol=1e-6):
        if torch.allclose(out.detach(), z.detach(), atol=1e-6):
            fail("the forward value should equal the codes.", FORWARD_Z)
        fail("the forward value should equal the codes.", "z_q = z + (codes − z).detach().")
    if not out.requires_grad:
        fail("the output has no gradient: the encoder would get no training signal.", NO_GRADIENT)
    upstream = torch.randn(4, 3, generator=g)
    gz, gc = _grads(out, (z, codes), upstream)
    z_ref, codes_ref = z.detach().clone().requires_grad_(True), codes.detach().clone().requires_grad_(True)
    gz_ref, _ = _grads(_straight_through_ref(z_ref, codes_ref), (z_ref, codes_ref), upstream)
    if not gz.abs().sum() > 0:
        fail("z receives a zero gradient: the encoder gets nothing.", DETACH_DIFF)
    if not torch.allclose(gz, gz_ref, atol=1e-6):
        fail("the gradient reaching z is not the incoming gradient copied unchanged.",
             "straight-through: ∂z_q/∂z = I, so z.grad must equal the upstream gradient.")
    if not torch.allclose(gc, torch.zeros_like(gc)):
        fail("the codes also receive the decoder's gradient; in VQ-VAE they learn only from the codebook loss.",
             "detach the codes inside the straight-through expression.")


straight_through = Exercise(
    name="straight_through",
    doc=r"""Check ``fn(z, codes)``: forward value ``codes``, gradient passed unchanged to ``z`` and none to ``codes``, as in
    :class:`gdmcourse.vqvae.VectorQuantizer`.""",
    passed="forward = codes, backward = the gradient copied to z (and nothing to the codes).",
    reference=_straight_through_ref,
    procedure=_straight_through,
    mistakes=[
        Mistake("forward z", lambda z, c: z, FORWARD_Z),
        Mistake("codes only", lambda z, c: c.detach(), NO_GRADIENT),
        Mistake("reversed", lambda z, c: c + (z - c).detach(), FORWARD_Z),
        Mistake("no detach", lambda z, c: z + (c - z), DETACH_DIFF),
    ],
)

# ---- VQ loss: codebook term + β · commitment term, each with its stop-gradient

SWAPPED = ("the stop-gradients are swapped: codebook term ‖sg[z] − e‖² moves the CODES (detach z); commitment "
           "β‖z − sg[e]‖² moves the ENCODER (detach e).")
NOTHING_DETACHED = "nothing is detached: detach z in the codebook term and e in the commitment term."


def _vq_ref(z: torch.Tensor, codes: torch.Tensor, beta: float) -> torch.Tensor:
    return F.mse_loss(codes, z.detach()) + beta * F.mse_loss(z, codes.detach())  # as in VectorQuantizer.forward


def _vq_loss(fn: Any) -> None:
    g = generator(72)
    case = Case((torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g), 0.25),
                "loss for 6 vectors of size 4 with β = 0.25")
    (got,), (z, e, beta) = compare(vq_loss, fn, case)
    gz, ge = _grads(got.sum(), (z, e))
    z_ref, e_ref = (a.detach().clone().requires_grad_(True) for a in (z, e))
    gz_ref, ge_ref = _grads(_vq_ref(z_ref, e_ref, beta), (z_ref, e_ref))
    if torch.allclose(gz, ge_ref.neg(), atol=1e-6) and torch.allclose(ge, gz_ref.neg(), atol=1e-6):
        fail("z is pulled with weight 1 and the codes with β.", SWAPPED)
    if torch.allclose(gz, gz_ref * (1 + beta) / beta, atol=1e-6):
        fail("z gets the gradient of both terms.", NOTHING_DETACHED)
    if not torch.allclose(gz, gz_ref, atol=1e-6):
        fail("the gradient with respect to z is wrong; only β × the commitment term should reach z.",
             "commitment: beta * F.mse_loss(z, e.detach()).")
    if not torch.allclose(ge, ge_ref, atol=1e-6):
        fail("the gradient with respect to the codes is wrong; only the codebook term should reach them.",
             "codebook: F.mse_loss(z.detach(), e).")


vq_loss = Exercise(
    name="vq_loss",
    doc=r"""Check ``fn(z, codes, beta)`` = :math:`\|\mathrm{sg}[z] - e\|^2 + \beta\|z - \mathrm{sg}[e]\|^2` (means), by value
    and by the gradients reaching z and the codes, against :class:`gdmcourse.vqvae.VectorQuantizer`'s loss.""",
    passed="value (1 + β)·mse, codes pulled by the codebook term, z by β × the commitment term.",
    reference=_vq_ref,
    procedure=_vq_loss,
    grad=(0, 1),
    no_grad="the loss has no gradient at all: detach only one side of each term.",
    shape_hint="return one number.",
    mistakes=[
        Mistake("sum", lambda z, e, beta: (1 + beta) * (z - e).pow(2).sum(), "average the squared errors (F.mse_loss), do not sum."),
        Mistake("no beta", lambda z, e, beta: F.mse_loss(z, e), "add both terms: the codebook loss AND β × the commitment loss."),
        Mistake("commitment only", lambda z, e, beta: beta * F.mse_loss(z, e.detach()),
                "the codebook term ‖sg[z] − e‖² is missing (with EMA codes it is dropped, but not here)."),
        Mistake("abs", lambda z, e, beta: (1 + beta) * (z - e).abs().mean(), "squared distances, not absolute values."),
        Mistake("swapped sides", lambda z, e, beta: beta * F.mse_loss(z.detach(), e) + F.mse_loss(z, e.detach()), SWAPPED,
                match=False),
        Mistake("swapped beta", lambda z, e, beta: F.mse_loss(z, e.detach()) + beta * F.mse_loss(z.detach(), e), SWAPPED,
                match=False),
        Mistake("no stop-gradient", lambda z, e, beta: (1 + beta) * F.mse_loss(z, e), NOTHING_DETACHED, match=False),
    ],
)

# ---- perplexity of the code usage

ZERO_LOG = "NaN comes from unused codes (0·log 0): leave out the codes with p_k = 0 (their term is 0), e.g. p = p[p > 0]."


def _nan_perplexity(i: torch.Tensor, k: int) -> float:
    p = torch.bincount(i.flatten(), minlength=k).double() / i.numel()
    return torch.exp(-(p * p.log()).sum()).item()  # 0 · log 0 = nan for unused codes


perplexity = Exercise(
    name="perplexity",
    doc=r"""Check ``fn(indices, num_codes)`` = :math:`\exp(-\sum_k p_k \log p_k)` of the code usage against
    :func:`gdmcourse.vqvae.codebook_perplexity` (unused codes, one code, all codes).""",
    passed="exp of the entropy of code usage: 1 for one code, K for all used equally.",
    reference=vqvae.codebook_perplexity,
    cases=lambda: [Case((torch.tensor([0, 0, 1, 2, 2, 2, 5, 5]).reshape(2, 4), 8), "for indices [0, 0, 1, 2, 2, 2, 5, 5] and 8 codes"),
                   Case((torch.full((10,), 3), 8), "for ten times code 3 of 8"),
                   Case((torch.arange(16), 16), "for each of 16 codes once")],
    output="number",
    finite_hint=ZERO_LOG,
    generic_hint="exp(−Σ p_k log p_k) with p_k = count_k / total.",
    mistakes=[
        Mistake("entropy", lambda i, k: math.log(vqvae.codebook_perplexity(i, k)),
                "you returned the entropy; the perplexity is its exponential."),
        Mistake("used codes", lambda i, k: float(torch.unique(i).numel()),
                "that is the number of codes used; the perplexity weighs them by how often they are used."),
        Mistake("bits", lambda i, k: vqvae.codebook_perplexity(i, k) ** (1 / math.log(2)),
                "entropy in bits then exp: use the natural log with exp (or log2 with 2**)."),
        Mistake("0 log 0", _nan_perplexity, ZERO_LOG, match=False),
    ],
)

EXERCISES = [nearest_codes, straight_through, vq_loss, perplexity]

# ---- the EMA codebook update with a dead-code reset (checked by a loop over codes, then on a toy set)


def _ema_loop(codebook: torch.Tensor, count: torch.Tensor, total: torch.Tensor, z: torch.Tensor, decay: float,
              dead_below: float, generator: torch.Generator | None = None, *, divide: bool = True) -> tuple[torch.Tensor, ...]:
    """The EMA step written out code by code (VQ-VAE, appendix A.1), then dead codes reset to encoder outputs."""
    codebook, count, total = codebook.clone(), count.clone(), total.clone()
    nearest = [min(range(len(codebook)), key=lambda k: float(((zi - codebook[k]) ** 2).sum())) for zi in z]
    for k in range(len(codebook)):
        members = [zi for zi, j in zip(z, nearest) if j == k]
        # N_k ← γ N_k + (1 − γ) n_k;  m_k ← γ m_k + (1 − γ) Σ_{i: k_i = k} z_i
        count[k] = decay * count[k] + (1 - decay) * len(members)
        total[k] = decay * total[k] + (1 - decay) * (torch.stack(members).sum(0) if members else torch.zeros_like(total[k]))
        # e_k = m_k / N_k
        codebook[k] = total[k] / count[k] if divide else total[k]
    dead = (count < dead_below).nonzero().flatten()
    if len(dead):
        rows = z[torch.randint(len(z), (len(dead),), generator=generator).to(z.device)]
        codebook[dead], total[dead], count[dead] = rows, rows, 1.0
    return codebook, count, total


def _ema_args(seed: int, dead: bool) -> tuple[Any, ...]:
    g = generator(seed)
    codebook = torch.randn(6, 2, generator=g, dtype=torch.float64)
    count = torch.full((6,), 2.0, dtype=torch.float64)
    if dead:
        codebook[4:] += 50.0  # far from every z: never chosen
        count[4:] = 0.05
    total = codebook * count[:, None]
    z = torch.randn(40, 2, generator=g, dtype=torch.float64)
    return codebook, count, total, z, 0.9, 0.1 if dead else 0.0


def _toy_health(fn: Any) -> None:
    """Four clusters, eight codes all started in one corner: with the resets the codebook must cover every cluster."""
    g = generator(71)
    centers = torch.tensor([[4.0, 4.0], [-4.0, 4.0], [4.0, -4.0], [-4.0, -4.0]], dtype=torch.float64)
    codebook = centers[0] + 0.1 * torch.randn(8, 2, generator=g, dtype=torch.float64)
    count, total = torch.ones(8, dtype=torch.float64), codebook.clone()
    for step in range(60):
        z = centers[torch.randint(4, (64,), generator=g)] + 0.3 * torch.randn(64, 2, generator=g, dtype=torch.float64)
        out = parse(call(fn, codebook, count, total, z, 0.9, 0.5, generator(100 + step)), "ema_codebook_step",
                    names=("codebook", "count", "total"))
        codebook, count, total = (t.detach() for t in out)
    z = centers[torch.randint(4, (2000,), generator=g)] + 0.3 * torch.randn(2000, 2, generator=g, dtype=torch.float64)
    used = torch.cdist(z, codebook).argmin(1).bincount(minlength=8).double()
    p = used / used.sum()
    perplexity = float(torch.exp(-(p * p.clamp_min(1e-12).log()).sum()))
    covered = int((torch.cdist(centers, codebook).min(1).values < 1.0).sum())
    if covered < 4 or perplexity < 3.5:
        fail(f"after 60 steps on four clusters with every code started in one corner, your codebook covers {covered} "
             f"of 4 clusters (perplexity {perplexity:.2f}; at least 3.5 expected).",
             "reset each code whose count fell below dead_below to a random encoder output z[i] (with the generator), "
             "and set its count to 1 and its total to that z[i].")


def _ema_step(fn: Any) -> None:
    # 1. no dead code: the EMA update itself, against the loop
    case = Case(_ema_args(1, dead=False), "an EMA step with decay 0.9 and no dead code")
    compare(ema_codebook_step, fn, case)
    # 2. two dead codes: the others as the loop has them; each dead one reset to a row of z, count 1, total = it
    args = _ema_args(2, dead=True)
    got = parse(call(fn, *args, generator(3)), "ema_codebook_step", names=("codebook", "count", "total"))
    want = _ema_loop(*args, generator(3))
    if not all(torch.allclose(g[:4].double(), w[:4], atol=1e-8 * 50) for g, w in zip(got, want)):
        fail("the codes still in use do not match the EMA update when two codes are dead.",
             "update every code with the EMA first, then reset only those with count < dead_below.")
    z = args[3]
    for k in (4, 5):
        if not (got[0][k].double() - z).abs().sum(1).min() < 1e-9:
            fail(f"dead code {k} was not reset to one of the encoder outputs z (got {got[0][k].tolist()}).",
                 "a dead code becomes a random row of z: z[torch.randint(len(z), (n_dead,), generator=generator)].")
        if abs(float(got[1][k]) - 1.0) > 1e-9 or not torch.allclose(got[2][k].double(), got[0][k].double()):
            fail(f"after the reset, code {k} should have count 1 and total equal to its new vector.",
                 "set count[dead] = 1 and total[dead] = the new vectors, so the next EMA step starts from them.")
    if torch.equal(args[0], _ema_args(2, dead=True)[0]) is False:
        fail("your function changed the codebook passed in, in place.", "work on copies: codebook.clone() etc.")
    # 3. codebook health on a toy set
    _toy_health(fn)


def _no_reset(*a: Any, **k: Any) -> tuple[torch.Tensor, ...]:
    return _ema_loop(*a[:5], -1.0)


def _not_divided(codebook: torch.Tensor, count: torch.Tensor, total: torch.Tensor, z: torch.Tensor, decay: float,
                 dead_below: float, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    return _ema_loop(codebook, count, total, z, decay, dead_below, generator, divide=False)


def _swapped(codebook: torch.Tensor, count: torch.Tensor, total: torch.Tensor, z: torch.Tensor, decay: float,
             dead_below: float, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    return _ema_loop(codebook, count, total, z, 1 - decay, dead_below, generator)


def _reset_zero(codebook: torch.Tensor, count: torch.Tensor, total: torch.Tensor, z: torch.Tensor, decay: float,
                dead_below: float, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    out = _ema_loop(codebook, count, total, z, decay, -1.0)
    dead = out[1] < dead_below
    out[0][dead], out[2][dead], out[1][dead] = 0.0, 0.0, 1.0
    return out


ema_codebook_step = Exercise(
    name="ema_codebook_step",
    doc=r"""Check ``fn(codebook, count, total, z, decay, dead_below, generator)`` → ``(codebook, count, total)``: the EMA
    codebook update (VQ-VAE appendix A.1) against a loop over the codes, dead codes (count < dead_below) reset to
    encoder outputs, and a healthy codebook on four clusters after 60 steps from a bad start.""",
    passed="the EMA update matches a loop over the codes, dead codes restart at encoder outputs, and the codebook "
           "covers all four clusters of the toy set.",
    reference=_ema_loop,
    procedure=_ema_step,
    names=("codebook", "count", "total"),
    points=3.0,
    generic_hint="N_k ← γ N_k + (1 − γ) n_k, m_k ← γ m_k + (1 − γ) Σ_{i: k_i = k} z_i, e_k = m_k / N_k.",
    mistakes=[
        Mistake("sum, not mean", _not_divided, "the code is the running MEAN: e_k = m_k / N_k (divide the sum by the count)."),
        Mistake("decay swapped", _swapped, "the OLD statistics get the weight γ (the decay), the new batch 1 − γ."),
        Mistake("no reset", _no_reset,
                "a dead code becomes a random row of z: z[torch.randint(len(z), (n_dead,), generator=generator)].",
                match=False),
        Mistake("reset to zero", _reset_zero,
                "a dead code becomes a random row of z: z[torch.randint(len(z), (n_dead,), generator=generator)].",
                match=False),
    ],
)

EXERCISES += [ema_codebook_step]

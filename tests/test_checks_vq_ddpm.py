"""The checks of notebooks 07 (VQ-VAE) and 08 (DDPM) pass on reference solutions written from
the package's own functions and fail, with a specific hint and without raising, on the usual
wrong answers (the issue lists them: sqrt(ᾱ) vs ᾱ, off-by-one in t, β_t vs β̃_t, noise at
t = 0 or none at t > 0, the commitment loss on the wrong side of the stop-gradient)."""

import math

import pytest
import torch
import torch.nn.functional as F

from checking import expect_fail, not_implemented, verdict_of
from gdmcourse import checks, vqvae


# --------------------------------------------------------------------------- references

def ref_straight_through(z, codes):
    return z + (codes - z).detach()


def ref_vq_loss(z, codes, beta):
    return F.mse_loss(z.detach(), codes) + beta * F.mse_loss(z, codes.detach())


def ref_q_sample(x0, t, noise, schedule):
    return schedule.q_sample(x0, t, noise)


def ref_q_posterior(x0, xt, t, schedule):
    mean, var, _ = schedule.q_posterior(x0, xt, t)
    return mean, var


def ref_loss(model, x0, schedule, generator):
    return schedule.loss_simple(model, x0, generator=generator)


def ref_p_sample(model, xt, t, schedule, generator):
    return schedule.p_sample(model, xt, t, generator=generator)


REFERENCES = [
    (checks.nearest_codes, vqvae.nearest_codes),
    (checks.straight_through, ref_straight_through),
    (checks.vq_loss, ref_vq_loss),
    (checks.perplexity, vqvae.codebook_perplexity),
    (checks.q_sample, ref_q_sample),
    (checks.q_posterior, ref_q_posterior),
    (checks.ddpm_loss, ref_loss),
    (checks.p_sample_step, ref_p_sample),
]


@pytest.mark.parametrize("check, reference", REFERENCES, ids=lambda x: getattr(x, "__name__", ""))
def test_passes_on_reference_and_rejects_unfinished(capsys, check, reference):
    verdict, out = verdict_of(capsys, check, reference)
    assert verdict.passed, out
    expect_fail(capsys, check, (not_implemented,), "not implemented")


# --------------------------------------------------------------------------- wrong answers

def _ab(schedule, t, x, values=None):
    v = schedule.alphas_cumprod if values is None else values
    return v[t].reshape(-1, *([1] * (x.dim() - 1))).to(x.dtype)


def _q(x0, t, noise, schedule, *, values=None, sqrt=True):
    ab = _ab(schedule, t, x0, values)
    return (ab.sqrt() * x0 + (1 - ab).sqrt() * noise) if sqrt else (ab * x0 + (1 - ab) * noise)


def _posterior(x0, xt, t, schedule, *, prev="prev", variance="tilde"):
    b, a, ab = schedule.betas, schedule.alphas, schedule.alphas_cumprod
    if prev == "wrap":  # alphas_cumprod[t - 1]: index -1 is the last step
        abp_t = ab[torch.as_tensor(t) - 1]
    elif prev == "same":
        abp_t = ab[t]
    else:
        abp_t = schedule.alphas_cumprod_prev[t]
    shape = (-1, *([1] * (x0.dim() - 1)))
    b_t, a_t, ab_t, abp_t = (v.reshape(shape) for v in (b[t], a[t], ab[t], abp_t))
    mean = abp_t.sqrt() * b_t / (1 - ab_t) * x0 + a_t.sqrt() * (1 - abp_t) / (1 - ab_t) * xt
    var = b_t if variance == "beta" else (1 - abp_t) / (1 - ab_t) * b_t
    return mean, var


def _loss(model, x0, schedule, generator, *, t_high=None, target="noise", reduce="mean", t_offset=0):
    t = torch.randint(t_high or schedule.T, (len(x0),), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    xt = _q(x0, (t + t_offset).clamp(max=schedule.T - 1), noise, schedule)
    pred = model(xt, t.clamp(max=schedule.T - 1))
    err = ((noise if target == "noise" else x0) - pred).pow(2)
    return err.sum() if reduce == "sum" else err.mean()


def _step(model, xt, t, schedule, generator, *, variance="tilde", noise_at_0=False, noise=True, std_is_var=False):
    b, a, ab = (v[t].item() for v in (schedule.betas, schedule.alphas, schedule.alphas_cumprod))
    eps = model(xt, torch.full((len(xt),), t))
    mean = (xt - b / math.sqrt(1 - ab) * eps) / math.sqrt(a)
    var = {"beta": b, "tilde": schedule.posterior_variance[t].item(),
           "clipped": schedule.posterior_log_variance_clipped[t].exp().item()}[variance]
    if (t == 0 and not noise_at_0) or not noise:
        return mean
    scale = var if std_is_var else math.sqrt(var)
    return mean + scale * torch.randn(xt.shape, generator=generator, dtype=xt.dtype)


WRONG = {
    # 07
    "NC farthest": (checks.nearest_codes, lambda z, e: torch.cdist(z.reshape(-1, z.shape[-1]), e).argmax(1).reshape(z.shape[:-1]),
                    "FARTHEST"),
    "NC dot product": (checks.nearest_codes, lambda z, e: (z @ e.T).argmax(-1), "‖e_k‖²"),
    "NC returns vectors": (checks.nearest_codes, lambda z, e: e[vqvae.nearest_codes(z, e)], "INDICES"),
    "NC flattens": (checks.nearest_codes, lambda z, e: vqvae.nearest_codes(z, e).flatten(), "leading dims"),
    "ST forward z": (checks.straight_through, lambda z, c: z, "the forward value is z"),
    "ST codes only": (checks.straight_through, lambda z, c: c.detach(), "no gradient"),
    "ST reversed": (checks.straight_through, lambda z, c: c + (z - c).detach(), "the forward value is z"),
    "ST no detach": (checks.straight_through, lambda z, c: z + (c - z), "detach (codes − z)"),
    "VQ swapped sides": (checks.vq_loss, lambda z, e, beta: beta * F.mse_loss(z.detach(), e) + F.mse_loss(z, e.detach()),
                         "swapped"),
    "VQ swapped beta": (checks.vq_loss, lambda z, e, beta: F.mse_loss(z, e.detach()) + beta * F.mse_loss(z.detach(), e),
                        "swapped"),
    "VQ no stop-gradient": (checks.vq_loss, lambda z, e, beta: (1 + beta) * F.mse_loss(z, e), "nothing is detached"),
    "VQ commitment only": (checks.vq_loss, lambda z, e, beta: beta * F.mse_loss(z, e.detach()), "codebook term"),
    "VQ sum": (checks.vq_loss, lambda z, e, beta: (1 + beta) * (z - e).pow(2).sum(), "do not sum"),
    "PPL entropy": (checks.perplexity, lambda i, k: math.log(vqvae.codebook_perplexity(i, k)), "entropy"),
    "PPL used codes": (checks.perplexity, lambda i, k: float(torch.unique(i).numel()), "number of codes used"),
    "PPL 0 log 0": (checks.perplexity,
                    lambda i, k: (lambda p: torch.exp(-(p * p.log()).nansum() * float("nan") if (p == 0).any() else
                                                      -(p * p.log()).sum()).item())(
                        torch.bincount(i.flatten(), minlength=k).double() / i.numel()), "NaN"),
    # 08
    "q no sqrt": (checks.q_sample, lambda x0, t, n, s: _q(x0, t, n, s, sqrt=False), "square roots"),
    "q alphas not cumulative": (checks.q_sample, lambda x0, t, n, s: _q(x0, t, n, s, values=s.alphas), "CUMULATIVE"),
    "q off by one (prev)": (checks.q_sample, lambda x0, t, n, s: _q(x0, t, n, s, values=s.alphas_cumprod_prev), "off by one"),
    "q off by one (next)": (checks.q_sample,
                            lambda x0, t, n, s: _q(x0, (t + 1).clamp(max=s.T - 1), n, s), "off by one"),
    "q 1 - sqrt": (checks.q_sample, lambda x0, t, n, s: _ab(s, t, x0).sqrt() * x0 + (1 - _ab(s, t, x0).sqrt()) * n,
                   "not 1 − √ᾱ_t"),
    "post beta variance": (checks.q_posterior, lambda x0, xt, t, s: _posterior(x0, xt, t, s, variance="beta"), "β_t"),
    "post wraps at t=0": (checks.q_posterior, lambda x0, xt, t, s: _posterior(x0, xt, t, s, prev="wrap"), "wraps round"),
    "post off by one": (checks.q_posterior, lambda x0, xt, t, s: _posterior(x0, xt, t, s, prev="same"), "off by one"),
    "post returns triple": (checks.q_posterior, lambda x0, xt, t, s: tuple(s.q_posterior(x0, xt, t)), "pair"),
    "loss t in 1..T": (checks.ddpm_loss,
                       lambda m, x0, s, g: (lambda t, n: (n - m(s.q_sample(x0, (t - 1), n), t)).pow(2).mean())(
                           torch.randint(1, s.T + 1, (len(x0),), generator=g), torch.randn(x0.shape, generator=g)),
                       "0..T − 1"),
    "loss x_t at t+1": (checks.ddpm_loss, lambda m, x0, s, g: _loss(m, x0, s, g, t_offset=1), "SAME t"),
    "loss predicts x0": (checks.ddpm_loss, lambda m, x0, s, g: _loss(m, x0, s, g, target="x0"), "not x_0"),
    "loss sum": (checks.ddpm_loss, lambda m, x0, s, g: _loss(m, x0, s, g, reduce="sum"), "do not sum"),
    "loss one t": (checks.ddpm_loss,
                   lambda m, x0, s, g: (lambda t, n: (n - m(s.q_sample(x0, t, n), t)).pow(2).mean())(
                       int(torch.randint(s.T, (1,), generator=g)), torch.randn(x0.shape, generator=g)),
                   "one step t per example"),
    "loss unseeded": (checks.ddpm_loss, lambda m, x0, s, g: s.loss_simple(m, x0), "seeded"),
    "step beta variance": (checks.p_sample_step, lambda *a: _step(*a, variance="beta"), "β_t"),
    # Ho et al.'s clipped log-variance is log β̃_2 at index 0, so without the t > 0 mask noise is added there
    "step noise at t=0": (checks.p_sample_step, lambda *a: _step(*a, variance="clipped", noise_at_0=True), "noise was added"),
    "step no noise": (checks.p_sample_step, lambda *a: _step(*a, noise=False), "no noise was added"),
    "step std is variance": (checks.p_sample_step, lambda *a: _step(*a, std_is_var=True), "STANDARD DEVIATION"),
    "step unseeded": (checks.p_sample_step, lambda m, x, t, s, g: _step(m, x, t, s, None), "seeded"),
}


@pytest.mark.parametrize("name", WRONG)
def test_rejects_wrong_answer_with_hint(capsys, name):
    check, candidate, hint = WRONG[name]
    expect_fail(capsys, check, (candidate,), hint)


# --------------------------------------------------------------------------- notebook 09

def _fd(m1, s1, m2, s2, *, factor=2.0, elementwise=False, no_mean=False, root_mean=False, sqrt_trace=False):
    from scipy.linalg import sqrtm

    mean = float(((m1 - m2) ** 2).sum())
    mean = math.sqrt(mean) if root_mean else (0.0 if no_mean else mean)
    if elementwise:
        cross = float(torch.sqrt(s1 * s2).nan_to_num().trace())
    elif sqrt_trace:
        cross = math.sqrt(float(torch.trace(s1 @ s2)))
    else:
        cross = float(sqrtm(s1.numpy() @ s2.numpy()).real.trace())
    return mean + float(torch.trace(s1) + torch.trace(s2)) - factor * cross


def _is(p, *, reverse=False, no_exp=False, mean_of_exp=False):
    py = p.mean(0, keepdim=True)
    lp = p.clamp_min(1e-300).log()
    kl = (py * (py.log() - lp)).sum(1) if reverse else torch.where(p > 0, p * (lp - py.log()), torch.zeros_like(p)).sum(1)
    if no_exp:
        return kl.mean().item()
    return kl.exp().mean().item() if mean_of_exp else kl.mean().exp().item()


def _pr(real, fake, k, *, swap=False, self_neighbour=False):
    from gdmcourse import metrics

    if self_neighbour:
        def radii(x):
            return torch.cdist(x, x).sort(dim=1).values[:, k - 1]
        p = (torch.cdist(fake, real) <= radii(real)[None]).any(1).double().mean().item()
        r = (torch.cdist(real, fake) <= radii(fake)[None]).any(1).double().mean().item()
        return p, r
    p, r = metrics.precision_recall(real, fake, k=k)
    return (r, p) if swap else (p, r)


def test_metric_checks_pass_on_the_package(capsys):
    from gdmcourse import metrics

    for check, ref in [(checks.frechet_distance, metrics.frechet_distance),
                       (checks.inception_score, lambda p: metrics.inception_score(p, splits=1)[0]),
                       (checks.precision_recall, lambda r, f, k: metrics.precision_recall(r, f, k=k))]:
        verdict, out = verdict_of(capsys, check, ref)
        assert verdict.passed, out
        expect_fail(capsys, check, (not_implemented,), "not implemented")


WRONG_09 = {
    "FD factor 1": (checks.frechet_distance, lambda *a: _fd(*a, factor=1.0), "factor 1"),
    "FD elementwise sqrt": (checks.frechet_distance, lambda *a: _fd(*a, elementwise=True), "MATRIX square root"),
    "FD no mean term": (checks.frechet_distance, lambda *a: _fd(*a, no_mean=True), "‖μ₁ − μ₂‖²"),
    "FD mean not squared": (checks.frechet_distance, lambda *a: _fd(*a, root_mean=True), "SQUARED"),
    "FD sqrt of trace": (checks.frechet_distance, lambda *a: _fd(*a, sqrt_trace=True), "not √Tr(M)"),
    "IS reversed KL": (checks.inception_score, lambda p: _is(p, reverse=True), "conditional first"),
    "IS no exp": (checks.inception_score, lambda p: _is(p, no_exp=True), "exponentiate"),
    "IS mean of exps": (checks.inception_score, lambda p: _is(p, mean_of_exp=True), "exp of the mean"),
    "PR swapped": (checks.precision_recall, lambda r, f, k: _pr(r, f, k, swap=True), "swapped"),
    "PR self as neighbour": (checks.precision_recall, lambda r, f, k: _pr(r, f, k, self_neighbour=True), "its own nearest"),
}


@pytest.mark.parametrize("name", WRONG_09)
def test_metric_checks_reject_wrong_answers(capsys, name):
    check, candidate, hint = WRONG_09[name]
    expect_fail(capsys, check, (candidate,), hint)

"""The checks accept every correct route to an answer (float32 and float64, library routes through
torch.distributions and scipy, another order of drawing the same noise), look at where an answer comes
from (the package's own implementation is reference-used) and, with the inputs on the meta device,
fail an answer that mixes a CPU tensor in, as a GPU would."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from checking import verdict_of
from gdmcourse import checks
from gdmcourse import autoencoder as ae
from gdmcourse.course.checks import engine


def _fd_textbook_float32(m1, s1, m2, s2):
    """‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁^½ Σ₂ Σ₁^½)^½), every step in float32 (eigh for the square roots)."""
    m1, s1, m2, s2 = (a.float() for a in (m1, s1, m2, s2))

    def sqrt_psd(a):
        w, v = torch.linalg.eigh(a)
        return v @ torch.diag(w.clamp_min(0).sqrt()) @ v.T

    r1 = sqrt_psd(s1)
    return ((m1 - m2) ** 2).sum() + torch.trace(s1) + torch.trace(s2) - 2 * torch.trace(sqrt_psd(r1 @ s2 @ r1))


def _fd_scipy(m1, s1, m2, s2):
    covmean = scipy.linalg.sqrtm(s1.double().numpy() @ s2.double().numpy()).real
    return float(((m1 - m2) ** 2).sum() + s1.trace() + s2.trace() - 2 * np.trace(covmean))


def _kl_distributions(mu, logvar):
    return kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)


def _kl_float64(mu, logvar):
    mu, logvar = mu.double(), logvar.double()
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


def _rec_mse_sum(x_hat, x):
    return F.mse_loss(x_hat, x, reduction="sum") / x.shape[0]


def _rec_float64(x_hat, x):
    return (x_hat.double() - x.double()).pow(2).reshape(len(x), -1).sum(-1).mean()


def _corrupt_normal_(x, noise_std, generator=None):
    """The same noise drawn another way: normal_ on an empty CPU tensor, then moved."""
    eps = torch.empty(x.shape, dtype=x.dtype).normal_(generator=generator).to(x.device)
    return torch.clamp(x + noise_std * eps, min=0.0, max=1.0)


def _corrupt_float64_noise(x, noise_std, generator=None):
    eps = torch.randn(x.shape, generator=generator, dtype=torch.float64).to(device=x.device, dtype=x.dtype)
    return (x + noise_std * eps).clamp(0, 1)


def _reparameterize_normal_(mu, logvar, generator=None):
    eps = torch.empty(mu.shape, dtype=mu.dtype).normal_(generator=generator).to(mu.device)
    return torch.addcmul(mu, torch.exp(logvar / 2), eps)


ALTERNATIVES = {
    "frechet_distance": [_fd_textbook_float32, _fd_scipy],
    "gaussian_kl": [_kl_distributions, _kl_float64],
    "reconstruction_loss": [_rec_mse_sum, _rec_float64],
    "corrupt": [_corrupt_normal_, _corrupt_float64_noise],
    "reparameterize": [_reparameterize_normal_],
}
CASES = [(name, fn) for name, fns in ALTERNATIVES.items() for fn in fns]


@pytest.mark.parametrize("name, fn", CASES, ids=[f"{n}-{f.__name__}" for n, f in CASES])
def test_a_correct_alternative_passes(capsys, name, fn):
    verdict, out = verdict_of(capsys, getattr(checks, name), fn, reference_ok=False)
    assert verdict.passed and verdict.status == "passed", out


def test_float32_frechet_distance_of_a_gaussian_to_itself_is_zero_within_its_terms():
    """The textbook float32 route leaves ~1e-6 where terms of size ~20 cancel: that is 0 in float32."""
    m, s = checks.EXERCISES["frechet_distance"].cases()[1].args[:2]
    residual = float(_fd_textbook_float32(m, s, m, s))
    terms = float(2 * s.trace())
    assert residual != 0 and abs(residual) < 1e-5 * terms
    case = checks.EXERCISES["frechet_distance"].cases()[1]
    assert case.scale >= terms
    # and a wrong answer of that size is still wrong: the tolerance is relative to the terms, not loose
    assert not engine.close(torch.tensor(0.01 * terms, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64),
                            1e-5, case.scale)


def test_tolerance_follows_the_coarser_dtype():
    assert engine.tolerance(torch.float64) == 1e-6
    assert engine.tolerance(torch.float64, torch.float32) == 1e-4
    assert engine.tolerance(torch.float64, rtol=1e-5) == 1e-5
    assert engine.tolerance(torch.float16, rtol=1e-5) == 1e-2


# ----------------------------------------------------------------------------- the package's own implementation

def _wrapped(x_hat, x):
    return ae.reconstruction_loss(x_hat, x)


def _imports_inside(x_hat, x):
    from gdmcourse.autoencoder import reconstruction_loss as rl

    return rl(x_hat, x)


def _helper(x_hat, x):
    return _wrapped(x_hat, x)


@pytest.mark.parametrize("fn", [ae.reconstruction_loss, _wrapped, _imports_inside, _helper,
                                functools.partial(ae.reconstruction_loss),
                                functools.wraps(ae.reconstruction_loss)(lambda a, b: (a - b).pow(2).flatten(1).sum(1).mean()),
                                lambda a, b: ae.reconstruction_loss(a, b)],
                         ids=["imported", "wrapped", "imported inside", "helper", "partial", "functools.wraps", "lambda"])
def test_the_package_reference_is_reference_used(capsys, fn):
    verdict, out = verdict_of(capsys, checks.reconstruction_loss, fn, reference_ok=False)
    assert verdict.status == "reference-used" and not verdict.passed and verdict.points == 0, out
    assert "gdmcourse.autoencoder.reconstruction_loss" in out
    assert verdict.record["status"] == "reference-used"


def test_an_answer_using_other_package_helpers_is_its_own(capsys):
    def reconstruction_loss(x_hat, x):
        ae.psnr  # another function of the same module: not the reference  # noqa: B018
        return (x_hat - x).pow(2).flatten(1).sum(1).mean()

    verdict, out = verdict_of(capsys, checks.reconstruction_loss, reconstruction_loss, reference_ok=False)
    assert verdict.status == "passed", out


def test_the_record_is_machine_readable(capsys):
    verdict, _ = verdict_of(capsys, checks.reconstruction_loss, _rec_mse_sum, reference_ok=False)
    assert verdict.record == {"check": "reconstruction_loss", "status": "passed", "points": 1.0, "max_points": 1.0,
                              "message": checks.EXERCISES["reconstruction_loss"].passed}
    assert repr(verdict).startswith("PASSED reconstruction_loss: ")


# ----------------------------------------------------------------------------- devices

def test_the_meta_device_shows_a_cpu_tensor_mixed_in():
    x = torch.rand(2, 3).to("meta")
    with pytest.raises(RuntimeError, match="Tensor on device cpu is not on the expected device meta"):
        x + torch.randn(x.shape, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name, fn", [
    ("corrupt", lambda x, s, generator=None: (x + s * torch.randn(x.shape, generator=generator)).clamp(0, 1)),
    ("reparameterize", lambda mu, lv, generator=None: mu + (0.5 * lv).exp() * torch.randn(mu.shape, generator=generator)),
    ("gaussian_kl", lambda mu, lv: 0.5 * (mu.pow(2) + lv.exp() - torch.ones(mu.shape) - lv).sum(-1)),
], ids=["corrupt", "reparameterize", "gaussian_kl"])
def test_an_answer_that_mixes_devices_fails_with_a_hint(capsys, name, fn):
    verdict, out = verdict_of(capsys, getattr(checks, name), fn, reference_ok=False)
    assert not verdict.passed, out
    assert "Tensor on device cpu is not on the expected device meta" in out
    assert engine.MIXED_DEVICE_HINT in out


def test_the_solutions_noise_is_device_safe(capsys):
    def corrupt(x, noise_std, generator=None):
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return (x + noise_std * eps).clamp(0.0, 1.0)

    verdict, out = verdict_of(capsys, checks.corrupt, corrupt, reference_ok=False)
    assert verdict.passed, out
    assert math.isfinite(len(out))

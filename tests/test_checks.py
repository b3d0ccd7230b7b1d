"""Every exercise check passes on the reference solution and fails, with a hint and without
raising, on plausible wrong answers."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gdmcourse import autoencoder as ae
from checking import expect_fail, not_implemented, verdict_of
from gdmcourse import checks


# ---- reconstruction_loss -------------------------------------------------------------------


WRONG_LOSSES = {
    "mse over everything": (lambda x_hat, x: F.mse_loss(x_hat, x), "averaged over the pixels"),
    "sum over batch": (lambda x_hat, x: (x_hat - x).pow(2).sum(), "summed over the batch"),
    "wrong axes": (lambda x_hat, x: (x_hat - x).pow(2).flatten(1).sum(0).mean(), "wrong axes"),
    "norm, not squared": (lambda x_hat, x: (x_hat - x).flatten(1).norm(dim=1).mean(), "square root"),
    "abs": (lambda x_hat, x: (x_hat - x).abs().flatten(1).sum(1).mean(), "absolute"),
    "per example": (lambda x_hat, x: (x_hat - x).pow(2).flatten(1).sum(1), "one value per example"),
    "only 4-D images": (lambda x_hat, x: (x_hat - x).pow(2).sum(dim=(1, 2, 3)).mean(), "raised"),
    "detached": (lambda x_hat, x: (x_hat - x).detach().pow(2).flatten(1).sum(1).mean(), "gradient"),
    "numpy": (lambda x_hat, x: float((x_hat - x).detach().pow(2).flatten(1).sum(1).mean()), "torch.Tensor"),
    "unfinished": (not_implemented, "not implemented"),
}


def test_reconstruction_loss_passes_on_reference(capsys):
    verdict, _ = verdict_of(capsys, checks.reconstruction_loss, ae.reconstruction_loss)
    assert verdict.passed and checks.RESULTS["reconstruction_loss"].passed


@pytest.mark.parametrize("name", WRONG_LOSSES)
def test_reconstruction_loss_rejects(capsys, name):
    fn, hint = WRONG_LOSSES[name]
    expect_fail(capsys, checks.reconstruction_loss, (fn,), hint)


# ---- corrupt -------------------------------------------------------------------------------

WRONG_CORRUPT = {
    "missing clamp": (lambda x, s, g=None: x + s * torch.randn(x.shape, generator=g), "clamp"),
    "uniform noise": (lambda x, s, g=None: (x + s * torch.rand(x.shape, generator=g)).clamp(0, 1), "torch.rand"),
    "centred uniform": (lambda x, s, g=None: (x + s * 3**0.5 * (2 * torch.rand(x.shape, generator=g) - 1)).clamp(0, 1),
                        "Gaussian"),
    "variance, not std": (lambda x, s, g=None: (x + s**2 * torch.randn(x.shape, generator=g)).clamp(0, 1), "noise_std**2"),
    "multiplicative": (lambda x, s, g=None: (x * (1 + s * torch.randn(x.shape, generator=g))).clamp(0, 1), "added"),
    "ignores generator": (lambda x, s, g=None: (x + s * torch.randn(x.shape)).clamp(0, 1), "generator"),
    "in place": (lambda x, s, g=None: x.add_(s * torch.randn(x.shape, generator=g)).clamp_(0, 1), "in place"),
    "no noise": (lambda x, s, g=None: x.clone(), "no noise"),
    "unfinished": (not_implemented, "not implemented"),
}


def test_corrupt_passes_on_reference(capsys):
    assert verdict_of(capsys, checks.corrupt, ae.corrupt)[0].passed


@pytest.mark.parametrize("name", WRONG_CORRUPT)
def test_corrupt_rejects(capsys, name):
    fn, hint = WRONG_CORRUPT[name]
    expect_fail(capsys, checks.corrupt, (fn,), hint)


# ---- encoder / decoder ---------------------------------------------------------------------

def good_encoder(shape, d, h):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), h), nn.ReLU(), nn.Linear(h, d))


def good_decoder(d, shape, h):
    return nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, math.prod(shape)), nn.Sigmoid(),
                         nn.Unflatten(1, shape))


WRONG_NETS = {
    "no flatten": (lambda s, d, h: nn.Sequential(nn.Linear(math.prod(s), h), nn.ReLU(), nn.Linear(h, d)),
                   good_decoder, "raised"),
    "no unflatten": (good_encoder, lambda d, s, h: nn.Sequential(nn.Linear(d, h), nn.ReLU(),
                                                                  nn.Linear(h, math.prod(s)), nn.Sigmoid()),
                     "Unflatten"),
    "no sigmoid": (good_encoder, lambda d, s, h: nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, math.prod(s)),
                                                                nn.Unflatten(1, s)), "Sigmoid"),
    "linear encoder": (lambda s, d, h: nn.Sequential(nn.Flatten(), nn.Linear(math.prod(s), h), nn.Linear(h, d)),
                       good_decoder, "nonlinearity"),
    "wrong latent size": (lambda s, d, h: good_encoder(s, d + 1, h), good_decoder, "latent_dim"),
    "no hidden layer": (lambda s, d, h: nn.Sequential(nn.Flatten(), nn.Linear(math.prod(s), d)), good_decoder,
                        "hidden layer"),
    "unfinished": (not_implemented, good_decoder, "not implemented"),
}


def test_encoder_decoder_passes_on_reference(capsys):
    assert verdict_of(capsys, checks.encoder_decoder, good_encoder, good_decoder)[0].passed


@pytest.mark.parametrize("name", WRONG_NETS)
def test_encoder_decoder_rejects(capsys, name):
    enc, dec, hint = WRONG_NETS[name]
    expect_fail(capsys, checks.encoder_decoder, (enc, dec), hint)

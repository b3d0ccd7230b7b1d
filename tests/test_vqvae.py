"""gdmcourse.vqvae against brute force (cdist argmin), autograd (straight-through and which side
of the stop-gradient each loss term sits on), the EMA update written out, and scipy's entropy."""

import math

import pytest
import torch
from scipy.stats import entropy

from gdmcourse import vqvae


def test_nearest_codes_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    z, codebook = torch.randn(4, 5, 3, generator=g), torch.randn(16, 3, generator=g)
    expected = torch.cdist(z.reshape(-1, 3), codebook).argmin(1).reshape(4, 5)
    assert torch.equal(vqvae.nearest_codes(z, codebook), expected)
    with pytest.raises(ValueError, match="share D"):
        vqvae.nearest_codes(z, torch.randn(16, 4))


def test_straight_through_and_loss_sides():
    torch.manual_seed(0)
    vq = vqvae.VectorQuantizer(8, 3, beta=0.25)
    z = torch.randn(10, 3, requires_grad=True)
    z_q, loss, idx = vq(z)
    codes = vq.codebook[idx].detach()
    assert torch.allclose(z_q, codes, atol=1e-6)  # forward: the codes (up to z + (e − z) rounding)
    w = torch.randn(10, 3)
    (g,) = torch.autograd.grad((z_q * w).sum(), z, retain_graph=True)
    assert torch.allclose(g, w)  # backward: identity (straight-through)
    n = z.numel()
    assert loss.item() == pytest.approx(1.25 * (codes - z.detach()).pow(2).mean().item(), rel=1e-6)
    g_z, g_e = torch.autograd.grad(loss, [z, vq.codebook])
    # the commitment term β‖z − sg[e]‖² is the only one that reaches the encoder ...
    assert torch.allclose(g_z, 0.25 * 2 * (z.detach() - codes) / n, atol=1e-7)
    # ... and the codebook term ‖sg[z] − e‖² the only one that reaches the codes
    expected_e = torch.zeros_like(vq.codebook).index_add_(0, idx, 2 * (codes - z.detach()) / n)
    assert torch.allclose(g_e, expected_e, atol=1e-7)


def test_ema_codes_become_the_mean_of_their_vectors():
    torch.manual_seed(1)
    vq = vqvae.VectorQuantizer(4, 2, ema=True, decay=0.0, eps=1e-9)
    z = torch.randn(400, 2)
    idx = vqvae.nearest_codes(z, vq.codebook.clone())
    z_q, loss, got = vq(z)
    assert torch.equal(got, idx)
    for k in idx.unique():
        assert torch.allclose(vq.codebook[k], z[idx == k].mean(0), atol=1e-5)
    assert not any(p.requires_grad for p in [vq.codebook])  # a buffer, not trained by the optimizer
    # with EMA the loss is the commitment term alone, against the updated codes
    assert loss.item() == pytest.approx(0.25 * (vq.codebook[idx] - z).pow(2).mean().item(), rel=1e-5)


def test_perplexity_and_dead_codes():
    idx = torch.tensor([0, 0, 1, 3, 3, 3, 3, 5])
    p = torch.bincount(idx, minlength=8).double().numpy() / len(idx)
    assert vqvae.codebook_perplexity(idx, 8) == pytest.approx(math.exp(entropy(p)))
    assert vqvae.codebook_perplexity(torch.arange(8).repeat(3), 8) == pytest.approx(8.0)
    assert vqvae.codebook_perplexity(torch.zeros(9, dtype=torch.long), 8) == pytest.approx(1.0)
    assert vqvae.dead_codes(idx, 8).tolist() == [2, 4, 6, 7]


@pytest.mark.parametrize("ema", [False, True])
def test_reset_dead_codes_revives_them(ema):
    torch.manual_seed(2)
    vq = vqvae.VectorQuantizer(32, 2, ema=ema)
    z = 5 + torch.randn(500, 2)  # far from the initial codes: most of them are dead
    before = len(vqvae.dead_codes(vqvae.nearest_codes(z, vq.codebook), 32))
    assert before > 16
    assert vqvae.reset_dead_codes(vq, z, generator=torch.Generator().manual_seed(0)) == before
    assert len(vqvae.dead_codes(vqvae.nearest_codes(z, vq.codebook), 32)) < before // 4

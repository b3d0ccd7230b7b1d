"""gdmcourse.vqvae against brute force (cdist argmin), autograd (straight-through and which side
of the stop-gradient each loss term sits on), the EMA update written out, and scipy's entropy."""

import math

import pytest
import torch
from scipy.stats import entropy

from gdmcourse import data, vqvae


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
    searched = vq.codebook.clone()
    idx = vqvae.nearest_codes(z, searched)
    z_q, loss, got = vq(z)
    assert torch.equal(got, idx)
    for k in idx.unique():
        assert torch.allclose(vq.codebook[k], z[idx == k].mean(0), atol=1e-5)
    assert not any(p.requires_grad for p in [vq.codebook])  # a buffer, not trained by the optimizer
    # the outputs come from the codebook the search used, not the one the EMA update left behind
    assert torch.allclose(z_q.detach(), searched[idx], rtol=0, atol=1e-6)
    # with EMA the loss is the commitment term alone, against the searched codes
    assert loss.item() == pytest.approx(0.25 * (searched[idx] - z).pow(2).mean().item(), rel=1e-5)


@pytest.mark.parametrize("decay", [0.5, 0.99])
def test_ema_outputs_use_the_codebook_before_this_batch_update(decay):
    # the reference implementations (the paper's appendix A.1, Sonnet's VectorQuantizerEMA) quantize first,
    # then update; reading the codebook after the update would shift z_q by (1 − γ)(batch mean − code)
    torch.manual_seed(2)
    vq = vqvae.VectorQuantizer(8, 3, ema=True, decay=decay)
    z = torch.randn(256, 3) * 0.05 + 0.2
    before = vq.codebook.clone()
    z_q, loss, idx = vq(z)
    assert not torch.equal(vq.codebook, before)  # the update happened ...
    assert torch.allclose(z_q, before[idx], rtol=0, atol=1e-6)  # ... after the outputs were taken
    assert (vq.codebook[idx] - before[idx]).abs().max() > 1e-4  # (a gap this test would see)
    assert loss.item() == pytest.approx(0.25 * (before[idx] - z).pow(2).mean().item(), rel=1e-6)
    vq.eval()  # no update in evaluation: the same codes give the same outputs twice
    frozen = vq.codebook.clone()
    assert torch.equal(vq(z).z_q, vq(z).z_q) and torch.equal(vq.codebook, frozen)


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


def test_vqvae_shapes_and_code_maps():
    torch.manual_seed(0)
    model = vqvae.VQVAE(num_codes=32, code_dim=4, width=8)
    x = torch.rand(5, 1, 28, 28)
    x_hat, loss, indices, z_e = model(x)
    assert x_hat.shape == x.shape and z_e.shape == (5, 7, 7, 4) and indices.shape == (5, 7, 7)
    assert torch.equal(model.code_map(x), indices)
    assert torch.equal(indices, vqvae.nearest_codes(z_e, model.quantizer.codebook))
    images = model.decode_codes(indices)
    assert images.min() >= 0 and images.max() <= 1
    assert torch.allclose(images, x_hat.detach().clamp(0, 1))
    assert torch.allclose(model.reconstruct(x), images)
    parts = model.loss(x)
    assert torch.allclose(parts["loss"], torch.nn.functional.mse_loss(x_hat, x) + loss)
    with pytest.raises(ValueError, match="28, 28"):
        model(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="0..31"):
        model.decode_codes(torch.full((1, 7, 7), 32))


def test_train_vqvae_with_ema_and_reset_keeps_the_codebook_alive():
    """The course's claim (K = 128: perplexity ≥ 64, ≤ 5% dead) on a short run; plain VQ collapses."""
    x = data.load_images("mnist", "train")[0][:5000]
    results = {}
    for name, ema, reset in [("plain", False, 0), ("ema+reset", True, 50)]:
        torch.manual_seed(0)
        model = vqvae.VQVAE(num_codes=128, code_dim=16, width=16, ema=ema)
        h = vqvae.train_vqvae(model, x, steps=300, batch_size=64, lr=1e-3, reset_every=reset, log_every=50,
                              progress=False)
        results[name] = h
        assert len(h.step) == 6 and h.step[-1] == 300
    good, plain = results["ema+reset"], results["plain"]
    assert good.perplexity[-1] >= 64 and good.dead[-1] <= 0.05 * 128, (good.perplexity, good.dead)
    assert plain.perplexity[-1] < 32 and plain.dead[-1] > 64  # the failure EMA and resets fix
    assert good.recon[-1] < 0.5 * good.recon[0]  # reconstructions are being learnt
    assert good.resets[-1] > 0 and plain.resets[-1] == 0


def test_masked_convolutions_and_the_prior_are_causal():
    torch.manual_seed(0)
    for mask_type in "AB":
        conv = vqvae.MaskedConv2d(mask_type, 1, 1, 5)
        x = torch.randn(1, 1, 7, 7, requires_grad=True)
        conv(x)[0, 0, 3, 3].backward()
        seen = x.grad[0, 0] != 0
        order = torch.arange(49).reshape(7, 7)
        assert not seen[order > 24].any()  # never a later pixel
        assert bool(seen[3, 3]) == (mask_type == "B")  # the centre only for mask B
        assert seen[order < 24].sum() > 0
    prior = vqvae.PixelCNNPrior(num_codes=10, width=16, layers=3)
    codes = torch.randint(10, (1, 7, 7))
    base = prior(codes)
    for pos in [0, 17, 48]:
        changed = codes.clone().flatten()
        changed[pos] = (changed[pos] + 1) % 10
        diff = (prior(changed.reshape(1, 7, 7)) - base).abs().amax(1).flatten()
        assert diff[:pos + 1].max() == 0  # logits up to and at the changed position cannot see it
        if pos < 48:
            assert diff[pos + 1:].max() > 0
    with pytest.raises(ValueError, match="mask_type"):
        vqvae.MaskedConv2d("C", 1, 1, 3)


def test_prior_learns_a_fixed_code_map_and_samples_it():
    target = torch.randint(8, (7, 7), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    prior = vqvae.PixelCNNPrior(num_codes=8, width=32, layers=3)
    losses = vqvae.train_prior(prior, target.expand(64, 7, 7), steps=150, batch_size=16, lr=3e-3, progress=False)
    assert losses[-1] < 0.05 < math.log(8) - 0.5 < losses[0]
    samples = prior.sample(4, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (4, 7, 7) and (samples == target).float().mean() > 0.95


def test_quantizer_and_vqvae_return_named_results():
    torch.manual_seed(0)
    model = vqvae.VQVAE(num_codes=16, code_dim=4, width=8)
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    out = model(x)
    assert isinstance(out, vqvae.VQVAEOutput) and out._fields == ("x_hat", "vq_loss", "indices", "z_e")
    x_hat, vq_loss, indices, z_e = out  # still unpacks as four items
    assert x_hat.shape == x.shape and vq_loss.dim() == 0 and indices.shape == (3, 7, 7) and z_e.shape == (3, 7, 7, 4)
    q = model.quantizer(z_e)
    assert isinstance(q, vqvae.Quantized) and torch.equal(q.indices, indices)
    assert torch.allclose(q.z_q, model.quantizer.codebook[indices], atol=1e-6)  # forward value: the nearest codes

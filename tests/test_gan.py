"""gdmcourse.gan against independent routes: a brute-force argmax, scipy's Jensen–Shannon
distance, the game's value computed directly, BCE from torch, analytic derivatives, and the
mass of a 2-D Gaussian within 3σ."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.distance import jensenshannon
from scipy.stats import binom

from gdmcourse import data, gan


def test_optimal_discriminator_is_the_pointwise_argmax():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(50, generator=g, dtype=torch.float64), torch.rand(50, generator=g, dtype=torch.float64)
    ys = torch.linspace(0, 1, 200_001, dtype=torch.float64)[1:-1]
    brute = ys[(a[:, None] * ys.log() + b[:, None] * (1 - ys).log()).argmax(1)]
    assert torch.allclose(gan.optimal_discriminator(a, b), brute, atol=1e-5)


def test_optimal_discriminator_edges_and_errors():
    d = gan.optimal_discriminator(torch.tensor([0.0, 1.0, 0.0]), torch.tensor([0.0, 0.0, 2.0]))
    assert d.tolist() == [0.5, 1.0, 0.0]
    with pytest.raises(ValueError, match="non-negative"):
        gan.optimal_discriminator(torch.tensor([-0.1]), torch.tensor([1.0]))


def test_jensen_shannon_matches_scipy():
    rng = np.random.default_rng(1)
    for _ in range(20):
        p, q = rng.dirichlet(np.ones(7)), rng.dirichlet(np.ones(7))
        p[rng.integers(7)] = 0
        p /= p.sum()
        ours = gan.jensen_shannon(torch.tensor(p), torch.tensor(q)).item()
        assert ours == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-9, abs=1e-12)  # scipy: sqrt, natural log


def test_jensen_shannon_properties():
    p = torch.softmax(torch.randn(5, 4, generator=torch.Generator().manual_seed(2)), -1)
    q = torch.softmax(torch.randn(5, 4, generator=torch.Generator().manual_seed(3)), -1)
    assert gan.jensen_shannon(p, q).shape == (5,)
    assert torch.allclose(gan.jensen_shannon(p, q), gan.jensen_shannon(q, p))
    assert torch.allclose(gan.jensen_shannon(p, p), torch.zeros(5), atol=1e-7)
    assert gan.jensen_shannon(torch.tensor([1.0, 0, 0]), torch.tensor([0, 0.5, 0.5])).item() == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="sum to 1"):
        gan.jensen_shannon(torch.tensor([0.5, 0.6]), torch.tensor([0.5, 0.5]))


def test_generator_criterion_is_the_value_at_the_optimal_discriminator():
    rng = np.random.default_rng(4)
    for _ in range(10):
        p, q = torch.tensor(rng.dirichlet(np.ones(6))), torch.tensor(rng.dirichlet(np.ones(6)))
        d = gan.optimal_discriminator(p, q)
        value = (p * d.log()).sum() + (q * (1 - d).log()).sum()
        assert gan.generator_criterion(p, q).item() == pytest.approx(value.item(), abs=1e-12)
        # and no other discriminator does better (D* is the max over D)
        other = (d + 0.05).clamp(1e-6, 1 - 1e-6)
        assert ((p * other.log()).sum() + (q * (1 - other).log()).sum()) < value
    assert gan.generator_criterion(p, p).item() == pytest.approx(-math.log(4))


def test_losses_are_binary_cross_entropy():
    g = torch.Generator().manual_seed(5)
    real, fake = 3 * torch.randn(9, generator=g), 3 * torch.randn(6, generator=g)
    bce = F.binary_cross_entropy_with_logits
    assert torch.allclose(gan.discriminator_loss(real, fake),
                          bce(real, torch.ones(9)) + bce(fake, torch.zeros(6)))
    assert torch.allclose(gan.generator_loss_nonsaturating(fake), bce(fake, torch.ones(6)))
    assert torch.allclose(gan.generator_loss_minimax(fake), -bce(fake, torch.zeros(6)))
    assert gan.discriminator_loss(torch.zeros(3), torch.zeros(3)).item() == pytest.approx(2 * math.log(2))


def test_losses_stay_finite_for_huge_logits():
    big = torch.tensor([-1e4, -100.0, 100.0, 1e4])
    for value in [gan.discriminator_loss(big, big), gan.generator_loss_minimax(big), gan.generator_loss_nonsaturating(big)]:
        assert torch.isfinite(value)
    # -log σ(-1e4) = 1e4 exactly (up to rounding): the loss is linear in the logit far out
    assert gan.generator_loss_nonsaturating(torch.tensor([-1e4])).item() == pytest.approx(1e4)


def test_saturation_gradients_match_the_analytic_derivatives():
    logits = torch.linspace(-20, 20, 81, requires_grad=True)
    (g_mm,) = torch.autograd.grad(gan.generator_loss_minimax(logits) * 81, logits)
    (g_ns,) = torch.autograd.grad(gan.generator_loss_nonsaturating(logits) * 81, logits)
    s = torch.sigmoid(logits.detach())
    assert torch.allclose(g_mm, -s, atol=1e-6) and torch.allclose(g_ns, -(1 - s), atol=1e-6)
    # D(G(z)) -> 0: the minimax gradient vanishes, the non-saturating one tends to -1
    assert abs(g_mm[0]) < 1e-8 and g_ns[0].item() == pytest.approx(-1.0)


def test_mode_coverage_rule_on_hand_made_samples():
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    std = 0.1
    good_a = torch.zeros(60, 2)
    good_b = torch.tensor([[10.0 + 2.9 * std, 0.0]]).repeat(39, 1)  # inside 3 std
    bad = torch.tensor([[0.0, 10.0 + 3.1 * std]]).repeat(50, 1)       # just outside
    weird = torch.tensor([[float("nan"), 0.0], [float("inf"), 1.0]])
    modes, quality = gan.mode_coverage(torch.cat([good_a, good_b, bad, weird]), centers, std)
    assert modes == 2 and quality == pytest.approx(99 / 151)
    # a mode with fewer than 1% of the high-quality samples is not covered
    lonely = torch.cat([torch.zeros(200, 2), torch.tensor([[10.0, 0.0]])])
    assert gan.mode_coverage(lonely, centers, std) == (1, 1.0)
    with pytest.raises(ValueError):
        gan.mode_coverage(torch.zeros(5, 3), centers, std)


def test_mode_coverage_of_the_data_itself():
    n = 20_000
    x = data.toy2d("8gaussians", n, seed=0)
    modes, quality = gan.mode_coverage(x, data.toy2d_centers("8gaussians"), data.toy2d_std("8gaussians"))
    p = 1 - math.exp(-9 / 2)  # P(|ε| <= 3) for a 2-D standard Gaussian: chi-square with 2 d.o.f.
    lo, hi = binom.ppf([1e-6, 1 - 1e-6], n, p) / n
    assert modes == 8 and lo <= quality <= hi


def test_mode_coverage_returns_named_fields():
    centers, std = data.toy2d_centers("8gaussians"), data.toy2d_std("8gaussians")
    result = gan.mode_coverage(centers.repeat(10, 1), centers, std)
    assert isinstance(result, gan.ModeCoverage) and result._fields == ("modes", "high_quality")
    assert result.modes == 8 and result.high_quality == 1.0 and tuple(result) == (8, 1.0)


def test_truncate_towards_mean_against_its_endpoints_and_a_hand_value():
    """w' = ŵ + ψ(w − ŵ): ψ = 1 is the identity, ψ = 0 the mean, ψ = 0.5 the midpoint; ψ scales the spread."""
    torch.manual_seed(0)
    w, w_mean = torch.randn(100, 8), torch.randn(8)
    assert torch.allclose(gan.truncate_towards_mean(w, w_mean, 1.0), w, atol=1e-6)
    assert torch.allclose(gan.truncate_towards_mean(w, w_mean, 0.0), w_mean.expand(100, 8))
    assert torch.allclose(gan.truncate_towards_mean(w, w_mean, 0.5), (w + w_mean) / 2)
    spread = lambda v: (v - w_mean).norm(dim=1)  # noqa: E731
    assert torch.allclose(spread(gan.truncate_towards_mean(w, w_mean, 0.7)), 0.7 * spread(w), atol=1e-6)
    with pytest.raises(ValueError, match="broadcast"):
        gan.truncate_towards_mean(w, torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match="finite"):
        gan.truncate_towards_mean(w, w_mean, float("nan"))


def test_dcgan_generator_is_mapping_then_synthesis():
    from gdmcourse import nets

    torch.manual_seed(0)
    G = nets.DCGANGenerator(latent_dim=8, width=4, num_classes=3).eval()
    z, y = torch.randn(5, 8), torch.tensor([0, 1, 2, 0, 1])
    h = G.mapping(z, y)
    assert h.shape == (5, 8, 7, 7)
    # independent route: every layer of the network, run on [z, one_hot(y)] by hand
    x = torch.cat([z, torch.nn.functional.one_hot(y, 3).float()], dim=1)
    for layer in G.net:
        x = layer(x)
    assert torch.allclose(G.synthesis(h), x, atol=1e-6)
    assert G.synthesis(h).shape == (5, 1, 28, 28)

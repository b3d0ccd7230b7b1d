"""VAE formulas against independent references (torch.distributions, closed forms, Monte Carlo)."""

import math

import pytest
import torch
from torch.distributions import Bernoulli, MultivariateNormal, Normal, kl_divergence

from gdmcourse import vae


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---- Gaussian KL ---------------------------------------------------------------------------

def test_gaussian_kl_standard_prior_matches_torch_distributions():
    g = _gen()
    mu, logvar = torch.randn(4, 3, 5, generator=g), torch.randn(4, 3, 5, generator=g)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    got = vae.gaussian_kl(mu, logvar)
    assert got.shape == (4, 3)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # a hand value: μ = 1, σ² = 1 → ½ μ² = 0.5 per dim
    assert vae.gaussian_kl(torch.ones(1, 2), torch.zeros(1, 2)).item() == pytest.approx(1.0)
    assert vae.gaussian_kl(torch.zeros(2, 7), torch.zeros(2, 7)).abs().max() == 0


def test_gaussian_kl_general_prior_matches_torch_distributions():
    g = _gen(1)
    mu, logvar, mu_p, logvar_p = (torch.randn(6, 4, generator=g) for _ in range(4))
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(mu_p, (0.5 * logvar_p).exp())).sum(-1)
    torch.testing.assert_close(vae.gaussian_kl(mu, logvar, mu_p, logvar_p), expected, rtol=1e-5, atol=1e-5)


def test_gaussian_kl_agrees_with_monte_carlo():
    g = _gen(2)
    mu, logvar = torch.randn(3, 4, generator=g, dtype=torch.float64), 0.5 * torch.randn(3, 4, generator=g, dtype=torch.float64)
    n = 200_000
    # independent MC estimate from torch.distributions: mean of log q(z) − log p(z)
    q = Normal(mu, (0.5 * logvar).exp())
    z = q.sample((n,))
    terms = (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1)
    mc, se = terms.mean(0), terms.std(0) / n**0.5
    assert ((vae.gaussian_kl(mu, logvar) - mc).abs() < 4 * se).all()
    # and the module's own MC helper within 4 standard errors
    assert ((vae.kl_monte_carlo(mu, logvar, n, _gen(3)) - vae.gaussian_kl(mu, logvar)).abs() < 4 * se).all()


# ---- log-likelihoods -------------------------------------------------------------------------

def test_bernoulli_log_likelihood_matches_torch_distributions():
    g = _gen(4)
    logits = 3 * torch.randn(5, 1, 4, 4, generator=g)
    x = (torch.rand(5, 1, 4, 4, generator=g) < 0.5).float()
    expected = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(vae.bernoulli_log_likelihood(logits, x), expected)
    # broadcasting (k, B, ...) logits against (B, ...) data, summing 3 event dims
    many = torch.randn(7, 5, 1, 4, 4, generator=g)
    got = vae.bernoulli_log_likelihood(many, x, event_dims=3)
    torch.testing.assert_close(got, Bernoulli(logits=many).log_prob(x.expand_as(many)).sum((2, 3, 4)))


def test_bernoulli_log_likelihood_stable_at_extreme_logits():
    logits = torch.tensor([[100.0, -100.0, 100.0, -100.0]])
    x = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    got = vae.bernoulli_log_likelihood(logits, x)
    # two right pixels cost ~e^-100 nats, two wrong ones 100 nats each
    assert torch.isfinite(got).all()
    assert got.item() == pytest.approx(-200.0, abs=1e-4)
    naive = (x * torch.sigmoid(logits).log() + (1 - x) * (1 - torch.sigmoid(logits)).log()).sum()
    assert not torch.isfinite(naive)  # the reason for computing from logits


def test_gaussian_log_likelihood_matches_torch_distributions():
    g = _gen(5)
    x, mean, logvar = (torch.randn(4, 6, generator=g) for _ in range(3))
    expected = Normal(mean, (0.5 * logvar).exp()).log_prob(x).sum(-1)
    torch.testing.assert_close(vae.gaussian_log_likelihood(x, mean, logvar), expected)
    assert vae.gaussian_log_likelihood(torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1)).item() == \
        pytest.approx(-0.5 * math.log(2 * math.pi))


# ---- reparameterize --------------------------------------------------------------------------

def test_reparameterize_moments():
    n = 200_000
    mu, logvar = torch.tensor([1.5, -2.0]), torch.tensor([math.log(0.25), math.log(4.0)])
    z = vae.reparameterize(mu.expand(n, 2), logvar.expand(n, 2), _gen(6))
    std = torch.tensor([0.5, 2.0])
    assert ((z.mean(0) - mu).abs() < 4 * std / n**0.5).all()
    assert ((z.std(0) - std).abs() < 4 * std / (2 * n) ** 0.5).all()


def test_reparameterize_gradients_and_reproducibility():
    mu = torch.randn(3, 4, requires_grad=True)
    logvar = torch.randn(3, 4, requires_grad=True)
    z = vae.reparameterize(mu, logvar, _gen(7))
    z.sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones(3, 4))            # dz/dμ = 1
    eps = (z.detach() - mu.detach()) / (0.5 * logvar.detach()).exp()
    torch.testing.assert_close(logvar.grad, 0.5 * (0.5 * logvar.detach()).exp() * eps)  # dz/dlogσ² = ½σε
    again = vae.reparameterize(mu.detach(), logvar.detach(), _gen(7))
    assert torch.equal(again, z.detach())
    assert not torch.equal(vae.reparameterize(mu.detach(), logvar.detach(), _gen(8)), again)


# ---- a tiny VAE: ELBO and IWAE ---------------------------------------------------------------

def _tiny_vae(seed=0, shape=(1, 3, 3), latent=2):
    torch.manual_seed(seed)
    return vae.VAE.mlp(shape, latent, (8,))


def _binary(shape, seed=0):
    return (torch.rand(shape, generator=_gen(seed)) < 0.5).float()


def test_elbo_equals_hand_computation():
    model = _tiny_vae()
    x = _binary((5, 1, 3, 3))
    got = model.elbo(x, generator=_gen(9))
    # by hand, from the networks and torch.distributions
    h = model.encoder(x)
    mu, logvar = h[:, :2], h[:, 2:]
    eps = torch.randn(5, 2, generator=_gen(9))
    z = mu + (0.5 * logvar).exp() * eps
    logits = model.decoder(z)
    rec = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(got, rec - kl)
    torch.testing.assert_close(model.elbo(x, beta=0.3, generator=_gen(9)), rec - 0.3 * kl)
    loss = model.loss(x, generator=_gen(9))
    torch.testing.assert_close(loss["loss"], -(rec - kl).mean())


def test_iwae_k1_has_the_elbo_expectation_and_increases_with_k():
    model = _tiny_vae(1)
    x = _binary((4, 1, 3, 3), seed=1)
    x_rep = x.repeat(5000, 1, 1, 1)
    with torch.no_grad():
        elbo = model.elbo(x_rep, generator=_gen(10)).reshape(5000, 4)
        iwae1 = model.iwae_bound(x_rep, 1, _gen(11)).reshape(5000, 4)
        se = (elbo.var(0) / 5000 + iwae1.var(0) / 5000).sqrt()
        assert ((elbo.mean(0) - iwae1.mean(0)).abs() < 4 * se).all()
        # a sharper decoder widens the gap log p(x) − ELBO, so the k-dependence is visible
        for p in model.decoder.parameters():
            p.mul_(5)
        x_rep = x.repeat(200, 1, 1, 1)
        bounds = [model.iwae_bound(x_rep, k, _gen(12 + k), chunk=7).reshape(200, 4) for k in (1, 10, 100)]
    for small, large in zip(bounds[:-1], bounds[1:]):
        se = (small.var(0) / 200 + large.var(0) / 200).sqrt()
        assert (large.mean(0) - small.mean(0) > 4 * se).all()  # L_1 < L_10 < L_100, beyond MC noise


def test_iwae_with_huge_logits_stays_finite():
    model = _tiny_vae(2)
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.mul_(1000)
    x = _binary((3, 1, 3, 3), seed=2)
    with torch.no_grad():
        bound = model.iwae_bound(x, 50, _gen(13))
    assert torch.isfinite(bound).all() and (bound < -100).any()


def test_iwae_is_log_mean_exp_of_importance_weights():
    model = _tiny_vae(3)
    x = _binary((2, 1, 3, 3), seed=3)
    k = 6
    with torch.no_grad():
        got = model.iwae_bound(x, k, _gen(14), chunk=4)  # two chunks: 4 + 2 samples
        mu, logvar = model.encode(x)
        # chunks of 4 then 2 samples drawn in turn from one generator
        g = _gen(14)
        eps = torch.cat([torch.randn(4, 2, 2, generator=g), torch.randn(2, 2, 2, generator=g)])
        q = Normal(mu, (0.5 * logvar).exp())
        z = mu + q.stddev * eps
        log_w = (Bernoulli(logits=model.decoder(z)).log_prob(x).flatten(2).sum(2)
                 + Normal(0.0, 1.0).log_prob(z).sum(-1) - q.log_prob(z).sum(-1))
        expected = (log_w.exp().mean(0)).log()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_sample_shapes_ranges_and_devices():
    model = _tiny_vae()
    s = model.sample(4, _gen(0))
    assert s.shape == (4, 1, 3, 3) and (s > 0).all() and (s < 1).all()
    assert torch.equal(s, model.sample(4, _gen(0)))
    conv = vae.VAE.conv(3, width=4)
    x = _binary((2, 1, 28, 28))
    assert conv.elbo(x).shape == (2,) and conv.sample(2).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="shape"):
        model.encode(torch.zeros(2, 9))


def test_cvae_label_changes_the_decoder_and_shapes():
    for model in (vae.CVAE.mlp((1, 3, 3), 2, (8,), num_classes=3), vae.CVAE.conv(2, width=4, num_classes=3)):
        shape = model.input_shape
        x, y = _binary((4, *shape)), torch.tensor([0, 1, 2, 0])
        assert model.elbo(x, y).shape == (4,)
        with torch.no_grad():
            assert model.iwae_bound(x, y, 5, chunk=2).shape == (4,)
        assert model.sample(3, 1).shape == (3, *shape)
        z = torch.zeros(2, 2)
        assert not torch.allclose(model.decode(z, torch.tensor([0, 0])), model.decode(z, torch.tensor([1, 1])))
        with pytest.raises(ValueError, match="labels"):
            model.elbo(x, torch.tensor([0, 1, 2, 3]))


# ---- log p(x) = ELBO + KL(q ‖ p(z|x)) on a model with exact likelihood ------------------------

def test_linear_gaussian_identity():
    model = vae.LinearGaussianModel.random(D=5, d=2, sigma=0.7, seed=0)
    x = model.sample(4, _gen(1))
    # independent reference: p(x) = N(b, WWᵀ + σ²I)
    C = model.W @ model.W.T + 0.49 * torch.eye(5, dtype=torch.float64)
    log_px = MultivariateNormal(model.b, C).log_prob(x)
    torch.testing.assert_close(model.log_marginal(x), log_px)
    g = _gen(2)
    q_mu, q_logvar = torch.randn(4, 2, generator=g, dtype=torch.float64), torch.randn(4, 2, generator=g, dtype=torch.float64)
    # KL(q ‖ p(z|x)) from torch's MultivariateNormal posterior, built from Bayes' rule by hand
    prec = torch.eye(2, dtype=torch.float64) + model.W.T @ model.W / 0.49
    post_cov = torch.linalg.inv(prec)
    post_mean = torch.linalg.solve(prec, model.W.T @ (x - model.b).T / 0.49).T
    post = MultivariateNormal(post_mean, post_cov)
    q = MultivariateNormal(q_mu, torch.diag_embed(q_logvar.exp()))
    kl_post = kl_divergence(q, post)
    torch.testing.assert_close(model.kl_to_posterior(x, q_mu, q_logvar), kl_post)
    # ELBO by Monte Carlo from gaussian_log_likelihood + gaussian_kl: log p(x) − KL(q‖p(z|x)) within 4 s.e.
    n = 100_000
    z = vae.reparameterize(q_mu.expand(n, 4, 2), q_logvar.expand(n, 4, 2), _gen(3))
    rec = vae.gaussian_log_likelihood(x, z @ model.W.T + model.b, torch.full((5,), math.log(0.49), dtype=torch.float64),
                                      event_dims=1)
    elbo_mc = rec.mean(0) - vae.gaussian_kl(q_mu, q_logvar)
    se = rec.std(0) / n**0.5
    assert ((elbo_mc + kl_post - log_px).abs() < 4 * se).all()
    # the closed-form ELBO satisfies the identity to rounding, and the gap is positive for this q
    torch.testing.assert_close(model.elbo(x, q_mu, q_logvar) + kl_post, log_px)
    assert (kl_post > 0).all()


def test_linear_gaussian_posterior_matches_bayes_rule():
    model = vae.LinearGaussianModel.random(D=3, d=3, sigma=0.5, seed=1)
    x = model.sample(2, _gen(4))
    mean, cov = model.posterior(x)
    # joint Gaussian of (z, x): cov(z, x) = Wᵀ, cov(x) = WWᵀ + σ²I → conditioning formula
    Cx = model.W @ model.W.T + 0.25 * torch.eye(3, dtype=torch.float64)
    gain = model.W.T @ torch.linalg.inv(Cx)
    torch.testing.assert_close(mean, (gain @ (x - model.b).T).T)
    torch.testing.assert_close(cov, torch.eye(3, dtype=torch.float64) - gain @ model.W)


# ---- training helpers --------------------------------------------------------------------------

def test_dynamic_binarize_statistics():
    x = torch.full((100_000,), 0.3)
    b = vae.dynamic_binarize(x, _gen(5))
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert abs(b.mean().item() - 0.3) < 4 * (0.21 / 100_000) ** 0.5
    assert torch.equal(b, vae.dynamic_binarize(x, _gen(5)))


def test_active_units_counts_varying_posterior_means():
    model = _tiny_vae(4, shape=(4,), latent=3)
    with torch.no_grad():
        first = model.encoder.layers[-1]
        first.weight[1].zero_()           # μ_2 constant → inactive
        first.bias[1] = 0.0
        first.weight[0].mul_(100)         # μ_1 varies a lot
    x = torch.randn(500, 4, generator=_gen(6))
    mu = model.encode(x)[0]
    expected = int((mu.var(0) > 1e-2).sum())
    assert vae.active_units(model, x) == expected
    assert expected <= 2
    assert vae.active_units(model, x, threshold=0.0) >= 2


def test_vae_training_improves_the_elbo():
    from gdmcourse import train
    from gdmcourse.data import load_images
    images = load_images("digits", "train")[0][:512]
    torch.manual_seed(0)
    model = vae.VAE.mlp((1, 8, 8), 4, (64,))
    x_eval = vae.dynamic_binarize(images, _gen(7))
    with torch.no_grad():
        before = model.elbo(x_eval, generator=_gen(0)).mean().item()
    history = train.fit(model, vae.vae_loss(generator=_gen(8)), images, epochs=8, batch_size=64, lr=3e-3,
                        progress=False)
    with torch.no_grad():
        after = model.elbo(x_eval, generator=_gen(0)).mean().item()
        nll = vae.iwae_nll(model, x_eval[:100], k=50, generator=_gen(1))
        neg_elbo = -model.elbo(x_eval[:100].repeat(20, 1, 1, 1), generator=_gen(2)).mean().item()
    assert after > before + 10, (before, after)
    assert history.epochs["kl"][-1] > 0
    assert nll < neg_elbo  # the IWAE bound is tighter than the ELBO
    assert vae.latent_traversal(model, torch.zeros(4), [0, 2], [-2.0, 0.0, 2.0]).shape == (2, 3, 1, 8, 8)


def test_encoders_and_exact_posterior_return_named_fields():
    torch.manual_seed(0)
    model = vae.VAE.mlp(input_shape=(1, 4, 4), latent_dim=3, hidden=(8,))
    q = model.encode(torch.rand(5, 1, 4, 4))
    assert isinstance(q, vae.DiagonalGaussian) and q.mu.shape == q.logvar.shape == (5, 3)
    mu, logvar = q
    assert torch.equal(mu, q.mu) and torch.equal(logvar, q.logvar)
    lgm = vae.LinearGaussianModel.random(D=5, d=2)
    post = lgm.posterior(lgm.sample(4, torch.Generator().manual_seed(0)))
    assert isinstance(post, vae.GaussianPosterior) and post.mean.shape == (4, 2) and post.cov.shape == (2, 2)


def test_mlp_vae_activation_and_recipe_networks():
    """``activation`` puts ELU (or ReLU) between the layers of both networks; unknown names are refused."""
    from torch import nn

    V = vae
    m = V.VAE.mlp(latent_dim=4, hidden=(16, 8), activation="elu")
    assert sum(isinstance(x, nn.ELU) for x in m.modules()) == 4 and not any(isinstance(x, nn.ReLU) for x in m.modules())
    c = V.CVAE.mlp(latent_dim=4, hidden=(16,), activation="elu")
    assert sum(isinstance(x, nn.ELU) for x in c.modules()) == 2
    with pytest.raises(ValueError, match="'relu', 'elu'"):
        V.VAE.mlp(activation="tanh")
    recipe = V.RECIPES["quick"]
    model = recipe.model()
    assert model.latent_dim == recipe.latent_dim
    widths = [x.out_features for x in model.encoder.modules() if isinstance(x, nn.Linear)]
    assert widths == [*recipe.hidden, 2 * recipe.latent_dim]

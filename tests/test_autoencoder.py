"""Autoencoder formulas against independent references (torch.nn.functional, numpy, scipy)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.linalg import subspace_angles

from gdmcourse import autoencoder as ae
from gdmcourse import train


def test_reconstruction_loss_is_sum_over_pixels_mean_over_batch():
    g = torch.Generator().manual_seed(0)
    x, x_hat = torch.rand(5, 1, 6, 6, generator=g), torch.rand(5, 1, 6, 6, generator=g)
    expected = F.mse_loss(x_hat, x, reduction="sum") / 5
    assert torch.allclose(ae.reconstruction_loss(x_hat, x), expected)
    # a hand-computed value: two examples with errors (1, 1) and (2, 0) → (2 + 4) / 2 = 3
    assert ae.reconstruction_loss(torch.tensor([[1.0, 1.0], [2.0, 0.0]]), torch.zeros(2, 2)).item() == 3.0


def test_reconstruction_loss_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        ae.reconstruction_loss(torch.zeros(2, 3), torch.zeros(2, 1, 3))


def test_corrupt_statistics_and_clamp():
    n = 200_000
    out = ae.corrupt(torch.full((n,), 0.5), 0.1, torch.Generator().manual_seed(0))
    # mean ± 4 standard errors of the mean; std of a sample std ≈ σ/√(2n)
    assert abs(out.mean().item() - 0.5) < 4 * 0.1 / n**0.5
    assert abs(out.std().item() - 0.1) < 4 * 0.1 / (2 * n) ** 0.5
    bright = ae.corrupt(torch.full((n,), 0.9), 0.5, torch.Generator().manual_seed(1))
    assert bright.min() >= 0 and bright.max() <= 1
    # P(0.9 + 0.5 ε ≥ 1) = P(ε ≥ 0.2) = 1 − Φ(0.2), from scipy
    from scipy.stats import norm
    p = norm.sf(0.2)
    assert abs((bright == 1).float().mean().item() - p) < 4 * (p * (1 - p) / n) ** 0.5


def test_corrupt_reproducible_and_pure():
    x = torch.rand(3, 4)
    before = x.clone()
    a = ae.corrupt(x, 0.3, torch.Generator().manual_seed(5))
    b = ae.corrupt(x, 0.3, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and torch.equal(x, before)
    assert torch.equal(ae.corrupt(x, 0.0), x)
    with pytest.raises(ValueError):
        ae.corrupt(x, -0.1)


def test_pca_matches_numpy_eigendecomposition():
    g = np.random.default_rng(0)
    x = g.normal(size=(500, 6)) @ np.diag([5, 3, 2, 1, 0.5, 0.1]) @ np.linalg.qr(g.normal(size=(6, 6)))[0]
    mean, comps, var = ae.pca(torch.tensor(x, dtype=torch.float64), 3)
    evals, evecs = np.linalg.eigh(np.cov(x.T))
    order = np.argsort(evals)[::-1][:3]
    np.testing.assert_allclose(var.numpy(), evals[order], rtol=1e-8)
    np.testing.assert_allclose(mean.numpy(), x.mean(0), atol=1e-12)
    # same directions up to sign
    np.testing.assert_allclose(np.abs(comps.numpy() @ evecs[:, order]), np.eye(3), atol=1e-6)
    with pytest.raises(ValueError):
        ae.pca(torch.zeros(4, 3), 5)


def test_linear_autoencoder_spans_the_principal_subspace():
    """Baldi & Hornik: a trained linear AE spans the top-k PCA subspace (principal angles ≈ 0)."""
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(20, 20, generator=g))[0]
    scales = torch.tensor([4.0, 3.0, 2.5] + [0.3] * 17)
    x = (torch.randn(2000, 20, generator=g) * scales) @ basis.T
    x = x - x.mean(0)
    torch.manual_seed(0)  # the initial weights: the result must not depend on the tests run before
    model = ae.linear_autoencoder((20,), 3)
    train.fit(model, lambda m, b: ae.reconstruction_loss(m(b[0]), b[0]), x, epochs=30, batch_size=200,
              lr=1e-2, schedule="cosine", progress=False)
    _, comps, _ = ae.pca(x, 3)
    decoder = model.decoder.layers[0].weight.detach().double().numpy()
    angles = np.degrees(subspace_angles(decoder, comps.T.double().numpy()))
    assert angles.max() < 2.0, angles
    # ...while a random decoder is far from it: the test can fail
    untrained = ae.linear_autoencoder((20,), 3).decoder.layers[0].weight.detach().double().numpy()
    assert np.degrees(subspace_angles(untrained, comps.T.double().numpy())).max() > 30


@pytest.mark.parametrize("factory", [lambda: ae.mlp_autoencoder((1, 28, 28), 5, (32,)),
                                     lambda: ae.conv_autoencoder(5, width=8)])
def test_autoencoder_shapes_and_range(factory):
    model = factory()
    x = torch.rand(3, 1, 28, 28)
    z = model.encode(x)
    assert z.shape == (3, 5)
    out = model(x)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="codes must have 5"):
        model.decode(torch.zeros(3, 4))
    assert ae.encode(model, x, batch_size=2).shape == (3, 5)


def test_psnr_matches_formula():
    x = torch.zeros(2, 4)
    x_hat = torch.tensor([[0.1, 0.1, 0.1, 0.1], [0.0, 0.0, 0.0, 0.2]])
    expected = 10 * np.log10(1 / np.array([0.01, 0.01]))
    np.testing.assert_allclose(ae.psnr(x_hat, x).numpy(), expected, rtol=1e-5)


def test_pca_returns_named_fields():
    x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    result = ae.pca(x, 2)
    assert isinstance(result, ae.PCA) and result._fields == ("mean", "components", "variances")
    mean, components, variances = result
    assert torch.equal(mean, result.mean) and components.shape == (2, 4) and variances.shape == (2,)

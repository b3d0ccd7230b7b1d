"""The GAN training loop and the DCGAN nets: shapes, label handling, determinism, the
constraints each loss promises (clipped weights, unit spectral norms), and that a generator
actually learns a simple target."""

import pytest
import torch
from torch import nn

from gdmcourse import gan, nets, recipes, wgan


def test_dcgan_shapes_and_ranges():
    torch.manual_seed(0)
    G, D = nets.DCGANGenerator(latent_dim=8, width=4), nets.DCGANDiscriminator(width=4, hidden=16)
    x = G(torch.randn(5, 8))
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1
    assert D(x).shape == (5,)
    with pytest.raises(ValueError, match="noise of shape"):
        G(torch.randn(5, 7))
    with pytest.raises(ValueError, match="28, 28"):
        D(torch.zeros(5, 1, 32, 32))


def test_conditional_nets_need_valid_labels():
    torch.manual_seed(0)
    G = nets.DCGANGenerator(latent_dim=8, width=4, num_classes=10)
    D = nets.DCGANDiscriminator(width=4, hidden=16, num_classes=10)
    y = torch.tensor([0, 3, 9])
    x = G(torch.randn(3, 8), y)
    assert D(x, y).shape == (3,)
    for bad, message in [(None, "conditional"), (torch.tensor([0, 1, 10]), "0..9"), (torch.tensor([0.0, 1, 2]), "integers")]:
        with pytest.raises(ValueError, match=message):
            G(torch.randn(3, 8), bad)
        with pytest.raises(ValueError, match=message):
            D(x, bad)
    # the label changes the discriminator's verdict (projection) and the generator's output
    assert not torch.allclose(D(x, torch.tensor([1, 1, 1])), D(x, torch.tensor([2, 2, 2])))
    G.eval()
    z = torch.randn(1, 8)
    assert not torch.allclose(G(z, torch.tensor([1])), G(z, torch.tensor([2])))
    with pytest.raises(ValueError, match="unconditional"):
        nets.DCGANDiscriminator(width=4)(x, y)


def _gaussian_problem(seed=0):
    torch.manual_seed(seed)
    data = 3.0 + 0.5 * torch.randn(4000, 1, generator=torch.Generator().manual_seed(1))
    return gan.toy_generator(latent_dim=1, hidden=(16,), out_dim=1), gan.toy_discriminator(hidden=(16,), in_dim=1), data


@pytest.mark.parametrize("loss", wgan.LOSSES)
def test_every_loss_trains_deterministically(loss):
    runs = []
    for _ in range(2):
        G, D, data = _gaussian_problem()
        history = gan.train_gan(G, D, data, loss=wgan.LOSSES[loss], steps=30, batch_size=32, n_critic=2, seed=3,
                                device="cpu", progress=False)
        runs.append((history.d_loss, gan.sample(G, 10, seed=0)))
    assert len(runs[0][0]) == 30 and runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])


def test_the_generator_learns_a_gaussian():
    G, D, data = _gaussian_problem()
    before = gan.sample(G, 2000, seed=0)
    gan.train_gan(G, D, data, loss="nonsaturating", steps=600, batch_size=64, lr_g=3e-3, lr_d=3e-3,
                  betas=(0.0, 0.9), seed=0, device="cpu", progress=False)
    after = gan.sample(G, 2000, seed=0)
    assert abs(before.mean() - 3.0) > 1.5
    assert abs(after.mean() - 3.0) < 0.25 and 0.2 < after.std() < 1.0


def test_weight_clipping_and_spectral_norm_hold_after_training():
    G, D, data = _gaussian_problem()
    gan.train_gan(G, D, data, loss=wgan.LOSSES["wgan-clip"], clip=0.02, steps=20, batch_size=32, seed=0, device="cpu", progress=False)
    assert all(p.abs().max() <= 0.02 for p in D.parameters())
    torch.manual_seed(0)
    D_sn = gan.toy_discriminator(hidden=(16, 16), in_dim=1, spectral_norm=True)
    gan.train_gan(G, D_sn, data, loss=wgan.LOSSES["hinge"], steps=200, batch_size=32, seed=0, device="cpu", progress=False)
    for module in D_sn.modules():
        if isinstance(module, nn.Linear):
            sigma = torch.linalg.matrix_norm(module.weight.detach(), ord=2)
            assert sigma.item() == pytest.approx(1.0, abs=0.05)


def test_callback_snapshots_and_errors():
    G, D, data = _gaussian_problem()
    history = gan.train_gan(G, D, data, steps=10, batch_size=16, seed=0, device="cpu", progress=False,
                            callback=lambda step, g: step, callback_every=4)
    assert [s for s, _ in history.snapshots] == [4, 8, 10]
    with pytest.raises(ValueError, match="unknown loss"):
        gan.train_gan(G, D, data, loss="wasserstein", steps=1, progress=False)
    with pytest.raises(ValueError, match=r"wgan.LOSSES\['wgan-gp'\]"):  # the WGAN family lives in wgan
        gan.train_gan(G, D, data, loss="wgan-gp", steps=1, progress=False)
    with pytest.raises(ValueError, match="latent_dim"):
        gan.train_gan(nn.Linear(1, 1), D, data, steps=1, progress=False)
    with pytest.raises(ValueError, match="NaN"):
        gan.train_gan(G, D, torch.full_like(data, float("nan")), steps=3, batch_size=8, device="cpu", progress=False)


def test_generator_moving_average_is_the_hand_computed_one():
    """With ema_decay, the callback and history.ema get the average of the generator's iterates
    (theta_bar_0 = theta_0, theta_bar_k = d theta_bar_{k-1} + (1 - d) theta_k), the raw generator
    trains as without it; d = 0 is the raw generator itself."""
    G, D, data = _gaussian_problem()
    theta_0 = [p.detach().clone() for p in G.parameters()]
    raw, seen = [], []

    def spy(step, g):
        raw.append([p.detach().clone() for p in G.parameters()])
        seen.append(g)

    history = gan.train_gan(G, D, data, steps=3, batch_size=16, seed=0, device="cpu", progress=False,
                            callback=spy, callback_every=1, ema_decay=0.6)
    expected = theta_0
    for theta in raw:
        expected = [0.6 * e + 0.4 * t for e, t in zip(expected, theta)]
    assert history.ema is seen[-1] and history.ema is not G and len(raw) == 3
    assert not torch.allclose(raw[0][0], raw[2][0])
    for p_ema, e in zip(history.ema.parameters(), expected):
        assert torch.allclose(p_ema, e, atol=1e-6)
    G2, D2, _ = _gaussian_problem()
    plain = gan.train_gan(G2, D2, data, steps=3, batch_size=16, seed=0, device="cpu", progress=False, ema_decay=0.0)
    assert plain.ema is not None and all(torch.allclose(a, b, atol=1e-7) for a, b in zip(plain.ema.parameters(), G2.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(G.parameters(), G2.parameters()))  # averaging leaves training alone


def test_conditional_training_and_sampling():
    torch.manual_seed(0)
    G = nets.DCGANGenerator(latent_dim=4, width=2, num_classes=3)
    D = nets.DCGANDiscriminator(width=2, hidden=8, num_classes=3)
    images, labels = torch.rand(20, 1, 28, 28) * 2 - 1, torch.arange(20) % 3
    gan.train_gan(G, D, images, labels=labels, steps=3, batch_size=4, device="cpu", progress=False)
    out = gan.sample(G, 6, labels=torch.tensor([0, 1, 2, 0, 1, 2]), seed=0, batch_size=4)
    # the same noise whatever the batch size (float rounding of the batched convolutions aside)
    assert out.shape == (6, 1, 28, 28)
    assert torch.allclose(out, gan.sample(G, 6, labels=torch.tensor([0, 1, 2] * 2), seed=0), atol=1e-6)
    with pytest.raises(ValueError, match="one label per sample"):
        gan.sample(G, 6, labels=torch.tensor([0, 1]))


def test_toy_recipes_exist_for_both_profiles():
    assert {"nonsaturating", "collapse", "wgan-gp", "wgan-clip", "sn-hinge"} <= set(recipes.TOY_GANS)
    for recipe in recipes.TOY_GANS.values():
        assert recipe.loss in wgan.LOSSES and set(recipe.steps) == {"quick", "full"}
    G, D, history = recipes.train_toy_gan("nonsaturating", steps=5, progress=False, device="cpu")
    assert len(history.g_loss) == 5 and G.latent_dim == 2
    with pytest.raises(ValueError, match="unknown toy recipe"):
        recipes.train_toy_gan("nope")


def test_a_step_is_n_critic_discriminator_updates_then_one_generator_update():
    G, D, data = _gaussian_problem()
    calls = []
    counting = gan.GANLoss("counting", lambda r, f: calls.append("D") or gan.discriminator_loss(r, f),
                           lambda f: calls.append("G") or gan.generator_loss_nonsaturating(f),
                           constrain=lambda net, c: calls.append(f"clip {c}"))
    history = gan.train_gan(G, D, data, loss=counting, steps=2, n_critic=3, clip=0.5, batch_size=8, device="cpu",
                            progress=False)
    assert calls == ["D", "clip 0.5"] * 3 + ["G"] + ["D", "clip 0.5"] * 3 + ["G"]
    assert len(history.d_loss) == len(history.g_loss) == 2


def test_the_wgan_losses_extend_the_gan_ones():
    assert set(gan.LOSSES) == {"minimax", "nonsaturating"}
    assert set(wgan.LOSSES) == {"minimax", "nonsaturating", "wgan-clip", "wgan-gp", "hinge"}
    assert all(wgan.LOSSES[name] is gan.LOSSES[name] for name in gan.LOSSES)
    with pytest.raises(ValueError, match="the critic diverged"):
        gan.check_outputs(torch.tensor([float("nan")]), "scores", network="critic")


def test_gan_does_not_import_wgan():
    """wgan builds on gan (lecture order), so gan may not import wgan, not even inside a function."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(gan))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                for alias in node.names} | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not any(name == "wgan" or name.endswith(".wgan") for name in imported), imported


def test_train_gan_rmsprop_is_the_original_wgan_optimiser(monkeypatch):
    """optimizer="rmsprop" gives both players torch's RMSprop at their learning rates (no betas);
    an unknown optimizer is refused before any training."""
    made = []
    real_rmsprop = torch.optim.RMSprop

    def spy(params, lr):
        made.append(lr)
        return real_rmsprop(params, lr=lr)

    monkeypatch.setattr(torch.optim, "RMSprop", spy)
    torch.manual_seed(0)
    G, D = gan.toy_generator(hidden=(8,)), gan.toy_discriminator(hidden=(8,))
    gan.train_gan(G, D, torch.randn(64, 2), loss="nonsaturating", steps=2, batch_size=16, lr_g=3e-4, lr_d=5e-5,
                  optimizer="rmsprop", progress=False, device="cpu")
    assert made == [3e-4, 5e-5]
    with pytest.raises(ValueError, match="'adam' or 'rmsprop'"):
        gan.train_gan(G, D, torch.randn(64, 2), steps=1, optimizer="sgd", progress=False, device="cpu")


def test_wgan_gp_digit_recipe_builds_mlps_without_batch_norm():
    """Notebook 06's image WGAN-GP: G maps noise to 28×28 images in [−1, 1], the critic maps images
    to one score each, with leaky ReLU (0.2) and no batch norm (the penalty is per example)."""
    recipe = recipes.WGAN_GP_MNIST
    torch.manual_seed(0)
    G, D = recipe.networks()
    x = G(torch.randn(5, recipe.latent_dim))
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1 and G.latent_dim == recipe.latent_dim
    assert D(x).shape == (5,)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules())
    assert [m.negative_slope for m in D.modules() if isinstance(m, nn.LeakyReLU)] == [0.2, 0.2]
    assert [m.out_features for m in D.modules() if isinstance(m, nn.Linear)] == [*recipe.d_hidden, 1]
    assert set(recipe.steps) == {"quick", "full"}


def _train_and_spy(recipe, monkeypatch, steps: int):
    """Train ``recipe``'s networks for ``steps`` on random images; the history and the keyword
    arguments its ``train`` passed to gan.train_gan."""
    seen = {}
    real_train_gan = gan.train_gan

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_train_gan(*args, **kwargs)

    monkeypatch.setattr(gan, "train_gan", spy)
    torch.manual_seed(0)
    G, D = recipe.networks()
    images = torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return recipe.train(G, D, images, steps=steps, device="cpu", progress=False), seen


def test_wgan_gp_digit_recipe_trains_with_its_settings(monkeypatch):
    """recipe.train passes the gradient-penalty loss and every setting of the recipe to gan.train_gan."""
    recipe = recipes.WGAN_GP_MNIST
    history, seen = _train_and_spy(recipe, monkeypatch, steps=3)
    assert len(history.g_loss) == 3 and all(torch.isfinite(torch.tensor(history.d_loss)))
    assert seen["loss"] is wgan.LOSSES["wgan-gp"] and wgan.LOSSES["wgan-gp"].penalty is wgan.gradient_penalty
    assert (seen["n_critic"], seen["gp_weight"], seen["betas"], seen["batch_size"]) == (5, 10.0, (0.5, 0.9), 64)
    assert seen["lr_g"] == seen["lr_d"] == recipe.lr


def test_dcgan_recipe_trains_with_its_two_learning_rates(monkeypatch):
    """DCGAN.train gives each player its own rate (the generator's four times the discriminator's, the
    two time-scale choice the recipe's docstring measures), Radford et al.'s β₁ = 0.5 and batch 128."""
    history, seen = _train_and_spy(recipes.DCGAN, monkeypatch, steps=2)
    assert len(history.g_loss) == 2
    assert seen["lr_g"] == 4 * seen["lr_d"] and seen["lr_d"] > 2e-4
    assert (seen["betas"][0], seen["batch_size"], seen["loss"]) == (0.5, 128, "nonsaturating")

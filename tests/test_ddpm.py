"""gdmcourse.ddpm against independent routes: iterating q(x_t | x_{t-1}) by Monte Carlo, Gaussian
conditioning for the posterior, Nichol & Dhariwal's closed form for the cosine schedule, and an
oracle noise predictor for a point mass (whose exact reverse process ends at that point)."""

import math

import pytest
import torch

from gdmcourse import ddpm, metrics, nets


@pytest.fixture(scope="module")
def schedule():
    return ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(100, 1e-3, 0.1))


def test_closed_form_matches_iterated_noising(schedule):
    g = torch.Generator().manual_seed(0)
    n, x0 = 200_000, 1.5
    x = torch.full((n,), x0, dtype=torch.float64)
    for t in range(40):  # steps 1..40: x_t = sqrt(1 - β_t) x_{t-1} + sqrt(β_t) ε
        x = (1 - schedule.betas[t]).sqrt() * x + schedule.betas[t].sqrt() * torch.randn(n, generator=g, dtype=torch.float64)
    closed = schedule.q_sample(torch.full((n,), x0, dtype=torch.float64), 39, torch.randn(n, generator=g, dtype=torch.float64))
    mean, var = schedule.alphas_cumprod[39].sqrt() * x0, 1 - schedule.alphas_cumprod[39]
    se_mean, se_var = math.sqrt(var / n), var * math.sqrt(2 / n)
    for sample in (x, closed):
        assert abs(sample.mean() - mean) < 5 * se_mean and abs(sample.var() - var) < 5 * se_var


def test_posterior_is_gaussian_conditioning(schedule):
    g = torch.Generator().manual_seed(1)
    x0, xt = torch.randn(6, 3, generator=g, dtype=torch.float64), torch.randn(6, 3, generator=g, dtype=torch.float64)
    for t in [1, 17, 99]:
        a_prev, alpha, beta = schedule.alphas_cumprod[t - 1], schedule.alphas[t], schedule.betas[t]
        # x_{t-1} | x0 ~ N(sqrt(ā_{t-1}) x0, 1 - ā_{t-1});  x_t | x_{t-1} ~ N(sqrt(α_t) x_{t-1}, β_t)
        precision = 1 / (1 - a_prev) + alpha / beta
        mean = (a_prev.sqrt() * x0 / (1 - a_prev) + alpha.sqrt() * xt / beta) / precision
        got_mean, got_var, got_logvar = schedule.q_posterior(x0, xt, torch.full((6,), t))
        assert torch.allclose(got_mean, mean, atol=1e-12)
        assert torch.allclose(got_var.flatten(), torch.full((6,), 1 / precision.item(), dtype=torch.float64))
        assert torch.allclose(got_logvar.exp(), got_var)
    # the first step: q(x_0 | x_1, x_0) is the point x_0 (variance 0)
    mean0, var0, _ = schedule.q_posterior(x0, xt, 0)
    assert torch.allclose(mean0, x0) and (var0 == 0).all()


def test_schedules():
    cos = ddpm.cosine_beta_schedule(1000)
    abar = torch.cumprod(1 - cos, 0)
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for t in [1, 10, 500, 900]:
        assert abar[t - 1].item() == pytest.approx(f(t) / f(0), rel=1e-9)
    assert cos.max() <= 0.999 and (cos[1:] >= cos[:-1]).all()
    lin = ddpm.linear_beta_schedule(1000)
    assert lin[0].item() == 1e-4 and lin[-1].item() == pytest.approx(0.02)
    assert torch.cumprod(1 - lin, 0)[-1] < 1e-4  # x_T is almost pure noise
    with pytest.raises(ValueError):
        ddpm.DiffusionSchedule([0.1, 1.0])


def test_predict_x0_inverts_q_sample_and_index_errors(schedule):
    g = torch.Generator().manual_seed(2)
    x0, eps = torch.randn(4, 2, 5, 5, generator=g), torch.randn(4, 2, 5, 5, generator=g)
    t = torch.tensor([0, 5, 50, 99])
    assert torch.allclose(schedule.predict_x0(schedule.q_sample(x0, t, eps), t, eps), x0, atol=1e-4)
    with pytest.raises(ValueError, match="0..99"):
        schedule.q_sample(x0, torch.tensor([0, 1, 2, 100]), eps)


class PointMassOracle:
    """The exact noise predictor when all data sit at one point c: ε = (x_t − sqrt(ā_t) c) / sqrt(1 − ā_t)."""

    def __init__(self, schedule, c):
        self.schedule, self.c = schedule, c

    def __call__(self, x, t):
        ab = self.schedule.alphas_cumprod[t.cpu()].to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
        return (x - ab.sqrt() * self.c) / (1 - ab).sqrt()


def test_samplers_recover_a_point_mass(schedule):
    c = torch.tensor([0.5, -1.0])
    oracle = PointMassOracle(schedule, c)
    x = schedule.sample(oracle, (64, 2), generator=torch.Generator().manual_seed(3), progress=False)
    assert torch.allclose(x, c.expand(64, 2), atol=1e-4)
    for eta in [0.0, 1.0]:
        x = schedule.ddim_sample(oracle, (64, 2), steps=10, eta=eta, generator=torch.Generator().manual_seed(4),
                                 progress=False)
        assert torch.allclose(x, c.expand(64, 2), atol=1e-4)


def test_p_sample_mean_is_the_posterior_mean_and_no_noise_at_the_end(schedule):
    c = torch.tensor([[0.3]])
    oracle = PointMassOracle(schedule, c)
    xt = torch.randn(5, 1, generator=torch.Generator().manual_seed(5))
    for t in [0, 30, 99]:
        mean, var, _ = schedule.p_mean_variance(oracle, xt, t)
        post_mean, post_var, _ = schedule.q_posterior(c.expand(5, 1), xt, t)
        assert torch.allclose(mean, post_mean, atol=1e-5) and torch.allclose(var, post_var)
    # t index 0 (step 1): the mean, no noise, even with variance β_1 > 0
    a = schedule.p_sample(oracle, xt, 0, generator=torch.Generator().manual_seed(6), variance="beta")
    b = schedule.p_sample(oracle, xt, 0, generator=torch.Generator().manual_seed(7), variance="beta")
    assert torch.equal(a, b)
    a = schedule.p_sample(oracle, xt, 50, generator=torch.Generator().manual_seed(6))
    b = schedule.p_sample(oracle, xt, 50, generator=torch.Generator().manual_seed(7))
    assert not torch.equal(a, b)
    beta_var = schedule.p_mean_variance(oracle, xt, 50, variance="beta")[1]
    assert torch.allclose(beta_var.flatten(), schedule.betas[50].float().expand(5))


def test_loss_simple(schedule):
    c = torch.tensor([2.0, 0.0])
    x0 = c.expand(4096, 2).clone()
    assert schedule.loss_simple(PointMassOracle(schedule, c), x0, generator=torch.Generator().manual_seed(8)) < 1e-8
    zero = schedule.loss_simple(lambda x, t: torch.zeros_like(x), x0, generator=torch.Generator().manual_seed(8))
    assert zero.item() == pytest.approx(1.0, abs=0.05)  # E ε² = 1 per element


def test_timestep_embedding():
    t = torch.tensor([0, 1, 250])
    e = nets.timestep_embedding(t, 8)
    assert e.shape == (3, 8)
    assert torch.allclose(e[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    for k in range(4):
        w = 10_000 ** (-k / 4)
        assert e[2, k].item() == pytest.approx(math.sin(250 * w), abs=1e-5)
        assert e[2, 4 + k].item() == pytest.approx(math.cos(250 * w), abs=1e-5)
    assert nets.timestep_embedding(t, 7).shape == (3, 7)


def test_unet_shapes_zero_start_and_time_dependence():
    torch.manual_seed(0)
    net = nets.UNet(channels=1, width=8, mults=(1, 2), attention=True)
    x, t = torch.randn(3, 1, 28, 28), torch.tensor([0, 10, 999])
    assert torch.equal(net(x, t), torch.zeros(3, 1, 28, 28))  # the last conv starts at zero: ε̂ = 0
    torch.nn.init.normal_(net.out[-1].weight, std=0.1)
    out = net(x, t)
    assert out.shape == (3, 1, 28, 28) and torch.isfinite(out).all()
    same_x = x[:1].expand(2, 1, 28, 28)
    a, b = net(same_x, torch.tensor([5, 500]))
    assert (a - b).abs().max() > 1e-3  # the output depends on the step
    assert torch.allclose(net(x, torch.tensor(10)), net(x, torch.full((3,), 10)))  # a scalar t is broadcast
    loss = net(x, t).pow(2).mean()
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
    with pytest.raises(ValueError, match="divisible by 2"):
        net(torch.randn(1, 1, 27, 27), torch.tensor([1]))


def test_clipped_sampling_clamps_x0_only_when_needed(schedule):
    xt = torch.randn(6, 2, generator=torch.Generator().manual_seed(9))
    inside = PointMassOracle(schedule, torch.tensor([0.5, -0.2]))
    for t in [0, 40, 99]:
        assert torch.allclose(schedule.p_mean_variance(inside, xt, t, clip=True)[0],
                              schedule.p_mean_variance(inside, xt, t)[0], atol=1e-5)
    outside = PointMassOracle(schedule, torch.tensor([3.0, -4.0]))  # x̂_0 out of [-1, 1]: clipped to (1, -1)
    mean = schedule.p_mean_variance(outside, xt, 40, clip=True)[0]
    expected = schedule.q_posterior(torch.tensor([1.0, -1.0]).expand(6, 2), xt, 40)[0]
    assert torch.allclose(mean, expected, atol=1e-5)
    x = schedule.ddim_sample(outside, (8, 2), steps=10, clip=True, generator=torch.Generator().manual_seed(1),
                             progress=False)
    assert torch.allclose(x, torch.tensor([1.0, -1.0]).expand(8, 2), atol=1e-4)


def test_train_ddpm_learns_reproducibly_with_an_ema():
    toy = torch.randn(512, 2, generator=torch.Generator().manual_seed(0)) * 0.1 + torch.tensor([0.5, -0.5])
    schedule = ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(50, 1e-3, 0.2))

    class Eps(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(2 + 16, 64), torch.nn.SiLU(), torch.nn.Linear(64, 2))

        def forward(self, x, t):
            return self.net(torch.cat([x, nets.timestep_embedding(t, 16)], dim=1))

    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = Eps()
        runs.append((model, ddpm.train_ddpm(model, schedule, toy, steps=300, batch_size=64, lr=3e-3, warmup=20,
                                            ema_decay=0.9, seed=1, progress=False)))
    (model, h), (_, h2) = runs
    assert h.loss == h2.loss  # same seed, same run
    first, last = sum(h.loss[:20]) / 20, sum(h.loss[-50:]) / 50
    assert last < 0.6 * first, (first, last)
    assert any(not torch.equal(a, b) for a, b in zip(h.ema.parameters(), model.parameters()))
    assert not any(p.requires_grad for p in h.ema.parameters())
    with pytest.raises(ValueError, match="NaN"):
        ddpm.train_ddpm(model, schedule, torch.full((4, 2), float("nan")), steps=1, progress=False)


def test_shipped_ddpm_draws_digits_the_course_classifier_recognises():
    from gdmcourse import metrics, recipes

    model = recipes.load_model("ddpm")
    schedule = ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(1000))
    with torch.no_grad():
        x = schedule.ddim_sample(model, (64, 1, 28, 28), steps=25, clip=True,
                                 generator=torch.Generator().manual_seed(0), progress=False)
    classifier = metrics.feature_extractor("mnist")
    probs = classifier.probs(ddpm.to_image_range(x))
    noise = classifier.probs(torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    # Share of images the classifier calls with > 95% confidence: about 0.98 on real test
    # digits, 0.6 on these samples, 0.25 on uniform noise (the classifier is overconfident).
    confident = lambda p: (p.max(1).values > 0.95).float().mean().item()  # noqa: E731
    assert confident(noise) < 0.4  # the yardstick can fail
    assert confident(probs) > 0.45, confident(probs)
    assert len(set(probs.argmax(1).tolist())) >= 8  # samples of most classes, not one


def test_time_mlp():
    torch.manual_seed(0)
    net = nets.TimeMLP(dim=2, hidden=16, layers=3, t_dim=8)
    x = torch.randn(5, 2)
    out = net(x, torch.arange(5))
    assert out.shape == (5, 2)
    a, b = net(x[:1].expand(2, 2), torch.tensor([0, 150]))
    assert (a - b).abs().max() > 1e-4  # the step changes the prediction
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        net(torch.randn(5, 3), torch.arange(5))


def test_energy_distance_ratio_flags_a_collapsed_sampler(schedule):
    """Samples all at 0 against N(0, I) data: D² = 2 E|X| − E|X − X'| = √(2π) − √π ≈ 0.734 in 2-D,
    while two 200-point data samples are at O(1/n): the ratio must be large."""
    g = torch.Generator().manual_seed(0)
    data = torch.randn(400, 2, generator=g)
    collapsed = PointMassOracle(schedule, torch.zeros(2))
    def sample(n, g):
        return schedule.sample(collapsed, (n, 2), generator=g, progress=False)

    ratios = metrics.energy_distance_ratio(sample, data, seeds=2, n=200)
    assert len(ratios) == 2 and min(ratios) > 20, ratios
    numerator = math.sqrt(2 * math.pi) - math.sqrt(math.pi)
    assert metrics.energy_distance(torch.zeros(1, 2), torch.randn(20000, 2, generator=g)) == pytest.approx(numerator, rel=0.02)
    with pytest.raises(ValueError, match="at least 400"):
        metrics.energy_distance_ratio(sample, data[:399], n=200)


# ------------------------------------------------------------------ extract and named results

@pytest.mark.parametrize("shape", [(3,), (3, 2), (3, 1, 4, 4), (3, 2, 1, 5, 5)])
def test_extract_gathers_per_example_and_broadcasts_over_any_rank(shape):
    values = torch.arange(10, dtype=torch.float64) ** 2
    x = torch.ones(shape, dtype=torch.float32)
    t = torch.tensor([0, 4, 9])
    out = ddpm.extract(values, t, x)
    assert out.shape == (3,) + (1,) * (len(shape) - 1) and out.dtype == torch.float32
    assert out.flatten().tolist() == [0.0, 16.0, 81.0]
    assert (out * x).shape == x.shape  # broadcasts against the batch
    for b in range(3):  # example b is scaled by values[t[b]] and by nothing else
        assert torch.all((out * x)[b] == values[t[b]].item())
    assert ddpm.extract(values, 3, x).flatten().tolist() == [9.0]  # one int: one value for all
    with pytest.raises(ValueError, match="0..9"):
        ddpm.extract(values, torch.tensor([0, 10, 1]), x)
    with pytest.raises(ValueError, match="0..9"):
        ddpm.extract(values, -1, x)
    with pytest.raises(ValueError, match="1-D"):
        ddpm.extract(values.reshape(2, 5), 0, x)


def test_extract_follows_x_device_and_dtype_on_the_meta_device():
    x = torch.empty(2, 1, 4, 4, device="meta", dtype=torch.float16)
    out = ddpm.extract(torch.linspace(0.1, 0.2, 5, dtype=torch.float64), torch.tensor([1, 2]), x)
    assert out.device.type == "meta" and out.dtype == torch.float16 and out.shape == (2, 1, 1, 1)


def test_q_posterior_and_p_mean_variance_return_named_moments(schedule):
    g = torch.Generator().manual_seed(8)
    x0, xt = torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g)
    t = torch.tensor([0, 1, 50, 99])
    post = schedule.q_posterior(x0, xt, t)
    assert isinstance(post, ddpm.PosteriorMoments)
    mean, var, log_var = post  # still unpacks as a triple
    assert torch.equal(mean, post.mean) and torch.equal(var, post.variance) and torch.equal(log_var, post.log_variance)
    assert var.shape == (4, 1) and post.variance[0].item() == 0.0
    oracle = PointMassOracle(schedule, torch.tensor([0.5, -0.5]))
    moments = schedule.p_mean_variance(oracle, xt, 50)
    assert isinstance(moments, ddpm.ReverseMoments) and moments._fields == ("mean", "variance", "eps")
    assert torch.allclose(moments.eps, oracle(xt, torch.full((4,), 50)))
    assert torch.allclose(moments.variance, schedule.posterior_variance[50].float().expand(4, 1))
    with pytest.raises(ValueError, match="posterior"):
        schedule.p_mean_variance(oracle, xt, 50, variance="fixed")


def test_sample_trajectory_keeps_frames_and_ends_where_sample_ends(schedule):
    oracle = PointMassOracle(schedule, torch.tensor([1.0, -2.0]))
    x = schedule.sample(oracle, (8, 2), generator=torch.Generator().manual_seed(3), progress=False)
    assert isinstance(x, torch.Tensor) and x.shape == (8, 2)
    traj = schedule.sample_trajectory(oracle, (8, 2), keep=[100, 50, 0], generator=torch.Generator().manual_seed(3),
                                      progress=False)
    assert isinstance(traj, ddpm.Trajectory)
    x0, frames = traj
    assert torch.equal(x0, x) and sorted(frames) == [0, 50, 100]
    assert torch.equal(frames[0], x0)
    # x_T is the starting noise: the first draw of the generator
    assert torch.equal(frames[100], torch.randn((8, 2), generator=torch.Generator().manual_seed(3)))
    # the states move from the noise towards the point mass
    dist = [(frames[t] - torch.tensor([1.0, -2.0])).norm(dim=1).mean().item() for t in (100, 50, 0)]
    assert dist[0] > dist[1] > dist[2]
    with pytest.raises(ValueError, match="keep"):
        schedule.sample_trajectory(oracle, (8, 2), keep=[101], progress=False)


@pytest.mark.parametrize("variance", ["posterior", "beta"])
def test_vlb_weights_turn_the_kl_terms_into_weighted_noise_regressions(variance):
    # independent route: the KL between the two Gaussians by torch.distributions, with μ_θ written
    # out from eq. 11; the constant C_t is the KL at ε̂ = ε, so KL − C_t must be λ_t ‖ε − ε̂‖²
    schedule = ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(1000))
    weights = ddpm.vlb_weights(schedule, variance)
    assert weights.shape == (1000,) and weights.dtype == torch.float64
    g = torch.Generator().manual_seed(3)
    x0, eps = torch.randn(4, 7, generator=g, dtype=torch.float64), torch.randn(4, 7, generator=g, dtype=torch.float64)
    eps_hat = eps + 0.3 * torch.randn(4, 7, generator=g, dtype=torch.float64)
    for t in (1, 2, 10, 300, 999):  # indices: steps 2, 3, 11, 301, 1000
        beta, alpha, abar = schedule.betas[t], schedule.alphas[t], schedule.alphas_cumprod[t]
        sigma2 = schedule.posterior_variance[t] if variance == "posterior" else beta
        xt = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
        q = torch.distributions.Normal(schedule.q_posterior(x0, xt, t).mean, schedule.posterior_variance[t].sqrt())

        def kl(e):
            mu = (xt - beta / (1 - abar).sqrt() * e) / alpha.sqrt()
            return torch.distributions.kl_divergence(q, torch.distributions.Normal(mu, sigma2.sqrt())).sum(1)

        expected = kl(eps_hat) - kl(eps)
        got = weights[t] * (eps - eps_hat).pow(2).sum(1)
        assert torch.allclose(got, expected, rtol=1e-6, atol=1e-9), (t, got, expected)
        if variance == "posterior":
            assert torch.allclose(kl(eps), torch.zeros(4, dtype=torch.float64), atol=1e-9)  # C_t = 0
    if variance == "posterior":
        assert weights[0] == math.inf  # β̃_1 = 0: step 1 is L_0, not a KL
    else:
        assert weights[0] == pytest.approx(1 / (2 * schedule.alphas[0].item()))  # β_1² / (2 β_1 α_1 β_1)
    with pytest.raises(ValueError, match="variance"):
        ddpm.vlb_weights(schedule, "fixed")

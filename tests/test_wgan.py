"""gdmcourse.wgan against independent routes: optimal matching for the EM distance, analytic
gradient penalties, torch.linalg's singular values, PyTorch's spectral_norm, and the dense
Jacobian of a convolution."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn
from torch.nn.utils import parametrizations

from gdmcourse import wgan


@pytest.mark.parametrize("theta", [-0.7, 0.25, 1.5])
def test_parallel_lines_against_optimal_matching(theta):
    g = torch.Generator().manual_seed(0)
    n = 400
    a = torch.stack([torch.zeros(n), torch.rand(n, generator=g)], 1)
    b = torch.stack([torch.full((n,), theta), torch.rand(n, generator=g)], 1)
    cost = torch.cdist(a, b).numpy()
    r, c = linear_sum_assignment(cost)
    # the empirical plan also pays for mismatched heights: a little above |θ|
    assert abs(theta) <= cost[r, c].mean() <= abs(theta) + 0.01
    assert wgan.parallel_lines_wasserstein(theta).item() == pytest.approx(abs(theta))
    assert wgan.parallel_lines_jsd(theta).item() == pytest.approx(math.log(2))
    assert wgan.parallel_lines_jsd(0.0).item() == 0.0


def test_losses_by_hand():
    real, fake = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([-1.0, 0.5])
    assert wgan.critic_loss(real, fake).item() == pytest.approx(-0.25 - 2.0)
    assert wgan.generator_loss(fake).item() == pytest.approx(0.25)
    # hinge: real scores beyond the margin 1 cost nothing; fake -1 costs 0, fake 0.5 costs 1.5
    assert wgan.hinge_discriminator_loss(real, fake).item() == pytest.approx((0 + 0 + 0) / 3 + (0 + 1.5) / 2)
    assert wgan.hinge_generator_loss(fake).item() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="NaN"):
        wgan.critic_loss(torch.tensor([float("nan")]), fake)


def test_clip_weights():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    with torch.no_grad():
        net[0].weight.mul_(100)
    small = net[2].bias.detach().clone()
    assert wgan.clip_weights(net, 0.05) is net
    assert all(p.abs().max() <= 0.05 for p in net.parameters())
    assert torch.equal(net[2].bias, small.clamp(-0.05, 0.05))
    with pytest.raises(ValueError):
        wgan.clip_weights(net, 0.0)


def test_gradient_norm_against_finite_differences():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    x = torch.randn(5, 2, dtype=torch.float64)
    net = net.double()
    h = 1e-6
    fd = torch.stack([(net(x + h * e) - net(x - h * e)).squeeze(1) / (2 * h) for e in torch.eye(2, dtype=torch.float64)], 1)
    assert torch.allclose(wgan.gradient_norm(net, x), fd.norm(dim=1), atol=1e-6)


def test_gradient_penalty_of_a_linear_critic_and_its_weight_gradient():
    w = torch.tensor([[0.6, -2.0, 1.2]])
    critic = nn.Linear(3, 1)
    with torch.no_grad():
        critic.weight.copy_(w)
    real, fake = torch.randn(32, 3), torch.randn(32, 3)
    gp = wgan.gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-6)
    gp.backward()
    assert torch.allclose(critic.weight.grad, 2 * (w.norm() - 1) * w / w.norm(), atol=1e-5)


def test_gradient_penalty_is_zero_for_a_1_lipschitz_critic_and_uses_one_eps_per_example():
    seen = []

    def norm_critic(x):  # ||x||: gradient norm 1 away from the origin
        seen.append(x.detach())
        return x.flatten(1).norm(dim=1)

    real, fake = torch.ones(500, 2, 2), -torch.ones(500, 2, 2)
    gp = wgan.gradient_penalty(norm_critic, real, fake, generator=torch.Generator().manual_seed(1))
    x_hat = seen[-1].flatten(1)
    eps = (x_hat[:, 0] + 1) / 2  # x̂ = ε·1 + (1 − ε)·(−1)
    assert torch.allclose(x_hat, x_hat[:, :1].expand_as(x_hat))  # constant within each example
    assert 0 <= eps.min() and eps.max() <= 1 and abs(eps.mean() - 0.5) < 0.05 and eps.std() > 0.25
    assert gp.item() == pytest.approx(0.0, abs=1e-10)
    again = wgan.gradient_penalty(norm_critic, real, fake, generator=torch.Generator().manual_seed(1))
    assert torch.equal(seen[-1], seen[-2]) and again.item() == gp.item()
    with pytest.raises(ValueError, match="same shape"):
        wgan.gradient_penalty(norm_critic, real, fake[:3])


@pytest.mark.parametrize("seed", range(10))
def test_power_iteration_reaches_1e_4_within_500_iterations(seed):
    W = torch.randn(256, 128, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    sigma, u, v = wgan.power_iteration(W, 500, generator=torch.Generator().manual_seed(100 + seed))
    exact = torch.linalg.matrix_norm(W, ord=2)
    assert abs(sigma - exact) / exact <= 1e-4
    assert u.norm().item() == pytest.approx(1) and v.norm().item() == pytest.approx(1)
    assert torch.allclose(W @ v, sigma * u, atol=1e-2 * exact.item()) and torch.allclose(W.T @ u, sigma * v, atol=1e-2 * exact.item())


def test_power_iteration_agrees_with_torch_spectral_norm_and_reads_conv_kernels():
    W = torch.randn(20, 12, generator=torch.Generator().manual_seed(3))
    layer = parametrizations.spectral_norm(nn.Linear(12, 20, bias=False))
    with torch.no_grad():
        layer.parametrizations.weight.original.copy_(W)
        for _ in range(500):
            layer(torch.zeros(1, 12))
    torch_sigma = (W.norm() / layer.weight.norm()).item()
    ours = wgan.power_iteration(W, 500, generator=torch.Generator().manual_seed(0))[0].item()
    assert ours == pytest.approx(torch_sigma, rel=1e-5)
    kernel = torch.randn(8, 3, 3, 3, generator=torch.Generator().manual_seed(4))
    sigma = wgan.power_iteration(kernel, 300, generator=torch.Generator().manual_seed(0))[0]
    assert sigma.item() == pytest.approx(torch.linalg.matrix_norm(kernel.reshape(8, -1), ord=2).item(), rel=1e-5)
    with pytest.raises(ValueError):
        wgan.power_iteration(W, 5, u=torch.ones(12))
    with pytest.raises(ValueError):
        wgan.power_iteration(W, 0)


def test_lipschitz_bound_of_linear_layers_and_mlps():
    torch.manual_seed(0)
    single = nn.Linear(5, 3)
    assert wgan.lipschitz_upper_bound(single) == pytest.approx(torch.linalg.matrix_norm(single.weight, ord=2).item())
    mlp = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    product = math.prod(torch.linalg.matrix_norm(m.weight, ord=2).item() for m in mlp if isinstance(m, nn.Linear))
    bound = wgan.lipschitz_upper_bound(mlp)
    assert bound == pytest.approx(product)
    x = 4 * torch.randn(20_000, 2, generator=torch.Generator().manual_seed(1))
    assert wgan.gradient_norm(mlp, x).max().item() <= bound
    for m in mlp:
        if isinstance(m, nn.Linear):
            parametrizations.spectral_norm(m)
    with torch.no_grad():
        for _ in range(300):
            mlp(torch.zeros(1, 2))
    assert wgan.lipschitz_upper_bound(mlp) == pytest.approx(1.0, rel=1e-3)
    with pytest.raises(TypeError, match="BatchNorm1d"):
        wgan.lipschitz_upper_bound(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)))


@pytest.mark.parametrize("kernel, stride, padding", [(3, 1, 1), (4, 2, 1), (5, 1, 0)])
def test_lipschitz_bound_of_a_convolution_covers_its_exact_operator_norm(kernel, stride, padding):
    torch.manual_seed(kernel)
    conv = nn.Conv2d(2, 3, kernel, stride=stride, padding=padding, bias=False).double()
    shape = (1, 2, 8, 8)
    jac = torch.func.jacrev(conv)(torch.zeros(shape, dtype=torch.float64))  # the conv as a dense matrix
    dense = jac.reshape(-1, math.prod(shape))
    exact = torch.linalg.matrix_norm(dense, ord=2).item()
    bound = wgan.lipschitz_upper_bound(conv)
    assert exact <= bound * (1 + 1e-9)
    # the bound is the reshaped kernel's norm times sqrt(ceil(k/s)²), the most patches a pixel is in
    assert bound == pytest.approx(torch.linalg.matrix_norm(conv.weight.reshape(3, -1), ord=2).item()
                                  * math.sqrt(math.ceil(kernel / stride) ** 2))


def test_power_iteration_returns_named_fields():
    W = torch.randn(6, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    result = wgan.power_iteration(W, 200, generator=torch.Generator().manual_seed(0))
    assert isinstance(result, wgan.PowerIteration) and result._fields == ("sigma", "u", "v")
    sigma, u, v = result
    assert result.u.shape == (6,) and result.v.shape == (4,)
    assert torch.allclose(sigma, u @ W @ v) and sigma.item() == pytest.approx(wgan.spectral_norm_exact(W).item(), rel=1e-6)


class _Residual(nn.Module):
    """x + g(x): Lipschitz constant up to 1 + ‖g‖, not ‖g‖ (what multiplying the children would give)."""

    def __init__(self):
        super().__init__()
        self.g = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))

    def forward(self, x):
        return x + self.g(x)


class _MaskedLinear(nn.Linear):
    """A Linear that overrides forward: its weight alone no longer says what it computes."""

    def forward(self, x):
        return nn.functional.linear(x, self.weight.tril(), self.bias)


@pytest.mark.parametrize("make", [
    lambda: _Residual(),
    lambda: nn.Sequential(nn.Linear(2, 2), _Residual()),                     # nested inside a chain
    lambda: nn.ModuleList([nn.Linear(2, 2), nn.ReLU()]),
    lambda: nn.ModuleDict({"a": nn.Linear(2, 2)}),
    lambda: nn.Sequential(_MaskedLinear(2, 2)),
    lambda: nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)),
])
def test_lipschitz_bound_refuses_modules_whose_function_it_cannot_read(make):
    with pytest.raises(TypeError, match="cannot bound"):
        wgan.lipschitz_upper_bound(make())


def test_residual_block_would_be_underestimated_by_the_product_of_its_children():
    """Why it must raise: a residual block with a tiny g has gradient norm ≈ 1, far above ‖g‖."""
    torch.manual_seed(0)
    block = _Residual()
    with torch.no_grad():
        for m in block.g:
            if isinstance(m, nn.Linear):
                m.weight.mul_(0.01)
    product = math.prod(torch.linalg.matrix_norm(m.weight, ord=2).item() for m in block.g if isinstance(m, nn.Linear))
    measured = wgan.gradient_norm(block, torch.randn(1000, 2, generator=torch.Generator().manual_seed(0))).max().item()
    assert measured > 100 * product  # the old, silent answer was wrong by orders of magnitude


def test_lipschitz_bound_refuses_grouped_convolutions_and_reads_nets_mlp():
    with pytest.raises(ValueError, match="grouped"):
        wgan.lipschitz_upper_bound(nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(ValueError, match="zero-padded"):
        wgan.lipschitz_upper_bound(nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"))
    from gdmcourse import nets

    torch.manual_seed(1)
    mlp = nets.MLP((2,), (), hidden=(32, 32), activation=nn.LeakyReLU)  # notebook 06's critic, smaller
    bound = wgan.lipschitz_upper_bound(mlp)
    linears = [m for m in mlp.modules() if isinstance(m, nn.Linear)]
    assert bound == pytest.approx(math.prod(torch.linalg.matrix_norm(m.weight, ord=2).item() for m in linears))
    x = 3 * torch.randn(5000, 2, generator=torch.Generator().manual_seed(2))
    assert wgan.gradient_norm(mlp, x).max().item() <= bound
    # a DCGAN discriminator has its own forward (features, then a projection): refused, not mis-bounded
    with pytest.raises(TypeError, match="DCGANDiscriminator"):
        wgan.lipschitz_upper_bound(nets.DCGANDiscriminator(spectral_norm=True))


# ------------------------------------------------------------ f-divergences, Fenchel bound

def _gauss_pdf(x, m, s):
    from scipy import stats
    return stats.norm(m, s).pdf(x)


def test_conjugates_against_a_numerical_supremum():
    from scipy import optimize
    for name, ts in [("kl", [-1.0, 0.0, 0.7]), ("js", [-2.0, -0.3, 0.2])]:
        div = wgan.F_DIVERGENCES[name]
        for t in ts:
            # f*(t) = sup_u ut − f(u), maximised over u > 0 by scipy (an independent route)
            res = optimize.minimize_scalar(lambda u: -(u * t - div.f(torch.tensor(u, dtype=torch.float64)).item()),
                                           bounds=(1e-9, 1e4), method="bounded", options={"xatol": 1e-12})
            assert div.conjugate(torch.tensor(t, dtype=torch.float64)).item() == pytest.approx(-res.fun, abs=1e-6)


@pytest.mark.parametrize("name", ["kl", "js"])
def test_fenchel_bound_at_the_optimal_critic_equals_the_divergence(name):
    from scipy import integrate
    (mp, sp), (mq, sq) = (0.0, 1.0), (1.0, 1.5)
    p = lambda x: _gauss_pdf(x, mp, sp)
    q = lambda x: _gauss_pdf(x, mq, sq)
    if name == "kl":  # closed form for two Gaussians
        exact = math.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5
    else:  # JSD = ½ KL(p‖m) + ½ KL(q‖m), m = (p + q)/2, by quadrature
        m = lambda x: (p(x) + q(x)) / 2
        exact = integrate.quad(lambda x: 0.5 * p(x) * math.log(p(x) / m(x)) + 0.5 * q(x) * math.log(q(x) / m(x)),
                               -15, 15, limit=200)[0]
    div = wgan.F_DIVERGENCES[name]
    g = torch.Generator().manual_seed(0)
    n = 400_000
    x_p = mp + sp * torch.randn(n, generator=g, dtype=torch.float64)
    x_q = mq + sq * torch.randn(n, generator=g, dtype=torch.float64)
    ratio = lambda x: torch.as_tensor(p(x.numpy()) / q(x.numpy()))
    bound = wgan.fenchel_lower_bound(div.critic(ratio(x_p)), div.critic(ratio(x_q)), name).item()
    assert bound == pytest.approx(exact, abs=0.01)  # Monte Carlo, 400k samples: standard error ~0.002
    # a worse critic gives a smaller value
    worse = wgan.fenchel_lower_bound(0.7 * div.critic(ratio(x_p)), 0.7 * div.critic(ratio(x_q)), name).item()
    assert worse < bound - 0.005


def test_fenchel_bound_refuses_bad_arguments():
    with pytest.raises(ValueError, match="unknown divergence"):
        wgan.fenchel_lower_bound(torch.zeros(3), torch.zeros(3), "tv")
    with pytest.raises(ValueError, match="log\\(2\\)/2"):
        wgan.fenchel_lower_bound(torch.zeros(3), torch.ones(3), "js")

"""GPU-readiness without a GPU: every model's forward and backward, every loss, every sampler step
and every check's reference run on ``torch.device("meta")`` (weights and inputs moved there, shapes
only), and a CPU tensor mixed in raises "not on the expected device".

The validation that reads values (NaN/±inf, pixel ranges, indices) is skipped on meta; what needs
actual numbers (a metric's float, a categorical draw) is left out and listed in ``NEEDS_VALUES``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from gdmcourse import autoencoder as ae
from gdmcourse import ddpm, gan, nets, vae, vqvae, wgan
from gdmcourse.course.checks import EXERCISES

META = torch.device("meta")


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(n: int = 3, channels: int = 1) -> torch.Tensor:
    return torch.rand(n, channels, 28, 28, generator=_g())


def _meta(model: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(0)
    return model.to(META)


def _backward(out: torch.Tensor | dict) -> torch.Tensor:
    loss = out["loss"] if isinstance(out, dict) else out
    loss = loss if loss.dim() == 0 else loss.float().mean()
    loss.backward()
    return loss


def _toy_eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return 0.1 * x


#: name → a function of the device that runs the forward (and returns what to backpropagate, or None)
MODELS: dict[str, Callable[[torch.device], object]] = {
    "mlp autoencoder": lambda d: ae.reconstruction_loss(
        _meta_or(ae.mlp_autoencoder((1, 28, 28), 4, hidden=(8,)), d)(_images().to(d)), _images().to(d)),
    "conv autoencoder": lambda d: ae.denoising_loss(_meta_or(ae.conv_autoencoder(4, width=4), d), _images().to(d), 0.1,
                                                     _g()),
    "VAE (mlp)": lambda d: _meta_or(vae.VAE.mlp(latent_dim=2, hidden=(8,)), d).loss(_images().to(d), generator=_g()),
    "VAE (conv)": lambda d: _meta_or(vae.VAE.conv(latent_dim=2, width=4), d).loss(_images().to(d), generator=_g()),
    "CVAE": lambda d: _meta_or(vae.CVAE.mlp(latent_dim=2, hidden=(8,)), d).loss(_images().to(d), torch.tensor([0, 1, 2]),
                                                                              generator=_g()),
    "VAE iwae_bound": lambda d: _meta_or(vae.VAE.mlp(latent_dim=2, hidden=(8,)), d).iwae_bound(_images().to(d), 3, _g()),
    "VQ-VAE": lambda d: _meta_or(vqvae.VQVAE(num_codes=8, code_dim=3, width=4), d).loss(_images().to(d)),
    "VQ-VAE (EMA, training)": lambda d: _meta_or(vqvae.VQVAE(num_codes=8, code_dim=3, width=4, ema=True), d).train()
    .loss(_images().to(d)),
    "PixelCNN prior": lambda d: _meta_or(vqvae.PixelCNNPrior(8, width=4, layers=1), d).nll(
        torch.zeros(2, 7, 7, dtype=torch.long).to(d)),
    "DCGAN (losses)": lambda d: _dcgan(d),
    "toy GAN + WGAN-GP": lambda d: _toy_gan(d),
    "DDPM loss_simple (UNet)": lambda d: ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(10)).loss_simple(
        _meta_or(nets.UNet(width=8, mults=(1, 2)), d), _images().to(d), _g()),
    "DDPM loss_simple (toy)": lambda d: ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(10)).loss_simple(
        _meta_or(nets.TimeMLP(2, hidden=8, layers=1), d), torch.randn(5, 2, generator=_g()).to(d), _g()),
    "DDPM p_sample step": lambda d: _no_grad(ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(10)).p_sample(
        _toy_eps, torch.randn(4, 2, generator=_g()).to(d), 5, _g())),
    "DDPM p_sample last step (clip)": lambda d: _no_grad(ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(10)).p_sample(
        _toy_eps, torch.randn(4, 2, generator=_g()).to(d), 0, _g(), clip=True)),
    "DDIM sampler": lambda d: _no_grad(ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(10)).ddim_sample(
        _toy_eps, (4, 2), 3, eta=1.0, generator=_g(), progress=False, device=d)),
    "DDPM sampler (Algorithm 2)": lambda d: _no_grad(ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(5)).sample(
        _toy_eps, (4, 2), generator=_g(), progress=False, device=d)),
    "feature network (SmallCNN)": lambda d: _meta_or(nets.SmallCNN(), d)(_images().to(d)).sum(),
    "Gumbel-softmax": lambda d: __import__("gdmcourse.reparam", fromlist=["x"]).gumbel_softmax(
        torch.randn(3, 4, generator=_g()).to(d).requires_grad_(), 0.5, hard=True, generator=_g()).sum(),
    "spectral norm by power iteration": lambda d: _no_grad(wgan.power_iteration(torch.randn(4, 3, generator=_g()).to(d), 2,
                                                                                generator=_g()).sigma),
}


def _meta_or(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    return model.to(device)


def _no_grad(x: torch.Tensor) -> None:
    assert x.device.type in ("meta", "cpu")
    return None


def _dcgan(d: torch.device) -> torch.Tensor:
    G, D = _meta_or(nets.DCGANGenerator(latent_dim=8, width=4), d), _meta_or(nets.DCGANDiscriminator(width=4), d)
    fake = G(torch.randn(3, 8, generator=_g()).to(d))
    return gan.discriminator_loss(D(_images().to(d)), D(fake.detach())) + gan.generator_loss_nonsaturating(D(fake))


def _toy_gan(d: torch.device) -> torch.Tensor:
    G = _meta_or(gan.toy_generator(hidden=(8,)), d)
    critic = _meta_or(gan.toy_discriminator(hidden=(8,), spectral_norm=True), d)
    real, fake = torch.randn(5, 2, generator=_g()).to(d), G(torch.randn(5, 2, generator=_g()).to(d))
    return (wgan.critic_loss(critic(real), critic(fake)) + 10 * wgan.gradient_penalty(critic, real, fake, _g())
            + wgan.hinge_discriminator_loss(critic(real), critic(fake)) + wgan.generator_loss(critic(fake)))


@pytest.mark.parametrize("name", MODELS)
def test_runs_on_meta(name):
    out = MODELS[name](META)
    if out is not None:
        loss = _backward(out)
        assert loss.device.type == "meta"


@pytest.mark.parametrize("name", MODELS)
def test_the_same_runs_on_cpu(name):
    """The reference run: what passes on meta computes numbers on the CPU."""
    out = MODELS[name](torch.device("cpu"))
    if out is not None:
        assert torch.isfinite(_backward(out))


MIXED: dict[str, Callable[[], object]] = {
    "reconstruction_loss": lambda: ae.reconstruction_loss(torch.zeros(2, 3, device=META), torch.zeros(2, 3)),
    "Autoencoder": lambda: _meta(ae.mlp_autoencoder((1, 28, 28), 2, hidden=(8,)))(_images()),
    "VAE.loss": lambda: _meta(vae.VAE.mlp(latent_dim=2, hidden=(8,))).loss(_images()),
    "gaussian_kl": lambda: vae.gaussian_kl(torch.zeros(2, 3, device=META), torch.zeros(2, 3)),
    "VQVAE.loss": lambda: _meta(vqvae.VQVAE(num_codes=8, code_dim=3, width=4)).loss(_images()),
    "nearest_codes": lambda: vqvae.nearest_codes(torch.zeros(4, 3, device=META), torch.zeros(8, 3)),
    "discriminator_loss": lambda: gan.discriminator_loss(torch.zeros(3, device=META), torch.zeros(3)),
    "critic_loss": lambda: wgan.critic_loss(torch.zeros(3, device=META), torch.zeros(3)),
    "gradient_penalty": lambda: wgan.gradient_penalty(_meta(gan.toy_discriminator(hidden=(4,))),
                                                      torch.zeros(3, 2, device=META), torch.zeros(3, 2)),
    "q_sample": lambda: ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(10)).q_sample(
        torch.zeros(3, 2, device=META), 3, torch.zeros(3, 2)),
    "loss_simple": lambda: ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(10)).loss_simple(
        _meta(nets.TimeMLP(2, hidden=8, layers=1)), torch.zeros(3, 2)),
    "ssim": lambda: __import__("gdmcourse.metrics", fromlist=["x"]).ssim(torch.zeros(1, 1, 12, 12, device=META),
                                                                         torch.zeros(1, 1, 12, 12)),
}


@pytest.mark.parametrize("name", MIXED)
def test_a_cpu_tensor_mixed_in_is_refused(name):
    with pytest.raises((ValueError, RuntimeError), match="not on the expected device"):
        MIXED[name]()


# ---------------------------------------------------------------------------------- the checks' references

#: references that need numbers: they return Python floats (metrics) or draw from a categorical
NEEDS_VALUES = {"frechet_distance", "inception_score", "precision_recall", "perplexity",
                # independent routes through scipy / numpy, or a bound that is a Python number
                "principal_angles", "nonsaturating_at_optimum", "lipschitz_bound"}


def _to(x: object, device: torch.device) -> object:
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, torch.nn.Module):
        return x.to(device)
    if isinstance(x, tuple):
        return tuple(_to(v, device) for v in x)
    if isinstance(x, list):
        return [_to(v, device) for v in x]
    return x


REFERENCED = [ex for ex in EXERCISES.values() if ex.cases is not None and callable(ex.reference)
              and ex.name not in NEEDS_VALUES]


@pytest.mark.parametrize("ex", REFERENCED, ids=lambda e: e.name)
def test_check_references_run_on_meta(ex):
    for case in ex.cases():
        out = ex.reference(*_to(case.args, META), **{k: _to(v, META) for k, v in case.kwargs.items()})
        outs = out if isinstance(out, tuple) else (out,)
        for o in outs:
            if isinstance(o, torch.Tensor):
                assert o.device.type == "meta", f"check.{ex.name}: a result on {o.device}"

"""Diagnostics, metrics and the checks' references never change what they are given.

Each diagnostic the notebooks call in evaluation runs between two snapshots of every module's
``state_dict`` (parameters *and* buffers, e.g. an EMA codebook), its training flag and the
input tensors; nothing may move. Stateful layers produce their outputs from the state they
searched with (tests/test_vqvae.py checks the EMA quantizer's order).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from gdmcourse import autoencoder as ae
from gdmcourse import ddpm, gan, metrics, nets, vae, vqvae, wgan
from gdmcourse.course.checks import EXERCISES


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _snapshot(*things: object) -> list:
    snap = []
    for t in things:
        if isinstance(t, torch.nn.Module):
            snap.append(("module", t.training, {k: v.detach().clone() for k, v in t.state_dict().items()}))
        elif isinstance(t, torch.Tensor):
            snap.append(("tensor", t.detach().clone()))
        elif isinstance(t, ddpm.DiffusionSchedule):
            snap.append(("schedule", {k: v.clone() for k, v in vars(t).items() if isinstance(v, torch.Tensor)}))
        else:
            snap.append(("other", None))
    return snap


def _same(a: list, b: list) -> bool:
    for x, y in zip(a, b):
        if x[0] == "module":
            if x[1] != y[1] or x[2].keys() != y[2].keys() or any(not torch.equal(x[2][k], y[2][k]) for k in x[2]):
                return False
        elif x[0] == "tensor":
            if not torch.equal(x[1], y[1]):
                return False
        elif x[0] == "schedule":
            if any(not torch.equal(x[1][k], y[1][k]) for k in x[1]):
                return False
    return True


torch.manual_seed(0)
IMAGES = torch.rand(12, 1, 28, 28, generator=_g())
BINARY = (IMAGES > 0.5).float()


def _ema_vqvae() -> vqvae.VQVAE:
    torch.manual_seed(1)
    return vqvae.VQVAE(num_codes=8, code_dim=3, width=4, ema=True, decay=0.9)


AUTOENCODER = ae.mlp_autoencoder((1, 28, 28), 2, hidden=(8,))
VAE_ = vae.VAE.mlp(latent_dim=2, hidden=(8,))
CVAE_ = vae.CVAE.mlp(latent_dim=2, hidden=(8,))
VQ = _ema_vqvae()
PRIOR = vqvae.PixelCNNPrior(8, width=4, layers=1)
GENERATOR = gan.toy_generator(hidden=(4,))
CRITIC = gan.toy_discriminator(hidden=(32, 32))
SN_CRITIC = gan.toy_discriminator(hidden=(32, 32), spectral_norm=True)  # u, v buffers that a training forward moves
SCHEDULE = ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(10))
EPS_MODEL = nets.TimeMLP(2, hidden=8, layers=1)
EXTRACTOR = metrics.FeatureExtractor(nets.SmallCNN(), batch_size=5)
W = torch.randn(5, 4, generator=_g(3))

#: (name, what to snapshot, the call); each call runs with the models in training mode and in eval mode
DIAGNOSTICS: list[tuple[str, tuple, Callable[[], object]]] = [
    ("autoencoder.encode", (AUTOENCODER, IMAGES), lambda: ae.encode(AUTOENCODER, IMAGES, batch_size=5)),
    ("autoencoder.pca", (IMAGES,), lambda: ae.pca(IMAGES, 3)),
    ("autoencoder.psnr", (IMAGES,), lambda: ae.psnr(IMAGES.flip(0), IMAGES)),
    ("vae.iwae_nll", (VAE_, BINARY), lambda: vae.iwae_nll(VAE_, BINARY, k=4, batch_size=5, generator=_g())),
    ("vae.iwae_nll (CVAE)", (CVAE_, BINARY), lambda: vae.iwae_nll(CVAE_, BINARY, k=4, y=torch.arange(12) % 10,
                                                                 generator=_g())),
    ("vae.active_units", (VAE_, IMAGES), lambda: vae.active_units(VAE_, IMAGES, batch_size=5)),
    ("vae.latent_traversal", (VAE_,), lambda: vae.latent_traversal(VAE_, torch.zeros(2), [0, 1], [-1.0, 1.0])),
    ("VAE.elbo", (VAE_, BINARY), lambda: VAE_.elbo(BINARY, generator=_g())),
    ("VAE.sample", (VAE_,), lambda: VAE_.sample(3, generator=_g())),
    ("VQVAE.code_map", (VQ, IMAGES), lambda: VQ.code_map(IMAGES)),
    ("VQVAE.reconstruct", (VQ, IMAGES), lambda: VQ.reconstruct(IMAGES)),
    ("VQVAE.decode_codes", (VQ,), lambda: VQ.decode_codes(torch.zeros(2, 7, 7, dtype=torch.long))),
    ("vqvae.codebook_perplexity", (VQ, IMAGES), lambda: vqvae.codebook_perplexity(VQ.code_map(IMAGES), 8)),
    ("vqvae.dead_codes", (VQ, IMAGES), lambda: vqvae.dead_codes(VQ.code_map(IMAGES), 8)),
    ("PixelCNNPrior.nll", (PRIOR,), lambda: PRIOR.nll(torch.zeros(2, 7, 7, dtype=torch.long))),
    ("VQVAEWithPrior.sample", (VQ, PRIOR), lambda: vqvae.VQVAEWithPrior(VQ, PRIOR).sample(2, generator=_g())),
    ("gan.sample", (GENERATOR,), lambda: gan.sample(GENERATOR, 7, batch_size=3)),
    ("gan.mode_coverage", (GENERATOR,), lambda: gan.mode_coverage(gan.sample(GENERATOR, 50), torch.randn(4, 2), 0.3)),
    ("wgan.gradient_norm", (CRITIC,), lambda: wgan.gradient_norm(CRITIC, torch.randn(5, 2, generator=_g()))),
    ("wgan.lipschitz_upper_bound", (SN_CRITIC,), lambda: wgan.lipschitz_upper_bound(SN_CRITIC)),
    ("wgan.power_iteration", (W,), lambda: wgan.power_iteration(W, 3, generator=_g())),
    ("wgan.spectral_norm_exact", (W,), lambda: wgan.spectral_norm_exact(W)),
    ("DiffusionSchedule.sample", (EPS_MODEL, SCHEDULE),
     lambda: SCHEDULE.sample(EPS_MODEL, (3, 2), generator=_g(), progress=False)),
    ("DiffusionSchedule.ddim_sample", (EPS_MODEL, SCHEDULE),
     lambda: SCHEDULE.ddim_sample(EPS_MODEL, (3, 2), 4, generator=_g(), progress=False)),
    ("metrics.FeatureExtractor", (EXTRACTOR.model, IMAGES), lambda: (EXTRACTOR.features(IMAGES), EXTRACTOR.probs(IMAGES))),
    ("metrics.score_samples", (EXTRACTOR.model, IMAGES),
     lambda: metrics.score_samples(IMAGES, IMAGES.flip(0), EXTRACTOR, k=2, splits=2)),
]


@pytest.mark.parametrize("training", [True, False], ids=["train mode", "eval mode"])
@pytest.mark.parametrize("name,things,call", DIAGNOSTICS, ids=[d[0] for d in DIAGNOSTICS])
def test_diagnostics_leave_state_and_inputs_untouched(name, things, call, training):
    for t in things:
        if isinstance(t, torch.nn.Module):
            t.train(training)
    before = _snapshot(*things)
    call()
    assert _same(before, _snapshot(*things)), f"{name} changed a state_dict, a training flag or its input"


def test_a_spectral_norm_critic_is_measured_unchanged_in_eval_mode():
    """gradient_norm runs the critic as it is; in eval mode (a diagnostic's) its u, v buffers stay, and the
    snapshot does see them move in a training forward (so the tests above could fail)."""
    critic = gan.toy_discriminator(hidden=(32, 32), spectral_norm=True).eval()
    before = _snapshot(critic)
    wgan.gradient_norm(critic, torch.randn(5, 2, generator=_g()))
    assert _same(before, _snapshot(critic))
    critic.train()
    before = _snapshot(critic)
    critic(torch.randn(5, 2, generator=_g()))
    assert not _same(before, _snapshot(critic))


def test_the_ema_codebook_moves_only_in_training_forward_passes():
    """The one exception, by design: a training step of an EMA quantizer updates its buffers (after its outputs)."""
    vq = _ema_vqvae().train()
    before = _snapshot(vq)
    vq.loss(IMAGES)
    assert not _same(before, _snapshot(vq))
    vq.eval()
    before = _snapshot(vq)
    vq.loss(IMAGES)
    assert _same(before, _snapshot(vq))


def _flatten(args) -> list:
    out = []
    for a in args:
        if isinstance(a, (list, tuple)):
            out.extend(_flatten(a))
        else:
            out.append(a)
    return out


CHECKED = [ex for ex in EXERCISES.values() if ex.cases is not None and callable(ex.reference)]


@pytest.mark.parametrize("ex", CHECKED, ids=lambda e: e.name)
def test_check_references_leave_their_inputs_untouched(ex):
    for case in ex.cases():
        things = _flatten(case.args) + _flatten(case.kwargs.values())
        before = _snapshot(*things)
        ex.reference(*case.args, **case.kwargs)
        assert _same(before, _snapshot(*things)), f"the reference of check.{ex.name} changed its input ({case.what})"

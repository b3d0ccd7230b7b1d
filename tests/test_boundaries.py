"""Every public function of the topic modules, walked through bad inputs: empty, wrong value range,
wrong rank, NaN. Each either handles the input correctly (a result without NaN: an empty result
for an empty batch of an elementwise formula) or raises a clear ValueError that names the
argument — never NaN, a raw indexing error or a silent number.

``ROWS`` is the table: (function, the data argument's valid value, the call, what each bad input
must give). ``python tests/test_boundaries.py`` prints it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch

from gdmcourse import autoencoder as ae
from gdmcourse import ddpm, gan, metrics, minimax, nets, reparam, vae, vqvae, wgan

OK, ERR = "handled", "ValueError"
KINDS = ("empty", "wrong range", "wrong rank", "NaN")


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(n: int = 4, shape: tuple[int, ...] = (1, 28, 28), seed: int = 0) -> torch.Tensor:
    return torch.rand(n, *shape, generator=_g(seed))


def _vectors(n: int = 6, d: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=_g(seed))


def _probs(n: int = 20, k: int = 4) -> torch.Tensor:
    return torch.softmax(torch.randn(n, k, generator=_g(1)), dim=1)


def _nan(x: torch.Tensor) -> torch.Tensor:
    x = x.clone().float() if not x.is_floating_point() else x.clone()
    x.view(-1)[0] = math.nan
    return x


@dataclass
class Row:
    name: str
    valid: Callable[[], torch.Tensor]
    call: Callable[[torch.Tensor], object]
    expect: dict[str, str]
    #: how the bad versions are made from the valid input (defaults: x[:0], 255 x, x[0], a NaN)
    make: dict[str, Callable[[torch.Tensor], torch.Tensor]] = field(default_factory=dict)

    def bad(self, kind: str) -> torch.Tensor:
        x = self.valid()
        default = {"empty": lambda t: t[:0], "wrong range": lambda t: 255 * t, "wrong rank": lambda t: t[0],
                   "NaN": _nan}[kind]
        return self.make.get(kind, default)(x)


# small models, built once, seeded
torch.manual_seed(0)
AE = ae.mlp_autoencoder((1, 28, 28), 2, hidden=(8,))
VAE_ = vae.VAE.mlp(latent_dim=2, hidden=(8,))
CVAE_ = vae.CVAE.mlp(latent_dim=2, hidden=(8,))
LGM = vae.LinearGaussianModel.random(D=5, d=2)
VQ = vqvae.VectorQuantizer(8, 3)
VQVAE_ = vqvae.VQVAE(num_codes=8, code_dim=3, width=4)
PRIOR = vqvae.PixelCNNPrior(8, width=4, layers=1)
CRITIC = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
GEN = gan.toy_generator(hidden=(4,))
SCHEDULE = ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(10))
EPS_MODEL = nets.TimeMLP(3, hidden=8, layers=1)
CNN = metrics.FeatureExtractor(nets.SmallCNN(), batch_size=2)
CENTERS = torch.randn(5, 3, generator=_g(9))
ALL_ERR = {k: ERR for k in KINDS}

ROWS: list[Row] = [
    # ---- autoencoder
    Row("autoencoder.reconstruction_loss", _vectors, lambda x: ae.reconstruction_loss(x, x + 0.1),
        {"empty": ERR, "wrong rank": ERR, "NaN": ERR}),
    Row("autoencoder.corrupt", _images, lambda x: ae.corrupt(x, 0.1, _g()),
        {"empty": OK, "wrong range": ERR, "NaN": ERR}),
    Row("autoencoder.denoising_loss", _images, lambda x: ae.denoising_loss(AE, x, 0.1, _g()), ALL_ERR),
    Row("autoencoder.Autoencoder.forward", _images, AE, {"empty": OK, "wrong rank": ERR, "NaN": ERR}),
    Row("autoencoder.Autoencoder.decode", _vectors, lambda z: AE.decode(z[:, :2]),
        {"empty": OK, "wrong rank": ERR, "NaN": ERR}, make={"wrong rank": lambda z: z[0, :2][None, None, :1]}),
    Row("autoencoder.pca", _vectors, lambda x: ae.pca(x, 2), {"empty": ERR, "wrong rank": ERR, "NaN": ERR}),
    Row("autoencoder.encode", _images, lambda x: ae.encode(AE, x), {"empty": OK, "wrong rank": ERR, "NaN": ERR}),
    Row("autoencoder.psnr", _images, lambda x: ae.psnr(x.clamp(0.1, 0.9), x),
        {"empty": OK, "wrong range": ERR, "wrong rank": ERR, "NaN": ERR},
        make={"wrong rank": lambda x: x[0, 0, 0]}),
    # ---- VAE
    Row("vae.gaussian_kl", _vectors, lambda m: vae.gaussian_kl(m, torch.zeros_like(m)), {"empty": OK, "NaN": ERR}),
    Row("vae.reparameterize", _vectors, lambda m: vae.reparameterize(m, torch.zeros_like(m), _g()),
        {"empty": OK, "NaN": ERR}),
    Row("vae.bernoulli_log_likelihood", _images, lambda x: vae.bernoulli_log_likelihood(torch.zeros_like(x), x),
        {"empty": OK, "wrong range": ERR, "NaN": ERR}),
    Row("vae.gaussian_log_likelihood", _vectors,
        lambda x: vae.gaussian_log_likelihood(x, torch.zeros_like(x), torch.zeros_like(x)), {"empty": OK, "NaN": ERR}),
    Row("vae.log_mean_exp", _vectors, vae.log_mean_exp, {"empty": ERR, "NaN": ERR}),
    Row("vae.kl_monte_carlo", _vectors, lambda m: vae.kl_monte_carlo(m, torch.zeros_like(m), 5, _g()),
        {"empty": OK, "NaN": ERR}),
    Row("vae.dynamic_binarize", _images, lambda x: vae.dynamic_binarize(x, _g()),
        {"empty": OK, "wrong range": ERR, "NaN": ERR}),
    Row("vae.LinearGaussianModel.log_marginal", lambda: _vectors(d=5), LGM.log_marginal,
        {"empty": OK, "wrong rank": ERR, "NaN": ERR}),
    Row("vae.LinearGaussianModel.elbo", lambda: _vectors(d=5),
        lambda x: LGM.elbo(x, torch.zeros(len(x), 2), torch.zeros(len(x), 2)), {"empty": OK, "wrong rank": ERR, "NaN": ERR}),
    Row("vae.VAE.forward", _images, VAE_, {"empty": OK, "wrong rank": ERR, "NaN": ERR}),
    Row("vae.VAE.elbo", _images, lambda x: VAE_.elbo(x, generator=_g()), {"empty": OK, **{k: ERR for k in KINDS[1:]}}),
    Row("vae.VAE.loss", _images, lambda x: VAE_.loss(x, generator=_g()), ALL_ERR),
    Row("vae.VAE.iwae_bound", _images, lambda x: VAE_.iwae_bound(x, 3, _g()), ALL_ERR),
    Row("vae.CVAE.loss", _images, lambda x: CVAE_.loss(x, torch.arange(len(x)) % 10, generator=_g()), ALL_ERR),
    Row("vae.CVAE.loss (labels)", lambda: torch.arange(4), lambda y: CVAE_.loss(_images(4), y, generator=_g()),
        {"empty": ERR, "wrong range": ERR, "wrong rank": ERR, "NaN": ERR}, make={"wrong range": lambda y: y + 10}),
    Row("vae.iwae_nll", _images, lambda x: vae.iwae_nll(VAE_, x, k=3, generator=_g()), ALL_ERR),
    Row("vae.active_units", _images, lambda x: vae.active_units(VAE_, x), {"empty": ERR, "wrong rank": ERR, "NaN": ERR}),
    Row("vae.latent_traversal", lambda: torch.zeros(2), lambda z: vae.latent_traversal(VAE_, z, [0], [0.0, 1.0]),
        {"empty": ERR, "wrong rank": ERR, "NaN": ERR}, make={"wrong rank": lambda z: z[None]}),
    # ---- reparameterization
    Row("reparam.score_function_grad", lambda: torch.tensor([0.5]),
        lambda mu: reparam.score_function_grad(lambda z: z**2, mu, 1.0, 100, _g()), {"empty": OK, "NaN": ERR}),
    Row("reparam.pathwise_grad", lambda: torch.tensor([0.5]),
        lambda mu: reparam.pathwise_grad(lambda z: z**2, mu, 1.0, 100, _g()), {"empty": OK, "NaN": ERR}),
    Row("reparam.gumbel_softmax", _vectors, lambda x: reparam.gumbel_softmax(x, 0.5, generator=_g()),
        {"empty": OK, "wrong rank": ERR, "NaN": ERR}, make={"wrong rank": lambda x: x[0, 0]}),
    # ---- GAN
    Row("gan.truncate_towards_mean", _vectors, lambda w: gan.truncate_towards_mean(w, torch.zeros(w.shape[1:]), 0.5),
        {"empty": OK, "NaN": ERR}),
    Row("gan.optimal_discriminator", lambda: torch.rand(5, generator=_g()),
        lambda p: gan.optimal_discriminator(p, torch.full_like(p, 0.5)), {"empty": OK, "wrong range": ERR, "NaN": ERR},
        make={"wrong range": lambda p: -p}),
    Row("gan.jensen_shannon", _probs, lambda p: gan.jensen_shannon(p, torch.full_like(p, 0.25)),
        {"empty": OK, "wrong range": ERR, "wrong rank": OK, "NaN": ERR}),
    Row("gan.generator_criterion", _probs, lambda p: gan.generator_criterion(p, torch.full_like(p, 0.25)),
        {"empty": OK, "wrong range": ERR, "wrong rank": OK, "NaN": ERR}),
    Row("gan.discriminator_loss", lambda: _vectors(d=1), lambda s: gan.discriminator_loss(s, s), {"empty": ERR, "NaN": ERR}),
    Row("gan.generator_loss_minimax", lambda: _vectors(d=1), gan.generator_loss_minimax, {"empty": ERR, "NaN": ERR}),
    Row("gan.generator_loss_nonsaturating", lambda: _vectors(d=1), gan.generator_loss_nonsaturating,
        {"empty": ERR, "NaN": ERR}),
    Row("gan.check_outputs", lambda: _vectors(d=1), lambda s: gan.check_outputs(s, "scores"), {"empty": ERR, "NaN": ERR}),
    Row("gan.mode_coverage", _vectors, lambda x: gan.mode_coverage(x, CENTERS, 0.5),
        {"empty": ERR, "wrong rank": ERR, "NaN": OK}),
    Row("gan.mode_coverage (centers)", lambda: CENTERS.clone(), lambda c: gan.mode_coverage(_vectors(), c, 0.5),
        {"empty": ERR, "wrong rank": ERR, "NaN": ERR}),
    # ---- minimax (scalars and tensors)
    Row("minimax.value", lambda: torch.tensor([1.0, 2.0]), lambda x: minimax.value(x, x), {"empty": OK, "NaN": ERR}),
    Row("minimax.grad", lambda: torch.tensor([1.0, 2.0]), lambda x: minimax.grad(x, x), {"empty": OK, "NaN": ERR}),
    Row("minimax.simultaneous_step", lambda: torch.tensor([1.0]), lambda x: minimax.simultaneous_step(x, x, 0.1),
        {"empty": OK, "NaN": ERR}),
    Row("minimax.alternating_step", lambda: torch.tensor([1.0]), lambda x: minimax.alternating_step(x, x, 0.1),
        {"empty": OK, "NaN": ERR}),
    Row("minimax.extragradient_step", lambda: torch.tensor([1.0]), lambda x: minimax.extragradient_step(x, x, 0.1),
        {"empty": OK, "NaN": ERR}),
    Row("minimax.optimistic_step", lambda: torch.tensor([1.0]), lambda x: minimax.optimistic_step(x, x, x, x, 0.1),
        {"empty": OK, "NaN": ERR}),
    Row("minimax.simultaneous_gd", lambda: torch.tensor(1.0), lambda x: minimax.simultaneous_gd(float(x), 1.0, 0.1, 3),
        {"NaN": ERR}),
    Row("minimax.extragradient", lambda: torch.tensor(1.0), lambda x: minimax.extragradient(float(x), 1.0, 0.1, 3),
        {"NaN": ERR}),
    Row("minimax.momentum_alternating_gd", lambda: torch.tensor(1.0),
        lambda x: minimax.momentum_alternating_gd(float(x), 1.0, 0.1, 3, 0.5), {"NaN": ERR}),
    # ---- WGAN
    Row("wgan.parallel_lines_wasserstein", lambda: torch.tensor([0.0, 1.0]), wgan.parallel_lines_wasserstein,
        {"empty": OK, "NaN": ERR}),
    Row("wgan.parallel_lines_jsd", lambda: torch.tensor([0.0, 1.0]), wgan.parallel_lines_jsd, {"empty": OK, "NaN": ERR}),
    Row("wgan.critic_loss", lambda: _vectors(d=1), lambda s: wgan.critic_loss(s, s), {"empty": ERR, "NaN": ERR}),
    Row("wgan.fenchel_lower_bound", lambda: _vectors(d=1).squeeze(1), lambda t: wgan.fenchel_lower_bound(t, t),
        {"empty": ERR, "NaN": ERR}),
    Row("wgan.generator_loss", lambda: _vectors(d=1), wgan.generator_loss, {"empty": ERR, "NaN": ERR}),
    Row("wgan.hinge_discriminator_loss", lambda: _vectors(d=1), lambda s: wgan.hinge_discriminator_loss(s, s),
        {"empty": ERR, "NaN": ERR}),
    Row("wgan.hinge_generator_loss", lambda: _vectors(d=1), wgan.hinge_generator_loss, {"empty": ERR, "NaN": ERR}),
    Row("wgan.gradient_norm", _vectors, lambda x: wgan.gradient_norm(CRITIC, x), {"empty": OK, "NaN": ERR}),
    Row("wgan.gradient_penalty", _vectors, lambda x: wgan.gradient_penalty(CRITIC, x, x + 1, _g()),
        {"empty": ERR, "NaN": ERR}),
    Row("wgan.power_iteration", _vectors, lambda w: wgan.power_iteration(w, 5, generator=_g()),
        {"empty": ERR, "wrong rank": ERR, "NaN": ERR}),
    Row("wgan.spectral_norm_exact", _vectors, wgan.spectral_norm_exact, {"empty": ERR, "wrong rank": ERR, "NaN": ERR}),
    # ---- VQ-VAE
    Row("vqvae.nearest_codes", _vectors, lambda z: vqvae.nearest_codes(z, VQ.codebook.detach()),
        {"empty": OK, "wrong rank": ERR, "NaN": ERR}, make={"wrong rank": lambda z: z[0, 0]}),
    Row("vqvae.nearest_codes (codebook)", _vectors, lambda c: vqvae.nearest_codes(_vectors(), c),
        {"empty": ERR, "wrong rank": ERR, "NaN": ERR}),
    Row("vqvae.VectorQuantizer.forward", _vectors, VQ, {"empty": ERR, "wrong rank": ERR, "NaN": ERR},
        make={"wrong rank": lambda z: z[0, 0]}),
    Row("vqvae.codebook_perplexity", lambda: torch.tensor([0, 1, 1, 3]), lambda i: vqvae.codebook_perplexity(i, 8),
        {"empty": ERR, "wrong range": ERR, "NaN": ERR}),
    Row("vqvae.dead_codes", lambda: torch.tensor([0, 1, 1, 3]), lambda i: vqvae.dead_codes(i, 8),
        {"empty": OK, "wrong range": ERR, "NaN": ERR}),
    Row("vqvae.reset_dead_codes", _vectors,
        lambda z: vqvae.reset_dead_codes(vqvae.VectorQuantizer(8, 3), z, _g()), {"empty": ERR, "NaN": ERR}),
    Row("vqvae.VQVAE.forward", _images, VQVAE_, {"empty": ERR, "wrong rank": ERR, "NaN": ERR}),
    Row("vqvae.VQVAE.loss", _images, VQVAE_.loss, {"empty": ERR, "wrong rank": ERR, "NaN": ERR}),
    Row("vqvae.VQVAE.code_map", _images, VQVAE_.code_map, {"empty": OK, "wrong rank": ERR, "NaN": ERR}),
    Row("vqvae.VQVAE.reconstruct", _images, VQVAE_.reconstruct, {"empty": OK, "wrong rank": ERR, "NaN": ERR}),
    Row("vqvae.VQVAE.decode_codes", lambda: torch.zeros(2, 7, 7, dtype=torch.long), VQVAE_.decode_codes,
        {"empty": OK, "wrong range": ERR, "wrong rank": ERR, "NaN": ERR}, make={"wrong range": lambda i: i + 8}),
    Row("vqvae.PixelCNNPrior.nll", lambda: torch.zeros(2, 7, 7, dtype=torch.long), PRIOR.nll, ALL_ERR,
        make={"wrong range": lambda i: i - 1}),
    # ---- DDPM
    Row("ddpm.extract", lambda: torch.tensor([0, 3]), lambda t: ddpm.extract(SCHEDULE.betas, t, torch.zeros(len(t), 2)),
        {"empty": OK, "wrong range": ERR, "wrong rank": ERR, "NaN": ERR}, make={"wrong rank": lambda t: t[None]}),
    Row("ddpm.DiffusionSchedule.q_sample", _vectors, lambda x: SCHEDULE.q_sample(x, 3, torch.zeros_like(x)),
        {"empty": OK, "NaN": ERR}),
    Row("ddpm.DiffusionSchedule.q_posterior", _vectors, lambda x: SCHEDULE.q_posterior(x, x, 3),
        {"empty": OK, "NaN": ERR}),
    Row("ddpm.DiffusionSchedule.predict_x0", _vectors, lambda x: SCHEDULE.predict_x0(x, 3, x),
        {"empty": OK, "NaN": ERR}),
    Row("ddpm.DiffusionSchedule.loss_simple", _vectors, lambda x: SCHEDULE.loss_simple(EPS_MODEL, x, _g()),
        {"empty": ERR, "NaN": ERR}),
    Row("ddpm.DiffusionSchedule.p_mean_variance", _vectors, lambda x: SCHEDULE.p_mean_variance(EPS_MODEL, x, 3),
        {"empty": OK, "NaN": ERR}),
    Row("ddpm.DiffusionSchedule.p_sample", _vectors, lambda x: SCHEDULE.p_sample(EPS_MODEL, x, 3, _g()),
        {"empty": OK, "NaN": ERR}),
    Row("ddpm.to_model_range", _images, ddpm.to_model_range, {"empty": OK, "wrong range": ERR, "NaN": ERR}),
    Row("ddpm.to_image_range", _images, ddpm.to_image_range, {"empty": OK, "NaN": ERR}),
    # ---- metrics
    Row("metrics.frechet_distance", lambda: torch.zeros(3), lambda m: metrics.frechet_distance(m, torch.eye(3), m, torch.eye(3)),
        {"empty": ERR, "wrong rank": ERR, "NaN": ERR}, make={"wrong rank": lambda m: m[None]}),
    Row("metrics.fid", _vectors, lambda x: metrics.fid(x, _vectors(seed=1)), {"empty": ERR, "wrong rank": ERR, "NaN": ERR}),
    Row("metrics.inception_score", _probs, lambda p: metrics.inception_score(p, splits=2), ALL_ERR,
        make={"wrong range": lambda p: p.log()}),
    Row("metrics.precision_recall", _vectors, lambda x: metrics.precision_recall(x, _vectors(seed=1), k=2),
        {"empty": ERR, "wrong rank": ERR, "NaN": ERR}),
    Row("metrics.ssim", lambda: _images(2, (1, 12, 12)), lambda x: metrics.ssim(x, x.flip(-1)),
        {**ALL_ERR, "wrong rank": ERR}, make={"wrong rank": lambda x: x[0, 0, 0]}),
    Row("metrics.energy_distance", _vectors, lambda x: metrics.energy_distance(x, _vectors(seed=1)),
        {"empty": ERR, "wrong rank": ERR, "NaN": ERR}),
    Row("metrics.FeatureExtractor.features", lambda: _images(2), CNN.features, ALL_ERR),
    Row("metrics.FeatureExtractor.probs", lambda: _images(2), CNN.probs, ALL_ERR),
    Row("metrics.score_samples", lambda: _images(6), lambda x: metrics.score_samples(x, _images(6, seed=1), CNN, k=2, splits=2),
        ALL_ERR),
]


def _has_nan(out: object) -> bool:
    if isinstance(out, torch.Tensor):
        return out.is_floating_point() and bool(torch.isnan(out).any())
    if isinstance(out, float):
        return math.isnan(out)
    if isinstance(out, dict):
        return any(_has_nan(v) for v in out.values())
    if isinstance(out, (tuple, list)):
        return any(_has_nan(v) for v in out)
    return False


def outcome(row: Row, kind: str) -> str:
    """What the function does with the bad input: "handled", "ValueError: ...", or the failure it shows."""
    try:
        out = row.call(row.bad(kind))
    except ValueError as err:
        return f"ValueError: {err}"
    except Exception as err:  # noqa: BLE001 - the table reports whatever comes out
        return f"{type(err).__name__}: {err}"
    return "NaN" if _has_nan(out) else OK


CASES = [(row, kind) for row in ROWS for kind in KINDS if kind in row.expect]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_the_valid_input_works(row):
    assert not _has_nan(row.call(row.valid()))


@pytest.mark.parametrize("row,kind", CASES, ids=[f"{r.name}-{k}" for r, k in CASES])
def test_bad_input_is_handled_or_refused_clearly(row, kind):
    got = outcome(row, kind)
    if row.expect[kind] == OK:
        assert got == OK, got
    else:
        assert got.startswith("ValueError: "), got
        message = got.removeprefix("ValueError: ")
        # a clear message: what was given (a shape, a value or a word for it) and what is expected
        assert len(message) > 25 and any(w in message for w in ("got", "empty", "NaN", "inf", "must", "expected")), got


def test_every_public_function_of_the_topics_is_in_the_table():
    """A new public function must join the table (or the list of those taking no data)."""
    import inspect

    no_data = {  # constructors, factories, trainers, constants and types: no data argument to break
        "autoencoder": {"Autoencoder", "mlp_autoencoder", "conv_autoencoder", "linear_autoencoder", "PCA"},
        "vae": {"DiagonalGaussian", "GaussianPosterior", "LinearGaussianModel", "VAE", "CVAE", "vae_loss", "Recipe",
                "RECIPES"},
        "reparam": {"Gradient", "estimator_stats", "sample_gumbel"},
        "gan": {"ModeCoverage", "GANLoss", "LOSSES", "gan_objectives", "train_gan", "sample", "toy_generator",
                "toy_discriminator"},
        "minimax": {"growth_factor", "extragradient_factor", "alternating_gd", "optimistic_gd", "METHODS"},
        "wgan": {"clip_weights", "PowerIteration", "lipschitz_upper_bound", "LOSSES"},
        "vqvae": {"Quantized", "VectorQuantizer", "VQVAEOutput", "VQVAE", "CodebookMonitor", "train_vqvae",
                  "MaskedConv2d", "PixelCNNPrior", "train_prior", "VQVAEWithPrior"},
        "ddpm": {"linear_beta_schedule", "cosine_beta_schedule", "PosteriorMoments", "ReverseMoments", "Trajectory",
                 "DiffusionSchedule", "vlb_weights", "train_ddpm", "toy_schedule", "ToyDDPM", "train_toy"},
        "metrics": {"InceptionScore", "PrecisionRecall", "FeatureExtractor", "feature_extractor"},
    }
    covered = {r.name.split(" ")[0] for r in ROWS}
    modules = {"autoencoder": ae, "vae": vae, "reparam": reparam, "gan": gan, "minimax": minimax, "wgan": wgan,
               "vqvae": vqvae, "ddpm": ddpm, "metrics": metrics}
    missing = [f"{m}.{n}" for m, mod in modules.items() for n in mod.__all__
               if f"{m}.{n}" not in covered and n not in no_data[m] and inspect.isfunction(getattr(mod, n))]
    assert not missing, missing


if __name__ == "__main__":
    print("| function | " + " | ".join(KINDS) + " |")
    print("|---|" + "---|" * len(KINDS))
    for row in ROWS:
        cells = [(outcome(row, k).split(":")[0] if k in row.expect else "n/a") for k in KINDS]
        print(f"| {row.name} | " + " | ".join(cells) + " |")

"""The shipped weights (gdmcourse.weights) and the recipes that made them (gdmcourse.recipes): verified
before loading, accurate on the test sets (checked here, not copied from the training log), clear errors
for missing or corrupt files, and one sampler per shipped image model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from gdmcourse import data, ddpm, metrics, recipes, weights


@pytest.mark.parametrize("dataset, floor", [("mnist", 0.99), ("fashion-mnist", 0.90)])
def test_feature_extractor_accuracy_and_outputs(dataset, floor):
    x, y = data.load_images(dataset, "test")
    net = metrics.feature_extractor(dataset, device="cpu")
    probs = net.probs(x)  # the whole test set, as the course's claim is stated
    accuracy = (probs.argmax(1) == y).double().mean().item()
    assert accuracy >= floor
    assert torch.allclose(probs.sum(1), torch.ones(len(x)), atol=1e-5)
    assert net.features(x[:7]).shape == (7, 128)
    record = weights.registry()[f"classifier-{dataset}"]
    assert record["command"] == f"python -m gdmcourse train classifier-{dataset}"
    assert record["test_accuracy"] >= floor


def test_one_pass_features_and_probs_match_the_separate_passes():
    x = data.load_images("mnist", "test")[0][:300]
    net = metrics.feature_extractor("mnist", device="cpu")
    features, probs = net.features_and_probs(x)
    torch.testing.assert_close(features, net.features(x))
    torch.testing.assert_close(probs, net.probs(x))
    fake = x.flip(0)[:200].clamp(0, 1) ** 2
    real = x[100:]
    cached = metrics.score_samples(fake, real, net, real_features=net.features(real))
    assert cached == pytest.approx(metrics.score_samples(fake, real, net), rel=1e-6)
    with pytest.raises(ValueError, match="extractor.features"):
        metrics.score_samples(fake, real, net, real_features=features[:5])


def test_feature_extractor_rejects_bad_input():
    net = metrics.feature_extractor("mnist", device="cpu")
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        net.features(torch.full((2, 1, 28, 28), -1.0))
    with pytest.raises(ValueError, match="28, 28"):
        net.probs(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match="mnist"):
        metrics.feature_extractor("cifar10")


@pytest.fixture
def weights_copy(tmp_path, monkeypatch):
    shutil.copytree(weights.WEIGHTS, tmp_path / "weights")
    monkeypatch.setattr(weights, "WEIGHTS", tmp_path / "weights")
    monkeypatch.setattr(weights, "REGISTRY", tmp_path / "weights" / "checkpoints.json")
    return tmp_path / "weights"


def test_corrupt_or_missing_checkpoint_gives_the_fix(weights_copy):
    path = weights_copy / "classifier-mnist.pt"
    blob = bytearray(path.read_bytes())
    blob[-10] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(weights.CheckpointError, match="sha256.*python -m gdmcourse train classifier-mnist"):
        weights.load_state("classifier-mnist")
    path.unlink()
    with pytest.raises(weights.CheckpointError, match="missing"):
        weights.load_state("classifier-mnist")
    with pytest.raises(weights.CheckpointError, match="unknown checkpoint"):
        weights.load_state("classifier-cifar")


def test_save_is_atomic_and_recorded(weights_copy):
    state = {"w": torch.arange(4.0)}
    path = weights.save_state("classifier-mnist", state, {"test_accuracy": 0.5})
    assert torch.equal(torch.load(path, weights_only=True)["w"], state["w"])
    assert weights.registry()["classifier-mnist"]["sha256"] == weights.sha256(path)
    assert not list(weights_copy.glob("*.part"))


def test_load_model_builds_verified_networks():
    model = recipes.load_model("ddpm")
    assert not model.training and sum(p.numel() for p in model.parameters()) == weights.registry()["ddpm"]["parameters"]
    with pytest.raises(weights.CheckpointError, match="unknown checkpoint"):
        recipes.load_model("classifier-cifar")
    assert isinstance(recipes.load_model("classifier-mnist"), torch.nn.Module)


@pytest.mark.parametrize("name", list(recipes.GENERATORS))
def test_shipped_generators_draw_digits(name):
    """Each shipped image model draws seeded images in [0, 1] of most classes whose FID to real
    test digits (256 each, course classifier) is far below that of noise or of dimmed digits.
    Measured: real 88, VAE 594, DCGAN 324, VQ-VAE 295, DDPM (DDIM-10) 287, dimmed digits 1917, noise 2861."""
    def sample(n, seed, ddim_steps):
        options = {"ddim_steps": ddim_steps} if name == "ddpm" else {}
        return recipes.generator(name, **options).sample_images(n, torch.Generator().manual_seed(seed))

    x = sample(256, 0, 10)
    assert x.shape == (256, 1, 28, 28) and x.min() >= 0 and x.max() <= 1
    a, b = (sample(6, s, 5) for s in (1, 1))
    assert torch.equal(a, b) and not torch.equal(a, sample(6, 2, 5))
    extractor = metrics.feature_extractor("mnist", device="cpu")
    real = extractor.features(data.load_images("mnist", "test")[0][:256])
    noise = torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert metrics.fid(extractor.features(x), real) < 0.3 * metrics.fid(extractor.features(noise), real)
    assert len(set(extractor.probs(x).argmax(1).tolist())) >= 8


def test_ddpm_images_are_the_sampler_on_the_network():
    """The shipped DDPM's image generator (which runs its network 64 images at a time) gives what
    DDIM gives on the network itself, from the same seed; 70 images: one full chunk and a ragged one."""
    model = recipes.load_model("ddpm")
    got = recipes.DDPMImages(model, ddim_steps=3).sample_images(70, torch.Generator().manual_seed(0))
    with torch.no_grad():
        x = recipes.ddpm_schedule().ddim_sample(model, (70, 1, 28, 28), steps=3, generator=torch.Generator().manual_seed(0),
                                                clip=True, progress=False)
    # the network on 64 images rounds differently from the network on 70 (~1e-6); DDIM's x̂0 multiplies that by
    # up to 1/√ᾱ_t (~150 at the first of 3 steps): 1e-4 on [0, 1] pixels, where a lost chunk would be off by ~1
    assert torch.allclose(got, ddpm.to_image_range(x).clamp(0, 1), atol=1e-4)


def test_generator_rejects_non_generators():
    with pytest.raises(weights.CheckpointError, match="not an image generator"):
        recipes.generator("classifier-mnist")
    with pytest.raises(ValueError, match="positive"):
        recipes.generator("vae-mnist").sample_images(0, torch.Generator())


def test_vqvae_with_prior_needs_matching_codebooks():
    from gdmcourse import vqvae

    with pytest.raises(ValueError, match="codes"):
        vqvae.VQVAEWithPrior(vqvae.VQVAE(num_codes=16), vqvae.PixelCNNPrior(num_codes=32))


def test_the_same_weights_always_hash_the_same(weights_copy):
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    first = weights.sha256(weights.save_state("classifier-mnist", state, {}))
    second = weights.sha256(weights.save_state("classifier-mnist", state, {}))
    assert first == second  # so a bit-identical retrain reproduces the recorded sha256


def test_notebooks_and_checkpoints_share_one_recipe():
    """Notebooks 04 and 07 build their models through the recipe objects the checkpoints are trained with."""
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    assert "recipes.DCGAN.networks(" in (notebooks / "04_gan_optimality.py").read_text()
    assert "recipes.VQVAE.model(" in (notebooks / "07_vqvae.py").read_text()
    assert recipes.load_model("dcgan-mnist").latent_dim == recipes.DCGAN.latent_dim
    assert recipes.load_model("vqvae-mnist").vqvae.num_codes == recipes.VQVAE.num_codes


def test_the_dcgan_checkpoint_is_the_generators_moving_average(monkeypatch):
    """`train dcgan-mnist` ships history.ema and scores both it and the raw generator at each quarter
    (a tiny recipe for 8 steps; the sampler spied on and replaced by real test digits)."""
    import dataclasses

    monkeypatch.setattr(recipes, "DCGAN", dataclasses.replace(recipes.DCGAN, width=4, steps=8))
    held_out = data.shuffled_test_set("mnist")[0].images[5000:6000]
    seen = []

    def fake_sample(self, n, generator, batch_size=500):
        seen.append({k: v.clone() for k, v in self.model.state_dict().items()})
        return held_out[:n]

    monkeypatch.setattr(recipes.DCGANImages, "sample_images", fake_sample)
    state, info = recipes._train_dcgan(progress=False)
    rows = info["fid_1000_by_step"]
    assert [r["step"] for r in rows] == [2, 4, 6, 8] and len(seen) == 8
    assert all(15 < r["fid"] < 35 and 15 < r["fid_raw_generator"] < 35 for r in rows), rows
    ema_last, raw_last = seen[-2], seen[-1]  # the average is scored first, then the raw generator
    assert all(torch.equal(state[k], ema_last[k]) for k in state)
    assert not all(torch.equal(state[k], raw_last[k]) for k in state if state[k].is_floating_point())
    assert "moving average, decay 0.9995" in info["recipe"]


def test_the_ddpm_recipe_records_its_fid_at_every_quarter(monkeypatch):
    """`train ddpm` scores its EMA weights with DDIM-50 at each quarter of the run (here 8 steps, and a
    sampler replaced by real test digits, so the FIDs are near the real-vs-real figure and the
    plumbing, not the model, is what is checked); scoring time is not training time."""
    import time

    monkeypatch.setattr(recipes, "DDPM_STEPS", 8)
    held_out = data.shuffled_test_set("mnist")[0].images[5000:6000]
    seen = []

    def fake_sample(self, n, generator, batch_size=500):
        seen.append((self.ddim_steps, n, isinstance(self.model, torch.nn.Module)))
        time.sleep(0.5)  # scoring that takes time
        return held_out[:n]

    monkeypatch.setattr(recipes.DDPMImages, "sample_images", fake_sample)
    state, info = recipes.train_ddpm_recipe(progress=False)
    assert seen == [(50, 1000, True)] * 4
    frontier = info["fid_1000_by_step"]
    assert [r["step"] for r in frontier] == [2, 4, 6, 8]
    assert all(15 < r["fid_ddim50"] < 35 for r in frontier), frontier  # real vs real at N = 1,000: ~24
    seconds = [r["train_seconds"] for r in frontier]
    assert seconds == sorted(seconds) and info["train_seconds"] < seconds[-1] + 0.4  # the 2 s of scoring excluded
    assert set(state) == set(recipes.ddpm_unet().state_dict())

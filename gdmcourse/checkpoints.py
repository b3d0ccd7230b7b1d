"""Small pretrained weights that ship with the package, made by the course's own CLI.

``python -m gdmcourse train NAME`` trains a model from a fixed recipe and seed, writes its
weights to ``gdmcourse/weights/NAME.pt`` (atomically) and records in
``gdmcourse/weights/checkpoints.json`` the file's sha256, the command that made it, the
machine's torch version and thread count, the training time and the model's test figures.
:func:`load_state` checks the sha256 before loading (``torch.load(weights_only=True)``), so a
corrupt or replaced file gives a clear message instead of a wrong model.

Available names: ``classifier-mnist`` and ``classifier-fashion-mnist`` (the feature network of
:func:`gdmcourse.metrics.feature_extractor`); the image models notebook 09 scores, built by
:func:`load_model` and sampled by :func:`sample_images`: ``vae-mnist`` (notebook 02's VAE),
``dcgan-mnist`` (notebook 04's DCGAN generator), ``vqvae-mnist`` (notebook 07's VQ-VAE with
its PixelCNN prior) and ``ddpm`` (notebook 08's UNet).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import torch

WEIGHTS = Path(__file__).resolve().parent / "weights"
REGISTRY = WEIGHTS / "checkpoints.json"


class CheckpointError(RuntimeError):
    """A shipped checkpoint is missing, corrupt or unknown; the message says how to fix it."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def registry() -> dict[str, dict[str, Any]]:
    """The recorded checkpoints: name → {file, sha256, command, ...}."""
    if not REGISTRY.is_file():
        return {}
    return json.loads(REGISTRY.read_text())


def load_state(name: str) -> dict[str, torch.Tensor]:
    """The verified state dict of checkpoint ``name`` (on the CPU)."""
    entries = registry()
    if name not in TRAINERS:
        raise CheckpointError(f"unknown checkpoint {name!r}; known: {', '.join(TRAINERS)}")
    how = f"recreate it with `python -m gdmcourse train {name}`"
    if name not in entries:
        raise CheckpointError(f"checkpoint {name!r} was never trained here; {how}")
    path = WEIGHTS / entries[name]["file"]
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} is missing; {how}")
    if _sha256(path) != entries[name]["sha256"]:
        raise CheckpointError(f"checkpoint file {path} does not match its recorded sha256 (corrupt or "
                              f"replaced); {how}, or restore it with `git checkout -- {path.name}`")
    return torch.load(path, map_location="cpu", weights_only=True)


def _save(name: str, state: dict[str, torch.Tensor], info: dict[str, Any]) -> Path:
    WEIGHTS.mkdir(exist_ok=True)
    target = WEIGHTS / f"{name}.pt"
    fd, tmp = tempfile.mkstemp(dir=WEIGHTS, suffix=".part")
    os.close(fd)
    try:
        # serialise through a buffer: torch.save names the zip's inner folder after the file,
        # and a random temporary name would make the same weights hash differently
        buffer = io.BytesIO()
        torch.save(state, buffer)
        Path(tmp).write_bytes(buffer.getvalue())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the package's files are world-readable
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    entries = registry()
    entries[name] = {"file": target.name, "sha256": _sha256(target), "command": f"python -m gdmcourse train {name}",
                     "date": date.today().isoformat(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                     "machine": platform.machine(), **info}
    fd, tmp = tempfile.mkstemp(dir=WEIGHTS, suffix=".part")
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(entries, indent=1, sort_keys=True) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, REGISTRY)
    return target


# ------------------------------------------------------------------------------ recipes

def _train_classifier(dataset: str, epochs: int, progress: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    import torch.nn.functional as F

    from . import data, nets, runtime, train

    runtime.startup(seed=0)
    x, y = data.load_images(dataset, "train")
    x_test, y_test = data.load_images(dataset, "test")
    model = nets.SmallCNN()

    def loss(m: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        xb, yb = batch
        return F.cross_entropy(m(xb), yb)

    history = train.fit(model, loss, (x, y), epochs=epochs, batch_size=128, lr=2e-3, schedule="cosine", seed=0,
                        progress=progress, device="cpu")
    model.eval()
    with torch.no_grad():
        correct = sum((model(x_test[i:i + 1000]).argmax(1) == y_test[i:i + 1000]).sum().item()
                      for i in range(0, len(x_test), 1000))
    info = {"test_accuracy": round(correct / len(x_test), 4), "epochs": epochs,
            "train_seconds": round(history.seconds, 1)}
    return model.state_dict(), info


DDPM_STEPS = 5000


def _ddpm_unet() -> torch.nn.Module:
    from . import nets

    return nets.UNet(channels=1, width=16, mults=(1, 2, 2), attention=True)


def _train_ddpm(dataset: str, progress: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from . import data, ddpm, runtime

    runtime.startup(seed=0)
    x, _ = data.load_images(dataset, "train")
    model = _ddpm_unet()
    schedule = ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(1000))
    history = ddpm.train_ddpm(model, schedule, ddpm.to_model_range(x), steps=DDPM_STEPS, batch_size=128, lr=1e-3,
                              warmup=200, ema_decay=0.999, seed=0, device="cpu", progress=progress)
    tail = history.loss[-500:]
    info = {"steps": DDPM_STEPS, "batch_size": 128, "schedule": "linear, T=1000",
            "parameters": sum(p.numel() for p in model.parameters()),
            "final_loss_mean_last_500": round(sum(tail) / len(tail), 4), "train_seconds": round(history.seconds, 1),
            "weights": "EMA (decay 0.999)"}
    return history.ema.state_dict(), info


def _vae() -> torch.nn.Module:
    from . import vae

    recipe = vae.RECIPES["quick"]
    return vae.VAE.mlp(latent_dim=recipe.latent_dim, hidden=recipe.hidden)


def _train_vae(progress: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from . import data, runtime, train, vae

    runtime.startup(seed=0)
    x, _ = data.load_images("mnist", "train")
    x_test, _ = data.load_images("mnist", "test")
    recipe = vae.RECIPES["quick"]
    model = _vae()
    history = train.fit(model, vae.vae_loss(generator=torch.Generator().manual_seed(3)), x, epochs=recipe.epochs,
                        batch_size=recipe.batch_size, lr=recipe.lr, schedule=recipe.schedule, seed=0,
                        progress=progress, device="cpu")
    model.eval()
    x_bin = vae.dynamic_binarize(x_test[:1000], torch.Generator().manual_seed(123))
    nll = vae.iwae_nll(model, x_bin, k=500, generator=torch.Generator().manual_seed(0))
    return model.state_dict(), {"recipe": "vae.RECIPES['quick'] (notebook 02)", "epochs": recipe.epochs,
                                "test_nll_iwae500_first1000": round(nll, 2), "train_seconds": round(history.seconds, 1)}


DCGAN_STEPS = 3000


def _dcgan() -> torch.nn.Module:
    from . import nets

    return nets.DCGANGenerator(latent_dim=64, width=16)


def _train_dcgan(progress: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from . import data, gan, nets, runtime

    runtime.startup(seed=0)
    x, _ = data.load_images("mnist", "train")
    G, D = _dcgan(), nets.DCGANDiscriminator(width=16)
    history = gan.train_gan(G, D, 2 * x - 1, loss="nonsaturating", steps=DCGAN_STEPS, batch_size=64, lr_g=1e-3,
                            lr_d=1e-3, betas=(0.5, 0.999), seed=0, device="cpu", progress=progress)
    G.eval()
    return G.state_dict(), {"recipe": "notebook 04's DCGAN (width 16, non-saturating loss, batch 64)",
                            "steps": DCGAN_STEPS, "train_seconds": round(history.seconds, 1)}


VQVAE_STEPS, PRIOR_STEPS = 2000, 3000


def _vqvae() -> torch.nn.Module:
    from . import vqvae

    return vqvae.VQVAEWithPrior(vqvae.VQVAE(num_codes=128, code_dim=16, width=16, ema=True),
                                vqvae.PixelCNNPrior(num_codes=128, width=64, layers=5))


def _train_vqvae(progress: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from . import data, runtime, vqvae

    runtime.startup(seed=0)
    x, _ = data.load_images("mnist", "train")
    x_test, _ = data.load_images("mnist", "test")
    model = _vqvae()
    h = vqvae.train_vqvae(model.vqvae, x, steps=VQVAE_STEPS, batch_size=64, lr=1e-3, reset_every=50, seed=0,
                          device="cpu", progress=progress)
    with torch.no_grad():
        maps = torch.cat([model.vqvae.code_map(x[i:i + 2000]) for i in range(0, len(x), 2000)])
    start = time.perf_counter()
    vqvae.train_prior(model.prior, maps, steps=PRIOR_STEPS, batch_size=64, lr=2e-3, seed=1, device="cpu",
                      progress=progress)
    model.eval()
    with torch.no_grad():
        nll = model.prior.nll(model.vqvae.code_map(x_test[:2000])).item()
    return model.state_dict(), {
        "recipe": "notebook 07's VQ-VAE (K=128, EMA + reset every 50) and PixelCNN prior",
        "steps": VQVAE_STEPS, "prior_steps": PRIOR_STEPS, "perplexity": round(h.perplexity[-1], 1),
        "dead_codes": h.dead[-1], "prior_test_nll_per_position": round(nll, 3),
        "train_seconds": round(h.seconds + time.perf_counter() - start, 1)}


MODELS: dict[str, Callable[[], torch.nn.Module]] = {
    "ddpm": _ddpm_unet,
    "vae-mnist": _vae,
    "dcgan-mnist": _dcgan,
    "vqvae-mnist": _vqvae,
}

#: The image models scored by notebook 09, by checkpoint name.
GENERATORS = ("vae-mnist", "dcgan-mnist", "vqvae-mnist", "ddpm")


def load_model(name: str) -> torch.nn.Module:
    """The network of checkpoint ``name`` with its verified weights, on the CPU in eval mode."""
    if name not in MODELS:
        raise CheckpointError(f"checkpoint {name!r} has no model builder; load its state with load_state")
    model = MODELS[name]()
    model.load_state_dict(load_state(name))
    return model.eval()


TRAINERS: dict[str, Callable[[bool], tuple[dict[str, torch.Tensor], dict[str, Any]]]] = {
    "classifier-mnist": lambda progress: _train_classifier("mnist", 3, progress),
    "classifier-fashion-mnist": lambda progress: _train_classifier("fashion-mnist", 6, progress),
    "ddpm": lambda progress: _train_ddpm("mnist", progress),
    "vae-mnist": _train_vae,
    "dcgan-mnist": _train_dcgan,
    "vqvae-mnist": _train_vqvae,
}


@torch.no_grad()
def sample_images(name: str, n: int, seed: int = 0, device: torch.device | str = "cpu", batch_size: int = 500,
                  ddim_steps: int = 50) -> torch.Tensor:
    r"""``n`` images ``(n, 1, 28, 28)`` in [0, 1] from the shipped generative model ``name`` (see :data:`GENERATORS`).

    VAE: Bernoulli means of decoded :math:`z \sim \mathcal N(0, I)`; DCGAN: ``(G(z) + 1) / 2``;
    VQ-VAE: PixelCNN-prior code maps, decoded; DDPM: DDIM with ``ddim_steps`` steps and
    clipped :math:`\hat x_0`. Seeded, drawn in batches of ``batch_size``, returned on the CPU.
    """
    from . import ddpm

    if name not in GENERATORS:
        raise CheckpointError(f"{name!r} is not an image generator; choose one of {', '.join(GENERATORS)}")
    model = load_model(name).to(device)
    g = torch.Generator().manual_seed(seed)
    schedule = ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(1000)) if name == "ddpm" else None
    out = []
    for i in range(0, n, batch_size):
        b = min(batch_size, n - i)
        if name == "vae-mnist":
            x = torch.sigmoid(model.decode(torch.randn(b, model.latent_dim, generator=g).to(device)))
        elif name == "dcgan-mnist":
            x = (model(torch.randn(b, model.latent_dim, generator=g).to(device)) + 1) / 2
        elif name == "vqvae-mnist":
            x = model.sample(b, generator=g)
        else:
            x = ddpm.to_image_range(schedule.ddim_sample(model, (b, 1, 28, 28), steps=ddim_steps, generator=g,
                                                         clip=True, progress=False, device=device))
        out.append(x.clamp(0, 1).cpu())
    return torch.cat(out)


def train_checkpoint(name: str, progress: bool = True) -> tuple[Path, dict[str, Any]]:
    """Train checkpoint ``name`` with its recipe, save it and record it; returns (file, record)."""
    if name not in TRAINERS:
        raise CheckpointError(f"unknown checkpoint {name!r}; known: {', '.join(TRAINERS)}")
    start = time.perf_counter()
    state, info = TRAINERS[name](progress)
    info["total_seconds"] = round(time.perf_counter() - start, 1)
    path = _save(name, state, info)
    return path, registry()[name]

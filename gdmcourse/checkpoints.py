"""Small pretrained weights that ship with the package, made by the course's own CLI.

``python -m gdmcourse train NAME`` trains a model from a fixed recipe and seed, writes its
weights to ``gdmcourse/weights/NAME.pt`` (atomically) and records in
``gdmcourse/weights/checkpoints.json`` the file's sha256, the command that made it, the
machine's torch version and thread count, the training time and the model's test figures.
:func:`load_state` checks the sha256 before loading (``torch.load(weights_only=True)``), so a
corrupt or replaced file gives a clear message instead of a wrong model.

Available names: ``classifier-mnist`` and ``classifier-fashion-mnist`` (the feature network of
:func:`gdmcourse.metrics.feature_extractor`).
"""

from __future__ import annotations

import hashlib
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
        torch.save(state, tmp)
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


MODELS: dict[str, Callable[[], torch.nn.Module]] = {
    "ddpm": _ddpm_unet,
}


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
}


def train_checkpoint(name: str, progress: bool = True) -> tuple[Path, dict[str, Any]]:
    """Train checkpoint ``name`` with its recipe, save it and record it; returns (file, record)."""
    if name not in TRAINERS:
        raise CheckpointError(f"unknown checkpoint {name!r}; known: {', '.join(TRAINERS)}")
    start = time.perf_counter()
    state, info = TRAINERS[name](progress)
    info["total_seconds"] = round(time.perf_counter() - start, 1)
    path = _save(name, state, info)
    return path, registry()[name]

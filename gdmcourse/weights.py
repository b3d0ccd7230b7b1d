"""The registry of the small pretrained weights that ship with the package.

``gdmcourse/weights/NAME.pt`` holds a state dict; ``gdmcourse/weights/checkpoints.json``
records for each NAME the file's sha256, the command that made it
(``python -m gdmcourse train NAME``, see :mod:`gdmcourse.recipes`), the machine's torch
version and thread count, the training time and the model's test figures. :func:`load_state`
checks the sha256 before loading (``torch.load(weights_only=True)``), so a corrupt or replaced
file gives a clear message instead of a wrong model.

This module knows files and hashes only; which network a checkpoint holds and how it is
trained is :mod:`gdmcourse.recipes`' business (so the registry imports no topic).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import torch

WEIGHTS = Path(__file__).resolve().parent / "weights"
REGISTRY = WEIGHTS / "checkpoints.json"


class CheckpointError(RuntimeError):
    """A shipped checkpoint is missing, corrupt or unknown; the message says how to fix it."""


def sha256(path: str | os.PathLike) -> str:
    """The hex sha256 of the file at ``path`` (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def registry() -> dict[str, dict[str, Any]]:
    """The recorded checkpoints: name → {file, sha256, command, ...}; ``{}`` when none is recorded."""
    if not REGISTRY.is_file():
        return {}
    return json.loads(REGISTRY.read_text())


def load_state(name: str) -> dict[str, torch.Tensor]:
    """The verified state dict of checkpoint ``name``, on the CPU.

    Raises:
        CheckpointError: ``name`` is not recorded, its file is missing, or the file's sha256
            differs from the recorded one; the message names the command that recreates it.
    """
    entries = registry()
    how = f"recreate it with `python -m gdmcourse train {name}`"
    if name not in entries:
        raise CheckpointError(f"unknown checkpoint {name!r}; known: {', '.join(sorted(entries)) or '(none)'}")
    path = WEIGHTS / entries[name]["file"]
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} is missing; {how}")
    if sha256(path) != entries[name]["sha256"]:
        raise CheckpointError(f"checkpoint file {path} does not match its recorded sha256 (corrupt or "
                              f"replaced); {how}, or restore it with `git checkout -- {path.name}`")
    return torch.load(path, map_location="cpu", weights_only=True)


def _write_atomic(target: Path, payload: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(fd)
    try:
        Path(tmp).write_bytes(payload)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the package's files are world-readable
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_state(name: str, state: dict[str, torch.Tensor], info: dict[str, Any]) -> Path:
    """Write ``state`` to ``weights/NAME.pt`` and record it (sha256, command, machine, ``info``); atomic.

    The same tensors always give the same bytes (and sha256): the state is serialised through
    a buffer, because ``torch.save`` names the zip's inner folder after the file it writes to.

    Returns:
        the path of the written file.
    """
    WEIGHTS.mkdir(exist_ok=True)
    target = WEIGHTS / f"{name}.pt"
    buffer = io.BytesIO()
    torch.save(state, buffer)
    _write_atomic(target, buffer.getvalue())
    entries = registry()
    entries[name] = {"file": target.name, "sha256": sha256(target), "command": f"python -m gdmcourse train {name}",
                     "date": date.today().isoformat(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                     "machine": platform.machine(), **info}
    _write_atomic(REGISTRY, (json.dumps(entries, indent=1, sort_keys=True) + "\n").encode())
    return target

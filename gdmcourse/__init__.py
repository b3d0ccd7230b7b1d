"""gdmcourse: the helper package of an interactive course on deep generative models.

Notebooks start with::

    import gdmcourse
    gdmcourse.require_version("0.1")
    device = gdmcourse.startup(seed=42)

Topic modules mirror the notebooks (``autoencoder``, ...); infrastructure modules serve
them all (``runtime``, ``data``, ``nets``, ``train``, ``plot``, ``checks``). Submodules are
imported on first use, so ``import gdmcourse`` stays cheap (it does not import torch).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

def require_version(required: str) -> None:
    """Fail early, with the upgrade command, when the installed package is older than ``required`` ("X.Y")."""
    def parts(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".")[:2])

    if parts(__version__) < parts(required):
        raise RuntimeError(f"this notebook needs gdmcourse >= {required}, but {__version__} is installed. "
                           "Upgrade it: in the course folder run `git pull` and then `make lab` "
                           "(or `pip install -e .` in your environment), then restart the kernel.")


_SUBMODULES = {"autoencoder", "checkpoints", "checks", "course", "data", "ddpm", "gan", "grading", "metrics",
               "minimax", "nets", "plot", "reparam", "runtime", "train", "vae", "vqvae", "wgan", "widgets"}


# Runtime: seeds, device, profile (re-exported from gdmcourse.runtime, imported on first use)
_RUNTIME = {"startup", "device", "profile"}


# Submodules that live elsewhere: `from gdmcourse import checks as check` keeps working in the notebooks.
_MOVED = {"checks": "course.checks"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return importlib.import_module(f".{_MOVED[name]}", __name__)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _RUNTIME:
        return getattr(importlib.import_module(".runtime", __name__), name)
    raise AttributeError(f"module 'gdmcourse' has no attribute {name!r}")


if TYPE_CHECKING:
    from . import (autoencoder, checkpoints, course, data, ddpm, gan, grading,  # noqa: F401
                   metrics, minimax, nets, plot, reparam, train, vae, vqvae, wgan, widgets)
    from .course import checks  # noqa: F401
    from .runtime import device, profile, startup  # noqa: F401

__all__ = ["__version__", "device", "profile", "require_version", "startup", *sorted(_SUBMODULES)]

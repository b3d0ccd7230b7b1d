"""gdmcourse: the helper package of an interactive course on deep generative models.

Notebooks start with::

    import gdmcourse
    gdmcourse.require_version("0.1")
    device = gdmcourse.startup(seed=42)

Layers, each importing only those below it:

- foundation: ``runtime``, ``types``, ``sources``, ``data``, ``nets``, ``train``, ``plot``, ``widgets``, ``weights``;
- topics, one per notebook: ``autoencoder``, ``vae``, ``reparam``, ``gan``, ``minimax``, ``wgan``,
  ``vqvae``, ``ddpm``, ``metrics``;
- ``recipes``: how each shipped model is trained (the CLI and the notebooks share them);
- ``course``: the instructor and CI tooling (``gdmcourse.checks`` is ``gdmcourse.course.checks``).

Submodules are imported on first use, so ``import gdmcourse`` stays cheap (it does not import torch).
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


_SUBMODULES = {"autoencoder", "course", "data", "ddpm", "gan", "metrics", "minimax", "nets", "plot", "recipes",
               "reparam", "runtime", "sources", "train", "types", "vae", "vqvae", "weights", "wgan", "widgets"}
# Short names for tooling that lives in course/: `from gdmcourse import checks as check` in every notebook.
_ALIASES = {"checks": "course.checks"}


# Runtime: seeds, device, profile (re-exported from gdmcourse.runtime, imported on first use)
_RUNTIME = {"startup", "device", "profile"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _ALIASES:
        return importlib.import_module(f".{_ALIASES[name]}", __name__)
    if name in _RUNTIME:
        return getattr(importlib.import_module(".runtime", __name__), name)
    raise AttributeError(f"module 'gdmcourse' has no attribute {name!r}")


if TYPE_CHECKING:
    from . import (autoencoder, course, data, ddpm, gan, metrics, minimax, nets, plot,  # noqa: F401
                   recipes, reparam, sources, train, types, vae, vqvae, weights, wgan, widgets)
    from .course import checks  # noqa: F401
    from .runtime import device, profile, startup  # noqa: F401

__all__ = ["__version__", "device", "profile", "require_version", "startup", *sorted(_SUBMODULES | set(_ALIASES))]

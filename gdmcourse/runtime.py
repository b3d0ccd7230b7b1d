"""Where and how the course runs: seeding, threads, device and profile.

Every notebook starts with

    device = gdmcourse.startup(seed=42)

which seeds Python, NumPy and torch, optionally sets the number of CPU threads, and
returns the device to use. Three environment variables override the automatic choices:

- ``GDM_DEVICE`` (``cpu`` | ``cuda`` | ``mps``): the device, e.g. to force the CPU on a
  GPU machine; by default CUDA, then Apple's MPS, then the CPU.
- ``GDM_PROFILE`` (``quick`` | ``full``): how long notebooks train. ``quick`` (the default
  on a CPU) keeps every notebook within a few minutes on a laptop; ``full`` (the default
  with a GPU) trains to the quality figures quoted in the notebooks.
- ``OMP_NUM_THREADS``: the CPU threads torch uses when ``threads`` is not given.

Numbers printed by the notebooks are reproducible for a fixed device, thread count and
CPU type; CI generates and checks them with ``GDM_DEVICE=cpu GDM_PROFILE=quick
OMP_NUM_THREADS=1``.
"""

from __future__ import annotations

import os
import random
import sys
from typing import Any, Callable, get_args

import numpy as np
import torch

from . import validate
from .types import DeviceName, ProfileName  # noqa: F401 - re-exported (runtime.DeviceName keeps working)


def _env_choice(variable: str, allowed: tuple[str, ...]) -> str | None:
    value = os.environ.get(variable, "").strip().lower()
    if not value:
        return None
    if value not in allowed:
        raise ValueError(f"{variable}={value!r} is not one of {', '.join(allowed)}; unset it or pick one of those.")
    return value


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def device() -> torch.device:
    """The device to compute on: ``GDM_DEVICE`` if set, else CUDA, then MPS, then CPU.

    Raises:
        RuntimeError: ``GDM_DEVICE`` names an accelerator this machine does not have.
    """
    name = _env_choice("GDM_DEVICE", get_args(DeviceName))
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("GDM_DEVICE=cuda, but torch sees no CUDA device: install a CUDA build of "
                           "torch (see the README) or unset GDM_DEVICE.")
    if name == "mps" and not _mps_available():
        raise RuntimeError("GDM_DEVICE=mps, but MPS is not available (it needs Apple silicon and "
                           "macOS 12.3+); unset GDM_DEVICE to use the CPU.")
    if name is None:
        name = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    return torch.device(name)


def profile() -> ProfileName:
    """The training profile: ``GDM_PROFILE`` if set, else ``"full"`` on a GPU and ``"quick"`` on a CPU.

    Raises:
        ValueError: ``GDM_PROFILE`` or ``GDM_DEVICE`` holds a value that is not allowed.
        RuntimeError: as :func:`device` (asked when ``GDM_PROFILE`` is unset).
    """
    name = _env_choice("GDM_PROFILE", get_args(ProfileName))
    if name is None:
        name = "quick" if device().type == "cpu" else "full"
    return name  # type: ignore[return-value]


def startup(seed: int = 42, threads: int | None = None) -> torch.device:
    """Seed Python, NumPy and torch, set the CPU threads, and return :func:`device`.

    Args:
        seed: the seed for ``random``, ``numpy.random`` and ``torch`` (all devices).
        threads: CPU threads for torch; ``None`` keeps torch's choice, which follows
            ``OMP_NUM_THREADS`` when that is set.
    Returns:
        the device notebooks should put their models and data on.

    Raises:
        ValueError: ``threads < 1``, or ``GDM_DEVICE`` holds a value that is not allowed.
        RuntimeError: as :func:`device`.
    """
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads}")
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds CUDA and MPS generators too
    return device()


def generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed``.

    The course draws all random numbers on the CPU and then moves them, so CPU, CUDA and MPS
    runs see the same data, initial weights and noise.
    """
    return torch.Generator().manual_seed(seed)


CHUNK = 64


def chunked(fn: Callable[..., torch.Tensor], size: int = CHUNK) -> Callable[..., torch.Tensor]:
    """``fn`` applied to ``size`` examples at a time, the results concatenated along dim 0.

    ``chunked(model)(x, t)`` equals ``model(x, t)`` up to float rounding for any network whose
    examples do not interact (no batch norm in training mode); every argument is a batch
    ``(B, ...)`` split the same way. Why: a small convolutional network on a CPU runs about twice
    as fast on 64 examples at a time as on 500 at once, whose activations no longer fit in the
    processor's cache (measured with one thread: the course's DDPM UNet 0.59 s against 1.19 s
    per 500 images, its classifier 0.40 s against 1.23 s per 2,000). Not measured on a GPU,
    where larger batches usually pay; there the chunks cost only extra kernel launches.

    Raises:
        ValueError: ``size`` is not a positive integer; (when called) no batch, or batches of
            different lengths.
    """
    size = validate.positive_int(size, "size")

    def apply(*batches: torch.Tensor) -> torch.Tensor:
        if not batches or len({len(b) for b in batches}) != 1:
            raise ValueError(f"expected one or more batches of equal length, got lengths {[len(b) for b in batches]}")
        n = len(batches[0])
        return torch.cat([fn(*(b[i:i + size] for b in batches)) for i in range(0, n, size)])

    return apply


def progress_bar(iterable: Any = None, *, total: int | None = None, desc: str = "", disable: bool = False,
                 **options: Any) -> Any:
    """A ``tqdm`` progress bar: a widget in a live notebook, text in a terminal.

    In a notebook executed to store its outputs (``GDM_HEADLESS=1``, set by ``python -m
    gdmcourse run`` and the tests), the bar is plain text on stderr, drawn when it starts and
    when it closes and left standing: the stored notebook then shows the finished run
    ("100%| 900/900 [00:30<00:00]"), not a widget's first frame ("0%") that could never update.
    ``options`` go to ``tqdm`` (``unit``, ``unit_scale``, ...).
    """
    if os.environ.get("GDM_HEADLESS") == "1":
        from tqdm.std import tqdm

        return tqdm(iterable, total=total, desc=desc, disable=disable, leave=True, file=sys.stderr,
                    mininterval=float("inf"), **options)
    from tqdm.auto import tqdm  # imported here: tqdm.auto imports the notebook stack (~0.3 s)

    return tqdm(iterable, total=total, desc=desc, disable=disable, leave=False, **options)

"""The conventions the package's public functions document, checked in one place at the boundary.

Every topic module calls these before computing, so bad input gets a :class:`ValueError` that
says what was given and what was expected, never NaN, a raw indexing error or a silent number:

- :func:`tensor`: rank, emptiness, dtype and NaN/±inf of one tensor;
- :func:`images`: a batch of images with the value range the function documents: pixels in
  [0, 1] by default, ``[0, data_range]`` when a ``data_range`` is given; 0..255 pixels and
  [−1, 1] images are refused with the conversion that fixes them;
- :func:`probabilities`, :func:`indices`, :func:`finite_number`, :func:`positive_int`;
- :func:`same_device`: tensors that a formula combines live on one device.

The checks that read values (NaN/±inf, ranges, indices) need data; on the ``meta`` device
(shapes only, used to prove GPU-readiness without a GPU) they are skipped, the shape, dtype
and device checks still run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["has_values", "tensor", "images", "probabilities", "indices", "finite_number", "positive_int",
           "same_device"]

#: How far outside a value range rounding may put a value (relative to the range's width).
RANGE_TOLERANCE = 1e-3


def has_values(x: torch.Tensor) -> bool:
    """Whether ``x`` holds data that can be read (``False`` on the ``meta`` device, which holds only shapes)."""
    return x.device.type != "meta"


def _shape(x: torch.Tensor) -> str:
    return f"shape {tuple(x.shape)}"


def tensor(x: torch.Tensor | np.ndarray | Sequence | float, name: str, *, rank: int | Sequence[int] | None = None,
           min_rank: int = 0, expected: str = "", nonempty: bool = True, finite: bool = True,
           floating: bool = False, integer: bool = False) -> torch.Tensor:
    """Check one tensor argument and return it (array-likes are converted with ``torch.as_tensor``).

    Args:
        x: the argument; name: how the message calls it.
        rank: the allowed number(s) of dimensions; min_rank: the fewest allowed.
        expected: the documented shape, e.g. ``"(B, D)"``, quoted in the messages.
        nonempty: refuse a tensor with no elements (a mean over nothing is NaN).
        finite: refuse NaN and ±inf (skipped on ``meta``).
        floating / integer: require a floating-point / an integer dtype.
    Raises:
        ValueError: ``x`` breaks one of the conventions; the message names it, what was given and what is expected.
    """
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"{name} must be a tensor{' ' + expected if expected else ''}, "
                             f"got {type(x).__name__}") from err
    want = f" {expected}" if expected else ""
    ranks = (rank,) if isinstance(rank, int) else tuple(rank) if rank is not None else None
    if (ranks is not None and x.dim() not in ranks) or x.dim() < min_rank:
        allowed = (" or ".join(f"{r}-D" for r in ranks) if ranks is not None else f"at least {min_rank}-D")
        raise ValueError(f"{name} must be {allowed}{want}, got {_shape(x)}")
    if nonempty and x.numel() == 0:
        raise ValueError(f"{name} is empty ({_shape(x)}); expected at least one element{want}")
    if floating and not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}; convert with .float()")
    if integer and (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool):
        raise ValueError(f"{name} must hold integers (e.g. torch.long), got dtype {x.dtype}")
    if finite and has_values(x) and (x.is_floating_point() or x.is_complex()) and not torch.isfinite(x).all():
        bad = "NaN" if torch.isnan(x).any() else "±inf"
        raise ValueError(f"{name} contains {bad}; expected finite values{want}")
    return x


def images(x: torch.Tensor, name: str, *, data_range: float = 1.0, rank: int | Sequence[int] | None = 4,
           expected: str = "(B, C, H, W)", nonempty: bool = True) -> torch.Tensor:
    """Check a batch of images whose pixels lie in ``[0, data_range]`` (default [0, 1]) and return it.

    Pixels stored as 0..255 and images in [−1, 1] are the two usual slips; each is refused with
    the conversion that fixes it (``x / 255``, ``(x + 1) / 2``) or the ``data_range`` to pass.
    Values up to ``RANGE_TOLERANCE · data_range`` outside the range (rounding) are accepted.

    Raises:
        ValueError: ``x`` is not a finite floating-point tensor of the documented rank, is empty,
            or has a pixel outside ``[0, data_range]``; or ``data_range`` is not positive.
    """
    if not (isinstance(data_range, (int, float)) and math.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range must be a positive number (the width of the pixel range), got {data_range!r}")
    x = tensor(x, name, rank=rank, expected=expected, nonempty=nonempty, floating=True)
    if not has_values(x) or x.numel() == 0:
        return x
    lo, hi = x.min().item(), x.max().item()
    tol = RANGE_TOLERANCE * data_range
    if lo >= -tol and hi <= data_range + tol:
        return x
    given = f"{name} has values in [{lo:.4g}, {hi:.4g}]"
    if lo < -tol and lo >= -data_range - tol and hi <= data_range + tol:
        fix = (f"images in [-{data_range:g}, {data_range:g}] (e.g. tanh or DDPM outputs): map them with "
               f"(x + {data_range:g}) / 2 (gdmcourse.ddpm.to_image_range does it for [-1, 1])")
    elif hi > data_range + tol and lo >= -tol and hi <= 255 + tol:
        fix = f"pixels stored as 0..255: divide by 255 (or pass data_range=255 where the function takes one)"
    else:
        fix = "rescale them"
    raise ValueError(f"{given}; expected pixels in [0, {data_range:g}]. These look like {fix}.")


def probabilities(p: torch.Tensor, name: str, *, rank: int | Sequence[int] | None = None, expected: str = "(..., K)",
                  atol: float = 1e-4) -> torch.Tensor:
    """Check probability vectors over the last dimension (non-negative, summing to 1) and return them.

    Raises:
        ValueError: ``p`` is empty, not finite, has a negative entry or a row not summing to 1
            (e.g. logits were passed: apply a softmax first).
    """
    p = tensor(p, name, rank=rank, min_rank=1, expected=expected, floating=True)
    if has_values(p):
        sums = p.sum(-1)
        if (p < 0).any() or not torch.allclose(sums, torch.ones_like(sums), atol=atol):
            raise ValueError(f"each row of {name} must be a probability vector (non-negative, summing to 1), got "
                             f"values in [{p.min().item():.4g}, {p.max().item():.4g}] and row sums from "
                             f"{sums.min().item():.4g} to {sums.max().item():.4g}; pass softmax outputs, not logits")
    return p


def indices(i: torch.Tensor, name: str, n: int, *, rank: int | Sequence[int] | None = None, expected: str = "",
            nonempty: bool = True) -> torch.Tensor:
    """Check integer indices into a table of ``n`` entries (``0..n-1``) and return them.

    Raises:
        ValueError: ``i`` is not an integer tensor of the documented rank, is empty, or holds an index outside ``0..n-1``.
    """
    i = tensor(i, name, rank=rank, expected=expected, nonempty=nonempty, integer=True)
    if has_values(i) and i.numel() and (i.min() < 0 or i.max() >= n):
        raise ValueError(f"{name} must lie in 0..{n - 1}, got {i.min().item()}..{i.max().item()}")
    return i


def finite_number(x: float | torch.Tensor | np.ndarray, name: str) -> float | torch.Tensor | np.ndarray:
    """Check that a number (a float, or a tensor or NumPy array of them) is finite, and return it unchanged.

    Raises:
        ValueError: ``x`` is NaN or ±inf (or, as a tensor or array, holds one).
    """
    if isinstance(x, torch.Tensor):
        tensor(x, name, nonempty=False)
    elif isinstance(x, np.ndarray):
        if not np.isfinite(x).all():
            raise ValueError(f"{name} holds NaN or infinite values")
    elif not math.isfinite(float(x)):
        raise ValueError(f"{name} must be a finite number, got {x!r}")
    return x


def positive_int(n: int, name: str, *, minimum: int = 1) -> int:
    """Check a count (``int``, at least ``minimum``) and return it.

    Raises:
        ValueError: ``n`` is not an integer of at least ``minimum``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {n!r}")
    return int(n)


def same_device(*named: tuple[str, torch.Tensor], expected: torch.device | str | None = None) -> torch.device:
    """Check that tensors a formula combines are on one device (``expected``, or the first one's) and return it.

    ``named``: ``(name, tensor)`` pairs. torch's own message for the same mistake reads
    "Tensor on device cpu is not on the expected device meta!"; this one names the argument.

    Raises:
        ValueError: a tensor is not on the expected device.
    """
    device = torch.device(expected) if expected is not None else named[0][1].device
    for name, t in named:
        if t.device != device and not (t.device.type == device.type and device.index is None):
            raise ValueError(f"{name} is on {t.device}, not on the expected device {device}: move it with "
                             f".to({str(device)!r}) (create new tensors with device=x.device)")
    return device

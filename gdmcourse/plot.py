"""Figures the notebooks share: image grids, 2-D scatter plots, vector fields and loss curves.

Each function draws into a Matplotlib ``Axes`` (a new figure when ``ax`` is None) and
returns it, so notebooks can combine them in subplots. Axes are labelled; tensors may live
on any device (they are moved to the CPU here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes

from .train import History


def use_style() -> None:
    """The course's figure style: seaborn's white grid, readable fonts, PNG output at 100 dpi."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "axes.titlesize": "medium",
                         "image.cmap": "gray"})


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    return plt.subplots(figsize=figsize)[1] if ax is None else ax


def _numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def make_grid(images: torch.Tensor | np.ndarray, nrow: int = 8, padding: int = 1,
              pad_value: float = 1.0) -> np.ndarray:
    """Tile ``(N, C, H, W)`` (or ``(N, H, W)``) images into one ``(rows·H', cols·W', C)`` array.

    Values are clipped to [0, 1]; ``nrow`` is the number of images per row.

    Raises:
        ValueError: ``images`` is not ``(N, C, H, W)`` or ``(N, H, W)``.
    """
    x = _numpy(images)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W) or (N, H, W), got {x.shape}")
    n, c, h, w = x.shape
    cols = min(nrow, n)
    rows = -(-n // cols)
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), pad_value, dtype=np.float32)
    for i in range(n):
        r, q = divmod(i, cols)
        top, left = padding + r * (h + padding), padding + q * (w + padding)
        grid[top:top + h, left:left + w] = np.clip(x[i].transpose(1, 2, 0), 0, 1)
    return grid


def image_grid(images: torch.Tensor | np.ndarray, nrow: int = 8, *, ax: Axes | None = None,
               title: str | None = None, scale: float = 0.6) -> Axes:
    """Show images in a grid without axis ticks. ``scale``: inches per image when a new figure is made.

    Raises:
        ValueError: ``images`` is not ``(N, C, H, W)`` or ``(N, H, W)`` (as :func:`make_grid`).
    """
    grid = make_grid(images, nrow)
    n = len(images)
    cols = min(nrow, n)
    ax = _axes(ax, (scale * cols, scale * (-(-n // cols)) + (0.3 if title else 0)))
    ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    if title:
        ax.set_title(title)
    return ax


def scatter2d(points: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray | None = None, *,
              ax: Axes | None = None, title: str | None = None, s: float = 4.0, alpha: float = 0.6,
              xlabel: str = "$z_1$", ylabel: str = "$z_2$", legend: bool = True) -> Axes:
    """Scatter ``(N, 2)`` points, coloured by integer ``labels`` (with a legend) when given.

    Raises:
        ValueError: ``points`` is not ``(N, 2)``.
    """
    p = _numpy(points)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {p.shape}")
    ax = _axes(ax, (5, 5))
    if labels is None:
        ax.scatter(p[:, 0], p[:, 1], s=s, alpha=alpha)
    else:
        lab = _numpy(labels).astype(int)
        palette = plt.get_cmap("tab10")
        for k in np.unique(lab):
            m = lab == k
            ax.scatter(p[m, 0], p[m, 1], s=s, alpha=alpha, color=palette(k % 10), label=str(k))
        if legend:
            ax.legend(title="label", markerscale=3, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_aspect("equal", adjustable="datalim")
    if title:
        ax.set_title(title)
    return ax


def loss_curves(curves: History | Mapping[str, Sequence[float]], *, ax: Axes | None = None,
                title: str | None = None, xlabel: str = "epoch", ylabel: str = "loss", logy: bool = False) -> Axes:
    """Plot named curves; a :class:`~gdmcourse.train.History` plots its training and validation losses per epoch."""
    if isinstance(curves, History):
        named = {"train": curves.epochs.get("loss", [])}
        if curves.val.get("loss"):
            named["validation"] = curves.val["loss"]
    else:
        named = dict(curves)
    ax = _axes(ax, (5, 3.5))
    for name, values in named.items():
        values = list(values)
        xs = np.arange(1, len(values) + 1)
        ax.plot(xs, values, marker="o" if len(values) <= 30 else None, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if len(named) > 1:
        ax.legend()
    if title:
        ax.set_title(title)
    return ax


def vector_field(field: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]], *,
                 xlim: tuple[float, float] = (-2, 2), ylim: tuple[float, float] = (-2, 2), n: int = 15,
                 ax: Axes | None = None, title: str | None = None, xlabel: str = "$x$", ylabel: str = "$y$",
                 color: str = "0.6") -> Axes:
    """Draw arrows of ``field(x, y) -> (u, v)`` on an ``n × n`` grid (e.g. the direction a gradient method moves)."""
    x, y = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    u, v = field(x, y)
    ax = _axes(ax, (5, 5))
    ax.quiver(x, y, u, v, color=color, angles="xy", pivot="mid", width=0.004)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax

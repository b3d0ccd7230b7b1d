"""Figures the notebooks share: image grids, 2-D scatter plots, vector fields, loss curves and, with
seaborn, 2-D densities of samples vs data, distributions of estimates, heatmaps and fitted trends.

Each function draws into a Matplotlib ``Axes`` (a new figure when ``ax`` is None) and
returns it, so notebooks can combine them in subplots. Axes are labelled; tensors may live
on any device (they are moved to the CPU here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

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
               title: str | None = None, scale: float = 0.6, row_labels: Sequence[str] | None = None,
               col_labels: Sequence[str] | None = None) -> Axes:
    """Show images in a grid without axis ticks. ``scale``: inches per image when a new figure is made.

    ``row_labels`` / ``col_labels``: one label per row (written left of it) / per column
    (written below it), saying what the row or column shows.

    Raises:
        ValueError: ``images`` is not ``(N, C, H, W)`` or ``(N, H, W)`` (as :func:`make_grid`), or
            ``row_labels`` / ``col_labels`` does not have one label per row / column.
    """
    grid = make_grid(images, nrow)
    n = len(images)
    cols = min(nrow, n)
    rows = -(-n // cols)
    for labels, count, what in ((row_labels, rows, "row"), (col_labels, cols, "column")):
        if labels is not None and len(labels) != count:
            raise ValueError(f"{what}_labels needs one label per {what} ({count}), got {len(labels)}")
    ax = _axes(ax, (scale * cols + (0.6 if row_labels else 0), scale * rows + (0.3 if title else 0)))
    ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    # make_grid's cells are step = size + 1 pixels apart after a 1-pixel border: cell r spans
    # pixels 1 + r·step .. r·step + size, centred at step·(r + ½)
    row_step, col_step = (grid.shape[0] - 1) / rows, (grid.shape[1] - 1) / cols
    ax.set_yticks([row_step * (r + 0.5) for r in range(rows)] if row_labels else [])
    ax.set_xticks([col_step * (c + 0.5) for c in range(cols)] if col_labels else [])
    if row_labels:
        ax.set_yticklabels(list(row_labels))
    if col_labels:
        ax.set_xticklabels(list(col_labels))
    ax.tick_params(length=0)
    ax.grid(False)
    if title:
        ax.set_title(title)
    return ax


def scatter2d(points: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray | None = None, *,
              ax: Axes | None = None, title: str | None = None, s: float = 4.0, alpha: float = 0.6,
              xlabel: str = "$z_1$", ylabel: str = "$z_2$", legend: bool = True,
              names: Sequence[str] | None = None) -> Axes:
    """Scatter ``(N, 2)`` points, coloured by integer ``labels`` (with a legend) when given;
    ``names[k]`` labels class ``k`` in the legend (the class number by default).

    Raises:
        ValueError: ``points`` is not ``(N, 2)``, or a label has no entry in ``names``.
    """
    p = _numpy(points)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {p.shape}")
    ax = _axes(ax, (5, 5))
    if labels is None:
        ax.scatter(p[:, 0], p[:, 1], s=s, alpha=alpha)
    else:
        lab = _numpy(labels).astype(int)
        if names is not None and (lab.min() < 0 or lab.max() >= len(names)):
            raise ValueError(f"labels run from {lab.min()} to {lab.max()} but {len(names)} names were given")
        palette = plt.get_cmap("tab10")
        for k in np.unique(lab):
            m = lab == k
            ax.scatter(p[m, 0], p[m, 1], s=s, alpha=alpha, color=palette(k % 10),
                       label=str(k) if names is None else names[k])
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


# ------------------------------------------------------------------ seaborn: distributions

def density2d(samples: torch.Tensor | np.ndarray, data: torch.Tensor | np.ndarray | None = None, *,
              ax: Axes | None = None, title: str | None = None, levels: int = 6,
              labels: tuple[str, str] = ("data", "samples"), max_points: int = 2000, seed: int = 0) -> Axes:
    """Kernel density contours of ``(N, 2)`` model samples over those of the data (seaborn ``kdeplot``).

    A density reads better than a scatter where points pile up (a collapsed mode looks like one
    dot in a scatter, like a sharp peak here). At most ``max_points`` of each set are used (a
    seeded subset), so the figure stays quick to draw.
    """
    import seaborn as sns

    def prepared(x: torch.Tensor | np.ndarray, what: str) -> np.ndarray:
        x = _numpy(x)
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"{what} must have shape (N, 2), got {x.shape}")
        if len(x) > max_points:
            x = x[np.random.default_rng(seed).choice(len(x), max_points, replace=False)]
        return x

    ax = _axes(ax, (5, 5))
    sets = ([(prepared(data, "data"), labels[0], "0.55", True)] if data is not None else []) \
        + [(prepared(samples, "samples"), labels[1], "C3", False)]
    for x, label, color, fill in sets:
        sns.kdeplot(x=x[:, 0], y=x[:, 1], ax=ax, levels=levels, color=color, fill=fill,
                    alpha=0.5 if fill else 0.9, linewidths=1.0 if not fill else None, warn_singular=False)
        ax.plot([], [], color=color, label=label)  # kdeplot's contour sets carry no legend entry
    ax.legend(loc="upper right", frameon=False)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal", adjustable="datalim")
    if title:
        ax.set_title(title)
    return ax


def distributions(values: Mapping[str, torch.Tensor | np.ndarray | Sequence[float]], *, ax: Axes | None = None,
                  title: str | None = None, xlabel: str = "value", truth: float | None = None,
                  kind: Literal["kde", "hist"] = "kde") -> Axes:
    """The distribution of each named set of values (e.g. repeated gradient estimates), overlaid.

    ``truth`` draws a vertical line at the exact value the estimates aim at. ``kind="kde"``
    draws smooth densities, ``"hist"`` step histograms (better for a few dozen values).
    """
    import seaborn as sns

    if kind not in ("kde", "hist"):
        raise ValueError(f"kind must be 'kde' or 'hist', got {kind!r}")
    if not values:
        raise ValueError("values needs at least one named set")
    ax = _axes(ax, (6, 3.5))
    for i, (name, v) in enumerate(values.items()):
        v = _numpy(v).ravel()
        if kind == "kde":
            sns.kdeplot(x=v, ax=ax, label=name, color=f"C{i}", fill=True, alpha=0.25, warn_singular=False)
        else:
            sns.histplot(x=v, ax=ax, label=name, color=f"C{i}", element="step", stat="density", alpha=0.25)
    if truth is not None:
        ax.axvline(truth, color="k", linestyle="--", linewidth=1, label="exact")
    ax.set_xlabel(xlabel)
    ax.legend(frameon=False)
    if title:
        ax.set_title(title)
    return ax


def heatmap(matrix: torch.Tensor | np.ndarray, *, ax: Axes | None = None, title: str | None = None,
            xlabel: str = "", ylabel: str = "", xticklabels: Sequence[str] | Literal["auto"] = "auto",
            yticklabels: Sequence[str] | Literal["auto"] = "auto", annot: bool | None = None,
            fmt: str = ".2g", cmap: str = "viridis", normalize: Literal["rows", None] = None) -> Axes:
    """A matrix as a seaborn heatmap: code usage of a codebook, a classifier's confusion matrix.

    ``normalize="rows"`` divides each row by its sum (a confusion matrix as per-class rates);
    ``annot`` writes the values in the cells (default: when the matrix is at most 12×12).
    """
    import seaborn as sns

    m = _numpy(matrix).astype(np.float64)
    if m.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {m.shape}")
    if normalize == "rows":
        m = m / np.clip(m.sum(axis=1, keepdims=True), 1e-12, None)
    elif normalize is not None:
        raise ValueError(f"normalize must be 'rows' or None, got {normalize!r}")
    annot = max(m.shape) <= 12 if annot is None else annot
    ax = _axes(ax, (min(1 + 0.5 * m.shape[1], 10), min(0.8 + 0.45 * m.shape[0], 8)))
    sns.heatmap(m, ax=ax, annot=annot, fmt=fmt, cmap=cmap, square=m.shape[0] == m.shape[1],
                xticklabels=xticklabels, yticklabels=yticklabels, cbar_kws={"shrink": 0.8})
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def trend(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *, ax: Axes | None = None,
          title: str | None = None, xlabel: str = "x", ylabel: str = "y", order: int = 1,
          logx: bool = False, label: str | None = None, seed: int = 0) -> Axes:
    """Measured points with a fitted trend and its 95% bootstrap band (seaborn ``regplot``).

    E.g. FID against 1/N (its bias is linear in 1/N): ``order`` is the polynomial degree,
    ``logx=True`` fits y against log x. The band is seeded, so stored figures do not change.
    """
    import seaborn as sns

    xs, ys = _numpy(np.asarray(x, dtype=float)), _numpy(np.asarray(y, dtype=float))
    if xs.shape != ys.shape or xs.ndim != 1 or len(xs) < order + 2:
        raise ValueError(f"x and y must be 1-D of equal length > order + 1, got {xs.shape} and {ys.shape}")
    ax = _axes(ax, (5, 3.5))
    sns.regplot(x=xs, y=ys, ax=ax, order=order, logx=logx, ci=95, seed=seed, label=label,
                scatter_kws={"s": 18}, line_kws={"linewidth": 1.5}, truncate=False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if label:
        ax.legend(frameon=False)
    if title:
        ax.set_title(title)
    return ax

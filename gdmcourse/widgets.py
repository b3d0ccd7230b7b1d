"""Interactive explorers that also read well on paper.

Every explorer in the course goes through :func:`explore`: it draws a *static* strip of
figures for a few fixed parameter values (what a stored notebook shows on GitHub, in a PDF
export or under nbval) and then, in a live JupyterLab session, the same drawing function
behind ipywidgets sliders for playing.

    def draw(tau, ax=None): ...          # draws one panel into ``ax``
    widgets.explore(draw, static=[{"tau": 0.1}, {"tau": 1.0}, {"tau": 5.0}],
                    tau=widgets.FloatLogSlider(value=1.0, min=-2, max=1, description="τ"))

The drawing function takes the controls' values as keyword arguments plus ``ax`` (a
Matplotlib Axes to draw into) and returns nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt

# Re-exported so notebooks need only this module.
from ipywidgets import Dropdown, FloatLogSlider, FloatSlider, IntSlider  # noqa: F401


def _live() -> bool:
    """True inside a kernel that can talk to widgets (it has a comm manager: JupyterLab's ipykernel,
    Colab's kernel, VS Code's), unless marked headless (``GDM_HEADLESS=1``)."""
    if os.environ.get("GDM_HEADLESS") == "1":
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)  # terminal IPython and plain Python have none
    if kernel is None:
        return False
    if getattr(kernel, "comm_manager", None) is not None:  # ipykernel 5-7
        return True
    try:  # ipykernel >= 6.15 also registers it with the `comm` package
        import comm

        manager = comm.get_comm_manager()  # the `comm` package's own default is a dummy that talks to nobody
        return manager is not None and type(manager).__name__ != "DummyCommManager"
    except Exception:  # noqa: BLE001 - no comm support: static figures only
        return False


def _label(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in values.items())


def explore(draw: Callable[..., None], static: Sequence[Mapping[str, Any]], *,
            panel_size: tuple[float, float] = (3.6, 3.0), title: str | None = None,
            interactive: bool | None = None, **controls: Any) -> None:
    """Show ``draw`` for each parameter set in ``static`` side by side, then as a widget.

    Args:
        draw: ``draw(ax=ax, **values)`` draws one panel.
        static: the fixed parameter sets of the static strip (one panel each); every
            set must name every control.
        panel_size: inches per panel of the static strip.
        title: a title over the static strip.
        interactive: show the widget after the strip; default: only in a live kernel that
            is not marked headless (``GDM_HEADLESS=1``, which ``python -m gdmcourse run`` and
            the tests set).
        controls: ipywidgets controls (or values ipywidgets.interactive accepts), by
            parameter name.

    Raises:
        ValueError: ``static`` is empty, or a parameter set in it does not name every control.
    """
    if not static:
        raise ValueError("static needs at least one parameter set, for readers without a live kernel")
    for values in static:
        missing = set(controls) - set(values)
        if missing:
            raise ValueError(f"static parameter set {dict(values)} lacks {sorted(missing)}")
    fig, axes = plt.subplots(1, len(static), figsize=(panel_size[0] * len(static), panel_size[1]), squeeze=False)
    for ax, values in zip(axes[0], static):
        draw(ax=ax, **values)
        if not ax.get_title():
            ax.set_title(_label(values))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.show()
    if interactive if interactive is not None else _live():
        import ipywidgets
        from IPython.display import display

        def redraw(**values: Any) -> None:
            fig, ax = plt.subplots(figsize=(panel_size[0] * 1.6, panel_size[1] * 1.6))
            draw(ax=ax, **values)
            plt.show()

        display(ipywidgets.interactive(redraw, **controls))

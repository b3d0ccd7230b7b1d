import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import types

import pytest

from gdmcourse import widgets


def test_explore_draws_one_panel_per_static_set(monkeypatch):
    calls = []
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))

    def draw(tau, ax):
        calls.append(tau)
        ax.plot([0, 1], [0, tau])

    widgets.explore(draw, static=[{"tau": 0.1}, {"tau": 1.0}, {"tau": 5.0}], interactive=False,
                    tau=widgets.FloatLogSlider(value=1.0, min=-2, max=1))
    assert calls == [0.1, 1.0, 5.0]
    fig = shown[0]
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["tau = 0.1", "tau = 1", "tau = 5"]
    plt.close("all")


def test_explore_is_static_when_headless(monkeypatch):
    monkeypatch.setenv("GDM_HEADLESS", "1")
    assert widgets._live() is False


def test_explore_rejects_incomplete_static_sets():
    with pytest.raises(ValueError, match="lacks"):
        widgets.explore(lambda a, b, ax: None, static=[{"a": 1}], a=(0, 1), b=(0, 1))
    with pytest.raises(ValueError, match="at least one"):
        widgets.explore(lambda a, ax: None, static=[], a=(0, 1))


class _Shell:
    def __init__(self, kernel):
        self.kernel = kernel


def _as_shell(monkeypatch, shell):
    import IPython

    monkeypatch.delenv("GDM_HEADLESS", raising=False)
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)


def test_live_in_any_kernel_with_a_comm_manager(monkeypatch):
    # Colab's shell class is not called ZMQInteractiveShell; what matters is the kernel's comm manager
    colab_like = type("Shell", (_Shell,), {})(kernel=types.SimpleNamespace(comm_manager=object()))
    _as_shell(monkeypatch, colab_like)
    assert widgets._live() is True


def test_not_live_without_a_kernel(monkeypatch):
    _as_shell(monkeypatch, None)  # plain Python
    assert widgets._live() is False
    _as_shell(monkeypatch, types.SimpleNamespace())  # terminal IPython: a shell without a kernel
    assert widgets._live() is False

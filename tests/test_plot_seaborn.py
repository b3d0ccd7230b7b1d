"""The seaborn figures of gdmcourse.plot (density2d, distributions, heatmap, trend): what each draws, and the inputs each refuses."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from gdmcourse import data, plot


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_density2d_draws_data_filled_and_samples_as_lines():
    x = data.toy2d("8gaussians", 600, seed=0)
    samples = x[:300] + 0.05 * torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    ax = plot.density2d(samples, x, title="8 Gaussians")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["data", "samples"]
    assert ax.get_title() == "8 Gaussians" and ax.get_xlabel() == "$x_1$"
    assert len(ax.collections) >= 2  # one contour set per density
    # the density sits where the data are: the contours span the ring of radius 2
    x0, x1 = ax.get_xlim()
    assert x0 < -1.8 and x1 > 1.8
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plot.density2d(torch.zeros(10, 3))


def test_density2d_subsamples_large_sets(monkeypatch):
    import seaborn as sns

    seen = []
    real = sns.kdeplot
    monkeypatch.setattr(sns, "kdeplot", lambda **kw: seen.append(len(kw["x"])) or real(**kw))
    plot.density2d(np.random.default_rng(0).normal(size=(5000, 2)), max_points=500)
    assert seen == [500]


def test_distributions_overlays_named_sets_and_the_exact_value():
    rng = np.random.default_rng(0)
    ax = plot.distributions({"score function": rng.normal(1, 2, 200), "pathwise": rng.normal(1, 0.3, 200)},
                            truth=1.0, xlabel="gradient estimate")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["score function", "pathwise", "exact"]
    assert ax.lines[-1].get_xdata()[0] == 1.0
    ax = plot.distributions({"a": torch.randn(40)}, kind="hist")
    assert ax.get_ylabel() == "Density"
    with pytest.raises(ValueError, match="kind"):
        plot.distributions({"a": [1.0, 2.0]}, kind="violin")
    with pytest.raises(ValueError, match="at least one"):
        plot.distributions({})


def test_heatmap_normalises_rows_and_annotates_small_matrices():
    confusion = torch.tensor([[8, 2], [1, 9]])
    ax = plot.heatmap(confusion, normalize="rows", xlabel="predicted", ylabel="true")
    assert [t.get_text() for t in ax.texts] == ["0.8", "0.2", "0.1", "0.9"]
    assert ax.get_xlabel() == "predicted"
    big = plot.heatmap(np.ones((4, 64)))
    assert len(big.texts) == 0  # too many cells to annotate
    with pytest.raises(ValueError, match="2-D"):
        plot.heatmap(np.ones(5))
    with pytest.raises(ValueError, match="normalize"):
        plot.heatmap(np.ones((2, 2)), normalize="columns")


def test_trend_fits_a_line_with_a_band():
    n = np.array([250, 500, 1000, 2000, 4000])
    fid = 10 + 3000 / n + np.array([0.1, -0.2, 0.1, 0.0, -0.1])
    ax = plot.trend(1 / n, fid, xlabel="1/N", ylabel="FID", label="measured")
    line = ax.lines[0]
    slope = np.polyfit(line.get_xdata(), line.get_ydata(), 1)[0]
    assert slope == pytest.approx(3000, rel=0.05)  # the fitted line follows the bias 3000/N
    assert len(ax.collections) == 2  # the points and the confidence band
    with pytest.raises(ValueError, match="equal length"):
        plot.trend([1, 2, 3], [1, 2])

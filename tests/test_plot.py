"""gdmcourse.plot: make_grid against a grid built by hand, and each figure function drawing onto
an Agg canvas with the labelled axes, titles and legends its docstring promises."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gdmcourse import plot  # noqa: E402
from gdmcourse.train import History  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _draws(ax) -> None:
    """The figure renders on the Agg canvas without error."""
    ax.figure.canvas.draw()


# ------------------------------------------------------------------------------ make_grid

def test_make_grid_against_a_hand_built_grid():
    # 5 images of 2×3 pixels, 1 channel, 3 per row, padding 1 (pad value 1.0)
    images = torch.arange(5 * 6, dtype=torch.float32).reshape(5, 1, 2, 3) / 30
    grid = plot.make_grid(images, nrow=3, padding=1)
    rows, cols = 2, 3
    expected = np.ones((rows * (2 + 1) + 1, cols * (3 + 1) + 1, 1), dtype=np.float32)
    for i in range(5):
        r, c = divmod(i, cols)
        top, left = 1 + r * 3, 1 + c * 4
        expected[top:top + 2, left:left + 3, 0] = images[i, 0].numpy()
    assert grid.shape == (7, 13, 1) and grid.dtype == np.float32
    np.testing.assert_array_equal(grid, expected)


def test_make_grid_clips_accepts_nhw_and_rgb_and_rejects_other_shapes():
    x = np.array([[[-1.0, 2.0]]])                       # (N, H, W) = (1, 1, 2)
    grid = plot.make_grid(x, padding=0)
    assert grid.shape == (1, 2, 1) and grid[0, :, 0].tolist() == [0.0, 1.0]
    rgb = torch.zeros(2, 3, 4, 4)
    rgb[1, 0] = 1.0                                      # the second image is red
    grid = plot.make_grid(rgb, nrow=8, padding=2, pad_value=0.5)
    assert grid.shape == (2 + 4 + 2, 2 + 2 * (4 + 2), 3)
    assert grid[0, 0].tolist() == [0.5, 0.5, 0.5]
    assert grid[2, 2 + 6].tolist() == [1.0, 0.0, 0.0] and grid[2, 2].tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="N, C, H, W"):
        plot.make_grid(torch.zeros(2, 2))


# ------------------------------------------------------------------------------ figures

def test_image_grid_shows_the_grid_without_ticks():
    images = torch.rand(10, 1, 8, 8)
    ax = plot.image_grid(images, nrow=5, title="samples")
    _draws(ax)
    assert ax.get_title() == "samples"
    assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []
    (im,) = ax.get_images()
    np.testing.assert_array_equal(np.asarray(im.get_array()), plot.make_grid(images, 5)[..., 0])
    _, given = plt.subplots()
    assert plot.image_grid(images, ax=given) is given  # draws into the given Axes


def test_image_grid_labels_each_row_at_its_centre():
    images = torch.rand(10, 1, 8, 8)
    ax = plot.image_grid(images, nrow=5, row_labels=["real", "fake"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["real", "fake"]
    # rows of 8 pixels after a 1-pixel border, 9 apart: centres at pixel 4.5 and 13.5 (imshow: pixel i spans i ± 0.5)
    np.testing.assert_allclose(ax.get_yticks(), [4.5, 13.5])
    with pytest.raises(ValueError, match="one label per row"):
        plot.image_grid(images, nrow=5, row_labels=["only one"])


def test_scatter2d_labels_axes_and_legend():
    points = torch.randn(30, 2)
    labels = torch.arange(30) % 3
    ax = plot.scatter2d(points, labels, title="latent codes")
    _draws(ax)
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("$z_1$", "$z_2$", "latent codes")
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "label"
    assert [t.get_text() for t in legend.get_texts()] == ["0", "1", "2"]
    assert len(ax.collections) == 3  # one scatter per label
    plain = plot.scatter2d(points.numpy(), xlabel="x", ylabel="y", legend=True)
    assert (plain.get_xlabel(), plain.get_ylabel()) == ("x", "y") and plain.get_legend() is None
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plot.scatter2d(torch.randn(5, 3))


def test_loss_curves_from_a_mapping_and_from_a_history():
    ax = plot.loss_curves({"train": [3, 2, 1], "validation": [3.5, 2.5, 2]}, title="VAE", logy=True)
    _draws(ax)
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("epoch", "loss", "VAE")
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "validation"]
    line = ax.get_lines()[0]
    assert list(line.get_xdata()) == [1, 2, 3] and list(line.get_ydata()) == [3, 2, 1]
    history = History()
    history.epochs["loss"] = [1.0, 0.5]
    history.val["loss"] = [1.2, 0.9]
    ax = plot.loss_curves(history)
    assert [line.get_label() for line in ax.get_lines()] == ["train", "validation"]
    single = plot.loss_curves({"d_loss": list(range(100))}, xlabel="step")
    assert single.get_xlabel() == "step" and single.get_legend() is None  # one curve: no legend


def test_vector_field_draws_arrows_on_the_grid():
    ax = plot.vector_field(lambda x, y: (-y, x), n=5, xlim=(-1, 1), ylim=(-2, 2), title="xy game")
    _draws(ax)
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("$x$", "$y$", "xy game")
    assert ax.get_xlim() == (-1, 1) and ax.get_ylim() == (-2, 2)
    (quiver,) = ax.collections
    assert quiver.N == 25
    x, y = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-2, 2, 5))
    np.testing.assert_allclose(np.asarray(quiver.U).ravel(), (-y).ravel())
    np.testing.assert_allclose(np.asarray(quiver.V).ravel(), x.ravel())


def test_use_style_sets_the_course_style():
    plot.use_style()
    assert plt.rcParams["figure.dpi"] == 100 and plt.rcParams["image.cmap"] == "gray"


def test_image_grid_row_and_column_labels():
    ax = plot.image_grid(torch.rand(6, 1, 5, 5), nrow=3, row_labels=["a", "b"], col_labels=["x", "y", "z"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z"]
    _draws(ax)
    with pytest.raises(ValueError, match="one label per row"):
        plot.image_grid(torch.rand(6, 1, 5, 5), nrow=3, row_labels=["a", "b", "c"])


def test_scatter2d_names_classes_in_the_legend():
    ax = plot.scatter2d(torch.randn(30, 2), torch.arange(30) % 3, names=["cat", "dog", "bird"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cat", "dog", "bird"]
    with pytest.raises(ValueError, match="2 names"):
        plot.scatter2d(torch.randn(30, 2), torch.arange(30) % 3, names=["cat", "dog"])

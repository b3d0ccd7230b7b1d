"""The fixed sets of string options and the small named results the modules share.

A string option with a fixed set of values is a ``Literal`` alias here, so a signature says
which values it accepts (``schedule: LRScheduleName``) and an editor or type checker can
complete and check them. The aliases are only annotations: each function still checks its
argument at run time and fails with the allowed values, which ``typing.get_args(alias)``
lists::

    >>> from typing import get_args
    >>> get_args(ProfileName)
    ('quick', 'full')

Named results are ``typing.NamedTuple`` s: fields by name (``p.x``) and unpacking as before
(``x, y = p``). Results that belong to one topic live in that topic's module (e.g.
:class:`gdmcourse.ddpm.PosteriorMoments`); this module holds the ones several modules use.

Foundation layer: this module imports nothing from ``gdmcourse``.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

__all__ = [
    # where and how the course runs (runtime)
    "DeviceName", "ProfileName",
    # data sets (data, metrics)
    "Toy2DName", "ImageSetName", "DownloadableName", "Split", "DatasetState",
    # training options
    "LRScheduleName", "GANLossName",
    # topic options
    "MinimaxMethod", "VarianceName", "MaskType", "ActivationName",
    # shared named results
    "Point",
]

# ------------------------------------------------------------------------------ runtime

DeviceName = Literal["cpu", "cuda", "mps"]
"""``GDM_DEVICE`` and :func:`gdmcourse.runtime.device`."""

ProfileName = Literal["quick", "full"]
"""``GDM_PROFILE`` and :func:`gdmcourse.runtime.profile`: how long notebooks train."""

# ------------------------------------------------------------------------------ data sets

Toy2DName = Literal["8gaussians", "25gaussians", "moons", "swissroll", "rings"]
"""The 2-D toy sets of :func:`gdmcourse.data.toy2d`."""

ImageSetName = Literal["digits", "mnist", "fashion-mnist"]
"""The image sets of :func:`gdmcourse.data.load_images`."""

DownloadableName = Literal["mnist", "fashion-mnist"]
"""The image sets :func:`gdmcourse.data.fetch` downloads (and the course's classifiers are trained on)."""

Split = Literal["train", "test"]
"""A data set's split."""

DatasetState = Literal["verified", "present", "missing", "corrupt"]
"""What :func:`gdmcourse.data.dataset_status` found."""

# ------------------------------------------------------------------------------ training

LRScheduleName = Literal["constant", "cosine", "linear", "warmup-cosine"]
"""The learning-rate schedule of :func:`gdmcourse.train.fit` (and :class:`gdmcourse.vae.Recipe`)."""

GANLossName = Literal["minimax", "nonsaturating", "wgan-clip", "wgan-gp", "hinge"]
"""The losses :func:`gdmcourse.gan.train_gan` trains with (``gan.LOSSES``)."""

ActivationName = Literal["relu", "elu"]
"""The nonlinearity between the layers of an MLP VAE (:meth:`gdmcourse.vae.VAE.mlp`)."""

# ------------------------------------------------------------------------------ topics

MinimaxMethod = Literal["simultaneous", "alternating", "extragradient", "optimistic"]
"""The gradient methods of :mod:`gdmcourse.minimax` (the keys of ``minimax.METHODS``)."""

VarianceName = Literal["posterior", "beta"]
r"""The reverse-process variance of :mod:`gdmcourse.ddpm`: :math:`\tilde\beta_t` (``"posterior"``) or :math:`\beta_t` (``"beta"``)."""

MaskType = Literal["A", "B"]
"""A PixelCNN mask (:class:`gdmcourse.vqvae.MaskedConv2d`): ``"A"`` hides the centre pixel, ``"B"`` keeps it."""


# ------------------------------------------------------------------------------ named results

class Point(NamedTuple):
    """A point (or a vector) of the plane, e.g. one iterate ``(x, y)`` of a minimax method.

    The coordinates are Python floats or tensors, whichever the computation was given.
    """

    x: Any
    y: Any

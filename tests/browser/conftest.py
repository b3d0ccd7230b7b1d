"""A JupyterLab server started as `make lab` starts it, and a Chromium page driven by Playwright.

The server serves a temporary copy of the course (notebooks/, exercises/), so the tests can
run and edit notebooks without touching the stored ones. The browser is Debian's `chromium`
package (no browser download): set GDM_CHROMIUM to use another Chromium binary. Without a
browser the tests skip with instructions, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gdmcourse import data
from gdmcourse.course import execute
from gdmcourse.course.lab import lab_command

ROOT = Path(__file__).resolve().parents[2]
HOW_TO_ENABLE = ("the browser tests need Chromium: install Debian's package (sudo apt-get install chromium) or set "
                 "GDM_CHROMIUM to a Chromium binary, and `pip install playwright` (in the dev extra)")


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}; {HOW_TO_ENABLE}")
    pytest.skip(f"{reason}; {HOW_TO_ENABLE}")


@pytest.fixture(scope="session")
def chromium() -> str:
    path = os.environ.get("GDM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        _missing("no Chromium found")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("playwright is not installed")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A running JupyterLab: its base URL, token and served folder."""

    def __init__(self, url: str, token: str, root: Path, log: Path) -> None:
        self.url, self.token, self.root, self.log = url, token, root, log

    def page_url(self, path: str) -> str:
        return f"{self.url}/lab/tree/{path}?reset&token={self.token}"  # reset: no tabs left from earlier tests


@pytest.fixture(scope="session")
def lab(chromium, tmp_path_factory) -> Lab:
    root = tmp_path_factory.mktemp("course")
    for folder in ("notebooks", "exercises"):
        shutil.copytree(ROOT / folder, root / folder)
    home = tmp_path_factory.mktemp("home")  # fresh JupyterLab settings and workspaces
    # a fresh HOME for JupyterLab's settings, but the user's data cache
    env = {**os.environ, **execute.kernel_env(), "GDM_DATA": str(data.data_dir()), "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    # render every cell (JupyterLab 4 virtualizes long notebooks, hiding off-screen cells from the page)
    tracker = home / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    env.pop("GDM_HEADLESS", None)  # a student's live kernel: widgets are interactive
    port, token = _free_port(), secrets.token_hex(16)
    log = root / "lab.log"
    command = lab_command(root, port, token=token, open_browser=False)
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                break
        except (urllib.error.URLError, ConnectionError, OSError):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"JupyterLab did not start; its log:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
    yield Lab(url, token, root, log)
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def page(browser, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    page.screenshot(path=str(tmp_path / "last.png"))
    context.close()

"""Start the course in JupyterLab (``make lab``, ``python -m gdmcourse lab`` and the browser tests)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

def lab_command(root: str | os.PathLike, port: int = 8888, *, token: str | None = None,
                open_browser: bool = True) -> list[str]:
    """The command that starts the course's JupyterLab (``make lab`` and the browser tests use it).

    JupyterLab listens on 127.0.0.1 only, serves ``root`` and opens at ``notebooks/``; as root
    (e.g. in a container) it needs ``--allow-root``. ``token``: a fixed access token (default:
    a random one, printed in the log with the URL).
    """
    command = [sys.executable, "-m", "jupyter", "lab", "--ip=127.0.0.1", f"--port={port}",
               f"--ServerApp.root_dir={Path(root).resolve()}", "--ServerApp.default_url=/lab/tree/notebooks",
               "--ServerApp.port_retries=0"]
    if token is not None:
        command.append(f"--IdentityProvider.token={token}")
    if not open_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command

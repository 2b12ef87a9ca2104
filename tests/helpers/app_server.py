"""Starting ``cartsim app`` for a test: a free port, the server as a child process, and the wait until it
listens (shared by the browser tests and the tests of the app's limits)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(*args: str, stderr=subprocess.STDOUT, env: dict[str, str] | None = None
              ) -> tuple[subprocess.Popen, int]:
    """``cartsim app --port PORT *args`` on a free port: (the process, its port). Its stdout is a text pipe."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from experiments.cli import main; raise SystemExit(main())",
                             "app", "--port", str(port), *args], stdout=subprocess.PIPE, stderr=stderr, text=True,
                            env={**os.environ, "MPLBACKEND": "Agg", **(env or {})})
    return proc, port


def wait_listening(port: int, seconds: float = 60.0) -> None:
    """Return once something accepts connections on ``port`` (the server has loaded), or after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)

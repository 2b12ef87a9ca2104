"""The web app's files and limits: one temporary folder per server (removed when it exits), one upload area per
browser session inside it (removed when the session ends), uploads checked for name and size, and messages
with no server path in them.

The rule: a user of the app can make the server read only what that user dropped on the page (and the files
shipped with cartsim). Every path a config names is resolved inside :func:`experiments.paths.confined` to the
session's area, so ``cohort.sbml = "/etc/passwd"`` or a path another session saw is refused by name.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

from experiments.paths import PACKAGE
from hybrid.errors import CartsimError
from hybrid.inputs import quote

ENV_DIR = "CARTSIM_APP_DIR"
ENV_MAX_UPLOAD_MB = "CARTSIM_APP_MAX_UPLOAD_MB"
ENV_MAX_JOBS = "CARTSIM_APP_MAX_JOBS"
ENV_MAX_PATIENTS = "CARTSIM_APP_MAX_PATIENTS"
DEFAULTS = {ENV_MAX_UPLOAD_MB: 10.0, ENV_MAX_JOBS: 2, ENV_MAX_PATIENTS: 1_000_000}
"""Limits of one server (``cartsim app --max-upload-mb / --max-jobs / --max-patients`` set them)."""

_lock = threading.Lock()
_root: Path | None = None
_sessions: dict[str, Path] = {}
_running: threading.BoundedSemaphore | None = None  # made on first use, with limit(ENV_MAX_JOBS) slots


def limit(name: str) -> float:
    """The server's limit ``name`` (one of :data:`DEFAULTS`), from the environment or its default."""
    raw = os.environ.get(name)
    if not raw:
        return DEFAULTS[name]
    try:
        value = float(raw)
    except ValueError:
        raise CartsimError(f"{name}: {quote(raw)} is not a number") from None
    if not value > 0:
        raise CartsimError(f"{name}: must be > 0, got {quote(raw)}")
    return value


def server_dir() -> Path:
    """The server's temporary folder: ``$CARTSIM_APP_DIR`` (made by ``cartsim app``, which removes it), or a
    folder made here and removed at interpreter exit."""
    global _root
    with _lock:
        if _root is None:
            given = os.environ.get(ENV_DIR)
            if given:
                _root = Path(given)
                _root.mkdir(parents=True, exist_ok=True)
            else:
                _root = Path(tempfile.mkdtemp(prefix="cartsim-app-"))
                atexit.register(shutil.rmtree, _root, True)
        return _root


def session_dir(session: str) -> Path:
    """The upload and results area of browser session ``session`` (made on first use)."""
    key = re.sub(r"[^A-Za-z0-9_-]", "_", session)[:80] or "session"
    with _lock:
        d = _sessions.get(key)
    if d is None:
        d = Path(tempfile.mkdtemp(prefix="session-", dir=server_dir()))
        with _lock:
            d = _sessions.setdefault(key, d)
    return d


def end_session(session: str) -> None:
    """Remove a session's area (called when its browser tab's kernel closes)."""
    key = re.sub(r"[^A-Za-z0-9_-]", "_", session)[:80] or "session"
    with _lock:
        d = _sessions.pop(key, None)
    if d is not None:
        shutil.rmtree(d, ignore_errors=True)


def save_upload(area: Path, name: str, data: bytes) -> Path:
    """A dropped file saved in ``area`` under a safe form of its name (letters, digits, ``._-``); refused
    when the name is empty or a directory's (``..``) or the file is over the upload limit."""
    cap = limit(ENV_MAX_UPLOAD_MB) * 2**20
    if len(data) > cap:
        raise CartsimError(f"{quote(name)}: {len(data) / 2**20:.1f} MB is over the upload limit of "
                           f"{cap / 2**20:g} MB (cartsim app --max-upload-mb)")
    base = Path(str(name).replace("\\", "/")).name
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", base)[:100]
    if safe.strip(".") == "":
        raise CartsimError(f"{quote(name)}: not a file name; drop a file such as config.toml or data.csv")
    target = area / "uploads" / safe
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{safe}.part")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def public(message: str) -> str:
    """``message`` with every server folder cut from the paths in it: a file is shown by its name only (the
    dropped file's, the shipped config's)."""
    out = str(message)
    for root in {str(server_dir()), str(server_dir().resolve()), str(PACKAGE), tempfile.gettempdir()}:
        out = re.sub(re.escape(root) + r"(?:/[^\s:'\"/]+)*/", "", out)
    return out


class JobSlot:
    """At most ``CARTSIM_APP_MAX_JOBS`` background jobs (cohorts, fits) run on one server at once: ``acquire``
    a slot before starting one (a CartsimError says the server is busy) and ``release`` it when it ends."""

    def __init__(self) -> None:
        self._held = False

    def acquire(self) -> JobSlot:
        global _running
        with _lock:
            if _running is None:
                _running = threading.BoundedSemaphore(int(limit(ENV_MAX_JOBS)))
        if not _running.acquire(blocking=False):
            raise CartsimError(f"the server is already running {int(limit(ENV_MAX_JOBS))} job(s), its limit "
                               "(cartsim app --max-jobs); wait for one to finish or cancel it")
        self._held = True
        return self

    def release(self) -> None:
        if self._held:
            self._held = False
            _running.release()


__all__ = ["DEFAULTS", "JobSlot", "end_session", "limit", "public", "save_upload", "server_dir", "session_dir"]

"""A cohort run on a background thread, for front ends that must stay responsive (the web app): progress,
cancellation, and a result directory of its own that a cancelled or failed run removes whole."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hybrid.errors import CartsimError

from .config import check_overrides, load, validate
from .execution import Backend
from .runner import run_cohort


class _Cancelled(Exception):
    pass


class CohortJob:
    """``cartsim run`` of a cohort config on a thread. The config and overrides are validated on construction
    (a :class:`CartsimError` names the culprit before any work); :meth:`start` runs it on threads of this process
    (no worker processes to orphan), writing into a fresh temporary directory."""

    def __init__(self, config: str | Path, overrides: Sequence[str] = (), workers: int | None = None):
        cfg, source = load(config, overrides)
        spec = validate(cfg, source)
        check_overrides(cfg, overrides, source)
        if spec.kind != "cohort":
            raise CartsimError(f"{source}: kind = {spec.kind!r}; only cohort configs run here")
        self.spec = spec
        self.workers = workers
        self.chunk = max(1, -(-spec.n // 20))  # ~20 progress steps
        self.n_chunks = -(-spec.n // self.chunk)
        self.done_chunks = 0
        self.state = "ready"  # ready | running | done | cancelled | failed
        self.error: str | None = None
        self.summary: dict[str, Any] | None = None
        self.dir: Path | None = None
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def progress(self) -> float:
        """Fraction of chunks finished."""
        return self.done_chunks / self.n_chunks

    def start(self) -> CohortJob:
        self.dir = Path(tempfile.mkdtemp(prefix="cartsim-cohort-"))
        self.state = "running"
        self._thread = threading.Thread(target=self._run, name="cartsim-cohort", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Stop after the chunk in progress; the run's directory is then removed."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> str:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state

    def _chunk_done(self, _k: int) -> None:
        self.done_chunks += 1
        if self._cancel.is_set():
            raise _Cancelled

    def _run(self) -> None:
        try:
            with Backend(self.workers, threads=True) as backend:
                self.summary = run_cohort(self.spec, self.dir, backend, quiet=True, chunk_size=self.chunk,
                                          on_chunk=self._chunk_done)
            self.state = "cancelled" if self._cancel.is_set() else "done"
        except _Cancelled:
            self.state = "cancelled"
        except Exception as exc:  # shown to the user as one line; the traceback helps nobody at a browser
            self.state = "failed"
            self.error = str(exc) if isinstance(exc, CartsimError) else f"{type(exc).__name__}: {exc}"
        if self.state != "done" and self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def file(self, name: str) -> Path | None:
        """A result file of a finished run (patients.parquet, summary.json, pfs.png, ...), or None."""
        if self.state != "done" or self.dir is None:
            return None
        p = self.dir / name
        return p if p.exists() else None

    def discard(self) -> None:
        """Remove the result directory (the app calls this when a new run replaces this one)."""
        if self.dir is not None and self.state != "running":
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

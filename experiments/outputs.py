"""Output directories and files: a run owns its directory (marker, lock), and every file is written atomically.

Every command that writes results (run, abm, fit, predict, the app's jobs) goes through :func:`owned_out_dir`
and writes with :func:`atomic_path` / :func:`write_json`, so an interrupted run never leaves a half-written file
and never mixes its outputs with an earlier run's.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hybrid.errors import CartsimError

CHUNK_DIR = ".chunks"
"""Where a cohort run keeps its finished chunks (:class:`experiments.cohort.store.ChunkStore`)."""


def check_out_dir(out: Path) -> Path:
    """``out`` if it can be a run's output directory (absent, or a writable directory, under a writable one);
    else a CartsimError saying why, before any work starts. Creates nothing."""
    out = Path(out)
    for parent in (out, *out.parents):
        if parent.exists():
            if not parent.is_dir():
                what = "is a file" if parent == out else f"lies under {parent}, which is a file"
                raise CartsimError(f"--out {out}: {what}; give a directory")
            if not os.access(parent, os.W_OK | os.X_OK):
                where = "" if parent == out else f" ({parent} is not)"
                raise CartsimError(f"--out {out}: not writable{where}: read-only file system or no permission")
            break
    return out


RUN_MARKER = ".cartsim-run.json"
"""Written into every output directory: which command owns it and which entries it wrote."""
RUN_LOCK = ".cartsim-run.lock"
"""Locked (flock) by the run that owns an output directory, for as long as it runs; the kernel releases it
when the run ends however it ends, so a killed run leaves no stale lock."""
OUTPUT_PATTERNS = ("*.parquet", "*.png", "*.gif", "*.json", "calibrated.toml", CHUNK_DIR, "confirmation")
"""What cartsim runs write; ``--overwrite`` clears these from a directory no cartsim run has claimed."""


Notes = Callable[[str], None]
"""Where a run says what the user should hear (a replaced output, a resumed chunk)."""


def to_stderr(msg: str) -> None:
    """The default :data:`Notes`: one line on standard error."""
    print(f"cartsim: {msg}", file=sys.stderr, flush=True)


@contextmanager
def owned_run(out: Path, command: str, *, resume: bool = False, overwrite: bool = False,
              notes: Notes | None = None) -> Iterator[Notes]:
    """:func:`owned_out_dir` for a run's entry point: its notes said through ``notes`` (default
    :func:`to_stderr`); yields that function, for the run's own notes."""
    say = notes or to_stderr
    with owned_out_dir(Path(out), command, resume=resume, overwrite=overwrite) as owned:
        for note in owned:
            say(note)
        yield say


@contextmanager
def owned_out_dir(out: Path, command: str, *, resume: bool = False, overwrite: bool = False
                  ) -> Iterator[list[str]]:
    """Make ``out`` this run's output directory for the duration of the block; yields the notes to show.

    An earlier cartsim run's outputs there (listed in its marker) are removed first, so no stale file sits
    beside the new ones (its chunks stay for ChunkStore, which keeps or discards them). A non-empty directory
    that no cartsim run claimed is refused unless ``overwrite``, which clears cartsim's kinds of output from
    it and leaves other files alone. The marker lists what this run wrote, even when it is interrupted."""
    out = check_out_dir(out)
    with _locked(out):
        yield from _own(out, command, resume, overwrite)


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold the output directory's :data:`RUN_LOCK`; another run holding it is an error naming it."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    fh = open(out / RUN_LOCK, "a+")  # noqa: SIM115 - held open for the run
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            who = fh.read().strip()[:80]
            raise CartsimError(f"--out {out}: another cartsim run is writing there ({who or 'running'}); wait for "
                               "it to finish or give another directory") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        yield
    finally:
        fh.close()


def _own(out: Path, command: str, resume: bool, overwrite: bool) -> Iterator[list[str]]:
    notes: list[str] = []
    marker = out / RUN_MARKER
    if out.exists():
        entries = sorted(p.name for p in out.iterdir() if p.name not in (RUN_MARKER, RUN_LOCK))
        if marker.exists():
            try:
                old = json.loads(marker.read_text())
            except (OSError, ValueError):
                old = {}
            stale = [f for f in old.get("files", []) if f in entries and f != CHUNK_DIR]
            if stale:
                notes.append(f"replacing the earlier run's outputs in {out}: {', '.join(stale)}")
            if resume and old.get("complete"):
                notes.append(f"--resume: the earlier run in {out} had finished; there is nothing to resume")
        elif entries:
            theirs = [e for e in entries if any(fnmatch.fnmatch(e, pat) for pat in OUTPUT_PATTERNS)]
            if not overwrite:
                shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
                raise CartsimError(f"--out {out}: the directory holds files no cartsim run claims ({shown}); "
                                   "give a new or empty directory, or --overwrite to replace cartsim outputs "
                                   "there")
            stale = [e for e in theirs if e != CHUNK_DIR or not resume]
            if stale:
                notes.append(f"--overwrite: removing {', '.join(stale)} from {out}")
        else:
            stale = []
        for name in stale:
            path = out / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in out.iterdir()} - {CHUNK_DIR, RUN_LOCK}
    write_json(marker, {"command": command, "files": [CHUNK_DIR], "complete": False})
    complete = False
    try:
        yield notes
        complete = True
    finally:
        written = sorted({p.name for p in out.iterdir()} - before - {RUN_MARKER, RUN_LOCK} | {CHUNK_DIR})
        write_json(marker, {"command": command, "files": written, "complete": complete})


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; on success it replaces ``path`` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=json_default) + "\n")


def json_default(o: Any) -> Any:
    """``json.dumps(default=...)`` for numpy scalars and arrays; NaN and infinities become null."""
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.bool_):
        return bool(o)
    return str(o)

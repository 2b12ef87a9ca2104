"""Chunked, resumable Parquet output with atomic final files.

A run writes each finished chunk to ``OUT/.chunks/chunk-NNNNNN.parquet`` (atomically), next to a manifest that
fingerprints the config. ``--resume`` keeps the chunks of a run with the same fingerprint and computes only the
missing ones; the final ``patients.parquet`` is streamed from the chunks in patient order, so it is identical to
the table of an uninterrupted run.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hybrid.errors import CartsimError

from .simulate import columns

CHUNK_DIR = ".chunks"
MANIFEST = "manifest.json"
ROW_GROUP = 65_536


def schema(model: str) -> pa.Schema:
    """Arrow schema of patients.parquet for a cohort of ``model`` (fixed, so that every chunk, even an all-null
    one, agrees)."""
    types = {"id": pa.int64(), "seed": pa.int64(), "group": pa.string(), "outcome": pa.string(),
             "relapse_type": pa.string(), "pfs_event": pa.bool_()}
    return pa.schema([(c, types.get(c, pa.float64())) for c in columns(model)])


def fingerprint(config: Mapping[str, Any]) -> str:
    """Hash of everything in the config that shapes the patient table (all but [output] and the chunk
    size)."""
    relevant = {k: v for k, v in config.items() if k != "output"}
    if isinstance(relevant.get("cohort"), Mapping):  # chunking never changes the table
        relevant["cohort"] = {k: v for k, v in relevant["cohort"].items() if k != "chunk_size"}
    blob = json.dumps(relevant, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


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


class ChunkStore:
    """The chunk directory of one run: which chunks exist, writing one, merging all."""

    def __init__(self, out_dir: Path, n: int, chunk_size: int, fp: str, resume: bool, model: str):
        self.out_dir = Path(out_dir)
        self.schema = schema(model)
        self.dir = self.out_dir / CHUNK_DIR
        self.notes: list[str] = []
        """What the store did that the user should hear about (resumed, discarded or re-simulated chunks)."""
        manifest = self.dir / MANIFEST
        resuming = resume and manifest.exists()
        if resuming:
            old = json.loads(manifest.read_text())
            if old.get("fingerprint") != fp or old.get("n") != n:
                raise CartsimError(f"{self.out_dir}: --resume: the config differs from the interrupted run's "
                                   "(drop --resume to start afresh)")
            chunk_size = int(old["chunk_size"])  # chunk boundaries must match the finished chunks
        else:
            finished = len(list(self.dir.glob("chunk-*.parquet"))) if manifest.exists() else 0
            if resume:
                self.notes.append(f"--resume: {self.out_dir} holds no interrupted run: simulating afresh")
            elif finished:
                self.notes.append(f"discarding {finished} finished chunk(s) of an interrupted run in "
                                  f"{self.out_dir} (use --resume to keep them)")
            if self.dir.exists():
                shutil.rmtree(self.dir)
            self.dir.mkdir(parents=True)
            write_json(manifest, {"fingerprint": fp, "n": n, "chunk_size": chunk_size})
        self.n, self.chunk_size = n, chunk_size
        self.n_chunks = -(-n // chunk_size)
        if resuming:
            self._drop_damaged()

    def _drop_damaged(self) -> None:
        """Delete finished chunks that cannot be read back whole (truncated or altered outside cartsim), so
        that they are simulated again; say which."""
        kept = 0
        for k in range(self.n_chunks):
            path = self.path(k)
            if not path.exists():
                continue
            a, b = self.bounds(k)
            try:
                t = pq.read_table(path, schema=self.schema)
                ok = t.num_rows == b - a and t.column("id").to_pylist() == list(range(a, b))
            except (OSError, ValueError, pa.ArrowException) as exc:
                ok, why = False, str(exc).splitlines()[0][:120]
            else:
                why = "wrong rows"
            if ok:
                kept += 1
            else:
                path.unlink()
                self.notes.append(f"--resume: {path.name} is damaged ({why}): simulating its patients again")
        self.notes.append(f"--resume: keeping {kept} finished chunk(s) of {self.n_chunks}")

    def bounds(self, k: int) -> tuple[int, int]:
        """Patient ids ``[start, stop)`` of chunk ``k``."""
        return k * self.chunk_size, min(self.n, (k + 1) * self.chunk_size)

    def path(self, k: int) -> Path:
        return self.dir / f"chunk-{k:06d}.parquet"

    def missing(self) -> list[int]:
        return [k for k in range(self.n_chunks) if not self.path(k).exists()]

    def write(self, k: int, df: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(df, schema=self.schema, preserve_index=False).replace_schema_metadata(None)
        with atomic_path(self.path(k)) as tmp:
            pq.write_table(table, tmp)

    def merge(self, dest: Path) -> None:
        """Stream every chunk, in order, into ``dest`` (atomically); memory holds one chunk at a time."""
        with atomic_path(dest) as tmp:
            with pq.ParquetWriter(tmp, self.schema) as w:
                # fixed row groups, whatever the chunking, so the file is byte-identical across runs
                buf: list[pa.Table] = []
                rows = 0
                for k in range(self.n_chunks):
                    t = pq.read_table(self.path(k), schema=self.schema)
                    buf.append(t)
                    rows += t.num_rows
                    while rows >= ROW_GROUP:
                        whole = pa.concat_tables(buf)
                        w.write_table(whole.slice(0, ROW_GROUP), row_group_size=ROW_GROUP)
                        buf, rows = [whole.slice(ROW_GROUP)], rows - ROW_GROUP
                if rows:
                    w.write_table(pa.concat_tables(buf), row_group_size=ROW_GROUP)

    def read_columns(self, columns: list[str]) -> pd.DataFrame:
        """Selected columns of all chunks (for summaries: small columns only)."""
        # one Arrow table over every chunk, converted column by column while Arrow frees it: memory holds the
        # columns once (a concat of per-chunk frames held them twice); strings as categoricals
        table = pq.read_table([str(self.path(k)) for k in range(self.n_chunks)], columns=columns,
                              schema=self.schema)
        df = table.to_pandas(strings_to_categorical=True, self_destruct=True, split_blocks=True)
        del table
        return df

    def clean(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def iter_patients(path: Path, columns: list[str]) -> Iterator[pd.DataFrame]:
    """patients.parquet a batch of rows at a time (memory holds one batch)."""
    for batch in pq.ParquetFile(path).iter_batches(columns=columns):
        yield batch.to_pandas()


def read_patients(path: Path, columns: list[str] | None = None, filters: list | None = None) -> pd.DataFrame:
    """Read patients.parquet (optionally only some columns, and rows matching pyarrow ``filters``)."""
    return pq.read_table(path, columns=columns, filters=filters).to_pandas()


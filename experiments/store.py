"""Chunked, resumable Parquet output with atomic final files.

A run writes each finished chunk to ``OUT/.chunks/chunk-NNNNNN.parquet`` (atomically), next to a manifest that
fingerprints the config. ``--resume`` keeps the chunks of a run with the same fingerprint and computes only the
missing ones; the final ``patients.parquet`` is streamed from the chunks in patient order, so it is identical to
the table of an uninterrupted run.
"""

from __future__ import annotations

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
             "pfs_event": pa.bool_()}
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
    """``out`` if it can be a run's output directory (absent, or a directory); else a CartsimError saying why,
    before any work starts."""
    out = Path(out)
    for parent in (out, *out.parents):
        if parent.exists():
            if not parent.is_dir():
                what = "is a file" if parent == out else f"lies under {parent}, which is a file"
                raise CartsimError(f"--out {out}: {what}; give a directory")
            break
    return out


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
        manifest = self.dir / MANIFEST
        if resume and manifest.exists():
            old = json.loads(manifest.read_text())
            if old.get("fingerprint") != fp or old.get("n") != n:
                raise CartsimError(f"{self.out_dir}: --resume: the config differs from the interrupted run's "
                                   "(drop --resume to start afresh)")
            chunk_size = int(old["chunk_size"])  # chunk boundaries must match the finished chunks
        else:
            if self.dir.exists():
                shutil.rmtree(self.dir)
            self.dir.mkdir(parents=True)
            write_json(manifest, {"fingerprint": fp, "n": n, "chunk_size": chunk_size})
        self.n, self.chunk_size = n, chunk_size
        self.n_chunks = -(-n // chunk_size)

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
        # categorical strings keep a million-patient summary table small
        df = pd.concat([pq.read_table(self.path(k), columns=columns).to_pandas(strings_to_categorical=True)
                        for k in range(self.n_chunks)], ignore_index=True)
        for c in df.columns:
            if isinstance(df[c].dtype, pd.CategoricalDtype):
                df[c] = df[c].astype("category")
        return df

    def clean(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def read_patients(path: Path, columns: list[str] | None = None, filters: list | None = None) -> pd.DataFrame:
    """Read patients.parquet (optionally only some columns, and rows matching pyarrow ``filters``)."""
    return pq.read_table(path, columns=columns, filters=filters).to_pandas()


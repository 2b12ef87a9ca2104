"""Chunked, resumable Parquet output with atomic final files.

A run writes each finished chunk to ``OUT/.chunks/chunk-NNNNNN.parquet`` (atomically), next to a manifest that
fingerprints the config. ``--resume`` keeps the chunks of a run with the same fingerprint and computes only the
missing ones; the final ``patients.parquet`` is streamed from the chunks in patient order, so it is identical to
the table of an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from experiments.cohort.chunk import columns
from hybrid.errors import CartsimError

from ..outputs import CHUNK_DIR, atomic_path, write_json

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


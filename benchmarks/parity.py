"""Byte-parity check for refactorings: run every shipped cohort config and fingerprint its Parquet tables.

    python -m benchmarks.parity OUT.json [--workdir DIR]      # fingerprint the current tree
    python -m benchmarks.parity --compare BEFORE.json AFTER.json

Each table gets a SHA-256 of its bytes and one per column (values as Arrow writes them), so a change that only
adds or drops a column still shows every other column as identical. Run it before and after a refactoring.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

CONFIGS = Path(__file__).resolve().parent.parent / "experiments" / "configs"


def _column_hashes(path: Path) -> dict[str, str]:
    table = pq.read_table(path)
    out = {}
    for name in table.column_names:
        h = hashlib.sha256()
        for chunk in table.column(name).combine_chunks().buffers():
            if chunk is not None:
                h.update(chunk.to_pybytes())
        out[name] = h.hexdigest()
    return out


def fingerprint(workdir: Path) -> dict[str, dict]:
    """Run each non-ABM shipped config without figures; fingerprint every Parquet table it writes."""
    result: dict[str, dict] = {}
    for cfg in sorted(CONFIGS.glob("*.toml")):
        if any(f'kind = "{k}"' in cfg.read_text() for k in ("abm", "fit", "predict", "dose")):
            continue  # fit, predict and dose have their own commands; the ABM its own fingerprints
        out = workdir / cfg.stem
        subprocess.run([sys.executable, "-m", "experiments.cli", "run", str(cfg), "--out", str(out), "--quiet",
                        "--set", "output.figures=false"], check=True)
        for table in sorted(out.glob("*.parquet")):
            result[f"{cfg.stem}/{table.name}"] = {
                "sha256": hashlib.sha256(table.read_bytes()).hexdigest(),
                "columns": _column_hashes(table),
            }
        print(f"parity: {cfg.stem} done", file=sys.stderr, flush=True)
    return result


def compare(before: dict[str, dict], after: dict[str, dict]) -> int:
    """Print what differs; exit status 1 if any shared column differs or a table is missing."""
    bad = 0
    for key in sorted(set(before) | set(after)):
        if key not in after or key not in before:
            print(f"{key}: only {'before' if key in before else 'after'}")
            bad += 1
            continue
        b, a = before[key], after[key]
        if b["sha256"] == a["sha256"]:
            print(f"{key}: byte-identical")
            continue
        changed = [c for c in b["columns"] if c in a["columns"] and b["columns"][c] != a["columns"][c]]
        dropped = [c for c in b["columns"] if c not in a["columns"]]
        added = [c for c in a["columns"] if c not in b["columns"]]
        print(f"{key}: file differs; changed columns {changed or 'none'}, dropped {dropped or 'none'}, "
              f"added {added or 'none'}")
        bad += bool(changed)
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.parity", description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", type=Path, help="write fingerprints to this JSON file")
    ap.add_argument("--workdir", type=Path, default=None, help="where the runs go (default: a temporary dir)")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = ap.parse_args(argv)
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        return compare(before, after)
    if args.out is None:
        ap.error("give OUT.json or --compare BEFORE AFTER")
    with tempfile.TemporaryDirectory() as tmp:
        fp = fingerprint(args.workdir or Path(tmp))
    args.out.write_text(json.dumps(fp, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Memory of ``cartsim cure`` on a large n: peak proportional set size (PSS) of the whole process tree, sampled
every 0.2 s, for two sizes in one run, so that flatness (not just a small number) is what is measured.

    python -m benchmarks.bench_cure_memory [--sizes 1e5 1e7] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def _tree_pss(proc) -> float:
    import psutil

    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def measure(n: int, workers: int) -> dict:
    import psutil

    cmd = [sys.executable, "-m", "experiments.cli", "cure", "--n", str(n), "--workers", str(workers), "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _tree_pss(ps))
        time.sleep(0.2)
    out = proc.stdout.read()
    seconds = time.perf_counter() - t0
    res = json.loads(out)
    return {"n": n, "workers": workers, "seconds": seconds, "peak_pss_mb": peak / 2**20,
            "patients_per_s": n / seconds, "p_cure": res["p_cure"], "p_cure_exact": res["p_cure_exact"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_cure_memory")
    ap.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e7])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    a = ap.parse_args(argv)
    rows = []
    for n in a.sizes:
        rows.append(measure(int(n), a.workers))
        print(json.dumps(rows[-1]), flush=True)
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

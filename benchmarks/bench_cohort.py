"""Cohort-runner benchmark: patients per second and peak memory of ``cartsim run`` as the cohort grows.

Each case runs ``python -m experiments.cli run`` in a subprocess on the Fig. 3b PFS config (three growth-rate
groups, 5% variability) and samples the proportional set size (PSS) of the whole process tree (runner, pool or Dask
workers) every 50 ms. Wall time includes process start-up and loading the on-disk JIT cache, so small cohorts
understate the steady rate.

Engines: "hybrid" is the full ODE–SSA simulation plus the exact oracle per patient; "exact"
(``cohort.exact_only``) computes only Kendall's exact P(cure) per patient (one ODE solve each, no stochastic
tumour). Workers are threads of the runner (the kernels release the GIL); "dask" is a Dask LocalCluster.

    python -m benchmarks.bench_cohort            # sizes 1e3..1e6
    python -m benchmarks.bench_cohort --quick    # small sizes, a few seconds each
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "configs" / "kimmel2021_pfs.toml"


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for q in procs:
        try:
            # PSS: shared library pages are split between the processes instead of counted once per worker
            total += q.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied, AttributeError):
            try:
                total += q.memory_info().rss
            except psutil.NoSuchProcess:
                pass
    return total


def run_case(n: int, workers: int, backend: str = "local", engine: str = "hybrid",
             chunk_size: int | None = None) -> dict:
    """One ``cartsim run`` of ``n`` patients; returns wall seconds, patients/s and peak tree RSS (MB)."""
    with tempfile.TemporaryDirectory(prefix="cartsim-bench-") as tmp:
        cmd = [sys.executable, "-m", "experiments.cli", "run", str(CONFIG), "--out", tmp, "--quiet",
               "--workers", str(workers), "--set", f"cohort.n={n}", "--set", "output.figures=false",
               "--set", "output.kinetics_patients=0"]
        if engine == "exact":
            cmd += ["--set", "cohort.exact_only=true"]
        if backend == "dask":
            cmd += ["--scheduler", "local-dask"]
        if chunk_size:
            cmd += ["--chunk-size", str(chunk_size)]
        peak = 0
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg"})
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _tree_rss(proc.pid))
                time.sleep(0.05)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        rc = proc.wait()
        wall = time.perf_counter() - t0
        stop.set()
        th.join()
        if rc != 0:
            raise RuntimeError(f"benchmark case failed (exit {rc}): {' '.join(cmd)}")
        size = (Path(tmp) / "patients.parquet").stat().st_size
    return {"n": n, "workers": workers, "backend": backend, "engine": engine, "seconds": wall,
            "patients_per_s": n / wall, "peak_mem_mb": peak / 2**20, "parquet_mb": size / 2**20}


def steady_scaling(n: int = 100_000, chunk_size: int | None = None) -> dict:
    """The runner's own speed-up, start-up excluded: :func:`experiments.cohort.run_cohort` of the same config in
    this process with 1 worker, then 2 (threads), after a warm-up run; seconds and patients/s of each."""
    from experiments.cohort.runner import run_cohort
    from experiments.cohort.spec import load_spec, revise

    spec = load_spec(CONFIG, ["output.figures=false", "output.kinetics_patients=0"])
    with tempfile.TemporaryDirectory(prefix="cartsim-bench-") as tmp:
        run_cohort(revise(spec, n=2000), Path(tmp) / "warm", workers=2)
        out = {"n": n}
        for workers in (1, 2):
            t0 = time.perf_counter()
            run_cohort(revise(spec, n=n), Path(tmp) / f"w{workers}", workers=workers, chunk_size=chunk_size)
            out[f"seconds_{workers}"] = time.perf_counter() - t0
        out["speedup"] = out["seconds_1"] / out["seconds_2"]
    return out


def run(sizes=(1e3, 1e4, 1e5, 1e6), quick: bool = False, exact_sizes=(1e6, 1e7)) -> dict:
    """Benchmark hybrid cohort runs of growing size (about 10 min in all on 2 cores). Up to 1e5 patients: 1 vs 2
    local workers and a 2-worker Dask LocalCluster; above: 2 local workers. Then ``exact_only`` cohorts of
    ``exact_sizes`` (2 workers; is memory flat?) and the runner's speed-up without start-up at 1e5.
    ``quick``: sizes 200 and 1000 only. Returns {"cases": [...], "steady": {...}, "cores": ..., "notes": ...}."""
    if quick:
        sizes, exact_sizes = (200, 1000), (1000,)
    quick = quick or max(sizes) <= 10_000
    cases = []
    for s in sizes:
        n = int(s)
        if n <= 100_000:
            plan = [(1, "local", "hybrid"), (2, "local", "hybrid"), (2, "dask", "hybrid")]
        else:
            plan = [(2, "local", "hybrid")]
        for workers, backend, engine in plan:
            cases.append(run_case(n, workers, backend, engine))
    for s in exact_sizes:
        cases.append(run_case(int(s), 2, "local", "exact"))
    steady = steady_scaling(2000 if quick else 100_000)  # the 1e5 speed-up target
    return {"cases": cases, "steady": steady, "cores": os.cpu_count(),
            "notes": "wall time includes start-up; peak memory is PSS (RSS where PSS is unavailable) summed "
                     "over the runner and its workers"}


def markdown(result: dict) -> str:
    """The benchmark as a Markdown table."""
    lines = ["| patients | engine | backend | workers | seconds | patients/s | peak memory, PSS (MB) "
             "| parquet (MB) |",
             "|---:|---|---|---:|---:|---:|---:|---:|"]
    for c in result["cases"]:
        lines.append(f"| {c['n']:,} | {c['engine']} | {c['backend']} | {c['workers']} | {c['seconds']:.1f} | "
                     f"{c['patients_per_s']:,.0f} | {c['peak_mem_mb']:.0f} | {c['parquet_mb']:.1f} |")
    st = result.get("steady")
    if st:
        lines += ["", f"Without start-up (`run_cohort` in one process after a warm-up, {st['n']:,} patients): "
                      f"1 worker {st['seconds_1']:.1f} s, 2 workers {st['seconds_2']:.1f} s: "
                      f"**{st['speedup']:.2f}×**."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sizes", type=float, nargs="*", default=[1e3, 1e4, 1e5, 1e6])
    a = ap.parse_args(argv)
    print(markdown(run(tuple(a.sizes), quick=a.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m benchmarks``: every benchmark in one invocation, written to RESULTS.md and results.json.

    python -m benchmarks                          # default sizes (cohorts 1e3..1e6), about 10–15 min on 2 cores
    python -m benchmarks --cohort-sizes 1e3 1e4   # smaller scaling section
    python -m benchmarks --quick                  # tiny sizes: checks that everything runs (numbers meaningless)

A section that fails is reported in both files (and the exit code is 1) instead of losing the others.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from . import (
    bench_abm,
    bench_calibration,
    bench_cohort,
    bench_cure_memory,
    bench_dosing,
    bench_hybrid,
    bench_ode,
    report,
)

HERE = Path(__file__).resolve().parent
DEFAULT_SIZES = (1e3, 1e4, 1e5, 1e6)
QUICK_SIZES = (200,)


def _section(name: str, fn, errors: dict[str, str]) -> Any:
    """Run one section; on failure keep the traceback's last lines and carry on."""
    print(f"[benchmarks] {name} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        out = fn()
    except Exception:  # noqa: BLE001 - one failing peer must not lose the other sections
        errors[name] = "".join(traceback.format_exc().splitlines(keepends=True)[-6:])
        print(errors[name], file=sys.stderr)
        return None
    print(f"[benchmarks] {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return out


def _render(results: dict[str, Any], errors: dict[str, str]) -> str:
    """RESULTS.md text; a failed section shows its error in place of its table."""

    def md_or_error(name: str, render) -> str:
        return render(results[name]) if results.get(name) else f"Section failed:\n\n```\n{errors.get(name)}\n```"

    if results.get("hybrid") is None or results.get("ode") is None:
        return f"# cartsim benchmarks\n\nFailed sections:\n\n```\n{json.dumps(errors, indent=1)}\n```\n"
    return report.markdown(results, md_or_error("scaling", bench_cohort.markdown),
                           md_or_error("spatial", bench_abm.markdown))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, a smoke run")
    ap.add_argument("--cohort-sizes", type=float, nargs="+", default=None,
                    help=f"cohort sizes of the scaling section (default {' '.join(f'{s:.0e}' for s in DEFAULT_SIZES)})")
    ap.add_argument("--out", type=Path, default=HERE, help="directory for RESULTS.md and results.json")
    ap.add_argument("--render", type=Path, metavar="RESULTS_JSON",
                    help="only rewrite RESULTS.md (in --out) from an earlier results.json; runs nothing")
    a = ap.parse_args(argv)
    if a.render:
        results = json.loads(a.render.read_text())
        (a.out / "RESULTS.md").write_text(_render(results, results.get("errors", {})))
        return 0
    os.environ.setdefault("MPLBACKEND", "Agg")
    a.out.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    t0 = time.perf_counter()
    results: dict[str, Any] = {"command": command, "machine": report.machine()}
    errors: dict[str, str] = {}

    sizes = bench_hybrid.QUICK if a.quick else bench_hybrid.Sizes()
    results["hybrid"] = _section("hybrid", lambda: bench_hybrid.run(sizes), errors)
    ode_n = (20, 3, 200) if a.quick else (2000, 50, 20_000)
    results["ode"] = _section("ode", lambda: bench_ode.run(*ode_n), errors)
    cohort_sizes = tuple(a.cohort_sizes) if a.cohort_sizes else QUICK_SIZES if a.quick else DEFAULT_SIZES
    exact_sizes = (1000,) if a.quick else (1e6, 1e7)
    results["scaling"] = _section("scaling", lambda: bench_cohort.run(cohort_sizes, exact_sizes=exact_sizes),
                                  errors)
    results["spatial"] = _section("spatial", lambda: bench_abm.run(quick=a.quick), errors)
    results["calibration"] = _section("calibration", lambda: bench_calibration.run(quick=a.quick), errors)
    results["calibration_trial"] = _section("calibration_trial", lambda: bench_calibration.run_trial(quick=a.quick),
                                            errors)
    results["dosing"] = _section("dosing", lambda: bench_dosing.run(quick=a.quick), errors)
    mem_sizes = (1e4,) if a.quick else (1e5, 1e7)
    results["cure_memory"] = _section("cure_memory", lambda: [bench_cure_memory.measure(int(n), 2)
                                                              for n in mem_sizes], errors)

    results["errors"] = errors
    results["load_average_end"] = os.getloadavg()[0]
    results["wall_minutes"] = (time.perf_counter() - t0) / 60
    results["size_note"] = (
        "Quick run (`--quick`): tiny sizes, numbers not meaningful." if a.quick else
        f"Cohort sizes: {', '.join(f'{s:.0e}' for s in cohort_sizes)} patients (all in the default run)."
    )
    results["scaling_note"] = (
        "`benchmarks/bench_cohort.py` (`run`): each case is one `cartsim run` of the Fig. 3b PFS config (three "
        "growth-rate groups, 5% variability) in a subprocess, with the engine (hybrid: ODE-SSA plus the exact "
        "P(cure) per patient; exact: `cohort.exact_only`, the oracle alone), backend (local: worker threads of the "
        "runner; dask: a Dask LocalCluster) and workers in its row. Wall time includes process start-up and "
        "loading the JIT cache (about 2-3 s), so small cohorts understate the steady rate; peak memory is the PSS "
        "of the whole process tree, sampled every 50 ms by the benchmark's own process."
    )
    results["notes"] = [f"section {k} failed: {v.strip().splitlines()[-1]}" for k, v in errors.items()]

    (a.out / "RESULTS.md").write_text(_render(results, errors))
    (a.out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"[benchmarks] wrote {a.out / 'RESULTS.md'} and results.json in {results['wall_minutes']:.1f} min",
          file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

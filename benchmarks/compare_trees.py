"""Speed of the working tree against an earlier commit, in one run: did a refactoring cost speed?

    python -m benchmarks.compare_trees --ref HEAD~1 [--rounds 3] [--n-mc 5000] [--n-oracle 20000]
    python -m benchmarks.compare_trees --ref REV --workload exact|fit|dosing|spatial [--json OUT.json]

The commit is checked out into a temporary git worktree; each round runs the same workload (hybrid Monte Carlo
of identical Kimmel patients, exact SSA, and the exact oracle on a varied cohort) once per tree, in fresh
interpreters, alternating, so machine noise hits both alike. Prints medians (patients/s) and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKLOAD = r"""
import json, sys, time
import numpy as np
import hybrid
n_mc, n_or = int(sys.argv[1]), int(sys.argv[2])
p = hybrid.Parameters.from_preset("kimmel2021")
opts = hybrid.SimOptions()
hybrid.simulate_batch([p] * 4, list(range(4)), opts, exact=False)  # JIT warm-up
rng = np.random.default_rng(1)
cohort = [p.replace(K_C=p.K_C * f, r_B=p.r_B * g) for f, g in rng.lognormal(0, 0.25, (n_or, 2))]
hybrid.cure_probability_exact(cohort[:4], 730.0, opts)
t0 = time.perf_counter()
hybrid.simulate_batch([p] * n_mc, np.random.SeedSequence(7).spawn(n_mc), opts, exact=False)
t1 = time.perf_counter()
hybrid.cure_probability_exact(cohort, 730.0, opts)
t2 = time.perf_counter()
print(json.dumps({"mc_per_s": n_mc / (t1 - t0), "oracle_per_s": n_or / (t2 - t1)}))
"""


EXACT_WORKLOAD = r"""
import json, sys, tempfile, time
from pathlib import Path
import numpy as np
import hybrid
from experiments.cohort.runner import run_cohort
from experiments.cohort.spec import load_spec, revise
from experiments.paths import CONFIGS
if __name__ == "__main__":
    n_cohort, n_or, n_hyb = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    out = {}
    p = hybrid.Parameters.from_preset("kimmel2021")
    opts = hybrid.SimOptions()
    rng = np.random.default_rng(1)
    f = rng.lognormal(0, 0.25, (n_or, 2))
    varied = [p.replace(K_C=p.K_C * a, r_B=p.r_B * b) for a, b in f]
    tumour_only = [p.replace(B0=p.B0 * a) for a, _ in f]
    rates_only = [p.replace(r_B=p.r_B * a, gamma_B=p.gamma_B * b) for a, b in f]
    for name, rows in (("oracle_varied", varied), ("oracle_tumour_start", tumour_only),
                       ("oracle_tumour_rates", rates_only)):
        hybrid.cure_probability_exact(rows[:4], 730.0, opts)
        t0 = time.perf_counter()
        hybrid.cure_probability_exact(rows, 730.0, opts)
        out[name + "_per_s_core"] = n_or / (time.perf_counter() - t0)
    exact = load_spec(CONFIGS / "kimmel2021_pfs.toml", ["output.figures=false", "output.kinetics_patients=0",
                                                          "cohort.exact_only=true"])
    hyb = load_spec(CONFIGS / "kimmel2021_pfs.toml", ["output.figures=false", "output.kinetics_patients=0"])
    with tempfile.TemporaryDirectory() as tmp:
        run_cohort(revise(exact, n=3000), Path(tmp) / "w0", workers=2)
        run_cohort(revise(hyb, n=300), Path(tmp) / "w1", workers=2)
        for w in (1, 2):
            t0 = time.perf_counter()
            run_cohort(revise(exact, n=n_cohort), Path(tmp) / f"e{w}", workers=w)
            out[f"exact_cohort_{w}_workers_per_s"] = n_cohort / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_cohort(revise(hyb, n=n_hyb), Path(tmp) / "h", workers=1)
        out["hybrid_varied_per_s_core"] = n_hyb / (time.perf_counter() - t0)
    out["exact_cohort_speedup_2_workers"] = out["exact_cohort_2_workers_per_s"] / out["exact_cohort_1_workers_per_s"]
    # accuracy at the default rtol against a rtol-1e-12 solve, at the days the outputs report (P(cure) weekly to
    # day 730; the exact PFS curve monthly), on 300 patients of the Fig. 3b cohort
    from experiments.cohort.sampling import sample_patients
    names = list(hybrid.get_model("kimmel2021").param_names)
    sub = sample_patients(exact, 0, 3000)[names].iloc[::10].reset_index(drop=True)
    days = np.append(np.arange(7.0, 730.0, 7.0), 730.0)
    tight = hybrid.SimOptions(rtol=1e-12)
    out["error_p_cure_max"] = float(np.abs(hybrid.cure_probability_exact(sub, days, opts)
                                           - hybrid.cure_probability_exact(sub, days, tight)).max())
    months = np.arange(30.4375, 730.0, 30.4375)
    out["error_pfs_max"] = float(np.abs(hybrid.progression_free_exact(sub, months, opts)
                                        - hybrid.progression_free_exact(sub, months, tight)).max())
    print(json.dumps(out))
"""

FIT_WORKLOAD = r"""
import contextlib, io, json, re, sys, tempfile
from pathlib import Path
from experiments.calibration import run_fit, validate_fit
from experiments.cohort.spec import load_toml
from experiments.paths import CONFIGS
if __name__ == "__main__":
    src = CONFIGS / "calibrate_pfs.toml"
    cfg = load_toml(src)
    cfg["fit"]["starts"] = 1
    spec = validate_fit(cfg, str(src))
    err = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(err):
        run_fit(spec, Path(tmp), quiet=False, workers=2)
    line = r"round \d+: (\d+) virtual patients simulated on the exact path in ([\d.]+) s"
    rounds = [(int(n), float(s)) for n, s in re.findall(line, err.getvalue())]
    later = rounds[1:] or rounds  # the first round includes compiling the kernels (a fresh worktree has no cache)
    print(json.dumps({"fit_round_per_s_2_cores": sum(n for n, _ in later) / sum(s for _, s in later),
                      "fit_rounds": len(rounds)}))
"""

DOSING_WORKLOAD = r"""
import json
from benchmarks import bench_dosing
if __name__ == "__main__":
    bench_dosing.run(workers=2, quick=True)  # JIT warm-up: a fresh worktree compiles its kernels on first use
    r = bench_dosing.run(workers=2)
    print(json.dumps({"dosing_nomogram_seconds_2_cores": r["seconds"]}))
"""

SPATIAL_WORKLOAD = r"""
import json, time
from abm.model import TumourModel
from abm.scenarios import scenario_params
if __name__ == "__main__":
    # bench_abm's workload at 400², spelled out: the reference tree's bench_abm may time another one
    p = scenario_params("mixed_negative", {"width": 400, "height": 400, "route": "intratumoural",
                                           "injection_radius_frac": 1.0})
    TumourModel(seed=0, **scenario_params("mixed_negative", {"width": 20, "height": 20})).step()  # JIT warm-up
    m = TumourModel(seed=1, **p)
    t0 = time.perf_counter()
    for _ in range(40):
        m.step()
    print(json.dumps({"spatial_400_steps_per_s": 40 / (time.perf_counter() - t0),
                      "spatial_400_tumour_cells_end": m.tumour_cells}))
"""

WORKLOADS = {"mc": WORKLOAD, "exact": EXACT_WORKLOAD, "fit": FIT_WORKLOAD, "dosing": DOSING_WORKLOAD,
             "spatial": SPATIAL_WORKLOAD}
"""mc: the Monte Carlo and oracle rates (one core); exact: issue 25's exact-path rates (oracle per core for
varied, tumour-start-only and tumour-rate-only patients; exact-only ``cartsim run`` of the Fig. 3b config on 1
and 2 workers; a varied hybrid cohort on 1); fit: the rounds of ``calibrate_pfs.toml`` on 2 cores; dosing: the
20 x 20 x 3 nomogram on 2 cores; spatial: 40 steps of the 400² spatial benchmark on a persisting tumour."""


def _run(tree: Path, n_mc: int, n_oracle: int, workload: str = "mc", n_cohort: int = 60_000,
         n_hybrid: int = 3000) -> dict[str, float]:
    one_core = workload in ("mc", "exact", "spatial")  # per-core rates: Numba's own threads off
    env = {**os.environ, "PYTHONPATH": str(tree), **({"NUMBA_NUM_THREADS": "1"} if one_core else {})}
    args = {"mc": [str(n_mc), str(n_oracle)], "exact": [str(n_cohort), str(n_oracle), str(n_hybrid)]}.get(workload, [])
    out = subprocess.run([sys.executable, "-c", WORKLOADS[workload], *args], cwd=tree, env=env,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.compare_trees", description=__doc__.splitlines()[0])
    ap.add_argument("--ref", required=True, help="commit to compare against (e.g. HEAD~1)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n-mc", type=int, default=5000)
    ap.add_argument("--n-oracle", type=int, default=20000)
    ap.add_argument("--workload", choices=sorted(WORKLOADS), default="mc", help="what to time (see WORKLOADS)")
    ap.add_argument("--json", type=Path, help="also write the medians of both trees here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "ref"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(ref), args.ref], check=True,
                       capture_output=True)
        try:
            res: dict[str, list[dict[str, float]]] = {"ref": [], "work": []}
            for _ in range(args.rounds):
                res["ref"].append(_run(ref, args.n_mc, args.n_oracle, args.workload))
                res["work"].append(_run(ROOT, args.n_mc, args.n_oracle, args.workload))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(ref)], check=False)
    medians = {}
    for key in res["ref"][0]:
        a = statistics.median(r[key] for r in res["ref"])
        b = statistics.median(r[key] for r in res["work"])
        medians[key] = {"ref": a, "work": b}
        print(f"{key}: {args.ref} {a:,.2f}  working tree {b:,.2f}  ratio {b / a:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"ref": args.ref, "workload": args.workload, "rounds": args.rounds,
                                         "medians": medians}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

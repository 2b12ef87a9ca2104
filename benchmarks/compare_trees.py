"""Speed of the working tree against an earlier commit, in one run: did a refactoring cost speed?

    python -m benchmarks.compare_trees --ref HEAD~1 [--rounds 3] [--n-mc 5000] [--n-oracle 20000]

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


def _run(tree: Path, n_mc: int, n_oracle: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "NUMBA_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", WORKLOAD, str(n_mc), str(n_oracle)], cwd=tree, env=env,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.compare_trees", description=__doc__.splitlines()[0])
    ap.add_argument("--ref", required=True, help="commit to compare against (e.g. HEAD~1)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n-mc", type=int, default=5000)
    ap.add_argument("--n-oracle", type=int, default=20000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "ref"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(ref), args.ref], check=True,
                       capture_output=True)
        try:
            res: dict[str, list[dict[str, float]]] = {"ref": [], "work": []}
            for _ in range(args.rounds):
                res["ref"].append(_run(ref, args.n_mc, args.n_oracle))
                res["work"].append(_run(ROOT, args.n_mc, args.n_oracle))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(ref)], check=False)
    for key in ("mc_per_s", "oracle_per_s"):
        a = statistics.median(r[key] for r in res["ref"])
        b = statistics.median(r[key] for r in res["work"])
        print(f"{key}: {args.ref} {a:,.0f}  working tree {b:,.0f}  ratio {b / a:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

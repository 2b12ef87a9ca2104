"""Long statistical verification of the hybrid Monte Carlo against Kendall's exact oracle, with QQ plots
(in the spirit of msprime's verification.py; the fast versions of these checks are in tests/).

    python -m benchmarks.verification [--n 20000] [--out results/verification]

For each setting: P(cure) MC vs exact (z score), and the distribution of cure days vs Kendall's P(cure by t)
curve conditioned on cure by the end of follow-up (Kolmogorov–Smirnov statistic and p value, and a QQ plot of
simulated against exact quantiles). Settings: Kimmel Table 1 (r_B 0.1/day), a second infusion without and with
lymphodepletion, tau-leaping, and threshold 1000.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from hybrid import Dose, Parameters, SimOptions, cure_probability_exact, simulate_batch

SETTINGS = {
    "table1": ({}, SimOptions()),
    "second_dose": ({"r_B": 0.13}, SimOptions(doses=(Dose(day=28.0, car_t_cells=1.8e8),))),
    "second_dose_lymphodepletion": ({"r_B": 0.22},
                                    SimOptions(doses=(Dose(day=140.0, car_t_cells=1.8e8, lymphodepletion=True),))),
    "tau_leaping": ({}, SimOptions(method="tau")),
    "threshold_1000": ({}, SimOptions(threshold=1000.0)),
}


def exact_quantiles(p: Parameters, opts: SimOptions, probs: np.ndarray) -> np.ndarray:
    """Quantiles of the cure day given cure by t_end, by inverting Kendall's curve on a fine grid."""
    grid = np.linspace(0.0, opts.t_end, 14_601)
    cdf = cure_probability_exact(p, grid, opts)
    cdf = np.maximum.accumulate(cdf / cdf[-1])
    return np.interp(probs, cdf, grid)


def verify(name: str, n: int, out: Path) -> dict:
    import matplotlib.pyplot as plt

    over, opts = SETTINGS[name]
    p = Parameters.from_preset("kimmel2021", **over)
    df = simulate_batch([p] * n, np.random.SeedSequence(31).spawn(n), opts, exact=False)
    exact = float(cure_probability_exact(p, opts.t_end, opts))
    days = np.sort(df.loc[df["outcome"] == "cure", "t_event_days"].to_numpy())
    p_mc = len(days) / n
    z = (p_mc - exact) / math.sqrt(exact * (1 - exact) / n)
    total = exact

    def cdf(t):
        return cure_probability_exact(p, np.asarray(t), opts) / total

    ks = stats.kstest(days, cdf)
    probs = (np.arange(len(days)) + 0.5) / len(days)
    q = exact_quantiles(p, opts, probs)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(q, days, ".", ms=2)
    lim = [0, max(q.max(), days.max()) * 1.05]
    ax.plot(lim, lim, "k--", lw=1)
    ax.set(xlabel="Kendall quantile (day)", ylabel="Monte Carlo cure day", title=f"{name}: KS p = {ks.pvalue:.2g}")
    fig.tight_layout()
    fig.savefig(out / f"qq_{name}.png", dpi=120)
    plt.close(fig)
    return {"n": n, "p_cure_mc": p_mc, "p_cure_exact": exact, "z": z, "cures": len(days),
            "ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.verification", description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="patients per setting")
    ap.add_argument("--out", type=Path, default=Path("results/verification"))
    ap.add_argument("--only", choices=sorted(SETTINGS), action="append", help="run only these settings")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    res = {}
    for name in args.only or SETTINGS:
        res[name] = verify(name, args.n, args.out)
        r = res[name]
        print(f"{name:>28}: P(cure) {r['p_cure_mc']:.4f} vs exact {r['p_cure_exact']:.4f} (z {r['z']:+.2f}); "
              f"cure days KS D {r['ks_statistic']:.4f}, p {r['ks_pvalue']:.3g}", flush=True)
    (args.out / "verification.json").write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

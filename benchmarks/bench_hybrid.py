"""Hybrid Kimmel model: trajectories/s and P(cure) of cartsim (exact SSA, tau-leaping, exact oracle) against the
plain-Python reference (hybrid/reference.py) and GillesPy2, all in one process, one after the other.

Same parameters (preset kimmel2021, r_B = 0.1/day), same follow-up (730 days), same ODE tolerance (rtol 1e-6).
Every P(cure) is compared with Kendall's exact value for those parameters (z = (P - exact) / SE). cartsim runs on
one core, so its trajectories/s are per core. JIT warm-up runs before any timing.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import hybrid
from hybrid.reference import simulate_reference

from . import bench_gillespy2

T_END = 730.0
"""Follow-up (days)."""
Z_AGREE = 4.0
"""|z| up to this many standard errors counts as agreement with the exact value."""
COHORT_SIGMA = 0.25
"""Lognormal sigma of the K_C and r_B perturbation in the varied cohort."""


@dataclass(frozen=True)
class Sizes:
    """Trajectories per peer."""

    mc: int = 50_000
    general: int = 10_000
    user: int = 100_000
    tau: int = 20_000
    oracle: int = 50_000
    cohort_mc: int = 10_000
    reference: int = 100
    gillespy2_hybrid: int = 100
    gillespy2_hybrid_cpp: int = 400
    gillespy2_ssa: int = 200


QUICK = Sizes(mc=200, general=200, user=3000, tau=200, oracle=500, cohort_mc=200, reference=3, gillespy2_hybrid=2,
              gillespy2_hybrid_cpp=2, gillespy2_ssa=5)


def params() -> hybrid.Parameters:
    return hybrid.Parameters.from_preset("kimmel2021", r_B=0.1)


def _row(peer: str, n: int, seconds: float, cures: float | None, exact: float | None, same_work: bool,
         what: str, se: float | None = None) -> dict[str, Any]:
    """One table row; SE from the observed fraction, or from the exact value when the sample is all one outcome."""
    row: dict[str, Any] = {"peer": peer, "n": n, "seconds": seconds, "per_s": n / seconds if seconds > 0 else None,
                           "same_work": same_work, "what": what, "p_cure": None, "se": None, "exact": exact,
                           "z": None, "agrees": None}
    if cures is not None:
        p = cures / n
        if se is None:
            q = p if 0.0 < p < 1.0 else (exact if exact is not None else p)
            se = math.sqrt(max(q * (1.0 - q), 1e-12) / n)
        row.update(p_cure=p, se=se)
        if exact is not None:
            row["z"] = (p - exact) / se
            row["agrees"] = bool(abs(row["z"]) <= Z_AGREE)
    return row


def _cartsim_mc(p: hybrid.Parameters | pd.DataFrame, n: int, seed: int, opts: hybrid.SimOptions,
                exact: bool = False) -> tuple[float, pd.DataFrame]:
    """Seconds and results of ``n`` patients (``p``: one parameter set for all, or a cohort's rows)."""
    params = [p] * n if isinstance(p, hybrid.Parameters) else p.iloc[:n]
    warm = [p] * 4 if isinstance(p, hybrid.Parameters) else p.iloc[:4]
    hybrid.simulate_batch(warm, hybrid.SpawnedSeeds(seed + 1, np.arange(4)), opts, exact=exact)  # warm-up
    seeds = hybrid.SpawnedSeeds(seed, np.arange(n))
    t0 = time.perf_counter()
    df = hybrid.simulate_batch(params, seeds, opts, exact=exact)
    return time.perf_counter() - t0, df


def user_path(n_small: int, n_large: int) -> dict[str, Any]:
    """``cartsim cure --n N --workers 1`` as a new user runs it, twice; patients/s from the difference of the two
    wall times (start-up and the JIT cache load cancel)."""
    from .bench_cure_memory import measure

    small, large = measure(n_small, 1), measure(n_large, 1)
    return {"n": n_large - n_small, "seconds": large["seconds"] - small["seconds"], "p_cure": large["p_cure"],
            "exact": large["p_cure_exact"], "n_large": n_large}


def varied_cohort(n: int, seed: int) -> pd.DataFrame:
    """``n`` patients around the preset with K_C and r_B lognormally perturbed (median = preset)."""
    rng = np.random.default_rng(seed)
    base = params().as_dict()
    df = pd.DataFrame({k: np.full(n, v) for k, v in base.items()})
    for k in ("K_C", "r_B"):
        df[k] = base[k] * np.exp(COHORT_SIGMA * rng.standard_normal(n))
    return df


def run(sizes: Sizes = Sizes(), seed: int = 2026) -> dict[str, Any]:
    """Run every peer; returns {"rows": [...], "exact": ..., "ratios": {...}, "notes": {...}}."""
    p = params()
    ssa = hybrid.SimOptions(t_end=T_END, threshold=100.0, method="ssa", rtol=1e-6)
    tau = hybrid.SimOptions(t_end=T_END, threshold=1e4, method="tau", rtol=1e-6)
    exact = float(hybrid.cure_probability_exact(p, T_END, ssa))
    rows = []

    sec, df = _cartsim_mc(p, sizes.mc, seed, ssa, exact=True)
    rows.append(_row("cartsim exact SSA (threshold 100), identical patients", sizes.mc, sec,
                     float((df["outcome"] == "cure").sum()), exact, True,
                     f"full 730-day hybrid on the tabulated fast path, p_cure_exact included, mean "
                     f"{df['n_events'].mean():.0f} SSA events/patient"))
    general = dataclasses.replace(ssa, tabulated=False)
    sec, df = _cartsim_mc(p, sizes.general, seed + 5, general, exact=True)
    rows.append(_row("the same on the general path (tabulated = false)", sizes.general, sec,
                     float((df["outcome"] == "cure").sum()), exact, True,
                     "the ODE integrated inside every patient's loop, hazards carried by the integrator"))
    up = user_path(2000, sizes.user)
    rows.append(_row("`cartsim cure --workers 1` (the user path)", up["n"], up["seconds"], up["p_cure"] * up["n"],
                     exact, True, f"two runs, {up['n_large']:,} and 2,000 patients; rate from the difference of "
                     "their wall times (start-up cancels); P(cure) of the large run"))
    sec, df = _cartsim_mc(p, sizes.tau, seed + 10, tau)
    rows.append(_row("cartsim tau-leaping (threshold 1e4)", sizes.tau, sec, float((df["outcome"] == "cure").sum()),
                     exact, True, f"full hybrid, mean {df['n_leaps'].mean():.0f} leaps + "
                     f"{df['n_events'].mean():.0f} exact events/patient"))

    # The oracle on a varied cohort; its mean P(cure) is checked against the Monte Carlo on a subset of it.
    cohort = varied_cohort(sizes.oracle, seed + 20)
    hybrid.cure_probability_exact(cohort.iloc[:4], T_END, ssa)  # warm-up
    t0 = time.perf_counter()
    p_exact = hybrid.cure_probability_exact(cohort, T_END, ssa)
    sec = time.perf_counter() - t0
    sec_mc, mc = _cartsim_mc(cohort, sizes.cohort_mc, seed + 30, ssa, exact=True)
    sub = cohort.iloc[: sizes.cohort_mc]
    ps = p_exact[: len(sub)]
    se_cohort = math.sqrt(float(np.sum(ps * (1 - ps)))) / len(sub)
    mc_cures = float((mc["outcome"] == "cure").sum())
    vrow = _row("cartsim exact SSA, varied cohort", len(sub), sec_mc, None, None, True,
                f"K_C, r_B lognormal (sigma {COHORT_SIGMA}): one Kendall solve per patient (table and "
                "p_cure_exact), then its events")
    vrow.update(p_cure=mc_cures / len(sub), se=se_cohort, exact=float(ps.mean()),
                z=(mc_cures / len(sub) - float(ps.mean())) / se_cohort)
    vrow["agrees"] = bool(abs(vrow["z"]) <= Z_AGREE)
    orow = _row("cartsim exact oracle (Kendall), varied cohort", sizes.oracle, sec, None, None, True,
                "one ODE solve per patient; the same cohort; P(cure) is the cohort mean of the exact values")
    orow.update(p_cure=float(p_exact.mean()), se=0.0, exact=float(p_exact.mean()))
    rows += [vrow, orow]

    t0 = time.perf_counter()
    ref = simulate_reference(p, sizes.reference, seed + 40, ssa)
    sec = time.perf_counter() - t0
    rows.append(_row("plain Python reference (hybrid/reference.py)", sizes.reference, sec,
                     float(sum(r["outcome"] == "cure" for r in ref)), exact, True,
                     "same algorithm (exact SSA, threshold 100), SciPy RK45 + event location, no Numba"))

    gh = bench_gillespy2.run_tau_hybrid(p, sizes.gillespy2_hybrid, seed + 50, ssa)
    rows.append(_row("GillesPy2 TauHybridSolver (NumPy)", gh["n"], gh["seconds"], float(gh["cures"]), exact, True,
                     "full 730-day model: N, C continuous rate rules, B dynamic (discrete at <= 100 cells); "
                     "runs every trajectory to day 730 (no progression stop)"))
    cpp_row = None
    if bench_gillespy2.cpp_available():
        gc = bench_gillespy2.run_tau_hybrid(p, sizes.gillespy2_hybrid_cpp, seed + 55, ssa, cpp=True)
        cpp_row = _row("GillesPy2 TauHybridCSolver (C++)", gc["n"], gc["seconds"], float(gc["cures"]), exact, True,
                       "the same GillesPy2 model and tolerances as the row above, compiled C++ solver (build "
                       "excluded)")
        rows.append(cpp_row)
    gs = bench_gillespy2.run_ssa_frozen(p, sizes.gillespy2_ssa, seed + 60, ssa)
    sw = gs["switch"]
    rows.append(_row("GillesPy2 SSA (NumPySSASolver), stand-in", gs["n"], gs["seconds"], float(gs["cures"]),
                     gs["exact"], False,
                     f"NOT the same work: SSA cannot hold N, C (~1e11 cells) or time-varying rates; runs only B "
                     f"from 100 cells at the day-{sw['t_days']:.1f} switch with C frozen at {sw['C']:.3g}, "
                     f"checked against that constant-rate process's own exact value {gs['exact']:.4f}"))

    by = {r["peer"]: r for r in rows}
    mc_rate = by["cartsim exact SSA (threshold 100), identical patients"]["per_s"]
    ratios = {
        "cartsim_vs_gillespy2_tauhybrid": mc_rate / by["GillesPy2 TauHybridSolver (NumPy)"]["per_s"],
        "cartsim_vs_gillespy2_tauhybrid_cpp": mc_rate / cpp_row["per_s"] if cpp_row else None,
        "cartsim_vs_reference": mc_rate / by["plain Python reference (hybrid/reference.py)"]["per_s"],
        "mc_patients_per_s_per_core": mc_rate,
        "mc_varied_patients_per_s_per_core": vrow["per_s"],
        "user_path_patients_per_s_per_core": by["`cartsim cure --workers 1` (the user path)"]["per_s"],
        "fast_vs_general_path": mc_rate / by["the same on the general path (tabulated = false)"]["per_s"],
        "oracle_patients_per_s_per_core": orow["per_s"],
    }
    return {"rows": rows, "exact": exact, "ratios": ratios, "parameters": "kimmel2021, r_B = 0.1/day",
            "t_end_days": T_END, "sizes": sizes.__dict__, "gillespy2": bench_gillespy2.status()}

"""Deterministic solve: cartsim's jitted Dormand–Prince integrator against SciPy's ``solve_ivp`` (LSODA) on the
Kimmel mean field, same relative tolerance, days 0–365, readouts at the days of the clinical CAR T counts.
Solves/s per core and the largest relative difference between the two.

cartsim is timed two ways: ``hybrid.solve_trajectory`` one call per solve (the public API; each call also
builds a pandas DataFrame), and the jitted kernel in a batch through ``hybrid.cure_probability_exact`` on a
DataFrame of patients whose K_C differs by a relative 1e-12 per patient, at most 2e-8 (the same integrator
carrying the mean field plus Kendall's two integrals; identical patients would share one solve and time
nothing)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

import hybrid
from hybrid.reference import _Rates

DAYS = np.array([7.0, 14.0, 28.0, 90.0, 365.0])
"""Readout days (days)."""
RTOL = 1e-8
ATOL = 1e-12
"""SciPy's absolute tolerance (cells): LSODA needs one > 0; cartsim's is pure relative (1e-30)."""


def _scipy_solve(p: hybrid.Parameters) -> np.ndarray:
    """(len(DAYS), 3) N, C, B from SciPy LSODA."""
    sol = solve_ivp(_Rates(p).mean_field, (0.0, float(DAYS[-1])), [p.N0, p.C0, p.B0], method="LSODA",
                    t_eval=DAYS, rtol=RTOL, atol=ATOL)
    if not sol.success:
        raise RuntimeError(f"LSODA failed: {sol.message}")
    return sol.y.T


def _timed(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - t0


def run(n_cartsim: int = 2000, n_scipy: int = 50, n_batch: int = 20_000) -> dict[str, Any]:
    """Time both solvers (warm-up excluded) and compare their values at ``DAYS``."""
    p = hybrid.Parameters.from_preset("kimmel2021", r_B=0.1)
    opts = hybrid.SimOptions(rtol=RTOL)
    cs = hybrid.solve_trajectory(p, DAYS, opts)[["N", "C", "B"]].to_numpy()  # also the warm-up
    sp = _scipy_solve(p)
    t_cartsim = _timed(lambda: hybrid.solve_trajectory(p, DAYS, opts), n_cartsim)
    t_scipy = _timed(lambda: _scipy_solve(p), n_scipy)
    batch = pd.DataFrame([p.as_dict()] * n_batch)
    batch["K_C"] *= 1.0 + 1e-12 * np.arange(n_batch)  # distinct rows: the oracle solves each one
    hybrid.cure_probability_exact(batch.iloc[:2], float(DAYS[-1]), opts)
    t_batch = _timed(lambda: hybrid.cure_probability_exact(batch, float(DAYS[-1]), opts), 1)
    rel = np.abs(cs - sp) / np.abs(sp)
    diffs = [{"day": float(d), **{s: float(rel[i, j]) for j, s in enumerate(("N", "C", "B"))}}
             for i, d in enumerate(DAYS)]
    cart_rate, scipy_rate = n_cartsim / t_cartsim, n_scipy / t_scipy
    batch_rate = n_batch / t_batch
    return {"rtol": RTOL, "scipy_atol": ATOL, "cartsim_solves_per_s": cart_rate, "scipy_solves_per_s": scipy_rate,
            "cartsim_batch_solves_per_s": batch_rate, "ratio": cart_rate / scipy_rate,
            "batch_ratio": batch_rate / scipy_rate, "max_rel_diff": float(rel.max()), "rel_diff": diffs,
            "values": {"days": DAYS.tolist(), "cartsim": cs.tolist(), "scipy_lsoda": sp.tolist()}}

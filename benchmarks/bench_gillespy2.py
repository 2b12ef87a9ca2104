"""GillesPy2 peers for the hybrid Kimmel model: the NumPy solvers and, when they build, the C++ ones.

- ``run_tau_hybrid``: GillesPy2's ``TauHybridSolver`` (or ``TauHybridCSolver``) on the full model, day 0 to t_end:
  N and C continuous (Gompertz rate rules), B a ``dynamic`` species with ``switch_min = threshold``, i.e.
  continuous while B > threshold and discrete (exact, with propensities integrated along the ODE) below it. This is
  the same work as cartsim's hybrid, except that GillesPy2 has no stop at progression, every trajectory runs to t_end.
- ``run_ssa_frozen``: GillesPy2's SSA cannot run the model at all (no continuous species, propensities cannot
  depend on time; N and C at ~1e9–1e11 cells would need ~1e10 events per day, B0 ~1e11 as many again). As a
  stand-in for scale only, the stochastic phase with C frozen at its value at the switch: B from ``threshold``
  with constant per-cell rates, compared with the closed-form extinction probability of that simpler process.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import hybrid

_RATE_PARAMS = ("K_N", "K_C", "r_N", "rho_C", "a", "b", "r_B", "gamma_B", "k_B", "d_B")
_TOTAL = "(N+C)"
_DC = (f"-(rho_C + b*({_TOTAL}-K_N)*({_TOTAL}-K_N)/(a*{_TOTAL}*{_TOTAL}+({_TOTAL}-K_N)*({_TOTAL}-K_N)))"
       f"*C*log({_TOTAL}/K_C)")


def _scons_on_path() -> None:
    """GillesPy2 builds its C++ solvers with the ``scons`` on PATH, else ``python -m SCons`` with the *resolved*
    interpreter, which for a virtualenv is the base Python without the venv's SCons; so put the venv's bin first."""
    venv_bin = str(Path(sys.executable).parent)
    if shutil.which("scons") is None and (Path(venv_bin) / "scons").exists():
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")


def cpp_available() -> bool:
    """Whether GillesPy2's C++ solvers can be built here (a compiler and SCons)."""
    _scons_on_path()
    return shutil.which("scons") is not None and shutil.which("g++") is not None


def status() -> dict[str, str]:
    """GillesPy2's version and whether its C++ solvers are available."""
    import gillespy2

    return {"gillespy2": gillespy2.__version__,
            "cpp_solvers": "available" if cpp_available() else "unavailable (needs g++ and SCons)"}


def build_model(params: hybrid.Parameters, t_end: float, threshold: float, *, n0: float | None = None,
                c0: float | None = None, b0: float | None = None):
    """The Kimmel model as a GillesPy2 model for ``TauHybridSolver``: N, C continuous, B dynamic (discrete at
    or below ``threshold`` cells), output every day up to ``t_end`` days."""
    import gillespy2

    m = gillespy2.Model(name="kimmel2021")
    m.add_parameter([gillespy2.Parameter(name=k, expression=repr(float(getattr(params, k)))) for k in _RATE_PARAMS])
    n = gillespy2.Species(name="N", initial_value=params.N0 if n0 is None else n0, mode="continuous")
    c = gillespy2.Species(name="C", initial_value=params.C0 if c0 is None else c0, mode="continuous")
    b = gillespy2.Species(name="B", initial_value=params.B0 if b0 is None else b0, mode="dynamic",
                          switch_min=threshold)
    m.add_species([n, c, b])
    m.add_rate_rule(gillespy2.RateRule(name="dN", variable="N", formula=f"-r_N*N*log({_TOTAL}/K_N)"))
    m.add_rate_rule(gillespy2.RateRule(name="dC", variable="C", formula=_DC))
    m.add_reaction(gillespy2.Reaction(name="B_birth", reactants={b: 1}, products={b: 2},
                                      propensity_function="(r_B+d_B)*B"))
    m.add_reaction(gillespy2.Reaction(name="B_death", reactants={b: 1}, products={},
                                      propensity_function="(d_B+gamma_B*C/(k_B+C))*B"))
    m.timespan(np.linspace(0.0, t_end, int(round(t_end)) + 1))
    return m


def _classify(b: np.ndarray, prog_level: float) -> str:
    """Outcome of one GillesPy2 trajectory of B (cells, daily): extinction is absorbing, so B = 0 at the end is
    a cure; otherwise progression if B ever reached the progression level."""
    if b[-1] <= 0.0:
        return "cure"
    return "progression" if b.max() >= prog_level else "censored"


def run_tau_hybrid(params: hybrid.Parameters, n: int, seed: int, options: hybrid.SimOptions,
                   cpp: bool = False) -> dict[str, Any]:
    """``n`` full trajectories with ``TauHybridSolver`` (``cpp``: ``TauHybridCSolver``), ODE rtol =
    options.rtol; the C++ build and a warm-up run are excluded from the time."""
    import gillespy2

    model = build_model(params, options.t_end, options.threshold)
    if cpp:
        _scons_on_path()
    solver = (gillespy2.TauHybridCSolver if cpp else gillespy2.TauHybridSolver)(model=model)
    integ = {"rtol": options.rtol, "atol": 1e-6}  # atol in cells: negligible against N, C >= 1e8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solver.run(number_of_trajectories=1, seed=seed + 1, integrator_options=integ)
        t0 = time.perf_counter()
        res = solver.run(number_of_trajectories=n, seed=seed, integrator_options=integ)
        seconds = time.perf_counter() - t0
    prog = options.progression_factor * params.B0
    outcomes = [_classify(np.asarray(r["B"]), prog) for r in res]
    return {"n": n, "seconds": seconds, "cures": sum(o == "cure" for o in outcomes),
            "outcomes": {k: outcomes.count(k) for k in ("cure", "progression", "censored")}}


def switch_point(params: hybrid.Parameters, threshold: float) -> dict[str, float]:
    """Day and mean-field N, C (cells) at which B first falls below ``threshold`` (to 0.01 day)."""
    t = np.arange(0.0, 200.0, 0.01)
    tr = hybrid.solve_trajectory(params, t)
    k = int(np.argmax(tr["B"].to_numpy() < threshold))
    if k == 0:
        raise RuntimeError("the mean-field tumour never falls below the threshold within 200 days")
    return {"t_days": float(t[k]), "N": float(tr["N"][k]), "C": float(tr["C"][k])}


def extinction_constant_rates(lam: float, mu: float, n0: int, t: float) -> float:
    """P(a linear birth–death process with constant rates lam, mu (1/day) from n0 cells is extinct by t)."""
    if abs(lam - mu) < 1e-12:
        p0 = lam * t / (1.0 + lam * t)
    else:
        e = math.exp((lam - mu) * t)
        p0 = mu * (e - 1.0) / (lam * e - mu)
    return p0**n0


def run_ssa_frozen(params: hybrid.Parameters, n: int, seed: int, options: hybrid.SimOptions) -> dict[str, Any]:
    """GillesPy2 NumPy SSA on the stand-in: B from ``threshold`` at the switch day with C frozen there."""
    import gillespy2

    sw = switch_point(params, options.threshold)
    lam = params.r_B + params.d_B
    mu = params.d_B + params.gamma_B * sw["C"] / (params.k_B + sw["C"])
    horizon = options.t_end - sw["t_days"]
    m = gillespy2.Model(name="frozen_phase")
    m.add_parameter([gillespy2.Parameter(name="lam", expression=repr(lam)),
                     gillespy2.Parameter(name="mu", expression=repr(mu))])
    n_start = int(math.floor(options.threshold + 0.5))
    b = gillespy2.Species(name="B", initial_value=n_start, mode="discrete")
    m.add_species([b])
    m.add_reaction(gillespy2.Reaction(name="birth", reactants={b: 1}, products={b: 2}, rate="lam"))
    m.add_reaction(gillespy2.Reaction(name="death", reactants={b: 1}, products={}, rate="mu"))
    m.timespan(np.linspace(0.0, horizon, int(horizon) + 1))
    solver = gillespy2.NumPySSASolver(model=m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solver.run(number_of_trajectories=1, seed=seed + 1)
        t0 = time.perf_counter()
        res = solver.run(number_of_trajectories=n, seed=seed)
        seconds = time.perf_counter() - t0
    cures = sum(float(np.asarray(r["B"])[-1]) <= 0.0 for r in res)
    return {"n": n, "seconds": seconds, "cures": cures, "switch": sw, "lam": lam, "mu": mu,
            "exact": extinction_constant_rates(lam, mu, n_start, horizon)}

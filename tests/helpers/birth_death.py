"""A constant-rate linear birth–death model for the engine's tests: X -> 2X at lam*X, X -> 0 at mu*X."""

import numpy as np
from numba import njit

from hybrid import engine
from hybrid.dosing import D_SIZE
from hybrid.integrator import RATES_SIG
from hybrid.rng import seed_states


@njit(RATES_SIG, cache=True)
def bd_rates(t, x, p, out):
    out[0] = p[0] * x[0]
    out[1] = p[1] * x[0]


S = np.array([[1.0], [-1.0]])


def run(lam: float, mu: float, n0: int, t_end: float, n: int, seed: int, stop_at: float = np.inf,
        method_tau: bool = False, tau_eps: float = 0.03, tau_critical: float = 50.0):
    """Run n patients of the pure stochastic process (threshold above every count). Returns (outcome codes,
    X(t_end) with 0 for extinct lineages and NaN where the run stopped at ``stop_at``)."""
    p = np.array([lam, mu])
    x0 = np.array([float(n0)])
    states = seed_states(np.random.SeedSequence(seed).spawn(n))
    rec_t = np.array([t_end])
    outcome = np.empty(n, dtype=np.int64)
    final = np.empty(n)
    no_doses = np.zeros((0, D_SIZE))
    opt = np.zeros(engine.O_SIZE)
    opt[[engine.O_T_END, engine.O_THRESHOLD, engine.O_UP_THRESHOLD, engine.O_PROG_LEVEL]] = t_end, 1e15, 2e15, stop_at
    opt[[engine.O_METHOD_TAU, engine.O_TAU_EPS, engine.O_TAU_CRITICAL]] = float(method_tau), tau_eps, tau_critical
    opt[[engine.O_RTOL, engine.O_ATOL, engine.O_AUC_UNTIL]] = 1e-8, 1e-30, 0.0
    for k in range(n):
        rec = np.full((1, 1), np.nan)
        r = np.zeros(engine.R_SIZE)
        one = np.array([True])  # the one species may go stochastic and is the tumour
        engine.run_patient(bd_rates, p, S, one, one, 0, x0, opt, no_doses, rec_t, rec, states[k], r)
        outcome[k] = int(r[engine.R_OUTCOME])
        final[k] = 0.0 if outcome[k] == engine.OUTCOME_CURE else rec[0, 0]
    return outcome, final

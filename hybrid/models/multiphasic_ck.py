"""Multiphasic CAR T cellular kinetics (the empirical form pharmacometricians fit; Stein et al. 2019, CPT
Pharmacometrics Syst Pharmacol 8:285, as described in Murias-Closas et al. 2025, ../shared/seeds/002), optionally
driving a stochastic tumour.

Species E (effector CAR T), M (memory CAR T), B (tumour), in cells; time in days. Effector cells expand
exponentially until T_max; afterwards they die (alpha_E) and convert to memory cells (beta_EM), which decline
slowly (kappa_M): a fast then a slow phase of decline::

    t <  T_max:  dE/dt = rho_exp E,                 dM/dt = 0
    t >= T_max:  dE/dt = -(alpha_E + beta_EM) E,    dM/dt = beta_EM E - kappa_M M
    dB/dt = (r_B + d_B) B - (d_B + gamma_B E / (k_B + E)) B

Blood CAR T = E + M. Cmax, Tmax, AUC0-28 and the two half-lives follow in closed form (:func:`kinetics`).
With B0 = 0 the model is kinetics only. The tumour acts on nothing, so Kendall's formula gives P(cure) exactly.
The source gives no population values in the text we hold, so the kinetic defaults are assumed, chosen to land
Cmax and Tmax inside the clinical ranges of Huang et al. (../shared/seeds/000: median Cmax 40-90 cells/µL, Tmax
8-15 days).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numba import njit

from ..constraints import NON_NEGATIVE
from ..integrator import RATES_SIG
from ..model import ModelSpec
from ..paramspec import ParamSpec
from . import kimmel2021 as kimmel

_RANGE = "assumed: with C0 gives Cmax ~55 cells/µL at Tmax 10 days, inside the ranges of Huang et al. (seed 000)"
PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("rho_exp", "1/day", "effector expansion rate until T_max", 0.5, _RANGE, NON_NEGATIVE),
    ParamSpec("T_max", "day", "time of peak expansion", 10.0,
              "assumed: inside the median Tmax 8-15 days of Huang et al. (seed 000)", NON_NEGATIVE),
    ParamSpec("alpha_E", "1/day", "effector death rate after T_max", 0.30,
              "assumed (fast-phase half-life ln2 / (alpha_E + beta_EM) = 2 days)", NON_NEGATIVE),
    ParamSpec("beta_EM", "1/day", "effector to memory conversion rate after T_max", 0.05, "assumed",
              NON_NEGATIVE),
    ParamSpec("kappa_M", "1/day", "memory decline rate", 0.007,
              "assumed (slow-phase half-life ~100 days, CAR T persistence over months)", NON_NEGATIVE),
    ParamSpec("C0", "cells", "CAR T cells infused (all effector)", 1.80e8, "Kimmel et al. 2021, Table 1",
              NON_NEGATIVE),
    ParamSpec("M0", "cells", "memory CAR T cells at infusion", 0.0, "assumed", NON_NEGATIVE),
    *(p for p in kimmel.PARAMS if p.name in ("r_B", "gamma_B", "k_B", "d_B")),
    ParamSpec("B0", "cells", "tumour cells at infusion (0: kinetics only)", 9.486e10, "Kimmel et al. 2021, Table 1",
              NON_NEGATIVE),
)
_I = {p.name: k for k, p in enumerate(PARAMS)}
RHO, TMAX, ALPHA, BETA, KAPPA, R_B, GAMMA_B, K_B, D_B = (
    _I[n] for n in ("rho_exp", "T_max", "alpha_E", "beta_EM", "kappa_M", "r_B", "gamma_B", "k_B", "d_B"))


@njit(RATES_SIG, cache=True)
def rates(t, x, p, out):
    """Propensities (events/day) of: effector net growth, effector -> memory, memory decline, B birth, B death."""
    e, m, b = x[0], x[1], x[2]
    expanding = t < p[TMAX]
    out[0] = p[RHO] * e if expanding else -p[ALPHA] * e
    out[1] = 0.0 if expanding else p[BETA] * e
    out[2] = p[KAPPA] * m
    out[3] = (p[R_B] + p[D_B]) * b
    out[4] = (p[D_B] + p[GAMMA_B] * e / (p[K_B] + e)) * b


def kinetics(p: Mapping[str, float] | object, auc_until: float = 28.0) -> dict[str, float]:
    """Closed-form kinetics of blood CAR T (E + M, cells; M0 = 0): Cmax (cells), Tmax (days), AUC over
    [0, auc_until] (cells * day) and the fast and slow half-lives of the decline (days)."""
    g = (lambda k: p[k]) if isinstance(p, Mapping) else (lambda k: getattr(p, k))
    c0, rho, tmax, a, b, kap = (g(k) for k in ("C0", "rho_exp", "T_max", "alpha_E", "beta_EM", "kappa_M"))
    fast = a + b
    cmax = c0 * math.exp(rho * tmax)
    tau = max(auc_until - tmax, 0.0)
    auc = c0 * math.expm1(rho * min(tmax, auc_until)) / rho if rho > 0 else c0 * min(tmax, auc_until)
    if tau > 0:
        auc_e = cmax * -math.expm1(-fast * tau) / fast
        # M(s) = b cmax (e^-kap s - e^-fast s) / (fast - kap)
        auc_m = b * cmax / (fast - kap) * (-math.expm1(-kap * tau) / kap + math.expm1(-fast * tau) / fast)
        auc += auc_e + auc_m
    return {"Cmax": cmax, "Tmax": tmax, f"AUC0_{auc_until:g}": auc, "t_half_fast": math.log(2) / fast,
            "t_half_slow": math.log(2) / kap}


MODEL = ModelSpec(
    name="multiphasic_ck",
    species=("E", "M", "B"),
    reactions=("E_net", "E_to_M", "M_decline", "B_birth", "B_death"),
    stoichiometry=np.array([
        [1.0, 0.0, 0.0],
        [-1.0, 1.0, 0.0],
        [0.0, -1.0, 0.0],
        [0.0, 0.0, 1.0],
        [0.0, 0.0, -1.0],
    ]),
    rates=rates,
    params=PARAMS,
    presets={"multiphasic_ck": {}, "multiphasic_ck_kinetics_only": {"B0": 0.0}},
    stochastic=("B",),
    tumour="B",
    effector="E",
    lymphocytes=None,
    initial=("C0", "M0", "B0"),
    linear_tumour=True,
    tumour_parents={"B_birth": "B", "B_death": "B"},
    breakpoints=("T_max",),
    rate_laws=("rho_exp * E * (1 - after_T_max) - alpha_E * E * after_T_max", "beta_EM * E * after_T_max",
               "kappa_M * M", "(r_B + d_B) * B", "(d_B + gamma_B * E / (k_B + E)) * B"),
    doc="Empirical multiphasic CAR T kinetics (expansion to T_max, effector -> memory biphasic decline; Stein et "
    "al. 2019 form) driving a linear tumour; Kendall's formula is exact.",
    sources=("Stein AM et al. (2019) Tisagenlecleucel model-based cellular kinetic analysis of chimeric antigen "
             "receptor-T cells. CPT Pharmacometrics Syst Pharmacol 8:285-295 (form, via Murias-Closas et al. 2025)",),
)

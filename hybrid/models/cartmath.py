"""CARTmath (Barros et al. 2021): effector and memory CAR T cells against a tumour, the model of the authors' app.

Barros LRC, Paixão EA, Valli AMP, Naozuka GT, Fassoni AC, Almeida RC (2021) CARTmath - a mathematical model of
CAR-T immunotherapy in preclinical studies of hematological cancers. Cancers 13:2941. The equations and every
default below are read from the authors' code, github.com/tmglncc/CARTmath (commit 4688e80): ``deriv`` in
rk4.R and the dataset values in server.R (the paper's rho, theta and mu are named rho_E, theta_M and mu_M
here). Species C_T (effector CAR T), C_M (memory CAR T), T (tumour), in cells; time in days::

    dC_T/dt = (phi - rho_E) C_T + theta_M T C_M - alpha T C_T
    dC_M/dt = epsilon C_T - theta_M T C_M - mu_M C_M
    dT/dt   = r T (1 - b T) - gamma T C_T

The tumour goes stochastic below the threshold with per-cell birth rate r and death rate r b T + gamma C_T
(logistic growth split into birth and crowding death). T acts on C_T and C_M, so only the Monte Carlo holds.

Day 0 is the CAR T infusion here. The authors' datasets inject the tumour on day 0 and CAR T cells later (day
42 for HDLM-2, day 7 for RAJI): set C_T0 = 0 and give the infusion as a dose (``Dose(day=42, car_t_cells=...)``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..constraints import NON_NEGATIVE
from ..integrator import RATES_SIG
from ..model import ModelSpec
from ..paramspec import ParamSpec

_CODE = "CARTmath app code (tmglncc/CARTmath, server.R)"
_HD = f"{_CODE}, HDLM-2 datasets ex1-ex3 (Barros et al. 2021, Fig. 3a, 4a, 4d)"
PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("r", "1/day", "tumour proliferation rate", 5.650026e-2, _HD, NON_NEGATIVE),
    ParamSpec("b", "1/cell", "inverse of the tumour carrying capacity", 1.404029e-12, _HD, NON_NEGATIVE),
    ParamSpec("gamma", "1/(cell day)", "tumour death by effector CAR T cells", 3.715843e-6, _HD, NON_NEGATIVE),
    ParamSpec("phi", "1/day", "effector CAR T proliferation rate", 0.265, _HD, NON_NEGATIVE),
    ParamSpec("rho_E", "1/day", "effector CAR T reduction rate (death and differentiation)", 0.35, _HD,
              NON_NEGATIVE),
    ParamSpec("alpha", "1/(cell day)", "effector CAR T inhibition by the tumour", 4.5e-8, _HD, NON_NEGATIVE),
    ParamSpec("epsilon", "1/day", "effector to memory conversion rate", 0.15, _HD, NON_NEGATIVE),
    ParamSpec("mu_M", "1/day", "memory CAR T death rate", 5.0e-3, _HD, NON_NEGATIVE),
    ParamSpec("theta_M", "1/(cell day)", "memory to effector conversion on antigen contact", 6.0e-6, _HD,
              NON_NEGATIVE),
    ParamSpec("CT0", "cells", "effector CAR T cells infused at day 0", 1.5e6,
              f"{_CODE}, dataset ex1 (1.5e6 cells; infused on day 42 there)", NON_NEGATIVE),
    ParamSpec("CM0", "cells", "memory CAR T cells at day 0", 0.0, f"{_CODE} (initial condition 0)", NON_NEGATIVE),
    ParamSpec("T0", "cells", "tumour cells at day 0", 2.0e6, f"{_CODE}, dataset ex1 (2e6 cells injected)"),
)
_RAJI = f"{_CODE}, RAJI dataset ex4 (Barros et al. 2021, Fig. 3b)"
PRESETS: dict[str, dict[str, float]] = {
    "cartmath_hdlm2": {},
    # RAJI in SCID/Beige mice, CD19 CAR T (Ninomiya et al. 2015 data): _RAJI
    "cartmath_raji": {"r": 5.071721e-1, "b": 0.0, "gamma": 3.365388e-8, "phi": 0.83, "rho_E": 0.8300536,
                      "alpha": 1.248506e-8, "epsilon": 1.59795, "mu_M": 6.89e-7, "theta_M": 2.3e-4,
                      "CT0": 1.0e7, "T0": 3.0e6},
}
_I = {p.name: k for k, p in enumerate(PARAMS)}
R, B_, GAMMA, PHI, RHO_E, ALPHA, EPS, MU, THETA = (
    _I[n] for n in ("r", "b", "gamma", "phi", "rho_E", "alpha", "epsilon", "mu_M", "theta_M"))


@njit(RATES_SIG, cache=True)
def rates(t, x, p, out):
    """Propensities (events/day) of: effector net growth, memory -> effector, effector inhibition, effector ->
    memory, memory death, tumour birth, tumour death."""
    ct, cm, tu = x[0], x[1], x[2]
    out[0] = (p[PHI] - p[RHO_E]) * ct
    out[1] = p[THETA] * tu * cm
    out[2] = p[ALPHA] * tu * ct
    out[3] = p[EPS] * ct
    out[4] = p[MU] * cm
    out[5] = p[R] * tu
    out[6] = (p[R] * p[B_] * tu + p[GAMMA] * ct) * tu


MODEL = ModelSpec(
    name="cartmath",
    species=("C_T", "C_M", "T"),
    reactions=("effector_growth", "memory_to_effector", "effector_inhibition", "effector_to_memory",
               "memory_death", "T_birth", "T_death"),
    stoichiometry=np.array([
        [1.0, 0.0, 0.0],
        [1.0, -1.0, 0.0],
        [-1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, -1.0, 0.0],
        [0.0, 0.0, 1.0],
        [0.0, 0.0, -1.0],
    ]),
    rates=rates,
    params=PARAMS,
    presets=PRESETS,
    stochastic=("T",),
    tumour="T",
    effector="C_T",
    lymphocytes=None,
    initial=("CT0", "CM0", "T0"),
    linear_tumour=False,
    rate_laws=("(phi - rho_E) * C_T", "theta_M * T * C_M", "alpha * T * C_T", "epsilon * C_T", "mu_M * C_M",
               "r * T", "(r * b * T + gamma * C_T) * T"),
    doc="Barros et al. 2021 (CARTmath): effector and memory CAR T cells, logistic tumour; the tumour acts on the "
    "CAR T cells, so only the Monte Carlo holds.",
    sources=("Barros LRC et al. (2021) CARTmath - a mathematical model of CAR-T immunotherapy in preclinical "
             "studies of hematological cancers. Cancers 13:2941; code github.com/tmglncc/CARTmath",),
)

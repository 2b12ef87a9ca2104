"""Kimmel, Locke & Altrock (2021), Proc R Soc B 288:20210229: normal T cells, CAR T cells and tumour.

Species N (normal T cells), C (CAR T cells), B (tumour cells), in cells; time in days::

    dN/dt = -r_N N ln((N + C) / K_N)
    dC/dt = -r_C(T) C ln((N + C) / K_C),   r_C = rho_C + b (T - K_N)^2 / (a T^2 + (T - K_N)^2),  T = N + C
    dB/dt = (r_B + d_B) B - (d_B + gamma_B C / (k_B + C)) B

N and C (~1e9–1e11 cells) stay deterministic; B goes stochastic below the threshold as a birth–death process
with birth rate r_B + d_B and death rate d_B + gamma_B C/(k_B + C) per cell. B acts on nothing, so Kendall's
formula gives P(cure) exactly.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..constraints import NON_NEGATIVE
from ..integrator import RATES_SIG
from ..model import ModelSpec
from ..paramspec import ParamSpec
from ..units import volume_to_cells

_T1 = "Kimmel et al. 2021, Table 1"
_ASSUMED = "assumed: the app's and the fits' range"
PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("K_N", "cells", "normal T-cell carrying capacity", 2.50e11, _T1,
              plausible=(1e11, 5e11), plausible_source=f"{_ASSUMED} (200-1000 normal T cells/µL of blood)"),
    ParamSpec("K_C", "cells", "CAR T-cell carrying capacity (quartiles 6.15e10-9.65e10)", 6.96e10, _T1,
              plausible=(1e10, 5e11),
              plausible_source=f"{_ASSUMED} (20-1000 cells/µL; Table 1's quartiles lie well inside)"),
    ParamSpec("r_N", "1/day", "normal T-cell growth rate", 0.170, _T1,
              plausible=(0.03, 1.0), plausible_source=_ASSUMED),
    ParamSpec("rho_C", "1/day", "baseline CAR T growth rate", 0.0251, _T1, NON_NEGATIVE,
              plausible=(0.001, 0.2), plausible_source=_ASSUMED),
    ParamSpec("a", "1", "signalling inefficiency in r_C", 0.423, _T1,
              plausible=(0.05, 3.0), plausible_source=_ASSUMED),
    ParamSpec("b", "1/day", "immune-reconstitution impact in r_C", 0.525, _T1, NON_NEGATIVE,
              plausible=(0.05, 3.0), plausible_source=_ASSUMED),
    ParamSpec("r_B", "1/day", "tumour net growth rate", 0.10,
              f"assumed within the range 0.01-0.5 of {_T1}", plausible=(0.01, 0.5), plausible_source=_T1),
    ParamSpec("gamma_B", "1/day", "maximal killing rate", 1.15, _T1, NON_NEGATIVE,
              plausible=(0.1, 5.0), plausible_source=_ASSUMED),
    ParamSpec("k_B", "cells", "killing saturation constant", 2.024e9, _T1,
              plausible=(2e8, 2e10), plausible_source=_ASSUMED),
    ParamSpec("d_B", "1/day", "intrinsic tumour death rate (birth rate is r_B + d_B)", 0.0,
              "assumed: the paper gives only the net rate r_B", NON_NEGATIVE,
              plausible=(0.0, 1.0), plausible_source=_ASSUMED),
    ParamSpec("N0", "cells", "normal T cells at infusion (after lymphodepletion)", 3.00e9, _T1, NON_NEGATIVE,
              plausible=(1e8, 3e10), plausible_source=f"{_ASSUMED} (0.2-60 cells/µL after lymphodepletion)"),
    ParamSpec("C0", "cells", "CAR T cells infused", 1.80e8, _T1, NON_NEGATIVE,
              plausible=(2e7, 5e9),
              plausible_source="Huang et al. (seed 000): infused 0.2-5 x 10^8 cells, flat or per kg (up to "
                               "~3.5e10 for 70 kg; 5e9 assumed as the top)"),
    ParamSpec("B0", "cells", "tumour cells at infusion (the median metabolic tumour volume, 94.86 ml)",
              float(volume_to_cells(94.86)), _T1,
              plausible=(1e9, 5e11), plausible_source=f"{_ASSUMED} (1-500 ml of tumour)"),
)

PRESETS: dict[str, dict[str, float]] = {
    "kimmel2021": {},  # Table 1 with r_B = 0.1/day
    # the paper's three PFS cohorts (Fig. 3b)
    "kimmel2021_slow": {"r_B": 0.105},
    "kimmel2021_medium": {"r_B": 0.19},
    "kimmel2021_fast": {"r_B": 0.265},
}

_I = {p.name: k for k, p in enumerate(PARAMS)}
K_N, K_C, R_N, RHO_C, A, B_, R_B, GAMMA_B, K_B, D_B = (
    _I[n] for n in ("K_N", "K_C", "r_N", "rho_C", "a", "b", "r_B", "gamma_B", "k_B", "d_B")
)


@njit(cache=True)
def gompertz(rate, x, total, capacity):
    """-rate * x * ln(total / capacity), taken as 0 for an empty population."""
    if x <= 0.0 or total <= 0.0:
        return 0.0
    return -rate * x * math.log(total / capacity)


@njit(cache=True)
def r_c(p, total):
    """CAR T growth rate r_C(T) at total T cells T."""
    d = total - p[K_N]
    return p[RHO_C] + p[B_] * d * d / (p[A] * total * total + d * d)


@njit(RATES_SIG, cache=True)
def rates(t, x, p, out):
    """Propensities (events/day) of: N net growth, C net growth, B birth, B death."""
    n, c, b = x[0], x[1], x[2]
    total = n + c
    out[0] = gompertz(p[R_N], n, total, p[K_N])
    out[1] = gompertz(r_c(p, total), c, total, p[K_C]) if total > 0.0 else 0.0
    out[2] = (p[R_B] + p[D_B]) * b
    out[3] = (p[D_B] + p[GAMMA_B] * c / (p[K_B] + c)) * b


STRUCTURE = dict(
    species=("N", "C", "B"),
    reactions=("N_growth", "C_growth", "B_birth", "B_death"),
    stoichiometry=np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]),
    stochastic=("B",),
    tumour="B",
    effector="C",
    lymphocytes="N",
    initial=("N0", "C0", "B0"),
)
"""Species, reactions and roles, shared with the model's variants."""

TOTAL_LAW = "(N + C)"
RC_LAW = f"(rho_C + b * ({TOTAL_LAW} - K_N)^2 / (a * {TOTAL_LAW}^2 + ({TOTAL_LAW} - K_N)^2))"
RATE_LAWS = (
    f"-r_N * N * ln({TOTAL_LAW} / K_N)",
    f"-{RC_LAW} * C * ln({TOTAL_LAW} / K_C)",
    "(r_B + d_B) * B",
    "(d_B + gamma_B * C / (k_B + C)) * B",
)
"""SBML infix of :func:`rates`, for export."""

MODEL = ModelSpec(
    name="kimmel2021",
    rates=rates,
    params=PARAMS,
    presets=PRESETS,
    linear_tumour=True,
    tumour_parents={"B_birth": "B", "B_death": "B"},
    rate_laws=RATE_LAWS,
    sources=("Kimmel GJ, Locke FL, Altrock PM (2021) The roles of T cell competition and stochastic extinction "
             "events in chimeric antigen receptor T cell therapy. Proc R Soc B 288:20210229",),
    doc="Kimmel et al. 2021, equations (2.1)-(2.3); linear in B, so Kendall's formula is exact.",
    **STRUCTURE,
)

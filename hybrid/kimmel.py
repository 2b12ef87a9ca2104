"""The Kimmel, Locke & Altrock (2021) model and its tumour-feedback variant, as reaction models.

Species N (normal T cells), C (CAR T cells), B (tumour cells), in cells; time in days::

    dN/dt = -r_N N ln((N + C) / K_N)
    dC/dt = -r_C(T, B) C ln((N + C) / K_C),   r_C = rho_C + b (T - K_N)^2 / (a T^2 + (T - K_N)^2) [+ s_B B/(h_B + B)]
    dB/dt = (r_B + d_B) B - (d_B + gamma_B C / (k_B + C)) B

N and C (~1e9–1e11 cells) stay deterministic; B goes stochastic below the threshold as a birth–death process
with birth rate r_B + d_B and death rate d_B + gamma_B C/(k_B + C) per cell.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .integrator import RATES_SIG
from .model import ModelSpec
from .params import PARAM_NAMES

_I = {name: k for k, name in enumerate(PARAM_NAMES)}
K_N, K_C, R_N, RHO_C, A, B_, R_B, GAMMA_B, K_B, D_B = (
    _I[n] for n in ("K_N", "K_C", "r_N", "rho_C", "a", "b", "r_B", "gamma_B", "k_B", "d_B")
)
S_B, H_B = _I["s_B"], _I["h_B"]


@njit(cache=True)
def _gompertz(rate, x, total, capacity):
    """-rate * x * ln(total / capacity), taken as 0 for an empty population."""
    if x <= 0.0 or total <= 0.0:
        return 0.0
    return -rate * x * math.log(total / capacity)


@njit(cache=True)
def _r_c(p, total):
    d = total - p[K_N]
    return p[RHO_C] + p[B_] * d * d / (p[A] * total * total + d * d)


@njit(RATES_SIG, cache=True)
def kimmel_rates(t, x, p, out):
    """Propensities (events/day) of: N net growth, C net growth, B birth, B death."""
    n, c, b = x[0], x[1], x[2]
    total = n + c
    out[0] = _gompertz(p[R_N], n, total, p[K_N])
    out[1] = _gompertz(_r_c(p, total), c, total, p[K_C]) if total > 0.0 else 0.0
    out[2] = (p[R_B] + p[D_B]) * b
    out[3] = (p[D_B] + p[GAMMA_B] * c / (p[K_B] + c)) * b


@njit(RATES_SIG, cache=True)
def kimmel_bfeedback_rates(t, x, p, out):
    """As :func:`kimmel_rates`, with CAR T growth also stimulated by the tumour: r_C += s_B B / (h_B + B)."""
    n, c, b = x[0], x[1], x[2]
    total = n + c
    rc = _r_c(p, total) + p[S_B] * b / (p[H_B] + b) if total > 0.0 else 0.0
    out[0] = _gompertz(p[R_N], n, total, p[K_N])
    out[1] = _gompertz(rc, c, total, p[K_C])
    out[2] = (p[R_B] + p[D_B]) * b
    out[3] = (p[D_B] + p[GAMMA_B] * c / (p[K_B] + c)) * b


_S = np.array(
    [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],
        [0.0, 0.0, -1.0],
    ]
)
_COMMON = dict(
    species=("N", "C", "B"),
    reactions=("N_growth", "C_growth", "B_birth", "B_death"),
    stoichiometry=_S,
    stochastic=("B",),
    tumour="B",
    effector="C",
    lymphocytes="N",
    initial=("N0", "C0", "B0"),
)

KIMMEL2021 = ModelSpec(
    name="kimmel2021",
    rates=kimmel_rates,
    linear_tumour=True,
    tumour_birth="B_birth",
    tumour_death="B_death",
    doc="Kimmel et al. 2021, equations (2.1)-(2.3); linear in B, so Kendall's formula is exact.",
    **_COMMON,
)

KIMMEL2021_BFEEDBACK = ModelSpec(
    name="kimmel2021_bfeedback",
    rates=kimmel_bfeedback_rates,
    linear_tumour=False,
    doc="Kimmel et al. 2021 with CAR T expansion stimulated by the tumour (s_B, h_B); B acts on C, so only the "
    "Monte Carlo holds.",
    **_COMMON,
)

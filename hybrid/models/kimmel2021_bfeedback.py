"""Kimmel et al. (2021) with CAR T expansion stimulated by the tumour, a variant the paper discusses:
r_C(T, B) = r_C(T) + s_B B / (h_B + B). B then acts on C, so only the Monte Carlo holds (no Kendall oracle)."""

from __future__ import annotations

from numba import njit

from ..constraints import NON_NEGATIVE
from ..integrator import RATES_SIG
from ..model import ModelSpec
from ..paramspec import ParamSpec
from . import kimmel2021 as base

PARAMS: tuple[ParamSpec, ...] = (
    *base.PARAMS,
    ParamSpec("s_B", "1/day", "tumour stimulation of CAR T growth", 0.0,
              "assumed (0: no stimulation, the paper's base model)", NON_NEGATIVE),
    ParamSpec("h_B", "cells", "tumour size at half-maximal stimulation", 1.0e9, "assumed"),
)
S_B, H_B = len(base.PARAMS), len(base.PARAMS) + 1


@njit(RATES_SIG, cache=True)
def rates(t, x, p, out):
    """As :func:`kimmel2021.rates`, with r_C += s_B B / (h_B + B)."""
    n, c, b = x[0], x[1], x[2]
    total = n + c
    rc = base.r_c(p, total) + p[S_B] * b / (p[H_B] + b) if total > 0.0 else 0.0
    out[0] = base.gompertz(p[base.R_N], n, total, p[base.K_N])
    out[1] = base.gompertz(rc, c, total, p[base.K_C])
    out[2] = (p[base.R_B] + p[base.D_B]) * b
    out[3] = (p[base.D_B] + p[base.GAMMA_B] * c / (p[base.K_B] + c)) * b


MODEL = ModelSpec(
    name="kimmel2021_bfeedback",
    rates=rates,
    params=PARAMS,
    presets=base.PRESETS,
    linear_tumour=False,
    rate_laws=(base.RATE_LAWS[0],
               f"-({base.RC_LAW} + s_B * B / (h_B + B)) * C * ln({base.TOTAL_LAW} / K_C)",
               *base.RATE_LAWS[2:]),
    doc="Kimmel et al. 2021 with CAR T expansion stimulated by the tumour (s_B, h_B); B acts on C, so only the "
    "Monte Carlo holds.",
    **base.STRUCTURE,
)

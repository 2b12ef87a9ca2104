"""Kimmel et al. (2021) carrying the cytokine-release layer with its feedback switched on: IL-6 boosts the CAR T
expansion rate, r_C(T) + kappa_L IL6/(h_L + IL6) (:data:`hybrid.models.cytokines.FEEDBACK_PARAMS`). The tumour
then drives its own attackers through its killing flux, so only the Monte Carlo holds (no Kendall oracle). With
kappa_L = 0 it is ``kimmel2021_crs``.
"""

from __future__ import annotations

from numba import njit

from ..integrator import RATES_SIG
from ..model import ModelSpec
from ..paramspec import ParamSpec
from . import cytokines as layer
from . import kimmel2021 as base
from . import kimmel2021_crs as crs

PARAMS: tuple[ParamSpec, ...] = (*crs.PARAMS, *layer.FEEDBACK_PARAMS)
_KAPPA, _H = len(crs.PARAMS), len(crs.PARAMS) + 1
_IL6 = crs.MODEL.species.index("IL6")


@njit(RATES_SIG, cache=True)
def rates(t, x, p, out):
    """As :func:`kimmel2021_crs.rates`, with the CAR T expansion rate boosted by IL-6."""
    crs.rates(t, x, p, out)
    n, c = x[0], x[1]
    total = n + c
    if total > 0.0:
        rc = base.r_c(p, total) + layer.boost(x[_IL6], p[_KAPPA], p[_H])
        out[1] = base.gompertz(rc, c, total, p[base.K_C])


MODEL = ModelSpec(
    name="kimmel2021_crs_feedback",
    rates=rates,
    params=PARAMS,
    presets=base.PRESETS,
    linear_tumour=False,
    rate_laws=(crs.MODEL.rate_laws[0],
               f"-({base.RC_LAW} + kappa_L * IL6 / (h_L + IL6)) * C * ln({base.TOTAL_LAW} / K_C)",
               *crs.MODEL.rate_laws[2:]),
    sources=crs.MODEL.sources,
    doc="kimmel2021_crs with the layer's feedback on: IL-6 boosts CAR T expansion (kappa_L, h_L); B then acts on C "
    "through the cytokines, so only the Monte Carlo holds.",
    species=crs.MODEL.species,
    reactions=crs.MODEL.reactions,
    stoichiometry=crs.MODEL.stoichiometry,
    stochastic=crs.MODEL.stochastic,
    tumour=crs.MODEL.tumour,
    effector=crs.MODEL.effector,
    lymphocytes=crs.MODEL.lymphocytes,
    initial=crs.MODEL.initial,
    readouts=crs.MODEL.readouts,
)

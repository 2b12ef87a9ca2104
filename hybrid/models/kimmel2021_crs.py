"""Kimmel et al. (2021) carrying the cytokine-release layer (:mod:`hybrid.models.cytokines`): the tumour's
killing flux gamma_B C/(k_B + C) B releases IFNγ, IFNγ activates the myeloid pool, the pool releases IL-6.

Species N, C, B (cells), IFNg and IL6 (pg/mL), M_act (share of the myeloid pool). The layer acts on nothing
of N, C or B, so the tumour is Kimmel's linear birth–death process and Kendall's formula gives P(cure): the
same value as ``kimmel2021`` with the same parameters.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..integrator import RATES_SIG
from ..model import ModelSpec
from ..paramspec import ParamSpec
from . import cytokines as layer
from . import kimmel2021 as base

PARAMS: tuple[ParamSpec, ...] = (*base.PARAMS, *layer.PARAMS, *layer.INITIAL_PARAMS)
_K_LAYER = len(base.PARAMS)
_N_BASE = len(base.STRUCTURE["species"])
_R_BASE = len(base.STRUCTURE["reactions"])


@njit(RATES_SIG, cache=True)
def rates(t, x, p, out):
    """Kimmel's four propensities, then the layer's six (driven by the killing flux)."""
    base.rates(t, x, p, out)
    c, b = x[1], x[2]
    kill = p[base.GAMMA_B] * c / (p[base.K_B] + c) * b if c > 0.0 else 0.0
    layer.layer_rates(kill, x, _N_BASE, p, _K_LAYER, out, _R_BASE)


_S = base.STRUCTURE
_KILL_LAW = "gamma_B * C / (k_B + C) * B"
MODEL = ModelSpec(
    name="kimmel2021_crs",
    rates=rates,
    params=PARAMS,
    presets=base.PRESETS,
    linear_tumour=True,
    tumour_parents={"B_birth": "B", "B_death": "B"},
    rate_laws=(*base.RATE_LAWS, *layer.rate_laws(_KILL_LAW)),
    sources=(*base.MODEL.sources, "cytokine layer: structure after the review (seed 002) of Hardiansyah & Ng "
             "2019 and Santurio et al. 2025; values assumed (hybrid.models.cytokines)"),
    doc="Kimmel et al. 2021 with a cytokine-release layer (IFNγ -> activated myeloid cells -> IL-6, pg/mL) "
    "driven by the killing flux; no feedback on the tumour, so Kendall's formula still holds.",
    species=(*_S["species"], *layer.SPECIES),
    reactions=(*_S["reactions"], *layer.REACTIONS),
    stoichiometry=np.array([*(list(r) + [0.0] * len(layer.SPECIES) for r in _S["stoichiometry"]),
                            *layer.stoichiometry_rows(_N_BASE)]),
    stochastic=_S["stochastic"],
    tumour=_S["tumour"],
    effector=_S["effector"],
    lymphocytes=_S["lymphocytes"],
    initial=(*_S["initial"], *layer.INITIAL),
    readouts=layer.READOUTS,
    layer_of=base.MODEL.name,
)

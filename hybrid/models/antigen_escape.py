"""Kimmel et al. (2021) with antigen escape: the tumour is two clones, antigen-positive B_pos (killed by CAR T
cells as in Kimmel) and antigen-negative B_neg (CD19-negative; not recognised, optionally killed as a
bystander at a fraction of the rate). A dividing B_pos cell leaves an antigen-negative daughter with
probability mu_loss (antigen loss by mutation or splicing; Orlando et al. 2018, Nat Med 24:1504, describe the
mechanisms, not a rate, so the value is assumed).

Species N, C, B_pos, B_neg (cells), time in days; T = N + C, kill(C) = gamma_B C / (k_B + C)::

    dN/dt, dC/dt                as in Kimmel (B acts on neither)
    B_pos -> 2 B_pos            (r_B + d_B) (1 - mu_loss) B_pos
    B_pos -> B_pos + B_neg      (r_B + d_B) mu_loss B_pos
    B_pos -> 0                  (d_B + kill(C)) B_pos
    B_neg -> 2 B_neg            (r_Bn + d_B) B_neg
    B_neg -> 0                  (d_B + eps_bystander kill(C)) B_neg

Both clones go stochastic below the threshold, each on its own. Progression: B_pos + B_neg reaches 1.2 B0; the
clone holding more cells then names the relapse (``relapse_type``). Given C(t) the clones are a two-type linear
branching process, so P(cure) is exact (backward equations, :mod:`hybrid.oracle`). With mu_loss = 0 and
f_neg = 0 this is Kimmel's model.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..constraints import Interval
from ..integrator import RATES_SIG
from ..model import ModelSpec
from ..paramspec import ParamSpec
from . import kimmel2021 as base

_UNIT = Interval(lo=0.0, hi=1.0)
PARAMS: tuple[ParamSpec, ...] = (
    *base.PARAMS,
    ParamSpec("mu_loss", "1", "probability that a division of an antigen-positive cell leaves an "
              "antigen-negative daughter", 1e-8, "assumed (order of a per-gene loss-of-function rate per "
              "division; Orlando et al. 2018 give mechanisms, not a rate)", _UNIT),
    ParamSpec("f_neg", "1", "antigen-negative fraction of the tumour at infusion", 0.0,
              "assumed (0: all cells carry the antigen, as in Kimmel et al. 2021)", _UNIT),
    ParamSpec("r_Bn", "1/day", "net growth rate of antigen-negative cells", 0.10,
              "assumed equal to r_B (no fitness cost of antigen loss)"),
    ParamSpec("eps_bystander", "1", "bystander killing of antigen-negative cells, as a fraction of gamma_B",
              0.0, "assumed (0: no bystander killing)", _UNIT),
)
_I = {p.name: k for k, p in enumerate(PARAMS)}
MU, F_NEG, R_BN, EPS = (_I[n] for n in ("mu_loss", "f_neg", "r_Bn", "eps_bystander"))
_N0, _C0, _B0 = (_I[n] for n in ("N0", "C0", "B0"))


@njit(RATES_SIG, cache=True)
def rates(t, x, p, out):
    """Propensities (events/day) of: N, C net growth; B_pos birth, antigen loss, death; B_neg birth, death."""
    n, c, bp, bn = x[0], x[1], x[2], x[3]
    total = n + c
    out[0] = base.gompertz(p[base.R_N], n, total, p[base.K_N])
    out[1] = base.gompertz(base.r_c(p, total), c, total, p[base.K_C]) if total > 0.0 else 0.0
    birth = p[base.R_B] + p[base.D_B]
    kill = p[base.GAMMA_B] * c / (p[base.K_B] + c)
    out[2] = birth * (1.0 - p[MU]) * bp
    out[3] = birth * p[MU] * bp
    out[4] = (p[base.D_B] + kill) * bp
    out[5] = (p[R_BN] + p[base.D_B]) * bn
    out[6] = (p[base.D_B] + p[EPS] * kill) * bn


def initial_state(P: np.ndarray) -> np.ndarray:
    """N0, C0 and the tumour B0 split into (1 - f_neg) B0 antigen-positive and f_neg B0 antigen-negative cells."""
    b0, f = P[:, _B0], P[:, F_NEG]
    return np.column_stack([P[:, _N0], P[:, _C0], (1.0 - f) * b0, f * b0])


MODEL = ModelSpec(
    name="antigen_escape",
    species=("N", "C", "B_pos", "B_neg"),
    reactions=("N_growth", "C_growth", "Bpos_birth", "antigen_loss", "Bpos_death", "Bneg_birth", "Bneg_death"),
    stoichiometry=np.array([
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
        [0.0, 0.0, -1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
        [0.0, 0.0, 0.0, -1.0],
    ]),
    rates=rates,
    params=PARAMS,
    presets={"antigen_escape": {}},
    stochastic=("B_pos", "B_neg"),
    tumour=("B_pos", "B_neg"),
    effector="C",
    lymphocytes="N",
    initial=("N0", "C0", "B0", "f_neg"),
    initial_state=initial_state,
    linear_tumour=True,
    tumour_parents={"Bpos_birth": "B_pos", "antigen_loss": "B_pos", "Bpos_death": "B_pos",
                    "Bneg_birth": "B_neg", "Bneg_death": "B_neg"},
    tumour_labels={"B_pos": "antigen_positive", "B_neg": "antigen_negative"},
    rate_laws=(*base.RATE_LAWS[:2],
               "(r_B + d_B) * (1 - mu_loss) * B_pos",
               "(r_B + d_B) * mu_loss * B_pos",
               "(d_B + gamma_B * C / (k_B + C)) * B_pos",
               "(r_Bn + d_B) * B_neg",
               "(d_B + eps_bystander * gamma_B * C / (k_B + C)) * B_neg"),
    initial_laws={"N": "N0", "C": "C0", "B_pos": "(1 - f_neg) * B0", "B_neg": "f_neg * B0"},
    doc="Kimmel et al. 2021 with an antigen-negative clone (CD19- relapse): antigen loss per division, initial "
    "negative fraction, bystander kill; exact P(cure) by the two-type backward equations.",
    sources=(base.MODEL.sources[0], "Orlando EJ et al. (2018) Genetic mechanisms of target antigen loss in CAR19 "
             "therapy of acute lymphoblastic leukemia. Nat Med 24:1504-1506 (mechanism only)"),
)

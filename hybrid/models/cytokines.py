"""A cytokine-release (CRS) layer that a model with a killing flux can carry: CAR T engagement of tumour cells
releases IFNγ, IFNγ activates the myeloid compartment (monocytes / macrophages), activated myeloid cells release
IL-6 — the structure the review (seed 002) describes for Hardiansyah & Ng (2019) and for macrophage-mediated CRS
(Santurio et al. 2025): T cells start the storm, myeloid cells make most of the IL-6. Time in days::

    E      = kill / (h_E + kill)                          engagement, kill = tumour cells killed per day
    dI/dt  = s_I E - k_I I                                IFNγ (pg/mL)
    dM/dt  = a_M I^2 / (h_I^2 + I^2) (1 - M) - d_M M      activated share of the myeloid pool (0..1)
    dL/dt  = k_L L_base + s_L M - k_L L                   IL-6 (pg/mL), at L_base before infusion

The layer acts on nothing in the tumour's dynamics (no feedback): the tumour stays a linear branching process,
so the exact P(cure) still holds and equals the parent model's. Every value below is assumed, and says so: the
source papers give the structure and the clinical facts (IL-6 rises with tumour burden more than with dose;
severe CRS at IL-6 in the thousands of pg/mL), not a parameter table this module could copy. The clearance
rates are set from plasma half-lives of hours; the production maxima so that a Table 1 patient (95 ml of
tumour) peaks in the hundreds to low thousands of pg/mL and a small tumour (1 ml) stays near baseline.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..constraints import NON_NEGATIVE, Interval
from ..paramspec import ParamSpec

_A = "assumed"
PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("h_E", "cells/day", "killing flux at half-maximal engagement", 2.0e10,
              f"{_A}: a Table 1 patient's flux near the CAR T peak is 1e10-1e11 cells/day, a 1 ml tumour's ~1e8"),
    ParamSpec("s_I", "pg/mL/day", "maximal IFNγ release at full engagement", 2.0e3,
              f"{_A}: IFNγ peaks of hundreds of pg/mL (with k_I)", NON_NEGATIVE),
    ParamSpec("k_I", "1/day", "IFNγ clearance rate", math.log(2) / 0.25,
              f"{_A}: a plasma half-life of about 6 hours"),
    ParamSpec("a_M", "1/day", "maximal myeloid activation rate", 2.0, f"{_A}: activation within a day",
              NON_NEGATIVE),
    ParamSpec("h_I", "pg/mL", "IFNγ at half-maximal myeloid activation (Hill coefficient 2)", 200.0,
              f"{_A}: a 1 ml tumour's IFNγ (tens of pg/mL) barely activates the pool, a 95 ml tumour's does"),
    ParamSpec("d_M", "1/day", "myeloid deactivation rate", 1.0, f"{_A}: activation fades within days"),
    ParamSpec("s_L", "pg/mL/day", "maximal IL-6 release by the activated myeloid pool", 1.2e4,
              f"{_A}: IL-6 peaks of ~500 pg/mL for a 1 ml tumour, ~5000 for a Table 1 patient (95 ml)",
              NON_NEGATIVE),
    ParamSpec("k_L", "1/day", "IL-6 clearance rate", math.log(2) / 0.5,
              f"{_A}: a plasma half-life of about 12 hours"),
    ParamSpec("L_base", "pg/mL", "IL-6 before infusion", 5.0, f"{_A}: a healthy plasma level of a few pg/mL",
              NON_NEGATIVE),
)
"""The layer's parameters, appended after the carrying model's own."""
SPECIES = ("IFNg", "M_act", "IL6")
"""The layer's species (pg/mL, share of the myeloid pool, pg/mL), appended after the carrying model's."""
READOUTS = {
    "il6_peak_pg_ml": "peak IL-6 (pg/mL)",
    "il6_peak_day": "day of the IL-6 peak",
    "il6_days_above": "days with IL-6 above a level (pg/mL; default 1000)",
    "crs_grade_proxy": "CRS-grade proxy from peak IL-6 thresholds (cytokine-based, not ASTCT grading)",
}
"""The per-patient toxicity readouts of a model that carries the layer (taken by experiments.cohort.toxicity)."""
REACTIONS = ("IFNg_release", "IFNg_clearance", "M_activation", "M_deactivation", "IL6_release", "IL6_clearance")
UNIT = Interval(lo=0.0, hi=1.0)


def stoichiometry_rows(n_parent_species: int) -> list[list[float]]:
    """The layer's reactions as rows over (parent species, IFNg, M_act, IL6)."""
    rows = []
    for j, sign in ((0, 1.0), (0, -1.0), (1, 1.0), (1, -1.0), (2, 1.0), (2, -1.0)):
        row = [0.0] * (n_parent_species + len(SPECIES))
        row[n_parent_species + j] = sign
        rows.append(row)
    return rows


@njit(cache=True)
def layer_rates(kill, x, k_species, p, k_param, out, k_out):
    """The layer's six rates into ``out[k_out:]``: ``kill`` tumour cells killed per day, the layer's species at
    ``x[k_species:]`` and parameters at ``p[k_param:]`` (in :data:`PARAMS` order)."""
    ifng, m, il6 = x[k_species], x[k_species + 1], x[k_species + 2]
    h_e, s_i, k_i, a_m, h_i, d_m, s_l, k_l, l_base = (p[k_param], p[k_param + 1], p[k_param + 2],
                                                      p[k_param + 3], p[k_param + 4], p[k_param + 5],
                                                      p[k_param + 6], p[k_param + 7], p[k_param + 8])
    kill = max(kill, 0.0)
    ifng = max(ifng, 0.0)
    out[k_out] = s_i * kill / (h_e + kill)
    out[k_out + 1] = k_i * ifng
    out[k_out + 2] = a_m * ifng * ifng / (h_i * h_i + ifng * ifng) * max(1.0 - m, 0.0)
    out[k_out + 3] = d_m * max(m, 0.0)
    out[k_out + 4] = k_l * l_base + s_l * max(m, 0.0)
    out[k_out + 5] = k_l * max(il6, 0.0)


def rate_laws(kill_law: str) -> tuple[str, ...]:
    """SBML infix of :func:`layer_rates`, with the carrying model's killing flux ``kill_law``."""
    return (f"s_I * ({kill_law}) / (h_E + ({kill_law}))", "k_I * IFNg",
            "a_M * IFNg^2 / (h_I^2 + IFNg^2) * (1 - M_act)", "d_M * M_act",
            "k_L * L_base + s_L * M_act", "k_L * IL6")


FEEDBACK_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("kappa_L", "1/day", "IL-6 boost of the CAR T expansion rate at saturation (feedback)", 0.0,
              f"{_A} (0: the layer acts on nothing; a model that carries the feedback is Monte Carlo only)",
              NON_NEGATIVE),
    ParamSpec("h_L", "pg/mL", "IL-6 at half-maximal boost", 1000.0, _A),
)
"""The one feedback a carrying model may switch on: IL-6 adds kappa_L IL6/(h_L + IL6) to the CAR T expansion
rate, so the tumour, through its killing flux, drives its own attackers and is no longer a linear branching
process."""


@njit(cache=True)
def boost(il6, kappa_l, h_l):
    """The feedback's addition to the CAR T expansion rate (1/day)."""
    il6 = max(il6, 0.0)
    return kappa_l * il6 / (h_l + il6)


INITIAL = ("IFNg0", "M0", "L_base")
"""Parameters holding the layer's initial values: no IFNγ and no activation before infusion (IFNg0 = M0 = 0,
fixed), IL-6 at its baseline."""
INITIAL_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("IFNg0", "pg/mL", "IFNγ before infusion", 0.0, f"{_A}: none above baseline", NON_NEGATIVE),
    ParamSpec("M0", "1", "activated share of the myeloid pool before infusion", 0.0, f"{_A}: at rest", UNIT),
)


@njit(cache=True, inline="always")
def _rhs(kill, i_, m_, l_, h_e, s_i, k_i, a_m, h_i2, d_m, s_l, k_l, l_base):
    """d(IFNg, M_act, IL6)/dt: :func:`layer_rates`' six rates as three net changes (the same guards)."""
    kill = max(kill, 0.0)
    ifng = max(i_, 0.0)
    m = max(m_, 0.0)
    return (s_i * kill / (h_e + kill) - k_i * ifng,
            a_m * ifng * ifng / (h_i2 + ifng * ifng) * max(1.0 - m_, 0.0) - d_m * m,
            k_l * l_base + s_l * m - k_l * max(l_, 0.0))


@njit(cache=True)
def _kill_flux(rates, p, rec_i, t, k_param, k_release, full, buf, kill):
    """The killing flux (tumour cells per day) at each day of ``t`` from one patient's recorded mean field
    ``rec_i`` (days, the parent's species), into ``kill``: it comes back from the layer's IFNγ release rate
    (kill = h_E r / (s_I - r))."""
    h_e, s_i = p[k_param], p[k_param + 1]
    for j in range(t.shape[0]):
        for c in range(rec_i.shape[1]):
            full[c] = rec_i[j, c]
        rates(t[j], full, p, buf)
        r = buf[k_release]
        kill[j] = h_e * r / (s_i - r) if s_i > 0.0 and r < s_i else 0.0


BOUND_MARGIN = 1e-3
"""Relative margin of the early "stays below" verdict: the bound is the ODE's, the course is RK4 on the grid
(its global error at DT = 0.05 day is ~1e-6 of the peak), so a course is stopped only when its bound is at
least this share below the level."""


@njit(cache=True, inline="always")
def _il6_bound(kill_sup, yi, ym, yl, h_e, s_i, k_i, a_m, h_i2, d_m, s_l, k_l, l_base):
    """An upper bound of IL-6 (pg/mL) from now on, for a killing flux that never exceeds ``kill_sup``: IFNγ stays
    below max(I, s_I E_sup / k_I) (above it dI/dt < 0), so the activated share below max(M, g/(g + d_M)) with
    g = a_M I_b^2 / (h_I^2 + I_b^2), so IL-6 below max(L, L_base + s_L M_b / k_L). inf where a clearance is 0."""
    if k_i <= 0.0 or k_l <= 0.0:
        return np.inf
    kill_sup = max(kill_sup, 0.0)
    ib = max(yi, s_i * kill_sup / (h_e + kill_sup) / k_i, 0.0)
    g = a_m * ib * ib / (h_i2 + ib * ib) if ib > 0.0 else 0.0
    mb = max(ym, g / (g + d_m) if g + d_m > 0.0 else 0.0, 0.0)
    return max(yl, l_base + s_l * mb / k_l)


@njit(cache=True)
def _course(p, k_param, kill, kill_sup, scale, y0_i, t, level, stop_peak):
    """One burden's IL-6 course (the flux ``scale`` times ``kill``) by RK4 on the grid ``t``, the flux linear
    between points: (peak IL-6, its day, grid points above ``level``), returned as soon as the peak reaches
    ``stop_peak`` (inf: never) or provably never will (:func:`_il6_bound`, with ``kill_sup[j]`` the largest
    flux from point j on): then the peak so far, below ``stop_peak``."""
    h_e, s_i, k_i, a_m, h_i, d_m, s_l, k_l, l_base = (p[k_param], p[k_param + 1], p[k_param + 2],
                                                      p[k_param + 3], p[k_param + 4], p[k_param + 5],
                                                      p[k_param + 6], p[k_param + 7], p[k_param + 8])
    h_i2 = h_i * h_i
    yi, ym, yl = y0_i[0], y0_i[1], y0_i[2]
    peak, peak_day = yl, t[0]
    above = 1.0 if yl > level else 0.0
    below = stop_peak * (1.0 - BOUND_MARGIN)
    check = np.isfinite(stop_peak)
    for j in range(t.shape[0] - 1):
        if peak >= stop_peak:
            break
        # every 8 steps: the bound costs about a step
        if check and j % 8 == 0 and _il6_bound(scale * kill_sup[j], yi, ym, yl, h_e, s_i, k_i, a_m, h_i2, d_m,
                                               s_l, k_l, l_base) < below:
            break
        h = t[j + 1] - t[j]
        ka, kb = scale * kill[j], scale * kill[j + 1]
        km = 0.5 * (ka + kb)
        a1, b1, c1 = _rhs(ka, yi, ym, yl, h_e, s_i, k_i, a_m, h_i2, d_m, s_l, k_l, l_base)
        a2, b2, c2 = _rhs(km, yi + 0.5 * h * a1, ym + 0.5 * h * b1, yl + 0.5 * h * c1, h_e, s_i, k_i, a_m, h_i2,
                          d_m, s_l, k_l, l_base)
        a3, b3, c3 = _rhs(km, yi + 0.5 * h * a2, ym + 0.5 * h * b2, yl + 0.5 * h * c2, h_e, s_i, k_i, a_m, h_i2,
                          d_m, s_l, k_l, l_base)
        a4, b4, c4 = _rhs(kb, yi + h * a3, ym + h * b3, yl + h * c3, h_e, s_i, k_i, a_m, h_i2, d_m, s_l, k_l,
                          l_base)
        yi += h * (a1 + 2.0 * a2 + 2.0 * a3 + a4) / 6.0
        ym += h * (b1 + 2.0 * b2 + 2.0 * b3 + b4) / 6.0
        yl += h * (c1 + 2.0 * c2 + 2.0 * c3 + c4) / 6.0
        if yl > peak:
            peak, peak_day = yl, t[j + 1]
        if yl > level:
            above += 1.0
    return peak, peak_day, above


@njit(cache=True)
def _suffix_max(x, out):
    """out[j] = max(x[j:])."""
    m = -np.inf
    for j in range(x.shape[0] - 1, -1, -1):
        m = max(m, x[j])
        out[j] = m


@njit(cache=True, nogil=True)
def readouts_over_burdens(rates, P, rec, y0, t, scale, n_species, k_param, k_release, n_reactions, level, out):
    """IL-6 readouts of each patient (rows of ``P``) at tumour burdens ``scale`` times the one its mean field
    ``rec`` (patients, days ``t``, the parent's species, which come first) was solved at, the layer starting
    from ``y0`` (patients, 3), into ``out`` (patients, burdens, 3): peak IL-6 (pg/mL), its day, days above
    ``level`` (grid points above it times the step).

    The carrying model's tumour is linear and the layer acts on nothing, so N and C, and the killing flux per
    tumour cell at infusion, do not depend on the burden: the flux at burden s B0 is s times the recorded one
    (:func:`_kill_flux`); the layer's three species are then integrated for each burden (:func:`_course`)."""
    n, n_t, _ = rec.shape
    buf = np.empty(n_reactions)
    kill = np.empty(n_t)
    full = np.zeros(n_species)
    step = t[1] - t[0] if n_t > 1 else 0.0
    for i in range(n):
        _kill_flux(rates, P[i], rec[i], t, k_param, k_release, full, buf, kill)
        for k in range(scale.shape[0]):
            # no stop (stop_peak inf), so no suffix maximum: ``kill`` fills its unread slot
            peak, peak_day, above = _course(P[i], k_param, kill, kill, scale[k], y0[i], t, level, np.inf)
            out[i, k, 0] = peak
            out[i, k, 1] = peak_day
            out[i, k, 2] = above * step


@njit(cache=True, nogil=True)
def first_burden_reaching(rates, P, rec, y0, t, scale, n_species, k_param, k_release, n_reactions, peak_level,
                          out):
    """For each patient, as :func:`readouts_over_burdens` takes them, the index of the first of the increasing
    burden ``scale`` factors whose peak IL-6 reaches ``peak_level`` (pg/mL), len(scale) if none, into ``out``.

    The layer is cooperative (engagement raises IFNγ, IFNγ the activated pool, the pool IL-6) and the flux grows
    with the burden, so the peak does too (comparison theorem): a bisection over the burdens finds the index
    with log2 of their number courses, each stopped once the peak reaches the level or provably stays below
    it (once the flux left to come is too small)."""
    n, n_t, _ = rec.shape
    buf = np.empty(n_reactions)
    kill = np.empty(n_t)
    kill_sup = np.empty(n_t)
    full = np.zeros(n_species)
    for i in range(n):
        _kill_flux(rates, P[i], rec[i], t, k_param, k_release, full, buf, kill)
        _suffix_max(kill, kill_sup)
        lo, hi = 0, scale.shape[0]  # the answer is in [lo, hi]
        while lo < hi:
            mid = (lo + hi) // 2
            peak, _, _ = _course(P[i], k_param, kill, kill_sup, scale[mid], y0[i], t, np.inf, peak_level)
            if peak >= peak_level:
                hi = mid
            else:
                lo = mid + 1
        out[i] = lo

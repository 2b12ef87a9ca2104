"""The one dose routine: a set of virtual patients (a population, or one patient's posterior draws) given a
total dose on a schedule, at each tumour burden — per patient P(cure), whether the CRS proxy is severe, and the
CAR T exposure (Cmax, AUC0-28 in blood units). The dosing grid and the personalised dose both call it.

P(cure) is the probability that the tumour is extinct by the end of follow-up, every planned infusion given
even after a progression (a tumour that regrows past 1.2 B0 between infusions can still be cured by the next).
It comes from the exact path where the model allows it (Kendall's formula counts extinction, whatever the
course before); the Monte Carlo method runs with progression switched off (:data:`NO_PROGRESSION`), so that both
methods estimate the same probability. For a linear tumour of one species neither N nor C
depends on the tumour, so Kendall's per-cell extinction probability q is the same at every burden and
P(cure | B0) = q^B0: one oracle solve per patient (at B0 = 1 cell, in log space) serves every burden. Models with
several clones are solved per burden on the exact path; a model in which the tumour acts back (not linear) is
simulated (hybrid Monte Carlo, each patient's own stream), and its P(cure) per patient is 0 or 1.

Toxicity needs a model that carries the cytokine layer (:mod:`experiments.cohort.toxicity`): IL-6 is released by
killing, so its peak depends on the burden. In a linear tumour the killing flux scales with the burden, so one
mean-field solve per patient serves every burden and only the layer is integrated again
(:func:`experiments.cohort.toxicity.readouts_over_burdens`); a tumour that acts back is solved per burden. A
model without the layer has no CRS readout (NaN). Exposure: Cmax and AUC0-28 of the effector's mean field.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from experiments.cohort import toxicity
from experiments.cohort.toxicity import Toxicity
from experiments.dosing.schedules import Schedule
from hybrid import SimOptions
from hybrid.catalog import get_model
from hybrid.units import cells_to_blood

NO_PROGRESSION = 1e12
"""progression_factor of the Monte Carlo method: a tumour 1e12 times its start is never cured anyway."""
EXPOSURE_DAYS = 28.0
EXPOSURE_GRID = np.arange(0.0, EXPOSURE_DAYS + 1e-9, 0.25)
"""Days on which Cmax and AUC0-28 are read for models without the cytokine layer (cells/µL)."""


@dataclass(frozen=True)
class Outcomes:
    """Per patient (rows) and burden (columns): P(cure), severe CRS (0/1, NaN without the layer), Cmax
    (cells/µL) and AUC0-28 (cells·day/µL); ``method`` says how P(cure) was found."""

    p_cure: np.ndarray
    severe: np.ndarray
    cmax: np.ndarray
    auc: np.ndarray
    method: str


def method_of(model: str) -> str:
    """"exact, shared over burdens", "exact" (several clones) or "Monte Carlo" (a tumour that acts back)."""
    spec = get_model(model)
    if not spec.linear_tumour:
        return "Monte Carlo"
    return "exact, shared over burdens" if spec.kendall_reactions is not None else "exact"


def outcomes(patients: pd.DataFrame, model: str, options: SimOptions, schedule: Schedule, dose_cells: float,
             burdens_cells: np.ndarray, tox: Toxicity, severe_grade: int,
             seeds=None, method: str | None = None) -> Outcomes:
    """Give ``patients`` (parameter columns of ``model``) ``dose_cells`` CAR T cells on ``schedule`` and read
    each patient's outcomes at every burden in ``burdens_cells`` (tumour cells at infusion). ``seeds``: the
    patients' simulation streams (:class:`hybrid.SpawnedSeeds`), used only by the Monte Carlo method;
    ``method`` = "Monte Carlo" simulates even where the exact path applies (its check)."""
    import hybrid

    mspec = get_model(model)
    names = list(mspec.param_names)
    table, opts = schedule.apply(patients[names], dose_cells, options)
    burdens = np.asarray(burdens_cells, dtype=float)
    n, k = len(table), len(burdens)
    method = method or method_of(model)
    p = np.empty((n, k))
    if method == "exact, shared over burdens":
        one = table.assign(B0=1.0)
        log_q = hybrid.cure_probability_exact(one, opts.t_end, opts, mspec, log=True)
        p[:] = np.exp(log_q[:, None] * burdens[None, :])
    else:
        for j, b0 in enumerate(burdens):
            at = table.assign(B0=b0)
            if method == "exact":
                p[:, j] = hybrid.cure_probability_exact(at, opts.t_end, opts, mspec)
            else:
                res = hybrid.simulate_batch(at, hybrid.SpawnedSeeds(0, np.arange(n)) if seeds is None else seeds,
                                            replace(opts, progression_factor=NO_PROGRESSION), model=mspec)
                p[:, j] = (res["outcome"].to_numpy() == "cure").astype(float)
    severe = np.full((n, k), np.nan)
    cmax, auc = np.empty((n, k)), np.empty((n, k))
    effector = mspec.index(mspec.effector)
    if toxicity.carries_layer(mspec) and mspec.linear_tumour:
        # one mean field per patient: the layer's readouts at every burden, the effector's exposure unchanged
        r = toxicity.readouts_over_burdens(table, burdens, opts, mspec, tox)
        severe[:] = (r["crs_grade_proxy"] >= severe_grade).astype(float)
        under = get_model(mspec.layer_of) if mspec.layer_of else mspec  # the effector without the layer
        rec = hybrid.mean_field(table[list(under.param_names)], EXPOSURE_GRID, opts, under)
        cmax[:], auc[:] = (v[:, None] for v in _exposure(EXPOSURE_GRID, rec[:, :, under.index(under.effector)]))
    elif toxicity.carries_layer(mspec):
        for j, b0 in enumerate(burdens):
            t, rec = toxicity.course(table.assign(B0=b0), opts, mspec)
            r = toxicity.readouts_of(t, rec, mspec, tox)
            severe[:, j] = (r["crs_grade_proxy"].to_numpy() >= severe_grade).astype(float)
            cmax[:, j], auc[:, j] = _exposure(t, rec[:, :, effector])
    else:
        # without the layer the effector does not see the tumour in a linear model: one course for all burdens
        per = [0] if mspec.linear_tumour else range(k)
        for j in per:
            rec = hybrid.mean_field(table.assign(B0=burdens[j]), EXPOSURE_GRID, opts, mspec)
            cmax[:, j], auc[:, j] = _exposure(EXPOSURE_GRID, rec[:, :, effector])
        if mspec.linear_tumour:
            cmax[:], auc[:] = cmax[:, :1], auc[:, :1]
    return Outcomes(p, severe, cmax, auc, method)


def _exposure(t: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cmax (cells/µL) and AUC0-28 (cells·day/µL) of effector courses (patients, days) on days ``t``."""
    keep = t <= EXPOSURE_DAYS + 1e-9
    per_ul = cells_to_blood(cells[:, keep])
    return per_ul.max(axis=1), np.trapezoid(per_ul, t[keep], axis=1)

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
model without the layer has no CRS readout (NaN). Exposure: Cmax and AUC0-28 of the effector's mean field. The
dose and the burden set the model's own start parameters (its effector's and its tumour's, ``C0`` and ``B0`` in
Kimmel's model).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from experiments.cohort import toxicity
from experiments.cohort.exposure import EXPOSURE_GRID, cmax_auc
from experiments.cohort.toxicity import Toxicity
from experiments.dosing.schedules import Schedule
from experiments.statistics import wilson
from hybrid import SimOptions
from hybrid.catalog import get_model
from hybrid.errors import CartsimError
from hybrid.units import cells_to_blood

NO_PROGRESSION = 1e12
"""progression_factor of the Monte Carlo method: a tumour 1e12 times its start is never cured anyway."""


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
    b0 = tumour_start(mspec)
    table, opts = schedule.apply(patients[list(mspec.param_names)], dose_cells, options, mspec)
    burdens = np.asarray(burdens_cells, dtype=float)
    n, k = len(table), len(burdens)
    method = method or method_of(model)
    p = np.empty((n, k))
    if method == "exact, shared over burdens":
        log_q = hybrid.cure_probability_exact(table.assign(**{b0: 1.0}), opts.t_end, opts, mspec, log=True)
        p[:] = np.exp(log_q[:, None] * burdens[None, :])
    else:
        for j, b in enumerate(burdens):
            at = table.assign(**{b0: b})
            if method == "exact":
                p[:, j] = hybrid.cure_probability_exact(at, opts.t_end, opts, mspec)
            else:
                res = hybrid.simulate_batch(at, hybrid.SpawnedSeeds(0, np.arange(n)) if seeds is None else seeds,
                                            replace(opts, progression_factor=NO_PROGRESSION), model=mspec)
                p[:, j] = (res["outcome"].to_numpy() == "cure").astype(float)
    severe = np.full((n, k), np.nan)
    cmax, auc = np.empty((n, k)), np.empty((n, k))
    layer = toxicity.carries_layer(mspec)
    if mspec.linear_tumour:
        # the effector does not see the tumour: one course (without the layer, where the model declares one)
        rec = None
        if layer:  # the layer's grades at every burden from one mean field per patient, by bisection
            t_tox = toxicity.grid(opts)
            order = np.argsort(burdens, kind="stable")
            course = hybrid.layer_course(table, float(burdens.max()), t_tox, opts, mspec)
            severe[:, order] = toxicity.severe_over_burdens(table, burdens[order], opts, mspec, tox, severe_grade,
                                                            course)
            at = _exposure_points(t_tox)
            if at is not None:  # the exposure from the same course (its species are the parent's, in order)
                rec = course[:, at, mspec.index(mspec.effector)]
        if rec is None:
            under = get_model(mspec.layer_of) if mspec.layer_of else mspec
            rec = hybrid.mean_field(table[list(under.param_names)], EXPOSURE_GRID, opts,
                                    under)[:, :, under.index(under.effector)]
        cmax[:], auc[:] = (v[:, None] for v in cmax_auc(cells_to_blood(rec)))
    else:  # the tumour acts back: every burden its own course
        effector = mspec.index(mspec.effector)
        for j, b in enumerate(burdens):
            at = table.assign(**{b0: b})
            if layer:
                t, rec = toxicity.course(at, opts, mspec)
                r = toxicity.readouts_of(t, rec, mspec, tox)
                severe[:, j] = (r["crs_grade_proxy"].to_numpy() >= severe_grade).astype(float)
            else:
                t, rec = EXPOSURE_GRID, hybrid.mean_field(at, EXPOSURE_GRID, opts, mspec)
            cmax[:, j], auc[:, j] = cmax_auc(cells_to_blood(rec[:, :, effector]), t)
    return Outcomes(p, severe, cmax, auc, method)


def _exposure_points(t: np.ndarray) -> np.ndarray | None:
    """Indices of :data:`EXPOSURE_GRID`'s days in the toxicity grid ``t`` (one mean field then serves both);
    None where ``t`` does not hold them all (a follow-up shorter than 28 days)."""
    at = np.rint(EXPOSURE_GRID / toxicity.DT).astype(np.int64)
    if at[-1] >= t.shape[0] or not np.allclose(t[at], EXPOSURE_GRID, rtol=0.0, atol=1e-9):
        return None
    return at


def tumour_start(model) -> str:
    """The parameter a burden sets (the tumour's size at infusion); a CartsimError when the model has none."""
    b0 = model.tumour_start
    if b0 is None:
        raise CartsimError(f"model {model.name}: its tumour's size at infusion is not one parameter: no burden "
                           "to set")
    return b0


def share(flags: np.ndarray) -> tuple[float, float, float]:
    """The share of patients flagged (1) among ``flags`` with its Wilson 95% interval; NaNs when the flags are
    (no readout)."""
    if not np.isfinite(flags).all():
        return np.nan, np.nan, np.nan
    k, n = int(flags.sum()), len(flags)
    return (k / n, *wilson(k, n))

"""Worker side of a cohort run: sample and simulate one chunk of patients with one engine call per group.

Everything here is a module-level function of picklable arguments so that local process pools and Dask
workers can run it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import hybrid
from experiments.cohort import toxicity
from experiments.cohort.sampling import patient_seeds, sample_patients
from experiments.cohort.spec import Spec
from hybrid import RESULT_COLUMNS
from hybrid.catalog import get_model

KEPT_RESULTS = tuple(c for c in RESULT_COLUMNS if c not in ("n_events", "n_leaps"))
"""The engine's result columns (:data:`hybrid.RESULT_COLUMNS`) a patient table keeps: the algorithm's own
counters (events, leaps) describe the run, not the patient."""
PFS_COLUMNS = ("pfs_days", "pfs_event")


def result_columns(model: str) -> tuple[str, ...]:
    """The simulation's columns for ``model``: a tumour of several clones adds the relapse type, a model that
    carries the cytokine layer its toxicity readouts (:mod:`experiments.cohort.toxicity`)."""
    spec = get_model(model)
    return (*KEPT_RESULTS, *(("relapse_type",) if len(spec.tumour_species) > 1 else ()),
            *(toxicity.COLUMNS if toxicity.carries_layer(spec) else ()))


def columns(model: str) -> tuple[str, ...]:
    """Columns of patients.parquet for a cohort of ``model``, in order."""
    return ("id", "seed", "group", *get_model(model).param_names, *result_columns(model), *PFS_COLUMNS)


def observed_pfs(outcome: np.ndarray, t_event: np.ndarray, t_end: float,
                 visits: tuple[float, ...] | None) -> tuple[np.ndarray, np.ndarray]:
    """PFS time (days) and event flag as a trial would record them.

    Without a visit schedule progression is seen when it happens and everyone else is censored at the end of
    follow-up. With one, progression is seen at the first visit at or after it (within follow-up); a patient
    whose progression falls after the last visit, or who never progresses, is censored at the last visit.
    """
    prog = np.asarray(outcome) == "progression"
    t_event = np.asarray(t_event, dtype=float)
    if not visits:
        return np.where(prog, t_event, t_end), prog
    v = np.asarray(visits, dtype=float)
    k = np.searchsorted(v, t_event, side="left")
    seen = prog & (k < len(v))
    days = np.where(seen, v[np.minimum(k, len(v) - 1)], v[-1])
    return days, seen


def exact_batch(params: pd.DataFrame, options, model: str) -> np.ndarray:
    """Exact P(cure by t_end) for each row (Kendall oracle, one kernel call; no stochastic simulation); NaN
    where the model is not linear in B."""
    names = list(get_model(model).param_names)
    p = hybrid.cure_probability_exact(params[names], options.t_end, options, model=model)
    return np.full(len(params), np.nan) if p is None else p


def simulate_chunk(spec: Spec, start: int, stop: int) -> pd.DataFrame:
    """Sample and simulate patients ``start..stop-1``; one row each, columns :func:`columns`."""
    pats = sample_patients(spec, start, stop)
    mspec = get_model(spec.model)
    layer = toxicity.carries_layer(mspec)
    rcols = result_columns(spec.model)
    gnames = pats["group"].to_numpy()
    pieces = []
    for g in spec.groups:
        rows = np.flatnonzero(gnames == g.name)
        if rows.size == 0:
            continue
        sub = pats.iloc[rows][list(mspec.param_names)].reset_index(drop=True)
        opts = spec.group_options(g)
        if spec.exact_only:
            part = pd.DataFrame({c: np.nan for c in rcols}, index=range(len(rows)))
            part["outcome"] = None
            if "relapse_type" in rcols:
                part["relapse_type"] = None
            part["p_cure_exact"] = exact_batch(sub, opts, spec.model)
        else:
            seeds = patient_seeds(spec.seed, pats["id"].to_numpy()[rows])
            part = hybrid.simulate_batch(sub, seeds, opts, model=spec.model)
            part = part[[c for c in rcols if c not in toxicity.COLUMNS]].reset_index(drop=True)
        if layer:
            tox = toxicity.readouts(sub, opts, mspec, spec.toxicity)
            for c in toxicity.COLUMNS:
                part[c] = tox[c].to_numpy()
        part.index = rows
        pieces.append(part)
    res = pd.concat(pieces).sort_index()
    out = pats.reset_index(drop=True)
    for c in rcols:
        out[c] = res[c].to_numpy()
    out["outcome"] = out["outcome"].astype(object)
    if "relapse_type" in rcols:
        out["relapse_type"] = out["relapse_type"].astype(object)
    for c in KEPT_RESULTS[1:]:
        out[c] = out[c].astype(float)
    if spec.exact_only:
        out["pfs_days"] = np.nan
        out["pfs_event"] = False
    else:
        days, ev = observed_pfs(out["outcome"].to_numpy(), out["t_event_days"].to_numpy(), spec.options.t_end,
                                spec.assessment_days)
        out["pfs_days"] = days
        out["pfs_event"] = ev
    out["group"] = out["group"].astype(str)
    return out[list(columns(spec.model))]

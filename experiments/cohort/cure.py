"""P(cure) of identical patients (``cartsim cure``): Monte Carlo over N patients with one parameter set, beside
Kendall's exact value where the model allows it."""

from __future__ import annotations

import math
import sys

import numpy as np

import hybrid
from experiments.cohort.spec import MAX_PATIENTS
from experiments.execution import Backend, chunk_bounds, default_workers
from experiments.provenance import start
from experiments.statistics import wilson
from hybrid.constraints import Interval
from hybrid.errors import CartsimError

CHUNK_PATIENTS = 500
"""Patients per task at least: large enough to amortise a task's overhead."""


def identical_cure(params: hybrid.Parameters, n: int, seed: int, options: hybrid.SimOptions, *,
                   workers: int | None = None, progress: bool = False) -> dict:
    """Simulate ``n`` patients with parameters ``params`` (patient i on stream ``(seed, i)``) on ``workers``
    threads; the JSON document of ``cartsim cure`` (P(cure) with its Wilson interval, Kendall's exact value,
    outcome counts and event-day deciles, the provenance record)."""
    from tqdm import tqdm

    from hybrid.simulate import identical_outcomes

    Interval(lo=1, hi=MAX_PATIENTS, integer=True).check("--n", n, "patients", CartsimError)
    Interval(lo=0, integer=True).check("--seed", seed, error=CartsimError)
    if workers is not None:
        Interval(lo=1, integer=True).check("--workers", workers, "threads", CartsimError)
    prov = start("experiments.cohort.identical_cure", {"model": params.model.name, "parameters": params.as_dict(),
                                                        "n": n}, cure=seed)
    workers = workers or default_workers()
    bounds = chunk_bounds(n, workers, minimum=CHUNK_PATIENTS)
    # 5 bytes a patient (50 MB for 1e7); event days as float32 are exact to ~1e-4 day, far below any decile's
    # sampling error
    codes = np.empty(n, dtype=np.int8)
    days = np.empty(n, dtype=np.float32)
    # threads, not processes: the batch kernel releases the GIL, so one process (one copy of the compiled
    # kernels) keeps every core busy and memory stays that of one process
    with Backend(workers=min(workers, len(bounds)), threads=True) as backend, \
            tqdm(total=n, unit="patient", disable=not progress, file=sys.stderr) as bar:
        tasks = ((params, seed, a, b, options, params.model) for a, b in bounds)
        for k, (c, d) in backend.unordered(identical_outcomes, list(tasks)):
            a, b = bounds[k]
            codes[a:b], days[a:b] = c, d
            bar.update(b - a)
    exact = hybrid.cure_probability_exact(params, options.t_end, options)
    return prov.stamp(cure_summary(codes, days, exact, options, seed, params.model.name))


def cure_summary(codes: np.ndarray, days: np.ndarray, p_exact: float | None, opts: hybrid.SimOptions, seed: int,
                 model: str) -> dict:
    """The JSON document of ``cartsim cure`` from each patient's outcome code (engine order: cure,
    progression, censored) and event day; works on the arrays as kept, without copying them whole."""
    from hybrid.engine import OUTCOME_NAMES

    n = len(codes)
    counts = np.bincount(codes, minlength=len(OUTCOME_NAMES))
    cures = int(counts[0])
    p = cures / n
    lo, hi = wilson(cures, n)
    return {
        "n": n,
        "seed": seed,
        "model": model,
        "method": opts.method,
        "threshold_cells": opts.threshold,
        "t_end_days": opts.t_end,
        "p_cure": p,
        "p_cure_se": math.sqrt(p * (1 - p) / n),
        "p_cure_wilson95": [lo, hi],
        "p_cure_exact": p_exact,
        "outcomes": {k: int(counts[i]) for i, k in enumerate(OUTCOME_NAMES)},
        "time_to_cure_days": _deciles(days[codes == 0]),
        "time_to_progression_days": _deciles(days[codes == 1]),
    }


def _deciles(days: np.ndarray) -> dict[str, float | None]:
    """q10, q50 and q90 of event days (None without events) and the count."""
    keys = ("q10", "q50", "q90")
    if days.size == 0:
        return dict.fromkeys(keys) | {"n": 0}
    q = np.quantile(days, [0.1, 0.5, 0.9])
    return {k: float(v) for k, v in zip(keys, q, strict=True)} | {"n": int(days.size)}

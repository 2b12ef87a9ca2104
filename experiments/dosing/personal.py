"""A personalised dose (``cartsim dose``): for one patient — a tumour burden and either a population or
``cartsim predict``'s posterior draws — the dose within the product's range, and the schedule, that maximise
P(cure) subject to P(severe CRS proxy) <= the limit.

Both probabilities are predictive over the draws (the population, or the posterior): P(cure) the mean of the
draws' exact P(cure), with its 5-95% spread over draws; P(severe) the share of draws whose proxy grade is
severe, with its Wilson interval. Each schedule is searched on a log-spaced grid over the range, then refined
by bounded scalar minimisation (scipy.optimize.minimize_scalar) of -P(cure) between the best feasible grid
point's neighbours, a dose breaking the limit being refused. When even the lowest dose breaks the limit the
answer is "no dose in range meets the toxicity limit", with the lowest dose's P(severe) as the reason.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.cohort.sampling import patient_seeds, sample_patients
from experiments.cohort.spec import revise
from experiments.dosing.evaluate import method_of, outcomes, share
from experiments.dosing.schedules import Schedule
from experiments.dosing.spec import DoseSpec
from experiments.execution import Backend
from experiments.outputs import Notes, owned_run, write_json
from experiments.provenance import start
from hybrid.catalog import get_model
from hybrid.errors import CartsimError


def draws_of(spec: DoseSpec) -> pd.DataFrame:
    """The patient's draws: the population's virtual patients, their parameters replaced by the posterior's
    (evenly thinned to ``spec.draws``) where a posterior is given."""
    pop = revise(spec.population, n=spec.draws)
    patients = sample_patients(pop, 0, spec.draws)
    if spec.posterior is None:
        return patients
    post = pd.read_parquet(spec.posterior)
    names = [c for c in post.columns if c in get_model(spec.model).param_specs]
    if not names:
        raise CartsimError(f"{spec.posterior}: no parameter of model {spec.model} among its columns "
                           f"{list(post.columns)}")
    rows = np.linspace(0, len(post) - 1, spec.draws).round().astype(int)
    for n in names:
        patients[n] = post[n].to_numpy(float)[rows]
    return patients


def _task(args: tuple) -> tuple[float, np.ndarray, np.ndarray]:
    patients, model, options, schedule, dose, burden, tox, grade, seeds = args
    o = outcomes(patients, model, options, schedule, dose, np.array([burden]), tox, grade, seeds)
    return dose, o.p_cure[:, 0], o.severe[:, 0]


def _point(dose: float, p: np.ndarray, sev: np.ndarray) -> dict[str, Any]:
    severe, lo, hi = share(sev)
    q05, q95 = np.quantile(p, [0.05, 0.95])
    return {"dose": float(dose), "p_cure": float(p.mean()), "p_cure_q05": float(q05), "p_cure_q95": float(q95),
            "p_severe": severe, "p_severe_low": lo, "p_severe_high": hi}


def run_dose(spec: DoseSpec, out: Path, *, workers: int | None = None, overwrite: bool = False,
             notes: Notes | None = None) -> dict[str, Any]:
    """Recommend a dose for the patient of ``spec`` into ``out`` (owned by the run): dose.json, dose.png,
    provenance.json. Returns dose.json's content."""
    with owned_run(out, "cartsim dose", overwrite=overwrite, notes=notes):
        return _run(spec, Path(out), workers)


def _run(spec: DoseSpec, out_dir: Path, workers: int | None) -> dict[str, Any]:
    from experiments.figures.dosing import dose_figure

    prov = start("experiments.dosing.run_dose", spec.config, cohort=spec.population.seed)
    t0 = time.perf_counter()
    patients = draws_of(spec)
    seeds = patient_seeds(spec.population.seed, patients["id"].to_numpy())
    tox, grade = spec.population.toxicity, spec.rule.severe_grade
    opts = spec.population.options
    lo, hi = spec.dose_range
    grid = np.geomspace(lo, hi, spec.grid_points)
    result: dict[str, Any] = {"title": spec.title, "model": spec.model, "method": method_of(spec.model),
                              "burden_cells": spec.burden_cells, "dose_range_cells": [lo, hi],
                              "draws": len(patients), "posterior": spec.posterior,
                              "rule": {"toxicity_limit": spec.rule.toxicity_limit,
                                       "efficacy_target": spec.rule.efficacy_target, "severe_grade": grade},
                              "schedules": {}}
    with Backend(workers, threads=True) as backend:  # the kernels release the GIL
        for s in spec.schedules:
            def evaluate(doses, s=s):
                return backend.map(_task, [(patients, spec.model, opts, s, float(d), spec.burden_cells, tox,
                                            grade, seeds) for d in doses])

            pts = [_point(*r) for r in evaluate(grid)]
            result["schedules"][s.name] = {**s.describe(), **_choose(spec, s, grid, pts, evaluate)}
    feasible = {k: v for k, v in result["schedules"].items() if v["dose"] is not None}
    if feasible:
        best = max(feasible, key=lambda k: (feasible[k]["at_dose"]["p_cure"], -feasible[k]["dose"]))
        b = feasible[best]["at_dose"]
        meets = b["p_cure"] >= spec.rule.efficacy_target
        result.update(recommended={"schedule": best, "dose_cells": b["dose"], **b,
                                   "meets_efficacy_target": bool(meets)},
                      answer=(f"dose {b['dose']:.3g} cells on '{best}': P(cure) {b['p_cure']:.2f} (5-95% over draws "
                              f"{b['p_cure_q05']:.2f}-{b['p_cure_q95']:.2f}), P(severe CRS) {b['p_severe']:.2f} "
                              f"<= {spec.rule.toxicity_limit:g}"
                              + ("" if meets else f"; below the efficacy target {spec.rule.efficacy_target:g}")))
    else:
        low = {k: v["curve"]["p_severe"][0] for k, v in result["schedules"].items()}
        result.update(recommended=None,
                      answer=("no dose in range meets the toxicity limit: at the lowest dose "
                              f"{lo:.3g} cells P(severe CRS) is "
                              + ", ".join(f"{v:.2f} ('{k}')" for k, v in low.items())
                              + f" > {spec.rule.toxicity_limit:g}"))
    result["seconds"] = time.perf_counter() - t0
    dose_figure(result, "cells", out_dir / "dose.png")
    prov.stamp(result, out_dir)
    write_json(out_dir / "dose.json", result)
    return result


def _choose(spec: DoseSpec, schedule: Schedule, grid: np.ndarray, pts: list[dict[str, Any]], evaluate
            ) -> dict[str, Any]:
    """The best feasible dose of one schedule: the grid's, refined between its neighbours."""
    from scipy.optimize import minimize_scalar

    limit = spec.rule.toxicity_limit
    curve = {k: [p[k] for p in pts] for k in pts[0]}
    ok = [i for i, p in enumerate(pts) if p["p_severe"] <= limit]
    if not ok:
        return {"dose": None, "at_dose": None, "curve": curve,
                "why": f"P(severe CRS) {pts[0]['p_severe']:.2f} > {limit:g} already at the lowest dose"}
    i = max(ok, key=lambda k: (pts[k]["p_cure"], -k))
    best = pts[i]
    a, b = np.log(grid[max(i - 1, 0)]), np.log(grid[min(i + 1, len(grid) - 1)])
    seen: dict[float, dict[str, Any]] = {}

    def objective(x: float) -> float:
        d = float(np.exp(x))
        seen[d] = _point(*evaluate([d])[0])
        p = seen[d]
        return -p["p_cure"] + (10.0 * (p["p_severe"] - limit) + 1.0 if p["p_severe"] > limit else 0.0)

    if b > a:
        minimize_scalar(objective, bounds=(a, b), method="bounded", options={"xatol": 0.01, "maxiter": 12})
    for p in seen.values():
        if p["p_severe"] <= limit and p["p_cure"] > best["p_cure"]:
            best = p
    return {"dose": best["dose"], "at_dose": best, "curve": curve, "grid_best": pts[i],
            "refined_by": "scipy.optimize.minimize_scalar (bounded) between the best grid point's neighbours"}

"""The dosing experiment (``kind = "dosing"``): every cell of dose x tumour burden x schedule over the same
virtual patients (common random numbers: the cells differ only in what they change), with P(cure) and its
standard error, the share of severe CRS by the proxy with its Wilson interval, and the median Cmax and AUC0-28.

Outputs in the run's directory: dosing.parquet (one row per cell), summary.json (the therapeutic window per
schedule and burden, the directions of the dose- and burden-response, the schedules at equal total dose,
provenance), figures (dose_response.png, dose_toxicity.png, nomogram.png, schedules.png). Finished
(schedule, dose) pairs are kept in ``.chunks`` while the run lasts (``cartsim run --resume`` continues).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.cohort.sampling import patient_seeds, sample_patients
from experiments.dosing.evaluate import Outcomes, method_of, outcomes, share
from experiments.dosing.spec import DosingSpec
from experiments.execution import Backend
from experiments.outputs import CHUNK_DIR, Notes, atomic_path, owned_run, write_json
from experiments.provenance import start

COLUMNS = ("schedule", "dose_cells", "dose", "burden_cells", "burden", "p_cure", "p_cure_se", "severe_crs",
           "severe_crs_low", "severe_crs_high", "cmax_median_per_ul", "auc_0_28_median_per_ul", "in_window")


def _cell_task(args: tuple) -> tuple[int, int, Outcomes]:
    i, j, patients, model, options, schedule, dose, burdens, tox, grade, seeds = args
    return i, j, outcomes(patients, model, options, schedule, dose, burdens, tox, grade, seeds)


def cell_rows(spec: DosingSpec, schedule_name: str, dose: float, o: Outcomes) -> list[dict[str, Any]]:
    """The cells of one (schedule, dose) over the burdens, as rows of dosing.parquet."""
    n = o.p_cure.shape[0]
    rows = []
    for j, b in enumerate(spec.burdens):
        p = o.p_cure[:, j]
        severe, lo, hi = share(o.severe[:, j])
        pc = float(p.mean())
        rows.append({"schedule": schedule_name, "dose_cells": float(dose),
                     "dose": float(spec.dose_in_unit(np.array([dose]))[0]),
                     "burden_cells": float(b), "burden": float(spec.burden_in_unit(np.array([b]))[0]),
                     "p_cure": pc, "p_cure_se": float(p.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan,
                     "severe_crs": severe, "severe_crs_low": lo, "severe_crs_high": hi,
                     "cmax_median_per_ul": float(np.median(o.cmax[:, j])),
                     "auc_0_28_median_per_ul": float(np.median(o.auc[:, j])),
                     "in_window": bool(pc >= spec.rule.efficacy_target
                                       and (not np.isfinite(severe) or severe <= spec.rule.toxicity_limit))})
    return rows


def run_dosing(spec: DosingSpec, out: Path, *, workers: int | None = None, resume: bool = False,
               overwrite: bool = False, quiet: bool = True, notes: Notes | None = None) -> dict[str, Any]:
    """Evaluate every cell of ``spec`` on ``workers`` processes into ``out`` (owned by the run); returns the
    summary (also summary.json); a progress bar on stderr unless ``quiet``. Each finished (schedule, dose) is
    kept in ``out/.chunks`` until the run ends, so an interrupted run continues with ``resume`` (the same
    config) instead of starting again."""
    with owned_run(out, "cartsim run", resume=resume, overwrite=overwrite, notes=notes) as say:
        return _run(spec, Path(out), workers, resume, say, quiet)


def _fingerprint(spec: DosingSpec) -> str:
    return hashlib.sha256(json.dumps(spec.config, sort_keys=True, default=str).encode()).hexdigest()


def _kept(chunks: Path, spec: DosingSpec, resume: bool, say: Notes) -> dict[tuple[int, int], Outcomes]:
    """The finished cells an interrupted run of the same config left (with ``resume``); else none, and the
    chunk folder made fresh for this run."""
    tag = chunks / "dosing.json"
    same = tag.exists() and json.loads(tag.read_text()).get("config") == _fingerprint(spec)
    if resume and same:
        kept = {}
        for f in sorted(chunks.glob("cell-*.npz")):
            i, j = (int(x) for x in f.stem.split("-")[1:])
            with np.load(f, allow_pickle=False) as z:
                kept[(i, j)] = Outcomes(z["p_cure"], z["severe"], z["cmax"], z["auc"], str(z["method"]))
        say(f"--resume: {len(kept)} finished (schedule, dose) pairs kept from the interrupted run")
        return kept
    if resume:
        say("--resume: no finished cells of this config to keep; starting afresh")
    shutil.rmtree(chunks, ignore_errors=True)
    chunks.mkdir(parents=True)
    write_json(tag, {"config": _fingerprint(spec)})
    return {}


def _keep(chunks: Path, i: int, j: int, o: Outcomes) -> None:
    with atomic_path(chunks / f"cell-{i}-{j}.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, p_cure=o.p_cure, severe=o.severe, cmax=o.cmax, auc=o.auc, method=np.array(o.method))


def _run(spec: DosingSpec, out_dir: Path, workers: int | None, resume: bool, say: Notes, quiet: bool
         ) -> dict[str, Any]:
    from tqdm import tqdm

    from experiments.figures.dosing import dosing_figures

    prov = start("experiments.dosing.run_dosing", spec.config, cohort=spec.population.seed)
    t0 = time.perf_counter()
    pop = spec.population
    patients = sample_patients(pop, 0, pop.n)
    seeds = patient_seeds(pop.seed, patients["id"].to_numpy())
    chunks = out_dir / CHUNK_DIR
    results = _kept(chunks, spec, resume, say)
    tasks = [(i, j, patients, spec.model, pop.options, s, float(d), spec.burdens, spec.toxicity,
              spec.rule.severe_grade, seeds)
             for i, s in enumerate(spec.schedules) for j, d in enumerate(spec.doses) if (i, j) not in results]
    # threads: a pair's work is kernels that release the GIL (no worker start-up, no pickled tables)
    with Backend(workers, threads=True) as backend, tqdm(total=len(tasks), disable=quiet, file=sys.stderr, unit="dose",
                                           desc="(schedule, dose) pairs") as bar:
        for _, (i, j, o) in backend.unordered(_cell_task, [(t,) for t in tasks]):
            _keep(chunks, i, j, o)
            results[(i, j)] = o
            bar.update()
    rows = [r for (i, j), o in sorted(results.items())
            for r in cell_rows(spec, spec.schedules[i].name, float(spec.doses[j]), o)]
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    with atomic_path(out_dir / "dosing.parquet") as tmp:
        table.to_parquet(tmp, index=False)
    summary = summarise(spec, table, results)
    summary["method"] = method_of(spec.model)
    summary["seconds"] = time.perf_counter() - t0
    summary["patients_evaluated"] = int(pop.n * len(tasks) * len(spec.burdens))
    if pop.figures:
        summary["figures"] = [p.name for p in dosing_figures(spec, table, out_dir)]
    prov.stamp(summary, out_dir)
    write_json(out_dir / "summary.json", summary)
    shutil.rmtree(chunks, ignore_errors=True)
    return summary


def trend(per_patient: np.ndarray) -> str:
    """The direction of a mean along its columns from per-patient values (patients, points) of the same
    virtual patients: "rises", "falls", "flat" (every step within 2 SE of its paired difference), or "rises then
    falls" / "falls then rises" / "mixed"."""
    x = np.asarray(per_patient, float)
    if x.shape[1] < 2 or not np.isfinite(x).all():
        return "no readout" if not np.isfinite(x).all() else "one point"
    d = np.diff(x, axis=1)
    mean = d.mean(axis=0)
    se = d.std(axis=0, ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.zeros_like(mean)
    sign = np.where(np.abs(mean) <= 2 * se + 1e-12, 0, np.sign(mean))
    moves = sign[sign != 0]
    if moves.size == 0:
        return "flat"
    if np.all(moves > 0):
        return "rises"
    if np.all(moves < 0):
        return "falls"
    if np.count_nonzero(np.diff(moves)) == 1:
        return "rises then falls" if moves[0] > 0 else "falls then rises"
    return "mixed"


def summarise(spec: DosingSpec, table: pd.DataFrame, results: dict[tuple[int, int], Outcomes]) -> dict[str, Any]:
    """The window per schedule and burden, the directions of the responses (paired over the same virtual
    patients, at the middle burden and the middle dose of the grid), schedules at equal total dose."""
    rule = spec.rule
    jb, jd = len(spec.burdens) // 2, len(spec.doses) // 2
    out: dict[str, Any] = {
        "title": spec.title, "model": spec.model, "patients_per_cell": spec.population.n,
        "rule": {"efficacy_target": rule.efficacy_target, "toxicity_limit": rule.toxicity_limit,
                 "severe_grade": rule.severe_grade,
                 "severe": f"CRS proxy grade >= {rule.severe_grade} (cytokine-based, not ASTCT grading)"},
        "units": {"dose": spec.dose_unit, "burden": spec.burden_unit},
        "trends_at": {"burden": float(spec.burden_in_unit(spec.burdens[jb:jb + 1])[0]),
                      "dose": float(spec.dose_in_unit(spec.doses[jd:jd + 1])[0])},
        "product": None if spec.product is None else {"name": spec.product.name, "brand": spec.product.brand,
                                                      "source": spec.product.source},
        "schedules": {}}
    for i, s in enumerate(spec.schedules):
        t = table[table["schedule"] == s.name]
        window = {}
        for b, g in t.groupby("burden"):
            ok = g[g["in_window"]]
            window[f"{b:g}"] = None if ok.empty else [float(ok["dose"].min()), float(ok["dose"].max())]
        by_dose = [results[(i, j)] for j in range(len(spec.doses))]
        out["schedules"][s.name] = {
            **s.describe(), "window": window,
            "dose_response": trend(np.column_stack([o.p_cure[:, jb] for o in by_dose])),
            "burden_response": trend(results[(i, jd)].p_cure),
            "dose_toxicity": trend(np.column_stack([o.severe[:, jb] for o in by_dose])),
            "burden_toxicity": trend(results[(i, jd)].severe),
        }
    eq = table[np.isclose(table["burden_cells"], spec.burdens[jb])]
    out["schedules_at_equal_dose"] = {
        "burden": float(spec.burden_in_unit(spec.burdens[jb:jb + 1])[0]),
        "rows": eq[["schedule", "dose", "p_cure", "p_cure_se", "severe_crs"]].to_dict("records")}
    return out

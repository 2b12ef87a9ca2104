"""Local (finite-difference) and global (Sobol, SALib) sensitivity of the probability of cure.

P(cure) is evaluated with Kendall's exact oracle (P(cure by the end of follow-up)), which is noise-free, so the
indices carry no Monte Carlo error from the tumour process. Local analyses also rank the mean-field CAR T
peak, CAR T AUC over days 0–28 and the tumour nadir, closer to the kinetic fit behind the paper's Fig. 2c.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.cohort.chunk import exact_batch
from experiments.cohort.spec import Spec
from experiments.execution import Backend, chunk_bounds
from experiments.outputs import Notes, atomic_path, owned_run, write_json
from experiments.provenance import start
from hybrid import Parameters, SimOptions, get_model, solve_trajectory
from hybrid.rng import derived_seed

SALIB_TAG = 0x5341_4C49  # "SALI": the entropy tag of SALib's Sobol' scrambling and bootstrap
LOCAL_OUTPUTS = ("p_cure", "cart_peak_cells", "cart_auc_0_28", "tumour_nadir_cells")


def p_cure_points(values: np.ndarray, options: SimOptions, model: str) -> np.ndarray:
    """Exact P(cure by options.t_end) at each row of ``values`` (columns in the model's parameter order)."""
    names = list(get_model(model).param_names)
    return exact_batch(pd.DataFrame(np.atleast_2d(values), columns=names), options, model)


def local_outputs(row: np.ndarray, options: SimOptions, model: str) -> dict[str, float]:
    """The local-analysis outputs at one parameter point: exact P(cure) and mean-field kinetics (cells)."""
    spec = get_model(model)
    p = Parameters.from_values(row, spec)
    t = np.linspace(0.0, options.t_end, int(options.t_end * 10) + 1)
    traj = solve_trajectory(p, t, options)
    c = traj[spec.effector].to_numpy()
    early = t <= 28.0
    return {
        "p_cure": float(p_cure_points(row[None, :], options, model)[0]),
        "cart_peak_cells": float(c.max()),
        "cart_auc_0_28": float(np.trapezoid(c[early], t[early])),
        "tumour_nadir_cells": float(traj[list(spec.tumour_species)].to_numpy().sum(axis=1).min()),
    }


def run_sensitivity(spec: Spec, out: Path, *, workers: int | None = None, scheduler: str | None = None,
                    overwrite: bool = False, notes: Notes | None = None) -> dict[str, Any]:
    """Run a ``local_sensitivity`` or ``sobol`` spec into the output directory ``out``, which the run owns
    (sensitivity.parquet, summary.json, provenance.json, sensitivity.png), on ``workers`` local processes or a
    Dask ``scheduler``; returns the summary."""
    prov = start("experiments.cohort.run_sensitivity", spec.config, cohort=spec.seed)
    out_dir = Path(out)
    with owned_run(out_dir, "cartsim run", overwrite=overwrite, notes=notes), \
            Backend(workers, scheduler, threads=True) as backend:
        if spec.sensitivity.method == "local":
            summary, table = _local(spec, backend)
        else:
            summary, table = _sobol(spec, backend)
        with atomic_path(out_dir / "sensitivity.parquet") as tmp:
            table.to_parquet(tmp, index=False)
        summary["backend"] = backend.name
        if spec.figures:
            _figure(spec, summary, out_dir / "sensitivity.png")
        prov.stamp(summary, out_dir)
        write_json(out_dir / "summary.json", summary)
    return summary


def _base_row(spec: Spec) -> np.ndarray:
    return np.array([spec.base[k] for k in get_model(spec.model).param_names], dtype=float)


def _local(spec: Spec, backend: Backend) -> tuple[dict[str, Any], pd.DataFrame]:
    s = spec.sensitivity
    base = _base_row(spec)
    rows = [base]
    for name in s.parameters:
        j = get_model(spec.model).param_names.index(name)
        for sign in (+1, -1):
            r = base.copy()
            r[j] *= 1 + sign * s.step
            rows.append(r)
    res = backend.map(_local_star, [(r, spec.options, spec.model) for r in rows])
    y0 = res[0]
    sens: dict[str, dict[str, float]] = {}
    table = []
    for i, name in enumerate(s.parameters):
        up, down = res[1 + 2 * i], res[2 + 2 * i]
        sens[name] = {}
        for o in LOCAL_OUTPUTS:
            # relative sensitivity (dY/Y)/(dp/p) by central difference
            d = (up[o] - down[o]) / (2 * s.step)
            sens[name][o] = float(d / y0[o]) if y0[o] != 0 else float("nan")
        table.append({"parameter": name, **{f"S_{o}": sens[name][o] for o in LOCAL_OUTPUTS}})
    ranking = sorted(s.parameters, key=lambda n: -abs(sens[n]["p_cure"]))
    summary = {"title": spec.title, "method": "local relative sensitivity, central difference",
               "step": s.step,
               "base_point": dict(zip(get_model(spec.model).param_names, map(float, base), strict=True)),
               "outputs_at_base": y0, "sensitivities": sens, "ranking": ranking,
               "ranking_by_output": {o: sorted(s.parameters, key=lambda n, o=o: -abs(sens[n][o]))
                                     for o in LOCAL_OUTPUTS}}
    return summary, pd.DataFrame(table)


def _local_star(args: tuple) -> dict[str, float]:
    return local_outputs(*args)


def _p_cure_star(args: tuple) -> np.ndarray:
    return p_cure_points(*args)


def _sobol(spec: Spec, backend: Backend) -> tuple[dict[str, Any], pd.DataFrame]:
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    s = spec.sensitivity
    names = list(s.parameters)
    problem = {"num_vars": len(names), "names": names, "bounds": [list(s.bounds[n]) for n in names]}
    seed = derived_seed((spec.seed, SALIB_TAG))
    x = sobol_sample.sample(problem, s.n_base, calc_second_order=False, seed=seed)
    full = np.tile(_base_row(spec), (len(x), 1))
    for j, n in enumerate(names):
        full[:, get_model(spec.model).param_names.index(n)] = x[:, j]
    blocks = [full[a:b] for a, b in chunk_bounds(len(full), backend.workers, minimum=50)]
    y = np.concatenate(backend.map(_p_cure_star, [(b, spec.options, spec.model) for b in blocks]))
    si = sobol_analyze.analyze(problem, y, calc_second_order=False, conf_level=s.conf_level,
                               num_resamples=s.num_resamples, seed=seed)
    idx = {n: {"S1": float(si["S1"][j]), "S1_conf": float(si["S1_conf"][j]), "ST": float(si["ST"][j]),
               "ST_conf": float(si["ST_conf"][j]), "bounds": list(s.bounds[n])} for j, n in enumerate(names)}
    ranking = sorted(names, key=lambda n: -idx[n]["ST"])
    summary = {"title": spec.title, "method": "Sobol (SALib, Saltelli/Jansen estimators), exact P(cure)",
               "output": f"P(cure by day {spec.options.t_end:g})", "n_base": s.n_base,
               "n_evaluations": int(len(y)), "conf_level": s.conf_level,
               "p_cure_mean": float(np.mean(y)), "p_cure_sd": float(np.std(y)), "indices": idx,
               "ranking": ranking, "ranking_first_order": sorted(names, key=lambda n: -idx[n]["S1"])}
    table = pd.DataFrame(x, columns=names)
    table["p_cure_exact"] = y
    return summary, table


def _figure(spec: Spec, summary: dict[str, Any], path: Path) -> None:
    from experiments.figures.cohort import sensitivity_figure

    if spec.sensitivity.method == "local":
        names = summary["ranking"]
        vals = {o: np.array([summary["sensitivities"][n][o] for n in names]) for o in LOCAL_OUTPUTS}
        sensitivity_figure(names, vals, None, "local relative sensitivities (dY/Y)/(dp/p) at the base point",
                           path, "relative sensitivity")
    else:
        names = summary["ranking"]
        ix = summary["indices"]
        vals = {k: np.array([ix[n][k] for n in names]) for k in ("S1", "ST")}
        errs = {k: np.array([ix[n][f"{k}_conf"] for n in names]) for k in ("S1", "ST")}
        sensitivity_figure(names, vals, errs, f"Sobol indices of {summary['output']} "
                           f"({int(100 * spec.sensitivity.conf_level)}% CI)", path, "index")

"""Cohort runs: stream chunks of patients through a backend into a resumable store, then summarise and plot.

:func:`run_cohort` is the one entry point (``cartsim run``, the web app and the fitter's confirmation call it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.cohort import exposure, toxicity
from experiments.cohort.chunk import result_columns, simulate_chunk
from experiments.cohort.spec import SWEEP_VARIABILITY, Spec
from experiments.cohort.store import ChunkStore, fingerprint, iter_patients, read_patients
from experiments.cohort.summary import cohort_summary, exact_only_summary
from experiments.execution import Backend, auto_chunk_size
from experiments.outputs import Notes, owned_run, write_json
from experiments.provenance import Provenance, start

SUMMARY_COLUMNS = ["group", "outcome", "t_event_days", "p_cure_exact", "pfs_days", "pfs_event"]


@dataclass(frozen=True)
class CohortResult:
    """A finished cohort run: its summary (as in summary.json) and where its tables and figures are."""

    summary: dict[str, Any]
    out_dir: Path

    @property
    def patients_path(self) -> Path:
        return self.out_dir / "patients.parquet"

    def patients(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The patient table (one row per virtual patient; cells, days), optionally only some columns."""
        return read_patients(self.patients_path, columns)

    def figures(self) -> list[Path]:
        """The figures the run drew (PNG), in name order."""
        return sorted(self.out_dir.glob("*.png"))


def run_cohort(spec: Spec, out: Path, *, workers: int | None = None, scheduler: str | None = None,
               resume: bool = False, overwrite: bool = False, chunk_size: int | None = None,
               progress: bool = False, on_chunk: Callable[[int], None] | None = None,
               notes: Notes | None = None) -> CohortResult:
    """Simulate the cohort of ``spec`` into the output directory ``out`` (patients.parquet, summary.json,
    provenance.json, figures), which the run owns (:func:`experiments.outputs.owned_out_dir`).

    ``workers`` threads (default: all cores) or a Dask ``scheduler``; ``resume`` keeps the finished chunks of an
    interrupted run of the same config; ``chunk_size`` patients per chunk (default: the config's, else
    :func:`experiments.execution.auto_chunk_size`; results never depend on it). ``progress`` draws a bar on
    stderr; ``on_chunk(k)`` is called after chunk k is stored (raising there interrupts the run as Ctrl-C would,
    keeping the stored chunks); ``notes`` receives what the user should hear (default: printed on stderr)."""
    if chunk_size is not None and chunk_size < 1:
        from hybrid.errors import CartsimError

        raise CartsimError(f"chunk size must be >= 1, got {chunk_size}")
    prov = start("experiments.cohort.run_cohort", spec.config, cohort=spec.seed)
    # threads: a chunk's work is the batch kernel, which releases the GIL
    with owned_run(out, "cartsim run", resume=resume, overwrite=overwrite, notes=notes) as say, \
            Backend(workers, scheduler, threads=True) as backend:
        summary = _run(spec, Path(out), backend, prov, resume=resume, progress=progress, chunk_size=chunk_size,
                       on_chunk=on_chunk, say=say)
    return CohortResult(summary, Path(out))


def _run(spec: Spec, out_dir: Path, backend: Backend, prov: Provenance, *, resume: bool, progress: bool,
         chunk_size: int | None, on_chunk: Callable[[int], None] | None, say: Notes
         ) -> dict[str, Any]:
    from tqdm.auto import tqdm

    size = chunk_size or spec.chunk_size or auto_chunk_size(spec.n, backend.workers)
    store = ChunkStore(out_dir, spec.n, size, fingerprint(spec.config), resume, spec.model)
    for note in store.notes:
        say(note)
    todo = store.missing()
    done_patients = spec.n - sum(b - a for a, b in map(store.bounds, todo))
    tasks = [(spec, *store.bounds(k)) for k in todo]
    with tqdm(total=spec.n, initial=done_patients, unit="patient", disable=not progress,
              desc=Path(spec.source).stem, smoothing=0.1) as bar:
        for j, df in backend.unordered(simulate_chunk, tasks):
            k = todo[j]
            store.write(k, df)
            bar.update(len(df))
            if on_chunk is not None:
                on_chunk(k)
    store.merge(out_dir / "patients.parquet")
    names = [g.name for g in spec.groups]
    if spec.exact_only:  # means of one column, streamed: memory stays flat however large the cohort
        df = None
        stats = exact_only_summary(iter_patients(out_dir / "patients.parquet", ["group", "p_cure_exact"]), names)
    else:
        extra = [c for c in result_columns(spec.model) if c == "relapse_type" or c in toxicity.COLUMNS]
        df = store.read_columns([*SUMMARY_COLUMNS, *(c for c in exposure.COLUMNS if c not in SUMMARY_COLUMNS),
                                 *extra])
        severe = len(spec.toxicity.grade_thresholds) if "crs_grade_proxy" in extra else None
        stats = cohort_summary(df, names, spec.options.t_end, severe_grade=severe)
        exposures = exposure.exposure_table(df, spec.early_progression_day)
        stats["exposure_response"] = exposure.exposure_response(exposures, spec.seed, spec.early_progression_day,
                                                                severe)
    summary = build_summary(spec, stats, backend)
    if spec.figures:
        from experiments.figures import cohort as figures

        figures.cohort_figures(spec, df, summary, out_dir)
        if df is not None:
            figures.exposure_figure(exposures, summary["exposure_response"], out_dir / "exposure_response.png")
        if spec.kinetics_patients > 0:
            figures.kinetics_figure(spec, kinetics(spec, out_dir / "patients.parquet"), out_dir)
    prov.stamp(summary, out_dir)
    write_json(out_dir / "summary.json", summary)
    store.clean()
    return summary


def build_summary(spec: Spec, stats: dict[str, Any], backend: Backend | None = None) -> dict[str, Any]:
    """summary.json: the statistics (overall and per group, :func:`experiments.cohort.summary.cohort_summary`)
    and the sweep curve if any (the provenance record is stamped on by the caller)."""
    out: dict[str, Any] = {"title": spec.title, "n": spec.n, "seed": spec.seed, "model": spec.model,
                           "follow_up_days": spec.options.t_end,
                           "assessment_days": list(spec.assessment_days) if spec.assessment_days else None,
                           "variability": {"v": spec.variability, "reading": spec.variability_reading}}
    out.update(stats)
    if spec.sweep is not None:
        rows = []
        for g in spec.groups:
            s = out["groups"][g.name] if "groups" in out else out["overall"]
            row = {"x": g.x, "group": g.name, "n": s["n"]}
            if "p_cure" in s:
                row.update(p_cure=s["p_cure"]["estimate"], low=s["p_cure"]["low"], high=s["p_cure"]["high"],
                           time_to_cure_days=s["time_to_cure_days"])
            if "p_cure_exact_mean" in s:
                row.update(p_cure_exact_mean=s["p_cure_exact_mean"], p_cure_exact_se=s["p_cure_exact_se"])
            rows.append(row)
        out["sweep"] = {"parameter": spec.sweep.parameter, "scale": spec.sweep.scale, "points": rows}
        if spec.sweep.parameter == SWEEP_VARIABILITY:
            out["sweep"]["note"] = (f"variability reading {spec.variability_reading!r}: "
                                    + ("sd = v*mean" if spec.variability_reading == "sd" else "variance = v*mean"))
    if backend is not None:
        out["backend"] = backend.name
    return out


def kinetics(spec: Spec, patients_path: Path, t_max: float = 100.0) -> dict[str, dict[str, np.ndarray]]:
    """Mean-field CAR T counts C(t) (cells) of up to ``spec.kinetics_patients`` patients spread evenly over
    the cohort, per group: {group: {"t": days, "C": array (patients, times)}}."""
    from hybrid import Parameters, get_model, solve_trajectory

    k = min(spec.kinetics_patients, spec.n)
    ids = np.unique(np.linspace(0, spec.n - 1, k).round().astype(np.int64))
    # filter while reading: a million-patient table never has to be held whole
    names = list(get_model(spec.model).param_names)
    df = read_patients(patients_path, ["id", "group", *names], filters=[("id", "in", ids.tolist())])
    df = df.set_index("id").loc[ids]
    t = np.linspace(0.0, min(t_max, spec.options.t_end), 201)
    out: dict[str, dict[str, np.ndarray]] = {}
    effector = get_model(spec.model).effector
    for g in spec.groups:
        sub = df[df["group"] == g.name]
        if sub.empty:
            continue
        opts = spec.group_options(g)
        rows = []
        for vals in sub[names].itertuples(index=False):
            traj = solve_trajectory(Parameters.from_values(vals, spec.model), t, opts)
            rows.append(traj[effector].to_numpy(float))
        out[g.name] = {"t": t, "C": np.array(rows)}
    return out

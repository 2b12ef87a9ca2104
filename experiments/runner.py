"""Cohort runs: stream chunks of patients through a backend into a resumable store, then summarise and plot."""

from __future__ import annotations

import math
import platform
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .config import SWEEP_VARIABILITY, Spec
from .execution import Backend
from .simulate import result_columns, simulate_chunk
from .store import ChunkStore, fingerprint, iter_patients, read_patients, write_json
from .summary import cohort_summary, exact_only_summary

SUMMARY_COLUMNS = ["group", "outcome", "t_event_days", "p_cure_exact", "pfs_days", "pfs_event"]


def versions() -> dict[str, str]:
    """Versions of cartsim and the libraries that shape its numbers."""
    out = {"python": platform.python_version()}
    for pkg in ("cartsim", "numpy", "numba", "scipy", "pandas", "pyarrow", "lifelines", "SALib", "dask",
                "distributed", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def auto_chunk_size(n: int, workers: int) -> int:
    """Chunks small enough to spread over the workers and show progress, large enough to amortise the
    per-call overhead; results do not depend on it."""
    return int(min(2000, max(25, math.ceil(n / (8 * workers)))))


def run_cohort(spec: Spec, out_dir: Path, backend: Backend, *, resume: bool = False, quiet: bool = False,
               chunk_size: int | None = None, on_chunk: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Simulate the cohort of ``spec`` into ``out_dir`` (patients.parquet, summary.json, figures) and return the
    summary. ``on_chunk(k)`` is called after chunk k is stored (progress hooks; raising there interrupts the run
    as Ctrl-C would, keeping the stored chunks)."""
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    size = chunk_size or spec.chunk_size or auto_chunk_size(spec.n, backend.workers)
    store = ChunkStore(out_dir, spec.n, size, fingerprint(spec.config), resume, spec.model)
    for note in store.notes:
        print(f"cartsim run: {note}", file=sys.stderr, flush=True)
    todo = store.missing()
    done_patients = spec.n - sum(b - a for a, b in map(store.bounds, todo))
    tasks = [(spec, *store.bounds(k)) for k in todo]
    with tqdm(total=spec.n, initial=done_patients, unit="patient", disable=quiet, desc=Path(spec.source).stem,
              smoothing=0.1) as bar:
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
        df = store.read_columns([*SUMMARY_COLUMNS, *(c for c in result_columns(spec.model) if c == "relapse_type")])
        stats = cohort_summary(df, names, spec.options.t_end)
    summary = build_summary(spec, stats, backend)
    write_json(out_dir / "summary.json", summary)
    if spec.figures:
        from . import plots

        plots.cohort_figures(spec, df, summary, out_dir)
        if spec.kinetics_patients > 0:
            plots.kinetics_figure(spec, kinetics(spec, out_dir / "patients.parquet"), out_dir)
    store.clean()
    return summary


def build_summary(spec: Spec, stats: dict[str, Any], backend: Backend | None = None) -> dict[str, Any]:
    """summary.json: the statistics (overall and per group, :func:`experiments.summary.cohort_summary`), the
    sweep curve if any, the config and versions."""
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
    out["config"] = spec.config
    out["versions"] = versions()
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

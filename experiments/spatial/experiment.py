"""ABM experiments for ``cartsim run``: replicated spatial runs, optionally swept over one parameter.

Config (TOML, ``kind = "abm"``)::

    [abm]                 # scenario, width, height, steps, replicates, seed; [abm.set] parameter overrides
    [sweep]               # optional: parameter = "NAME", values = [...] (one arm per value)

Replicate ``r`` uses the same seed in every arm (common random numbers), so arms are compared on paired
replicates; replicate r's seed is :func:`hybrid.rng.derived_seed` ``(seed, r)``. Outputs: ``replicates.parquet``
(one row per replicate), ``series.parquet`` (time courses every ``series_every_hours``), ``summary.json``,
``provenance.json`` and figures.
Runs stop early only when the tumour is eliminated, so end states of escaped runs are all taken at ``steps``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from experiments.execution import Backend
from experiments.outputs import Notes, atomic_path, owned_run, write_json
from experiments.provenance import start
from experiments.schema import check
from experiments.statistics import newcombe, wilson
from hybrid.constraints import POSITIVE, Interval
from hybrid.errors import CartsimError
from hybrid.rng import derived_seeds, generator

_COUNT = Interval(lo=1, integer=True)

__all__ = ["AbmSpec", "run", "run_replicate", "run_spatial", "validate_abm"]

_ABM_KEYS = ("scenario", "width", "height", "steps", "replicates", "seed", "set", "series_every_hours")
_TOP_KEYS = ("kind", "abm", "sweep", "title", "description")
_BOOTSTRAP = 2000
BOOTSTRAP_TAG = 0x424F_4F54  # "BOOT": the entropy tag of the comparisons' bootstrap


@dataclass
class AbmSpec:
    """A validated ABM experiment: the parameters of every arm, and how many replicates of how many steps."""

    source: str
    scenario: str
    steps: int
    replicates: int
    seed: int
    arms: list[tuple[Any, dict[str, Any]]]  # (sweep value or None, validated parameters)
    sweep_parameter: str | None = None
    series_every_hours: float = 6.0
    title: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    """The config as given (after overrides), for the provenance record."""


def _err(source: str, path: str, msg: str) -> CartsimError:
    return CartsimError(f"{source}: {path}: {msg}")


def validate_abm(cfg: dict, source: str) -> AbmSpec:
    """Check an ABM config dict (parsed TOML); errors name ``source``, the key path and what is accepted."""
    from abm.params import PARAMS, default_steps
    from abm.scenarios import SCENARIOS, scenario_params

    if cfg.get("kind") != "abm":
        raise _err(source, "kind", f"expected 'abm', got {cfg.get('kind')!r}")
    for key in cfg:
        if key not in _TOP_KEYS:
            raise _err(source, key, f"unknown key; accepted top-level keys: {', '.join(_TOP_KEYS)}")
    abm = cfg.get("abm")
    if not isinstance(abm, dict):
        raise _err(source, "abm", "missing [abm] table (scenario, width, height, steps, replicates, seed)")
    for key in abm:
        if key not in _ABM_KEYS:
            raise _err(source, f"abm.{key}", f"unknown key; accepted: {', '.join(_ABM_KEYS)}")
    scenario = abm.get("scenario", "uniform_high")
    if scenario not in SCENARIOS:
        raise _err(source, "abm.scenario", f"unknown scenario {scenario!r}; accepted: {', '.join(SCENARIOS)}")
    overrides: dict[str, Any] = {}
    sets = abm.get("set", {})
    if not isinstance(sets, dict):
        raise _err(source, "abm.set", "expected a table of parameter = value")
    for name, value in sets.items():
        if name not in PARAMS:
            raise _err(source, f"abm.set.{name}", f"unknown ABM parameter; accepted: {', '.join(PARAMS)}")
        overrides[name] = value
    for key in ("width", "height"):
        if key in abm:
            overrides[key] = check(source, f"abm.{key}", abm[key], Interval(lo=10, hi=4000, integer=True))
    try:
        base = scenario_params(scenario, overrides)
    except CartsimError as exc:
        raise _err(source, "abm.set", str(exc)) from None
    steps = check(source, "abm.steps", abm.get("steps", default_steps(base["step_hours"])), _COUNT)
    replicates = check(source, "abm.replicates", abm.get("replicates", 10), Interval(lo=1, hi=100_000, integer=True))
    seed = check(source, "abm.seed", abm.get("seed", 0), Interval(lo=0, integer=True))
    every = check(source, "abm.series_every_hours", abm.get("series_every_hours", 6.0), POSITIVE, "hours")

    arms: list[tuple[Any, dict[str, Any]]] = [(None, base)]
    sweep_param = None
    sweep = cfg.get("sweep")
    if sweep is not None:
        if not isinstance(sweep, dict):
            raise _err(source, "sweep", "expected a table with parameter and values")
        for key in sweep:
            if key not in ("parameter", "values"):
                raise _err(source, f"sweep.{key}", "unknown key; accepted: parameter, values")
        sweep_param = sweep.get("parameter")
        if sweep_param not in PARAMS or sweep_param in ("width", "height"):
            raise _err(source, "sweep.parameter",
                       f"unknown or unsweepable parameter {sweep_param!r}; accepted: "
                       f"{', '.join(p for p in PARAMS if p not in ('width', 'height'))}")
        values = sweep.get("values")
        if not isinstance(values, list) or not values:
            raise _err(source, "sweep.values", "expected a non-empty list of values")
        if len({json.dumps(v) for v in values}) != len(values):
            raise _err(source, "sweep.values", "values must be distinct")
        arms = []
        for i, value in enumerate(values):
            try:
                arms.append((value, scenario_params(scenario, {**overrides, sweep_param: value})))
            except CartsimError as exc:
                raise _err(source, f"sweep.values[{i}]", str(exc)) from None
    return AbmSpec(source=source, scenario=scenario, steps=steps, replicates=replicates, seed=seed, arms=arms,
                   sweep_parameter=sweep_param, series_every_hours=float(every),
                   title=str(cfg.get("title", "")), overrides=overrides, config=dict(cfg))


# -- one replicate (runs in a worker process) ----------------------------------------------------------------
def run_replicate(item: dict[str, Any]) -> dict[str, Any]:
    """Run one replicate; returns its result row and a thinned time course. Module-level so it pickles."""
    from abm.model import TumourModel

    # Escaped runs go on to the step limit so that final burdens compare at the same time.
    m = TumourModel(seed=item["seed"], stop_early=False, **item["params"]).run(item["steps"])
    s = m.summary()
    df = m.series()
    every = max(1, int(round(item["series_every_hours"] / m.step_hours)))
    thin = df.iloc[::every]
    if thin.index[-1] != df.index[-1]:
        thin = pd.concat([thin, df.iloc[[-1]]])
    at48 = df.loc[df["time_hours"] <= 48.0, "infiltration_depth_um"].iloc[-1]
    row = {
        "arm": item["arm_label"], "sweep_value": item["arm_label"], "replicate": item["replicate"],
        "seed": item["seed"], "eliminated": s["eliminated"], "stop_reason": s["stop_reason"],
        "steps": s["steps"], "time_hours": s["time_hours"],
        "elimination_hours": _nan(s["elimination_hours"]), "elimination_days": _nan(s["elimination_days"]),
        "positive_cleared": s["positive_clearance_hours"] is not None,
        "positive_clearance_days": _nan(s["positive_clearance_hours"], 24.0),
        "initial_tumour_cells": s["initial_tumour_cells"], "tumour_cells": s["tumour_cells"],
        "antigen_high": s["antigen_high"], "antigen_low": s["antigen_low"],
        "antigen_negative": s["antigen_negative"],
        "antigen_negative_fraction": _nan(s["antigen_negative_fraction"]),
        "car_t_cells": s["car_t_cells"], "car_t_active": s["car_t_active"],
        "car_t_exhausted": s["car_t_exhausted"], "car_t_in_tumour": s["car_t_in_tumour"],
        "infiltration_depth_um": s["infiltration_depth_um"], "infiltration_depth_um_48h": float(at48),
        "dose": s["dose"], "kills": s["kills"],
    }
    cols = ["time_hours", "tumour_cells", "antigen_negative", "car_t_cells", "car_t_in_tumour",
            "infiltration_depth_um"]
    series = {c: thin[c].to_numpy().tolist() for c in cols}
    return {"row": row, "series": series}


def _nan(x: float | None, div: float = 1.0) -> float:
    return math.nan if x is None else float(x) / div


# -- statistics -------------------------------------------------------------------------------------------------
def _median_ci(x: np.ndarray, conf: float = 0.95) -> dict[str, float | None]:
    """Median with a distribution-free interval from binomial order statistics."""
    x = np.sort(x[np.isfinite(x)])
    n = x.size
    if n == 0:
        return {"median": None, "low": None, "high": None, "n": 0}
    lo = int(stats.binom.ppf((1 - conf) / 2, n, 0.5))
    hi = int(stats.binom.isf((1 - conf) / 2, n, 0.5))
    return {"median": float(np.median(x)), "low": float(x[max(lo - 1, 0)]) if lo >= 1 else None,
            "high": float(x[hi]) if hi < n else None, "n": int(n)}


def _mean_ci(x: np.ndarray) -> dict[str, float | None]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"mean": None, "low": None, "high": None}
    se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
    t = stats.t.ppf(0.975, max(x.size - 1, 1))
    return {"mean": float(x.mean()), "low": _fin(x.mean() - t * se), "high": _fin(x.mean() + t * se)}


def _fin(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _boot_diff(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, stat=np.median) -> dict[str, Any]:
    """Bootstrap 95% interval of stat(b) - stat(a) over finite values (a reproducible stream)."""
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < 2 or b.size < 2:
        return {"estimate": None, "low": None, "high": None}
    ia = rng.integers(0, a.size, size=(_BOOTSTRAP, a.size))
    ib = rng.integers(0, b.size, size=(_BOOTSTRAP, b.size))
    d = stat(b[ib], axis=1) - stat(a[ia], axis=1)
    return {"estimate": float(stat(b) - stat(a)), "low": float(np.quantile(d, 0.025)),
            "high": float(np.quantile(d, 0.975))}


def _arm_summary(g: pd.DataFrame) -> dict[str, Any]:
    n = len(g)
    k = int(g["eliminated"].sum())
    kc = int(g["positive_cleared"].sum())
    lo, hi = wilson(k, n)
    clo, chi = wilson(kc, n)
    return {
        "n": n, "eliminated": k, "p_eliminated": k / n, "p_eliminated_ci95": [lo, hi],
        "median_elimination_days": _median_ci(g["elimination_days"].to_numpy()),
        "positive_cleared": kc, "p_positive_cleared": kc / n, "p_positive_cleared_ci95": [clo, chi],
        "median_positive_clearance_days": _median_ci(g["positive_clearance_days"].to_numpy()),
        "final_tumour_cells": _mean_ci(g["tumour_cells"].to_numpy(float)),
        "final_antigen_negative_fraction": _mean_ci(g["antigen_negative_fraction"].to_numpy(float)),
        "infiltration_depth_um_48h": _mean_ci(g["infiltration_depth_um_48h"].to_numpy(float)),
        "escaped_negative_gt_0_9": int(((~g["eliminated"]) & (g["antigen_negative_fraction"] > 0.9)).sum()),
    }


def _comparisons(df: pd.DataFrame, labels: list[str], seed: int) -> list[dict[str, Any]]:
    """Each arm against the first: difference in P(eliminated), P(positives cleared) and median times."""
    rng = generator((seed, BOOTSTRAP_TAG))
    ref = df[df["arm"] == labels[0]]
    out = []
    for lab in labels[1:]:
        g = df[df["arm"] == lab]
        d, lo, hi = newcombe(int(ref["eliminated"].sum()), len(ref), int(g["eliminated"].sum()), len(g))
        dc, clo, chi = newcombe(int(ref["positive_cleared"].sum()), len(ref), int(g["positive_cleared"].sum()),
                                len(g))
        out.append({
            "arm": lab, "versus": labels[0],
            "diff_p_eliminated": {"estimate": d, "low": lo, "high": hi},
            "diff_p_positive_cleared": {"estimate": dc, "low": clo, "high": chi},
            "diff_median_elimination_days": _boot_diff(ref["elimination_days"].to_numpy(),
                                                       g["elimination_days"].to_numpy(), rng),
            "diff_median_positive_clearance_days": _boot_diff(ref["positive_clearance_days"].to_numpy(),
                                                              g["positive_clearance_days"].to_numpy(), rng),
            "diff_mean_final_tumour_cells": _boot_diff(ref["tumour_cells"].to_numpy(float),
                                                       g["tumour_cells"].to_numpy(float), rng, np.mean),
        })
    return out


# -- the experiment ---------------------------------------------------------------------------------------------
def _label(value: Any) -> str:
    return "base" if value is None else str(value)


def run_spatial(spec: AbmSpec, out: Path, *, workers: int | None = None, scheduler: str | None = None,
                overwrite: bool = False, quiet: bool = True,
                notes: Notes | None = None) -> dict[str, Any]:
    """Run a replicated spatial experiment into the output directory ``out``, which the run owns
    (:func:`experiments.outputs.owned_out_dir`), on ``workers`` local processes (default: all cores) or a Dask
    ``scheduler``; returns the summary (also in summary.json)."""
    with owned_run(out, "cartsim run", overwrite=overwrite, notes=notes), Backend(workers, scheduler) as backend:
        return run(spec, out, backend.map, quiet)


def run(spec: AbmSpec, out_dir: Path, map_fn, quiet: bool = True) -> dict[str, Any]:
    """Run every arm × replicate through ``map_fn`` (order-preserving), write outputs, return the summary."""
    prov = start("experiments.spatial.run_spatial", spec.config, abm=spec.seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds = derived_seeds(spec.seed, np.arange(spec.replicates)).tolist()
    items = [{"params": params, "seed": seeds[r], "steps": spec.steps, "arm_label": _label(value),
              "replicate": r, "series_every_hours": spec.series_every_hours}
             for value, params in spec.arms for r in range(spec.replicates)]
    results = list(map_fn(run_replicate, items))
    rows = pd.DataFrame([res["row"] for res in results])
    with atomic_path(out_dir / "replicates.parquet") as tmp:
        rows.to_parquet(tmp, index=False)
    series = pd.concat([pd.DataFrame({"arm": res["row"]["arm"], "replicate": res["row"]["replicate"],
                                      **res["series"]}) for res in results], ignore_index=True)
    with atomic_path(out_dir / "series.parquet") as tmp:
        series.to_parquet(tmp, index=False)
    labels = [_label(v) for v, _ in spec.arms]
    summary: dict[str, Any] = {
        "kind": "abm", "source": spec.source, "title": spec.title, "scenario": spec.scenario,
        "sweep_parameter": spec.sweep_parameter, "arms": labels, "replicates": spec.replicates,
        "steps": spec.steps, "step_hours": spec.arms[0][1]["step_hours"], "seed": spec.seed,
        "width": spec.arms[0][1]["width"], "height": spec.arms[0][1]["height"], "overrides": spec.overrides,
        "per_arm": {lab: _arm_summary(rows[rows["arm"] == lab]) for lab in labels},
        "comparisons": _comparisons(rows, labels, spec.seed) if len(labels) > 1 else [],
    }
    from experiments.figures.spatial import plot_elimination, plot_timecourse

    summary["figures"] = [plot_elimination(summary, out_dir / "elimination.png"),
                          plot_timecourse(series, labels, spec, out_dir / "timecourse.png")]
    summary = prov.stamp(_clean(summary), out_dir)
    write_json(out_dir / "summary.json", summary)
    if not quiet:
        for lab in labels:
            a = summary["per_arm"][lab]
            print(f"{spec.sweep_parameter or 'arm'}={lab}: eliminated {a['eliminated']}/{a['n']} "
                  f"(95% CI {a['p_eliminated_ci95'][0]:.2f}-{a['p_eliminated_ci95'][1]:.2f}), antigen-positive "
                  f"cleared {a['positive_cleared']}/{a['n']}")
    return summary


def _clean(x: Any) -> Any:
    """Plain JSON types: numpy scalars unwrapped, NaN/inf as None."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        return float(x) if math.isfinite(x) else None
    return x

"""The machine description and the Markdown report (benchmarks/RESULTS.md) built from the results dictionary."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
from typing import Any

TARGETS = {
    "mc_patients_per_s_per_core": (10_000.0, "hybrid Monte Carlo (exact SSA, p_cure_exact), identical patients, "
                                             "patients/s/core", ""),
    "user_path_patients_per_s_per_core": (10_000.0, "the same on the user path (`cartsim cure --workers 1`)", ""),
    "mc_varied_patients_per_s_per_core": (5_000.0, "the same on a varied cohort, patients/s/core", ""),
    "oracle_patients_per_s_per_core": (50_000.0, "exact oracle on a varied cohort, patients/s/core", ""),
    "cartsim_vs_gillespy2_tauhybrid": (1000.0, "cartsim exact SSA vs GillesPy2 TauHybridSolver", "×"),
    "cartsim_vs_gillespy2_tauhybrid_cpp": (100.0, "the same against GillesPy2 TauHybridCSolver (C++)", "×"),
    "cartsim_vs_reference": (50.0, "cartsim exact SSA vs the plain Python reference", "×"),
}
"""Issue #13 targets (and #5's reference ratio): key in ``results["hybrid"]["ratios"]`` -> (target, label,
unit)."""

SECTIONS = ("Hybrid Kimmel model", "Deterministic solve", "Scaling", "Spatial", "Targets")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    """CPU, cores, memory, OS, package versions, date (UTC) and the load average when called."""
    import psutil

    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gb": psutil.virtual_memory().total / 2**30,
        "os": platform.platform(), "python": platform.python_version(),
        "versions": {p: _version(p) for p in ("numpy", "numba", "scipy", "pandas", "mesa", "gillespy2", "dask",
                                              "distributed")},
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_1min": os.getloadavg()[0],
    }


def _fmt(x: float | None, spec: str = ",.0f") -> str:
    return "—" if x is None else format(x, spec)


def _hybrid(h: dict[str, Any]) -> list[str]:
    out = [f"Parameters {h['parameters']}, follow-up {h['t_end_days']:.0f} days, ODE rtol 1e-6, all peers in one "
           f"process one after the other. Kendall's exact P(cure by day 730) = **{h['exact']:.4f}**; z = (P − "
           f"reference) / SE, agreement = |z| ≤ 4. cartsim is single-threaded: its rates are per core.", "",
           "| peer | trajectories | seconds | trajectories/s | P(cure) ± SE | vs | z | same work? | what ran |",
           "|---|---:|---:|---:|---|---:|---:|---|---|"]
    for r in h["rows"]:
        pc = "—" if r["p_cure"] is None else f"{r['p_cure']:.4f} ± {r['se']:.4f}"
        agree = "" if r["agrees"] is None else (" (agrees)" if r["agrees"] else " (**disagrees**)")
        same = "yes" if r["same_work"] else "**no**"
        out.append(f"| {r['peer']} | {r['n']:,} | {r['seconds']:.2f} | {_fmt(r['per_s'], ',.1f')} | {pc} | "
                   f"{_fmt(r['exact'], '.4f')} | {_fmt(r['z'], '+.2f')}{agree} | {same} | {r['what']} |")
    g = h["gillespy2"]
    out += ["", f"GillesPy2 {g['gillespy2']}; C++ solvers: {g['cpp_solvers']}. The oracle row's P(cure) is the "
            "cohort mean of the exact values; its z compares the Monte Carlo on the first patients of the same "
            "cohort with their mean exact value."]
    return out


def _ode(o: dict[str, Any]) -> list[str]:
    out = [f"Kimmel mean field, days 0–365, rtol {o['rtol']:g} for both (SciPy atol {o['scipy_atol']:g} cells; "
           "cartsim pure relative).", "",
           "| solver | solves/s | ratio vs SciPy |", "|---|---:|---:|",
           f"| SciPy solve_ivp LSODA (Python right-hand side) | {o['scipy_solves_per_s']:,.0f} | 1 |",
           f"| cartsim `solve_trajectory` (one call per solve, builds a DataFrame) | "
           f"{o['cartsim_solves_per_s']:,.0f} | {o['ratio']:.1f}× |",
           f"| cartsim jitted kernel, batch (`cure_probability_exact` on a DataFrame) | "
           f"{o['cartsim_batch_solves_per_s']:,.0f} | {o['batch_ratio']:.1f}× |", "",
           "Relative difference |cartsim − SciPy| / SciPy:", "", "| day | N | C | B |", "|---:|---:|---:|---:|"]
    for d in o["rel_diff"]:
        out.append(f"| {d['day']:.0f} | {d['N']:.1e} | {d['C']:.1e} | {d['B']:.1e} |")
    out += ["", f"Largest: {o['max_rel_diff']:.1e}."]
    return out


def _status(v: float, goal: float, at_most: bool = False) -> str:
    if (v <= goal) if at_most else (v >= goal):
        return "met"
    frac = v / goal
    return f"**missed** by {100 * abs(1 - frac):.0f}% ({frac:.2f} of the goal)"


def _other_targets(results: dict[str, Any]) -> list[tuple[str, float, str, float, bool]]:
    """(label, measured, unit, goal, at_most) for the cohort and spatial targets of issue #13."""
    out = []
    scaling = results.get("scaling") or {}
    cases = scaling.get("cases", [])
    hyb = {(c["n"], c["workers"], c["backend"]): c for c in cases if c["engine"] == "hybrid"}
    if (100_000, 1, "local") in hyb and (100_000, 2, "local") in hyb:
        one, two = hyb[(100_000, 1, "local")], hyb[(100_000, 2, "local")]
        out.append(("2 workers vs 1, 100,000 patients, whole `cartsim run` (start-up included)",
                    one["seconds"] / two["seconds"], "×", 1.85, False))
    st = scaling.get("steady")
    if st:
        out.append((f"2 workers vs 1, {st['n']:,} patients, start-up excluded", st["speedup"], "×", 1.85, False))
    if (100_000, 2, "dask") in hyb and (100_000, 2, "local") in hyb:
        out.append(("Dask LocalCluster time / local pool time, 100,000 patients",
                    hyb[(100_000, 2, "dask")]["seconds"] / hyb[(100_000, 2, "local")]["seconds"], "", 1.10, True))
    if (1_000_000, 2, "local") in hyb:
        big = hyb[(1_000_000, 2, "local")]
        out.append(("1,000,000-patient hybrid cohort on 2 cores, seconds", big["seconds"], " s", 120.0, True))
        out.append(("its peak memory (PSS, MB)", big["peak_mem_mb"], "", 1024.0, True))
    exact = sorted((c for c in cases if c["engine"] == "exact"), key=lambda c: c["n"])
    if len(exact) >= 2:
        out.append((f"exact_only peak memory at {exact[-1]['n']:,} / at {exact[0]['n']:,} patients",
                    exact[-1]["peak_mem_mb"] / exact[0]["peak_mem_mb"], "", 1.25, True))
    rows = (results.get("spatial") or {}).get("rows", [])
    if rows:
        out.append(("spatial: slowest speed-up over plain per-agent Mesa", min(r["ratio"] for r in rows), "×", 10.0,
                    False))
        at400 = [r for r in rows if r["size"] == 400]
        if at400:
            out.append(("spatial: steps/s at 400², persisting tumour", at400[0]["steps_per_s"], "", 300.0, False))
    dosing = results.get("dosing")
    if dosing:
        out.append(("dosing nomogram (20 x 20 x 3 cells, 1000 patients each) on 2 cores, seconds",
                    dosing["seconds"], " s", 60.0, True))
    trial = results.get("calibration_trial")
    if trial:
        out.append(("joint trial fit (`calibrate_trial.toml`) on 2 cores, seconds", trial["seconds"], " s", 60.0,
                    True))
    return out


def _targets(results: dict[str, Any]) -> list[str]:
    out = ["| target | measured | goal | status |", "|---|---:|---:|---|"]
    h = results.get("hybrid") or {"ratios": {}}
    for key, (goal, label, unit) in TARGETS.items():
        v = h["ratios"].get(key)
        if v is None:
            out.append(f"| {label} | — | ≥ {goal:,.0f}{unit} | not measured |")
            continue
        out.append(f"| {label} | {v:,.0f}{unit} | ≥ {goal:,.0f}{unit} | {_status(v, goal)} |")
    for label, v, unit, goal, at_most in _other_targets(results):
        sign = "≤" if at_most else "≥"
        out.append(f"| {label} | {v:,.2f}{unit} | {sign} {goal:,.4g}{unit} | {_status(v, goal, at_most)} |")
    return out


def findings(results: dict[str, Any]) -> list[str]:
    """Notes drawn from the numbers: peers doing the same work whose P(cure) disagrees with the exact value."""
    out = []
    h = results.get("hybrid") or {}
    for r in h.get("rows", []):
        if r["same_work"] and r["agrees"] is False:
            out.append(f"{r['peer']}: P(cure) {r['p_cure']:.4f} vs {r['exact']:.4f}, z = {r['z']:+.2f} "
                       f"(difference {r['p_cure'] - r['exact']:+.4f}); its P(cure) is not within error of the exact "
                       "value at this sample size.")
    return out


def _cure_memory(rows: list[dict[str, Any]] | None) -> list[str]:
    if not rows:
        return []
    out = ["## Memory of `cartsim cure`", "",
           "`benchmarks/bench_cure_memory.py`: peak PSS of the whole process tree (parent and workers), sampled "
           "every 0.2 s, for a small and a large n in one run; the patients stream through in chunks.", "",
           "| n | workers | seconds | patients/s | peak PSS (MB) | P(cure) | exact | target |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        target = f"< 500 MB ({'met' if r['peak_pss_mb'] < 500 else 'missed'})" if r["n"] >= 10**7 else ""
        out.append(f"| {r['n']:,} | {r['workers']} | {r['seconds']:.0f} | {r['patients_per_s']:,.0f} | "
                   f"{r['peak_pss_mb']:.0f} | {r['p_cure']:.4f} | {r['p_cure_exact']:.4f} | {target} |")
    return [*out, ""]


def _calibration(c: dict[str, Any] | None) -> list[str]:
    if not c:
        return []
    return [
        "## Calibration", "",
        f"`benchmarks/bench_calibration.py`: one `cartsim fit` of {c['hyperparameters']} population "
        f"hyperparameters (K_C median and sigma, rho_C sigma, r_B median and sigma) to the Moffitt ZUMA-1 kinetics "
        f"and the shipped synthetic PFS curve at once, {c['virtual_patients']:,} virtual patients per evaluation "
        f"on the exact path, {c['workers']} worker processes, then the Monte Carlo confirmation of the calibrated "
        "cohort.", "",
        "| wall time (s), fit + confirmation | fit alone (s) | proposal rounds | effective sample size | "
        "max distance to the curve, exact path | same, Monte Carlo | target |",
        "|---|---|---|---|---|---|---|",
        f"| {c['seconds']:.1f} | {c['fit_seconds']:.1f} | {c['rounds']} | {c['effective_sample_size']:,.0f} | "
        f"{c['pfs_max_vertical_distance']:.3f} | {c['confirmation_max_vertical_distance']:.3f} | "
        f"< 60 s ({'met' if c['seconds'] < 60 else 'missed'}) |", "",
    ]


def _calibration_trial(c: dict[str, Any] | None) -> list[str]:
    if not c:
        return []
    return [
        "`bench_calibration.run_trial`: `cartsim fit experiments/configs/calibrate_trial.toml` as shipped — the "
        "Moffitt kinetics, the synthetic trial's PFS curve, response rates and Cmax ratio in one likelihood, "
        f"{c['structures']} candidate structures each fitted ({c['virtual_patients']:,} virtual patients per "
        f"evaluation), then the Monte Carlo confirmation; {c['workers']} worker processes.", "",
        "| wall time (s) | fit alone (s) | preferred structure | next, Δ | fitted ORR / CR | fitted Cmax ratio | "
        "target |",
        "|---|---|---|---|---|---|---|",
        f"| {c['seconds']:.1f} | {c['fit_seconds']:.1f} | {c['preferred']} | {c['criterion']} "
        f"+{c['delta_next']:.1f} | {c['response']['overall']:.2f} / {c['response']['complete']:.2f} | "
        f"{c['exposure_ratio']:.2f} | < 60 s ({'met' if c['seconds'] < 60 else 'missed'}) |", "",
    ]


def _dosing(c: dict[str, Any] | None) -> list[str]:
    if not c:
        return []
    return [
        "## Dosing", "",
        f"`benchmarks/bench_dosing.py`: one `run_dosing` of {c['cells']:,} cells (20 doses x 20 tumour burdens x 3 "
        f"schedules) with {c['patients_per_cell']:,} virtual patients each, model kimmel2021_crs ({c['method']}: "
        "one Kendall solve per patient, dose and schedule; the cytokine layer integrated for every burden from one "
        f"mean field), {c['workers']} worker processes.", "",
        "| patient-evaluations | wall time (s) | evaluations/s | target |", "|---|---|---|---|",
        f"| {c['evaluations']:,} | {c['seconds']:.1f} | {c['evaluations_per_s']:,.0f} | "
        f"< 60 s ({'met' if c['seconds'] < 60 else 'missed'}) |", "",
    ]


EXACT_TARGETS: dict[str, tuple[str, float, bool]] = {
    "exact_cohort_1_workers_per_s": ("exact-only `cartsim run`, 1 worker, patients/s/core", 50_000, False),
    "exact_cohort_speedup_2_workers": ("exact-only `cartsim run`, 2 workers over 1", 1.8, False),
    "oracle_varied_per_s_core": ("oracle, distinct patients (K_C, r_B varied), /s/core", 40_000, False),
    "oracle_tumour_start_per_s_core": ("oracle, only the tumour at infusion varied, /s/core", 500_000, False),
    "oracle_tumour_rates_per_s_core": ("oracle, only tumour rates (r_B, gamma_B) varied, /s/core", 500_000, False),
    "hybrid_varied_per_s_core": ("varied hybrid cohort (Fig. 3b config), patients/s/core", 20_000, False),
    "fit_round_per_s_2_cores": ("fit round (calibrate_pfs.toml), virtual patients/s on 2 cores", 20_000, False),
    "dosing_nomogram_seconds_2_cores": ("dosing nomogram 20 x 20 x 3 x 1000, s on 2 cores", 10.0, True),
    "spatial_400_steps_per_s": ("spatial model at 400², persisting tumour (bench_abm's workload), steps/s", 300,
                                False),
    "mc_per_s": ("hybrid Monte Carlo of identical patients (tabulated path), patients/s/core", float("nan"), False),
    "error_p_cure_max": ("max abs error of P(cure) vs rtol 1e-12 (weekly to day 730)", float("nan"), True),
    "error_pfs_max": ("max abs error of the exact PFS curve vs rtol 1e-12 (monthly)", float("nan"), True),
}
"""Issue 25's targets: key in a compare_trees workload's medians -> (label, target, at most?); NaN: recorded only."""


def _exact_path(c: dict[str, Any] | None) -> list[str]:
    """The exact-path section: ``benchmarks.compare_trees`` workloads (exact, fit, dosing, spatial, mc) of this
    tree beside the reference commit, each row against its target."""
    if not c:
        return []
    lines = ["## Exact path (issue 25)", "",
             f"`python -m benchmarks.compare_trees --ref {c['ref']} --workload W`: the reference commit and this "
             "tree in one run, each round in fresh interpreters, alternating; medians. Per-core rows with "
             "NUMBA_NUM_THREADS=1; cohort rows are `run_cohort` in one process after a warm-up (start-up excluded).",
             "", f"| measure | {c['ref']} | this tree | ratio | target | status |", "|---|---:|---:|---:|---:|---|"]
    medians = {k: v for w in c["workloads"].values() for k, v in w["medians"].items()}
    for key, (label, goal, at_most) in EXACT_TARGETS.items():
        if key not in medians:
            continue
        a, b = medians[key]["ref"], medians[key]["work"]
        small = key.startswith("error") or key.endswith("speedup_2_workers") or key.endswith("seconds_2_cores")
        spec = ".2e" if key.startswith("error") else (".2f" if small else ",.0f")
        status = "recorded" if goal != goal else _status(b, goal, at_most)
        lines.append(f"| {label} | {a:{spec}} | {b:{spec}} | {b / a:.2f} | "
                     f"{'' if goal != goal else ('<= ' if at_most else '>= ') + format(goal, 'g')} | {status} |")
    return [*lines, ""]


def markdown(results: dict[str, Any], cohort_md: str, abm_md: str) -> str:
    """RESULTS.md from the results dictionary and the cohort / ABM tables rendered by their own modules."""
    m = results["machine"]
    v = m["versions"]
    lines = [
        "# cartsim benchmarks", "",
        f"`{results['command']}` — {m['date_utc']}, {results['wall_minutes']:.1f} min in all.", "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']:.0f} GB; {m['os']}. Python {m['python']}, "
        f"numpy {v['numpy']}, numba {v['numba']}, scipy {v['scipy']}, pandas {v['pandas']}, mesa {v['mesa']}, "
        f"gillespy2 {v['gillespy2']}, dask {v['dask']}. Load average (1 min) {m['load_average_1min']:.2f} at the "
        f"start, {results['load_average_end']:.2f} at the end. The peers of a section run back to back in one "
        "invocation, so their ratios are comparable; absolute rates also depend on what else ran on the machine.",
        "", results["size_note"], "",
        "## Hybrid Kimmel model", "", *_hybrid(results["hybrid"]), "",
        "## Deterministic solve", "", *_ode(results["ode"]), "",
        "## Scaling", "", results["scaling_note"], "", cohort_md, "",
        "## Spatial", "", abm_md, "",
        *_calibration(results.get("calibration")),
        *_calibration_trial(results.get("calibration_trial")),
        *_dosing(results.get("dosing")),
        *_exact_path(results.get("exact_path")),
        *_cure_memory(results.get("cure_memory")),
        "## Targets", "", *_targets(results), "",
    ]
    notes = findings(results) + list(results.get("notes", []))
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(lines)

"""Calibration speed: a 5-hyperparameter fit of a virtual population to summary kinetics (Moffitt ZUMA-1
counts) and a Kaplan–Meier curve (the shipped synthetic example) at once, on the exact path, followed by the
full hybrid Monte Carlo confirmation of the calibrated cohort; and the shipped trial recipe
(``calibrate_trial.toml``: kinetics, PFS, response rates and an exposure fact, four candidate structures).
Wall-clock seconds on ``workers`` processes."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "experiments" / "data"

CONFIG: dict[str, Any] = {
    "kind": "fit",
    "title": "benchmark: kinetics + KM, 5 hyperparameters",
    "cohort": {"model": "kimmel2021", "preset": "kimmel2021", "n": 4000, "seed": 5, "follow_up_days": 730},
    "data": {"kinetics_csv": str(DATA / "moffitt_zuma1_cart.csv"), "pfs_csv": str(DATA / "synthetic_pfs.csv")},
    "free": {"K_C": {"median": [2e10, 3e11], "sigma": [0.05, 1.5], "start_median": 6.96e10},
             "rho_C": {"median": 0.0251, "sigma": [0.05, 1.5]},
             "r_B": {"median": [0.05, 0.3], "sigma": [0.05, 1.0]}},
    "fit": {"starts": 2, "virtual_patients": 20000},
}


def run(workers: int = 2, quick: bool = False) -> dict[str, Any]:
    """Time the fit; ``quick``: tiny sizes (a smoke run, numbers meaningless)."""
    from experiments.calibration import run_fit, validate_fit

    cfg = CONFIG
    if quick:
        cfg = {**CONFIG, "cohort": {**CONFIG["cohort"], "n": 300},
               "fit": {"starts": 1, "virtual_patients": 2000, "min_ess": 500}}
    spec = validate_fit(cfg, str(Path(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_fit(spec, Path(tmp), quiet=True, workers=workers)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "fit_seconds": res["seconds"], "hyperparameters": len(spec.hypers),
            "workers": workers, "virtual_patients": spec.virtual_patients,
            "pfs_max_vertical_distance": res["pfs"]["max_vertical_distance"],
            "confirmation_max_vertical_distance": res["confirmation"]["max_vertical_distance"],
            "effective_sample_size": res["diagnostics"]["effective_sample_size"],
            "rounds": len(res["diagnostics"]["rounds"])}


def run_trial(workers: int = 2, quick: bool = False) -> dict[str, Any]:
    """Time ``cartsim fit experiments/configs/calibrate_trial.toml`` as shipped (the joint fit of every candidate
    structure and the Monte Carlo confirmation); ``quick``: tiny sizes."""
    from experiments.calibration import run_fit, validate_fit
    from experiments.cohort.spec import load_toml
    from experiments.paths import CONFIGS

    source = CONFIGS / "calibrate_trial.toml"
    cfg = load_toml(source)
    if quick:
        cfg["cohort"]["n"] = 300
        cfg["fit"].update(starts=1, virtual_patients=2000, min_ess=500)
    spec = validate_fit(cfg, str(source))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_fit(spec, Path(tmp), quiet=True, workers=workers)
        seconds = time.perf_counter() - t0
    comp = res["model_comparison"]
    return {"seconds": seconds, "fit_seconds": res["seconds"], "workers": workers,
            "virtual_patients": spec.virtual_patients, "structures": len(comp["candidates"]),
            "preferred": comp["preferred"], "criterion": comp["criterion"],
            "delta_next": sorted(c[f"delta_{comp['criterion'].lower()}"] for c in comp["candidates"])[1],
            "edge": res["edge"]["line"],
            "pfs_max_vertical_distance": res["pfs"]["max_vertical_distance"],
            "response": res["response"]["fitted"], "exposure_ratio": res["response"]["exposure_response"]["fitted"]}


if __name__ == "__main__":
    print(run())
    print(run_trial())

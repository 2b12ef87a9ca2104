"""Dosing speed: the nomogram of the dosing issue — 20 doses x 20 tumour burdens x 3 schedules, 1000 virtual
patients per cell (1.2 million patient-evaluations) of Kimmel's model with the cytokine layer, P(cure) on the
exact path, severe CRS by the proxy, Cmax and AUC — one ``run_dosing`` on ``workers`` processes, wall-clock."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

CONFIG: dict[str, Any] = {
    "kind": "dosing",
    "title": "benchmark: 20 x 20 x 3 nomogram, 1000 virtual patients per cell",
    "cohort": {"model": "kimmel2021_crs", "n": 1000, "seed": 7, "follow_up_days": 730},
    "variability": {"v": 0.05},
    "dosing": {"doses": {"from": 2e7, "to": 2e9, "num": 20}, "burden_unit": "ml",
               "burdens": {"from": 1, "to": 300, "num": 20},
               "schedules": [{"preset": "single"}, {"preset": "split"},
                             {"preset": "repeated", "k": 3, "every_days": 14, "lymphodepletion_each": True}]},
}


def run(workers: int = 2, quick: bool = False) -> dict[str, Any]:
    """Time the nomogram; ``quick``: 4 x 4 x 3 cells of 20 patients (a smoke run, numbers meaningless)."""
    from experiments.dosing import run_dosing, validate_dosing

    cfg = CONFIG
    if quick:
        cfg = {**CONFIG, "cohort": {**CONFIG["cohort"], "n": 20},
               "dosing": {**CONFIG["dosing"], "doses": {"from": 2e7, "to": 2e9, "num": 4},
                          "burdens": {"from": 1, "to": 300, "num": 4}}}
    spec = validate_dosing(cfg, str(Path(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_dosing(spec, Path(tmp), workers=workers)
        seconds = time.perf_counter() - t0
    cells = len(spec.doses) * len(spec.burdens) * len(spec.schedules)
    return {"seconds": seconds, "workers": workers, "cells": cells, "patients_per_cell": spec.population.n,
            "evaluations": res["patients_evaluated"], "method": res["method"],
            "evaluations_per_s": res["patients_evaluated"] / seconds}


if __name__ == "__main__":
    print(run())

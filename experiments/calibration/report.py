"""Outputs of calibration: the calibrated cohort config (TOML) and the Monte Carlo confirmation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from experiments.cohort.runner import run_cohort
from experiments.cohort.spec import Spec, revise
from experiments.outputs import atomic_path
from experiments.statistics import kaplan_meier
from experiments.trial_data import KaplanMeier


def write_toml(path: Path, cfg: dict[str, Any], comment: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(f"# {comment}\n" + tomli_w.dumps(cfg))


def confirm_pfs(calibrated: Spec, out: Path, km: KaplanMeier, workers: int | None) -> dict[str, Any]:
    """Run the calibrated cohort through the full hybrid Monte Carlo (:func:`experiments.cohort.run_cohort`,
    into ``out``); its Kaplan–Meier curve at the observed days."""
    result = run_cohort(revise(calibrated, figures=False), out, workers=workers, notes=lambda _msg: None)
    df = result.patients(["pfs_days", "pfs_event"])
    kmf = kaplan_meier(df["pfs_days"].to_numpy(), df["pfs_event"].to_numpy())
    mc = kmf.survival_function_at_times(km.days).to_numpy()
    return {"n": len(df), "days": km.days.tolist(), "monte_carlo": mc.tolist(), "observed": km.pfs.tolist(),
            "max_vertical_distance": float(np.max(np.abs(mc - km.pfs)))}


__all__ = ["confirm_pfs", "write_toml"]

"""Synthetic data made by cartsim itself from known parameters: the standard test of a fitter (recovery), and
the shipped example curve (experiments/data/synthetic_pfs.csv, made by ``python -m
experiments.calibration.synthetic``)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from experiments.calibration.population import population_spec
from experiments.cohort.chunk import simulate_chunk
from experiments.cohort.spec import validate
from experiments.paths import DATA
from experiments.statistics import kaplan_meier
from hybrid.units import DAYS_PER_MONTH

EXAMPLE_BASE: dict[str, Any] = {"cohort": {"model": "kimmel2021", "preset": "kimmel2021", "seed": 7,
                                           "follow_up_days": 730}}
EXAMPLE_TRUTH = {"r_B": {"median": 0.13, "sigma": 0.3}, "K_C": {"median": 6.96e10, "sigma": 0.4}}
"""Hyperparameters behind the shipped example curve (lognormal medians and sigmas)."""


def synthetic_km(base: Mapping[str, Any], truth: Mapping[str, Mapping[str, float]], n: int,
                 months: Sequence[float]) -> pd.DataFrame:
    """Simulate a hybrid Monte Carlo cohort of ``n`` patients with lognormal ``truth`` hyperparameters and read
    its Kaplan–Meier curve at ``months``: columns months, pfs, n_at_risk."""
    spec = population_spec(validate({"kind": "cohort", **base}, "<synthetic>"), truth, n)
    df = simulate_chunk(spec, 0, n)
    kmf = kaplan_meier(df["pfs_days"].to_numpy(), df["pfs_event"].to_numpy())
    days = np.asarray(months, float) * DAYS_PER_MONTH
    pfs = kmf.survival_function_at_times(days).to_numpy()
    at_risk = np.array([(df["pfs_days"].to_numpy() >= d).sum() for d in days])
    return pd.DataFrame({"months": np.asarray(months, float), "pfs": pfs.round(4), "n_at_risk": at_risk})


def synthetic_patient(params, days: Sequence[float], error_sigma: float, seed: int, lloq: float | None = None,
                      patient: str = "P1") -> pd.DataFrame:
    """One patient's counts (cells/µL) at ``days`` from the mean field with lognormal measurement noise;
    values below ``lloq`` are reported as censored (empty count, lloq given)."""
    from hybrid import effector_per_ul

    mu = effector_per_ul(params, np.asarray(days, float))[0]
    y = mu * np.exp(error_sigma * np.random.default_rng(seed).standard_normal(len(days)))
    df = pd.DataFrame({"patient": patient, "day": np.asarray(days, float), "car_t_per_ul": y})
    if lloq is not None:
        df["lloq"] = lloq
        df.loc[df["car_t_per_ul"] < lloq, "car_t_per_ul"] = np.nan
    return df


def main() -> int:
    out = DATA / "synthetic_pfs.csv"
    km = synthetic_km(EXAMPLE_BASE, EXAMPLE_TRUTH, 1000, np.arange(1, 24))
    header = ("# Synthetic PFS curve made by cartsim (python -m experiments.calibration.synthetic): 1000 hybrid\n"
              "# Monte Carlo patients, Kimmel Table 1 with lognormal r_B (median 0.13/day, sigma 0.3) and K_C\n"
              "# (median 6.96e10 cells, sigma 0.4), seed 7. Not trial data: the known truth for calibrate_pfs.toml.\n")
    out.write_text(header + km.to_csv(index=False))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

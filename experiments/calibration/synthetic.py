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
from experiments.cohort.nonresponse import NonResponse
from experiments.cohort.spec import revise, validate
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


def synthetic_trial(base: Mapping[str, Any], truth: Mapping[str, Mapping[str, float]], n: int,
                    months: Sequence[float], response_day: float, nonresponse: NonResponse | None = None,
                    kinetics_days: Sequence[float] = (), seed: int = 0) -> dict[str, Any]:
    """A synthetic trial of ``n`` patients from known hyperparameters (and non-response shares): its KM curve
    (:func:`synthetic_km`'s columns, from the hybrid Monte Carlo), its response rates at ``response_day``
    (each patient's response drawn from its exact probabilities of CR and OR,
    :func:`experiments.calibration.response.response_probabilities`) and, at ``kinetics_days``, the median and
    quartiles of its mean-field CAR T counts (cells/µL); the responders' / non-responders' Cmax ratio
    (geometric means) with a percentile bootstrap 95% interval. Returns {"km", "response", "kinetics",
    "exposure_response"} (the last two when there is something to report)."""
    from experiments.calibration.response import DETECTION_CELLS, ResponseRates, response_probabilities
    from experiments.cohort.exposure import EXPOSURE_GRID, cmax_auc
    from hybrid import effector_per_ul
    from hybrid.catalog import get_model
    from hybrid.rng import generator

    spec = population_spec(validate({"kind": "cohort", **base}, "<synthetic>"), truth, n)
    if nonresponse is not None:
        spec = revise(spec, nonresponse=nonresponse)
    df = simulate_chunk(spec, 0, n)
    kmf = kaplan_meier(df["pfs_days"].to_numpy(), df["pfs_event"].to_numpy())
    days = np.asarray(months, float) * DAYS_PER_MONTH
    km = pd.DataFrame({"months": np.asarray(months, float),
                       "pfs": kmf.survival_function_at_times(days).to_numpy().round(4),
                       "n_at_risk": [(df["pfs_days"].to_numpy() >= d).sum() for d in days]})
    params = df[list(get_model(spec.model).param_names)]
    probe = ResponseRates(day=response_day, overall=0.5, complete=None, n=n)
    p = response_probabilities(probe, params, spec.options, spec.model)
    u = generator(seed, 0x5245_5350).random(n)  # "RESP"
    cr, orr = u < p[:, 0], u < p[:, 1]
    out: dict[str, Any] = {"km": km, "response": {"day": float(response_day), "overall": float(orr.mean()),
                                                  "complete": float(cr.mean()), "n": int(n),
                                                  "detection_cells": DETECTION_CELLS}}
    if 0 < orr.sum() < n:  # responders' / non-responders' Cmax, as seed 000 reports it
        cmax = np.log(cmax_auc(effector_per_ul(params, EXPOSURE_GRID, spec.options, spec.model))[0])
        rng = generator(seed, 0x4558_5052)  # "EXPR"
        boot = [np.exp(rng.choice(cmax[orr], orr.sum()).mean() - rng.choice(cmax[~orr], (~orr).sum()).mean())
                for _ in range(2000)]
        out["exposure_response"] = {"measure": "cmax", "ratio": float(np.exp(cmax[orr].mean() - cmax[~orr].mean())),
                                    "ci": [float(v) for v in np.quantile(boot, [0.025, 0.975])]}
    if len(kinetics_days):
        c = effector_per_ul(params, np.asarray(kinetics_days, float), spec.options, spec.model)
        q = np.quantile(c, [0.25, 0.5, 0.75], axis=0)
        out["kinetics"] = pd.DataFrame({"day": np.asarray(kinetics_days, float), "median": q[1], "q25": q[0],
                                        "q75": q[2]})
    return out


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


TRIAL_BASE: dict[str, Any] = {"cohort": {"model": "kimmel2021", "preset": "kimmel2021", "seed": 17,
                                         "follow_up_days": 730}}
TRIAL_TRUTH = {"r_B": {"median": 0.12, "sigma": 0.4}, "K_C": {"median": 7.04e10, "sigma": 0.25},
               "rho_C": {"median": 0.038, "sigma": 0.46}, "N0": {"median": 3e9, "sigma": 0.49}}
"""The synthetic trial behind calibrate_trial.toml: the Moffitt kinetics population (fit_kinetics.toml's fit)
with lognormal r_B, and :data:`TRIAL_NONRESPONSE`."""
TRIAL_NONRESPONSE = {"failed_expansion": 0.06, "antigen_low": 0.14}
TRIAL_N = 200
TRIAL_RESPONSE_DAY = 28.0


def make_trial() -> dict[str, Any]:
    """The synthetic trial of calibrate_trial.toml (:data:`TRIAL_TRUTH`, :data:`TRIAL_NONRESPONSE`)."""
    return synthetic_trial(TRIAL_BASE, TRIAL_TRUTH, TRIAL_N, np.arange(1, 24), TRIAL_RESPONSE_DAY,
                           NonResponse(TRIAL_NONRESPONSE), seed=17)


def main() -> int:
    trial = make_trial()
    path = DATA / "synthetic_trial_pfs.csv"
    header = ("# Synthetic trial made by cartsim (python -m experiments.calibration.synthetic): 200 hybrid Monte\n"
              "# Carlo patients of the Moffitt kinetics population with lognormal r_B (median 0.12/day, sigma 0.4),\n"
              "# 6% failed expansion, 14% antigen-low tumours, seed 17. Not trial data: the known truth for\n"
              "# calibrate_trial.toml, whose [data.response] and [data.exposure_response] are this trial's.\n")
    path.write_text(header + trial["km"].to_csv(index=False))
    print(path, trial["response"], trial.get("exposure_response"))
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

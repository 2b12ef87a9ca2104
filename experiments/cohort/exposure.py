"""Exposure–response of a cohort, as a clinical pharmacologist reads it: CAR T exposure in blood units
(Cmax and AUC0–28 in cells/µL and cells·day/µL, Tmax in days) against the outcome of each virtual patient.

Patients are classed by outcome: cured, progressing before the early landmark (``early_day``, default 90 days:
assumed, the 3-month response assessment of the CD19 CAR T trials), progressing later, or censored. A
*responder* is progression-free at the landmark (the clinical readings compare responders with
non-responders: Huang et al., seed 000, report responders' median Cmax and AUC 2–8× non-responders'). For each
exposure the summary gives the medians per class, the ratio of medians responders / non-responders with a
percentile bootstrap interval, and logistic regressions of response and of cure on log10 exposure
(statsmodels; slope per tenfold exposure, odds ratio per doubling, Wald intervals).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from hybrid.rng import generator
from hybrid.units import cells_to_blood

EARLY_DAY = 90.0
"""Default landmark (days) that separates early from late progression: assumed, a 3-month assessment."""
EXPOSURES = {"cmax_per_ul": ("cart_peak_cells", "Cmax (cells/µL)"),
             "auc_0_28_per_ul": ("cart_auc_0_28", "AUC0–28 (cells·day/µL)")}
"""Exposure metric -> (patient-table column in cells or cell·days, label in blood units)."""
CLASSES = ("cure", "late progression", "early progression", "censored")
EXPOSURE_TAG = 0x4558_504F  # "EXPO": the entropy tag of the bootstrap
N_BOOT = 2000
LOG10_2 = math.log10(2.0)
COLUMNS = ("outcome", "t_event_days", "cart_peak_cells", "cart_peak_day", "cart_auc_0_28")
"""The patient-table columns an exposure–response summary reads."""
AUC_DAYS = 28.0
EXPOSURE_GRID = np.arange(0.0, AUC_DAYS + 1e-9, 0.25)
"""Days (0-28, every 6 hours) on which a mean-field course's Cmax and AUC0–28 are read."""


def cmax_auc(per_ul: np.ndarray, t: np.ndarray = EXPOSURE_GRID) -> tuple[np.ndarray, np.ndarray]:
    """Cmax (cells/µL) and AUC0–28 (cells·day/µL, trapezoid rule) of courses ``per_ul`` (patients, days ``t``);
    days after 28 are left out."""
    keep = np.asarray(t) <= AUC_DAYS + 1e-9
    c = np.asarray(per_ul)[:, keep]
    return c.max(axis=1), np.trapezoid(c, np.asarray(t)[keep], axis=1)


def exposure_table(df: pd.DataFrame, early_day: float = EARLY_DAY) -> pd.DataFrame:
    """Per patient: Cmax and AUC0–28 in blood units, Tmax (days), the outcome class and whether the patient
    responded (progression-free at ``early_day``) and was cured."""
    outcome = df["outcome"].astype(object).to_numpy()
    t = df["t_event_days"].to_numpy(float)
    prog = outcome == "progression"
    early = prog & (t < early_day)
    cls = np.where(outcome == "cure", "cure", np.where(early, "early progression",
                                                       np.where(prog, "late progression", "censored")))
    out = pd.DataFrame({name: cells_to_blood(df[col].to_numpy(float)) for name, (col, _) in EXPOSURES.items()})
    out["tmax_days"] = df["cart_peak_day"].to_numpy(float)
    out["class"] = cls
    out["responder"] = ~early
    out["cured"] = outcome == "cure"
    if "crs_grade_proxy" in df:
        out["crs_grade_proxy"] = df["crs_grade_proxy"].to_numpy(float)
    return out


def bootstrap_medians(x: np.ndarray, rng: np.random.Generator, n_boot: int = N_BOOT) -> np.ndarray:
    """Medians of ``n_boot`` bootstrap resamples of ``x``, drawn from their exact distribution without building
    the resamples: a resample's k-th smallest value is sorted(x)[floor(n U_(k))], where U_(k), the k-th smallest
    of n uniforms, is Beta(k, n - k + 1), and the next one above it is U_(k) + (1 - U_(k)) (1 - V^(1/(n-k))) with
    V uniform. O(n log n + n_boot) time and memory; resampling costs n_boot x n (16 GB at a million patients)."""
    s = np.sort(np.asarray(x, float))
    n = s.size
    k = (n + 1) // 2
    u = rng.beta(k, n - k + 1, n_boot)
    lower = s[np.minimum((u * n).astype(np.int64), n - 1)]
    if n % 2:
        return lower
    with np.errstate(divide="ignore"):  # V = 0: the next value is the largest
        u2 = u + (1.0 - u) * -np.expm1(np.log(rng.random(n_boot)) / (n - k))
    return 0.5 * (lower + s[np.minimum((u2 * n).astype(np.int64), n - 1)])


def ratio_of_medians(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, n_boot: int = N_BOOT,
                     conf: float = 0.95) -> dict[str, float | None]:
    """median(a) / median(b) with a percentile bootstrap interval (each group resampled on its own,
    :func:`bootstrap_medians`)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or b.size < 2 or np.median(b) <= 0:
        return {"estimate": None, "low": None, "high": None}
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = bootstrap_medians(a, rng, n_boot) / bootstrap_medians(b, rng, n_boot)
    lo, hi = np.nanquantile(boot, [(1 - conf) / 2, (1 + conf) / 2])
    return {"estimate": float(np.median(a) / np.median(b)), "low": float(lo), "high": float(hi)}


def logistic(y: np.ndarray, x: np.ndarray, conf: float = 0.95) -> dict[str, Any]:
    """Logistic regression of the 0/1 outcome ``y`` on log10 ``x`` (statsmodels Logit): intercept and slope
    (per tenfold exposure) with Wald intervals, and the odds ratio per doubling of exposure. None where it cannot be
    estimated (one outcome only, or outcomes perfectly separated by exposure), with the reason."""
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationError, PerfectSeparationWarning

    y = np.asarray(y, float)
    keep = np.isfinite(x) & (np.asarray(x, float) > 0)
    y, lx = y[keep], np.log10(np.asarray(x, float)[keep])
    out: dict[str, Any] = {"n": int(y.size), "events": int(y.sum())}
    if y.size < 10 or y.min() == y.max():
        return out | {"slope": None, "reason": "one outcome only (or fewer than 10 patients)"}
    ones, zeros = lx[y == 1], lx[y == 0]
    if ones.min() >= zeros.max() or ones.max() <= zeros.min():  # no finite maximum-likelihood slope
        return out | {"slope": None, "reason": "outcomes perfectly separated by exposure"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PerfectSeparationWarning)
            warnings.simplefilter("error", ConvergenceWarning)
            fit = sm.Logit(y, sm.add_constant(lx)).fit(disp=0)
    except (PerfectSeparationError, PerfectSeparationWarning, ConvergenceWarning, np.linalg.LinAlgError):
        return out | {"slope": None, "reason": "the fit did not converge (outcomes nearly separated by exposure)"}
    ci = fit.conf_int(alpha=1 - conf)
    slope, (lo, hi) = float(fit.params[1]), (float(ci[1, 0]), float(ci[1, 1]))
    return out | {"intercept": float(fit.params[0]), "slope": slope, "slope_low": lo, "slope_high": hi,
                  "slope_se": float(fit.bse[1]), "odds_ratio_per_2x": math.exp(slope * LOG10_2),
                  "odds_ratio_per_2x_low": math.exp(lo * LOG10_2), "odds_ratio_per_2x_high": math.exp(hi * LOG10_2)}


def exposure_response(table: pd.DataFrame, seed: int, early_day: float = EARLY_DAY,
                      severe_grade: int | None = None) -> dict[str, Any]:
    """The exposure–response entry of a cohort summary (see the module's docstring) from the cohort's
    :func:`exposure_table` (taken at ``early_day``); with the cytokine layer, the share of severe CRS (proxy
    grade >= ``severe_grade``) is regressed on exposure too."""
    rng = generator((seed, EXPOSURE_TAG))
    counts = table["class"].value_counts()
    out: dict[str, Any] = {"early_progression_day": early_day,
                           "responder": f"progression-free at day {early_day:g}",
                           "classes": {c: int(counts.get(c, 0)) for c in CLASSES},
                           "tmax_days_median": float(np.median(table["tmax_days"])), "metrics": {}}
    resp = table["responder"].to_numpy()
    for name, (_, label) in EXPOSURES.items():
        x = table[name].to_numpy()
        out["metrics"][name] = {
            "label": label,
            "median_by_class": {c: float(np.median(x[table["class"].to_numpy() == c]))
                                for c in CLASSES if counts.get(c, 0)},
            "median_responders": float(np.median(x[resp])) if resp.any() else None,
            "median_non_responders": float(np.median(x[~resp])) if (~resp).any() else None,
            "ratio_responders_to_non_responders": ratio_of_medians(x[resp], x[~resp], rng),
            "logistic_response": logistic(resp, x),
            "logistic_cure": logistic(table["cured"].to_numpy(), x),
        }
        if severe_grade is not None and "crs_grade_proxy" in table:
            grades = table["crs_grade_proxy"].to_numpy()
            out["metrics"][name]["logistic_severe_crs_proxy"] = logistic(grades >= severe_grade, x)
            out["metrics"][name]["median_by_crs_grade_proxy"] = {str(int(g)): float(np.median(x[grades == g]))
                                                                 for g in np.unique(grades)}
    return out

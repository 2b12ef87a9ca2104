"""Cohort statistics: P(cure) with a Wilson interval, Kaplan–Meier PFS with confidence intervals, event-time
quantiles. Days throughout; "months" are 365.25/12 days."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from hybrid.units import DAYS_PER_MONTH

from ..statistics import kaplan_meier, km_at, median_pfs, wilson

PFS_MONTHS = (6, 12, 24)


def quantiles(x: np.ndarray) -> dict[str, float | None]:
    """Median, IQR and 5–95% range of ``x`` (days); None when empty."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    keys = ("q05", "q25", "median", "q75", "q95")
    if x.size == 0:
        return dict.fromkeys(keys) | {"n": 0}
    q = np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {k: float(v) for k, v in zip(keys, q, strict=True)} | {"n": int(x.size)}


def group_summary(df: pd.DataFrame, t_end: float, conf: float = 0.95, severe_grade: int | None = None
                  ) -> dict[str, Any]:
    """Statistics of one group of patients (columns outcome, t_event_days, p_cure_exact, pfs_days,
    pfs_event; with the cytokine layer's readouts, their summary, ``severe_grade`` the proxy grade counted as
    severe)."""
    n = len(df)
    out: dict[str, Any] = {"n": n}
    pex = df["p_cure_exact"].to_numpy(float)
    m = pex[np.isfinite(pex)]
    out.update(_exact_stats(n, m.size, float(m.sum()), float(np.sum(m * (1 - m)))))
    if df["outcome"].isna().all():  # exact-only run
        return out
    counts = df["outcome"].value_counts()
    k = int(counts.get("cure", 0))
    lo, hi = wilson(k, n, conf)
    out["outcomes"] = {o: int(counts.get(o, 0)) for o in ("cure", "progression", "censored")}
    out["p_cure"] = {"estimate": k / n if n else math.nan, "low": lo, "high": hi, "method": "Wilson"}
    kmf = kaplan_meier(df["pfs_days"].to_numpy(), df["pfs_event"].to_numpy(), conf)
    # 24 months = 730.5 days: a 730-day follow-up reports it, read at its last day (not beyond follow-up)
    out["pfs"] = {f"{m}_months": km_at(kmf, min(m * DAYS_PER_MONTH, t_end)) for m in PFS_MONTHS
                  if m * DAYS_PER_MONTH <= t_end + 1.0}
    out["median_pfs_days"] = median_pfs(kmf)
    t = df["t_event_days"].to_numpy(float)
    if "crs_grade_proxy" in df and severe_grade is not None:
        g = df["crs_grade_proxy"].to_numpy(float)
        k_severe = int(np.sum(g >= severe_grade))
        lo_s, hi_s = wilson(k_severe, n, conf)
        out["toxicity"] = {
            "il6_peak_pg_ml": quantiles(df["il6_peak_pg_ml"].to_numpy(float)),
            "il6_peak_day": quantiles(df["il6_peak_day"].to_numpy(float)),
            "crs_grade_proxy": {str(k): int(np.sum(g == k)) for k in range(severe_grade + 1)},
            "severe_crs_proxy": {"grade_at_least": severe_grade, "count": k_severe,
                                 "share": k_severe / n if n else math.nan, "low": lo_s, "high": hi_s},
        }
    out["time_to_cure_days"] = quantiles(t[df["outcome"].to_numpy() == "cure"])
    out["time_to_progression_days"] = quantiles(t[df["outcome"].to_numpy() == "progression"])
    if "relapse_type" in df:
        # a tumour of several clones: which clone carried the progressions, and its share of all patients
        rt = df["relapse_type"].astype(object).to_numpy()
        out["relapse_types"] = {}
        for label in sorted({r for r in rt if isinstance(r, str)}):
            kr = int(np.sum(rt == label))
            lo_r, hi_r = wilson(kr, n, conf)
            kp = int(counts.get("progression", 0))
            out["relapse_types"][label] = {"count": kr, "fraction_of_patients": kr / n, "low": lo_r,
                                           "high": hi_r, "fraction_of_progressions": kr / kp if kp else None}
    return out


def _exact_stats(n: int, m: int, sum_p: float, sum_var: float) -> dict[str, Any]:
    """An exact-only group's entry: the mean of its m finite exact P(cure) values and the SE of a cure count
    (Poisson-binomial given the parameters: sqrt(sum p(1-p)) / m)."""
    out: dict[str, Any] = {"n": n}
    if m:
        out["p_cure_exact_mean"] = sum_p / m
        out["p_cure_exact_se"] = math.sqrt(sum_var) / m
    return out


def exact_only_summary(batches: Iterable[pd.DataFrame], group_names: list[str]) -> dict[str, Any]:
    """:func:`cohort_summary` of an exact-only run, streamed over ``batches`` (columns group, p_cure_exact), so
    that memory does not grow with the cohort."""
    acc = {g: np.zeros(4) for g in ["", *group_names]}  # "" is everyone: rows, finite, sum p, sum p(1-p)
    for b in batches:
        p = b["p_cure_exact"].to_numpy(float)
        g = b["group"].astype(str).to_numpy()
        for name in group_names:
            pick = g == name
            pg = p[pick]
            pg = pg[np.isfinite(pg)]
            row = np.array([pick.sum(), pg.size, pg.sum(), np.sum(pg * (1 - pg))])
            acc[name] += row
            acc[""] += row
    out = {"overall": _exact_stats(int(acc[""][0]), int(acc[""][1]), *acc[""][2:])}
    if len(group_names) > 1:
        out["groups"] = {g: _exact_stats(int(acc[g][0]), int(acc[g][1]), *acc[g][2:]) for g in group_names}
    return out


def cohort_summary(df: pd.DataFrame, group_names: list[str], t_end: float, conf: float = 0.95,
                   severe_grade: int | None = None) -> dict[str, Any]:
    """Overall statistics plus one entry per group (in config order) when there is more than one group."""
    out = {"overall": group_summary(df, t_end, conf, severe_grade)}
    if len(group_names) > 1:
        out["groups"] = {g: group_summary(df[df["group"] == g], t_end, conf, severe_grade) for g in group_names}
    return out

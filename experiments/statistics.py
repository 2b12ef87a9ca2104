"""Interval estimates shared by every experiment: Wilson intervals of proportions, Kaplan–Meier curves with
log(-log) Greenwood intervals (lifelines), Newcombe differences. Days throughout."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np


def wilson(k: int, n: int, conf: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n."""
    if n == 0:
        return (math.nan, math.nan)
    z = NormalDist().inv_cdf(0.5 + conf / 2)  # the standard library's: scipy.stats costs 0.2 s to import
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    # exact ends at k = 0 and k = n (the formula leaves rounding dust there)
    return (0.0 if k == 0 else max(0.0, centre - half), 1.0 if k == n else min(1.0, centre + half))


def kaplan_meier(days: np.ndarray, event: np.ndarray, conf: float = 0.95):
    """A fitted lifelines KaplanMeierFitter (log(-log) Greenwood intervals)."""
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter(alpha=1 - conf)
    kmf.fit(np.asarray(days, float), event_observed=np.asarray(event, bool))
    return kmf


def km_at(kmf, t: float) -> dict[str, float]:
    """Survival and its interval at day ``t`` (step function: last value at or before t)."""
    sf = kmf.survival_function_
    ci = kmf.confidence_interval_survival_function_
    idx = int(np.searchsorted(sf.index.to_numpy(), t, side="right")) - 1
    if idx < 0:
        return {"day": t, "pfs": 1.0, "low": 1.0, "high": 1.0}
    return {"day": t, "pfs": float(sf.iloc[idx, 0]), "low": float(ci.iloc[idx, 0]), "high": float(ci.iloc[idx, 1])}


def _finite(x: float) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def median_pfs(kmf) -> dict[str, float | None]:
    """Median PFS (days) with interval; None where not reached."""
    from lifelines.utils import median_survival_times

    med = kmf.median_survival_time_
    ci = median_survival_times(kmf.confidence_interval_)
    return {"days": _finite(med), "low": _finite(ci.iloc[0, 0]), "high": _finite(ci.iloc[0, 1])}


def newcombe(k1: int, n1: int, k2: int, n2: int, conf: float = 0.95) -> tuple[float, float, float]:
    """Difference p2 - p1 with Newcombe's hybrid score interval (from the two Wilson intervals)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, conf)
    l2, u2 = wilson(k2, n2, conf)
    d = p2 - p1
    return (d, d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2))

"""Calibrating a virtual population to a Kaplan–Meier PFS curve on the exact path.

Each virtual patient's probability of being progression-free at the curve's days comes from one ODE solve
(:func:`hybrid.progression_free_exact`: Kendall's law of the tumour size). The population's PFS curve is their
weighted mean (importance weights of :mod:`.population`), so an evaluation inside the optimiser is a weighted
sum over >= 10 000 patients and no ODE solve.

Likelihood: the KM points define intervals (t_{k-1}, t_k]; with n at risk at t_{k-1} (given, or n_patients
times the PFS when the curve has no numbers at risk) the events in each interval are binomial with the model's
conditional probability 1 - S(t_k) / S(t_{k-1}). These conditional binomials are independent, which points on a
cumulative curve are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from experiments.calibration.population import Proposal
from experiments.trial_data import KaplanMeier


@dataclass(frozen=True)
class Intervals:
    """Reconstructed interval data of an observed KM curve."""

    days: np.ndarray  # the curve's days (t_1..t_K), t_0 = 0 implied
    at_risk: np.ndarray  # at the start of each interval
    events: np.ndarray  # in each interval (may be fractional)
    observed: np.ndarray  # S(t_k)


def intervals(km: KaplanMeier, n_patients: int | None) -> Intervals:
    """Events and numbers at risk per interval, from the curve and its numbers at risk (or ``n_patients``)."""
    keep = km.days > 0
    days, s = km.days[keep], km.pfs[keep]
    s_prev = np.concatenate([[1.0], s[:-1]])
    if km.n_at_risk is not None:
        # numbers at risk are given at the curve's days; the first interval starts at day 0
        first = km.n_at_risk[0] if km.days[0] == 0 else (n_patients or km.n_at_risk[0])
        at_risk = np.concatenate([[first], km.n_at_risk[keep][:-1]]).astype(float)
    else:
        at_risk = float(n_patients) * s_prev
    hazard = np.where(s_prev > 0, 1.0 - s / np.where(s_prev > 0, s_prev, 1.0), 0.0)
    return Intervals(days, at_risk, at_risk * hazard, s)


def model_hazard(curve: np.ndarray) -> np.ndarray:
    prev = np.concatenate([[1.0], curve[:-1]])
    return np.clip(1.0 - curve / np.maximum(prev, 1e-300), 1e-12, 1 - 1e-12)


def nll(curve: np.ndarray, data: Intervals) -> float:
    """Negative log-likelihood (deviance / 2 up to a constant) of the interval events under ``curve``."""
    h = model_hazard(curve)
    return float(-np.sum(data.events * np.log(h) + (data.at_risk - data.events) * np.log1p(-h)))


def goodness_of_fit(curve: np.ndarray, data: Intervals, n_free: int) -> dict:
    """Pearson chi-square of the interval events (df = intervals - fitted hyperparameters) and the largest
    vertical distance between the curves."""
    h = model_hazard(curve)
    expected = data.at_risk * h
    var = data.at_risk * h * (1 - h)
    ok = var > 1e-9
    chi2 = float(np.sum((data.events[ok] - expected[ok]) ** 2 / var[ok]))
    df = max(int(ok.sum()) - n_free, 1)
    return {"pearson_chi2": chi2, "df": df, "p_value": float(stats.chi2.sf(chi2, df)),
            "max_vertical_distance": float(np.max(np.abs(curve - data.observed)))}


class ExactPFS:
    """The proposal population's per-patient P(progression-free) at the curve's days (one ODE solve each,
    computed by :func:`experiments.calibration.population.simulate_exact`)."""

    def __init__(self, proposal: Proposal, pf: np.ndarray):
        self.proposal, self.pf = proposal, pf

    def curve(self, w: np.ndarray) -> np.ndarray:
        """The population PFS curve under normalised importance weights ``w``
        (:meth:`~experiments.calibration.population.Proposal.log_weights`, exponentiated)."""
        return w @ self.pf

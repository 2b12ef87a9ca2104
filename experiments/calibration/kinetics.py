"""Likelihoods of CAR T kinetics data (cells/µL of blood; 1 cell/µL = 5e8 cells in the body).

- Per patient: log counts are normal around the log mean field with sd ``error_sigma`` (a fitted parameter);
  a count below the limit of quantification contributes P(log count < log LLOQ) (censored, not dropped).
- Summary (median and quartiles per day): the population's log-count quantiles at each day, from the weighted
  virtual population, against the observed ones with the asymptotic standard error of a sample quantile,
  sd * sqrt(p (1 - p) / n) / phi(z_p), the spread sd read off the observed IQR (IQR / 1.349 on the log scale).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from experiments.calibration.population import Proposal
from experiments.trial_data import PatientKinetics, SummaryKinetics

QUANTILES = (0.25, 0.5, 0.75)


def patient_nll(log_mu: np.ndarray, data: PatientKinetics, error_sigma: float) -> float:
    """-log L of one patient's counts given the log mean field at their days."""
    z = (np.log(data.value) - log_mu) / error_sigma
    obs = ~data.censored
    out = -np.sum(stats.norm.logpdf(z[obs])) + obs.sum() * np.log(error_sigma)
    out -= np.sum(stats.norm.logcdf(z[data.censored]))
    return float(out)


class SummaryFit:
    """The summary-kinetics objective over a proposal population (mean field once per virtual patient)."""

    def __init__(self, proposal: Proposal, data: SummaryKinetics, n_per_day: np.ndarray, per_ul: np.ndarray):
        """``per_ul``: each virtual patient's mean-field CAR T count (cells/µL) at the data's days."""
        self.proposal, self.data = proposal, data
        logc = np.log(np.maximum(per_ul, 1e-300))
        self.order = np.argsort(logc, axis=0)
        self.sorted = np.take_along_axis(logc, self.order, axis=0)
        obs = np.log(np.column_stack([data.q25, data.median, data.q75]))
        self.observed = obs
        sd = (obs[:, 2] - obs[:, 0]) / (2 * stats.norm.ppf(0.75))
        p = np.array(QUANTILES)
        self.se = sd[:, None] * np.sqrt(p * (1 - p) / n_per_day[:, None]) / stats.norm.pdf(stats.norm.ppf(p))

    def quantiles(self, w: np.ndarray) -> np.ndarray:
        """Weighted quantiles (days, 3) of log counts under normalised weights ``w``: interpolated on the
        weighted empirical CDF."""
        out = np.empty((self.sorted.shape[1], len(QUANTILES)))
        for d in range(self.sorted.shape[1]):
            wd = w[self.order[:, d]]
            mid = np.cumsum(wd) - 0.5 * wd
            out[d] = np.interp(QUANTILES, mid, self.sorted[:, d])
        return out

    def nll(self, w: np.ndarray) -> float:
        """-log L under normalised importance weights ``w``."""
        q = self.quantiles(w)
        return float(0.5 * np.sum(((q - self.observed) / self.se) ** 2))

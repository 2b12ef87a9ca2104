"""Response rates and an exposure–response fact as likelihood terms of a population fit, on the exact path.

Response at a landmark day (the trial's assessment; ZUMA-1 assessed at day 28 and month 3) is read off each
virtual patient's exact tumour-size law (:func:`hybrid.tumour_below_exact`, Kendall):

- complete response (CR): the tumour below ``detection_cells`` (default 1e9 cells, about 1 ml: assumed, the
  resolution of a PET scan; 1 ml = 1e9 cells as in Kimmel et al. 2021);
- overall response (OR = CR or partial): the tumour below 0.354 of its size at infusion — the Lugano / RECIST
  partial response is a 50% fall of the product of two diameters, a fall of a sphere's volume to 0.5^1.5.

The population's probabilities of CR, PR (= OR - CR) and no response are weighted means over the virtual
patients; the trial's counts (its rates times its n) are multinomial in them: one likelihood term, no weight.

Exposure–response (seed 000: responders' median Cmax or AUC0–28 is 2–8x non-responders'): each virtual
patient's mean-field exposure in blood units (Cmax over days 0–28, AUC0–28 by the trapezoid rule on a quarter-day
grid) and its probability of overall response p. The responders' typical exposure is the geometric mean weighted
by w p, the non-responders' weighted by w (1 - p) (for lognormal exposures the geometric mean is the median);
the observed log ratio is normal around the model's with the standard error of its reported 95% interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from experiments.calibration.population import Proposal
from experiments.cohort.exposure import cmax_auc

DETECTION_CELLS = 1e9
"""Default CR level (cells): assumed, about 1 ml of tumour, the resolution of a PET scan."""
PARTIAL_RESPONSE = 0.5**1.5
"""Overall-response level, times the tumour at infusion: a 50% fall of the product of two diameters."""
MEASURES = ("cmax", "auc")
Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class ResponseRates:
    """A trial's response at ``day`` (days): overall and complete response rates (0-1) among ``n`` patients."""

    day: float
    overall: float
    complete: float | None
    n: int
    detection_cells: float = DETECTION_CELLS

    def counts(self) -> np.ndarray:
        """Observed (CR, PR, no response) counts (rates times n; fractional counts are fine), or (OR, no
        response) without a CR rate."""
        if self.complete is None:
            return self.n * np.array([self.overall, 1.0 - self.overall])
        return self.n * np.array([self.complete, self.overall - self.complete, 1.0 - self.overall])


@dataclass(frozen=True)
class ExposureFact:
    """Responders' / non-responders' typical exposure: ``ratio`` with its 95% interval (low, high)."""

    measure: str  # "cmax" or "auc"
    ratio: float
    low: float
    high: float

    @property
    def log_se(self) -> float:
        return (np.log(self.high) - np.log(self.low)) / (2 * Z95)


def exposures(per_ul: np.ndarray) -> dict[str, np.ndarray]:
    """Cmax (cells/µL) and AUC0–28 (cells·day/µL) per patient from counts on
    :data:`experiments.cohort.exposure.EXPOSURE_GRID`, by measure name."""
    return dict(zip(MEASURES, cmax_auc(per_ul), strict=True))


def response_probabilities(rates: ResponseRates, params, options, model: str) -> np.ndarray:
    """(patients, 2): each patient's exact P(CR) and P(OR) at the landmark (a
    :data:`~experiments.calibration.population.Reader` once ``rates`` is bound)."""
    import hybrid

    p = hybrid.tumour_below_exact(params, np.array([rates.day]), (rates.detection_cells, PARTIAL_RESPONSE),
                                  options, model, relative=(False, True))
    if p is None:
        raise hybrid.CartsimError(f"model {model} has no tumour-size law: response rates need the exact path "
                                  "(a model linear in one tumour species)")
    # below detection is a response whatever the tumour's start
    return np.column_stack([p[:, 0, 0], np.maximum(p[:, 0, 1], p[:, 0, 0])])


class ResponseFit:
    """Response-rate and exposure–response terms over a proposal population."""

    def __init__(self, proposal: Proposal, rates: ResponseRates, probs: np.ndarray,
                 fact: ExposureFact | None = None, exposure: Mapping[str, np.ndarray] | None = None):
        self.proposal, self.rates, self.fact = proposal, rates, fact
        self.p_cr, self.p_or = np.ascontiguousarray(probs[:, 0]), np.ascontiguousarray(probs[:, 1])
        self.observed = rates.counts()
        self._log_e = None
        if fact is not None:
            log_e = np.log(np.maximum(np.asarray(exposure[fact.measure], float), 1e-12))
            # responders' and non-responders' weighted log exposures, as two dot products per evaluation
            self._log_e = (self.p_or * log_e, (1.0 - self.p_or) * log_e)

    def fitted(self, w: np.ndarray) -> dict[str, float]:
        """The population's overall and complete response rates and, with an exposure fact, its ratio, under
        normalised importance weights ``w``."""
        out = {"overall": float(w @ self.p_or), "complete": float(w @ self.p_cr)}
        if self._log_e is not None:
            share = out["overall"]  # the weights sum to 1: the non-responders hold 1 - share
            out["exposure_ratio"] = (float(np.exp(w @ self._log_e[0] / share - w @ self._log_e[1] / (1 - share)))
                                     if 0 < share < 1 else float("nan"))
        return out

    def nll(self, w: np.ndarray) -> float:
        """-log L of the response counts (multinomial, without its constant) and of the exposure fact, under
        normalised importance weights ``w``."""
        f = self.fitted(w)
        if self.rates.complete is None:
            p = np.array([f["overall"], 1.0 - f["overall"]])
        else:
            p = np.array([f["complete"], f["overall"] - f["complete"], 1.0 - f["overall"]])
        total = -float(self.observed @ np.log(np.clip(p, 1e-12, 1.0)))
        if self.fact is not None:
            r = f["exposure_ratio"]
            if not np.isfinite(r) or r <= 0:
                return total + 1e6
            total += 0.5 * ((np.log(r) - np.log(self.fact.ratio)) / self.fact.log_se) ** 2
        return total

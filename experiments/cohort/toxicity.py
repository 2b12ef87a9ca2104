"""Per-patient toxicity readouts of a model that carries the cytokine-release layer
(:mod:`hybrid.models.cytokines`): peak IL-6 (pg/mL) and its day, days above a level, and a CRS-grade proxy.

The proxy is cytokine-based and says only that: clinical CRS grading (ASTCT, Lee et al. 2019) uses fever,
hypotension and hypoxia, which no model here has. The proxy grade is the number of ``grade_thresholds`` (peak
IL-6, pg/mL; defaults assumed: 100 / 1000 / 5000, the orders of magnitude separating mild from severe CRS in
cytokine studies) that the patient's peak reaches; grade 3 stands for "3 or more". Readouts come from the
patient's mean field on a grid of ``DT`` days over the first ``WINDOW`` days (cytokines are deterministic
species; by the time the tumour is small enough to go stochastic, its killing flux no longer matters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hybrid.models.cytokines import READOUTS, SPECIES

DT = 0.05
"""Days between the grid points the readouts are read on."""
WINDOW = 90.0
"""Days after infusion the readouts cover (CRS comes within the first weeks)."""
COLUMNS = tuple(READOUTS)
LAYER_SPECIES = SPECIES


@dataclass(frozen=True)
class Toxicity:
    """How the readouts are taken: ``il6_level`` (pg/mL) for the days above it, ``grade_thresholds`` (pg/mL,
    increasing) for the proxy grades 1, 2, 3+."""

    il6_level: float = 1000.0
    grade_thresholds: tuple[float, ...] = (100.0, 1000.0, 5000.0)


def carries_layer(model) -> bool:
    """Whether ``model`` (a ModelSpec) carries the cytokine layer."""
    return all(s in model.species for s in LAYER_SPECIES)


def course(params: pd.DataFrame, options, model) -> tuple[np.ndarray, np.ndarray]:
    """The days the readouts are read on and the mean field there: (days, array (patients, days, species))."""
    import hybrid

    t = grid(options)
    return t, hybrid.mean_field(params, t, options, model)


def grid(options) -> np.ndarray:
    """The days the readouts are read on: every :data:`DT` over the first :data:`WINDOW` days of follow-up."""
    return np.arange(0.0, min(WINDOW, options.t_end) + DT / 2, DT)


def readouts(params: pd.DataFrame, options, model, tox: Toxicity) -> pd.DataFrame:
    """The readouts of each row of ``params`` (columns :data:`COLUMNS`)."""
    return readouts_of(*course(params, options, model), model, tox)


def readouts_of(t: np.ndarray, rec: np.ndarray, model, tox: Toxicity) -> pd.DataFrame:
    """The readouts of mean-field courses ``rec`` on the grid ``t`` (as :func:`course` gives them)."""
    il6 = rec[:, :, model.index("IL6")]
    k = np.argmax(il6, axis=1)
    peak = il6[np.arange(len(il6)), k]
    return pd.DataFrame({
        "il6_peak_pg_ml": peak,
        "il6_peak_day": t[k],
        "il6_days_above": (il6 > tox.il6_level).sum(axis=1) * DT,
        "crs_grade_proxy": grade(peak, tox.grade_thresholds).astype(float),
    })


def readouts_over_burdens(params: pd.DataFrame, burdens: np.ndarray, options, model, tox: Toxicity
                          ) -> dict[str, np.ndarray]:
    """The readouts (:data:`COLUMNS`, each (patients, burdens)) of every patient at each tumour burden (cells),
    from one mean-field solve per patient (:func:`hybrid.cytokine_readouts_over_burdens`: a linear tumour whose
    layer acts on nothing), on :func:`grid`."""
    import hybrid

    r = hybrid.cytokine_readouts_over_burdens(params, burdens, grid(options), options, model, tox.il6_level)
    return {"il6_peak_pg_ml": r[:, :, 0], "il6_peak_day": r[:, :, 1], "il6_days_above": r[:, :, 2],
            "crs_grade_proxy": grade(r[:, :, 0], tox.grade_thresholds).astype(float)}


def severe_over_burdens(params: pd.DataFrame, burdens: np.ndarray, options, model, tox: Toxicity,
                        severe_grade: int, course: np.ndarray | None = None) -> np.ndarray:
    """Flags (patients, burdens; 1.0 or 0.0) of a proxy grade of at least ``severe_grade`` at each of the
    increasing tumour ``burdens`` (cells): the grades :func:`readouts_over_burdens` gives, found by bisection on
    the first burden whose peak IL-6 reaches the grade's threshold (the peak grows with the burden).
    ``course``: ``hybrid.layer_course`` at the largest burden on :func:`grid`, where the caller has it."""
    import hybrid

    burdens = np.asarray(burdens, dtype=float)
    if severe_grade <= 0:
        return np.ones((len(params), len(burdens)))
    if severe_grade > len(tox.grade_thresholds):
        return np.zeros((len(params), len(burdens)))
    first = hybrid.cytokine_first_burden_reaching(params, burdens, grid(options),
                                                  tox.grade_thresholds[severe_grade - 1], options, model, course)
    return (np.arange(len(burdens))[None, :] >= first[:, None]).astype(float)


def grade(peak: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Proxy grade of each peak IL-6: how many thresholds it reaches (0 .. len(thresholds))."""
    return np.searchsorted(np.asarray(thresholds, float), np.asarray(peak, float), side="right")

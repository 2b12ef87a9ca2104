"""Virtual populations whose parameter distributions are being fitted, by importance reweighting.

The population's free parameters are lognormal with hyperparameters (median, sigma) per parameter. One
proposal population is sampled and simulated once (the exact path: one ODE solve per virtual patient); any
other hyperparameters are then evaluated by reweighting the same patients with the density ratio
target/proposal. The patients are common random numbers for every evaluation, so the objective is smooth in
the hyperparameters and costs no ODE solve inside the optimiser. When the optimum drifts away from the
proposal (effective sample size too small), a new proposal is centred on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from experiments.cohort.distributions import Distribution
from experiments.cohort.sampling import sample_patients
from experiments.cohort.spec import Spec, revise
from experiments.execution import chunk_bounds


@dataclass(frozen=True)
class Hyper:
    """One fitted hyperparameter: ``param``'s lognormal ``which`` ("median", cells or 1/day as the
    parameter; "sigma", of log values) within [lo, hi]."""

    param: str
    which: str
    lo: float
    hi: float

    @property
    def name(self) -> str:
        return f"{self.param}.{self.which}"

    @property
    def log_scale(self) -> bool:
        return self.which == "median"

    def to_x(self, v: float) -> float:
        """Optimiser coordinate (log for medians)."""
        return float(np.log(v)) if self.log_scale else float(v)

    def from_x(self, x: float) -> float:
        return float(np.exp(x)) if self.log_scale else float(x)

    @property
    def x_bounds(self) -> tuple[float, float]:
        return self.to_x(self.lo), self.to_x(self.hi)


def _log_density(log_x: np.ndarray, median: float, sigma: float) -> np.ndarray:
    """Lognormal log density at exp(log_x), without the -log x term (it cancels in weight ratios)."""
    return -np.log(sigma) - (log_x - np.log(median)) ** 2 / (2 * sigma**2)


def hyper_values(free: Mapping[str, Mapping[str, float]], hypers: Sequence[Hyper], x: np.ndarray
                 ) -> dict[str, dict[str, float]]:
    """{param: {"median", "sigma"}} with the fitted coordinates ``x`` put over the fixed values in ``free``."""
    out = {p: dict(v) for p, v in free.items()}
    for h, xi in zip(hypers, x, strict=True):
        out[h.param][h.which] = h.from_x(xi)
    return out


def plausible(model: str, param: str) -> tuple[float, float] | None:
    """The parameter's plausible range (:attr:`hybrid.paramspec.ParamSpec.plausible`), None if undeclared."""
    from hybrid import get_model

    return get_model(model).param_specs[param].plausible


def lognormals(free: Mapping[str, Mapping[str, float]], model: str) -> dict[str, Distribution]:
    """The population's free parameters ({param: {"median", "sigma"}}) as lognormal distributions truncated to
    each parameter's plausible range: no virtual patient of a fit, or of the cohort it calibrates, lies outside
    it. (Truncation leaves the importance weights unchanged: within the range the truncated density is the
    untruncated one over a constant, which normalising the weights removes.)"""
    return {p: Distribution.lognormal(hv["median"], hv["sigma"], plausible(model, p)) for p, hv in free.items()}


def truncation(free: Mapping[str, Mapping[str, float]], model: str) -> dict[str, dict[str, Any]]:
    """Per free parameter: its plausible range with the range's source, and the share of the untruncated
    lognormal population the range cuts."""
    from hybrid import get_model

    out = {}
    for p, d in lognormals(free, model).items():
        spec = get_model(model).param_specs[p]
        out[p] = {"plausible": list(spec.plausible) if spec.plausible else None,
                  "source": spec.plausible_source or None, "share_cut": 1.0 - d.kept()}
    return out


def population_spec(population: Spec, free: Mapping[str, Mapping[str, float]], n: int, seed: int | None = None
                    ) -> Spec:
    """The cohort ``population`` with ``n`` patients and its free parameters lognormal at ``free`` (within
    their plausible ranges)."""
    return revise(population, n=n, seed=seed, dists=lognormals(free, population.model))


@dataclass
class Proposal:
    """A sampled proposal population: its patient table and the proposal hyperparameters."""

    patients: pd.DataFrame
    free: dict[str, dict[str, float]]
    model: str
    options: Any

    @classmethod
    def sample(cls, population: Spec, free: Mapping[str, Mapping[str, float]], n: int, seed: int) -> Proposal:
        """``n`` virtual patients of ``population`` with its free parameters lognormal at ``free``, drawn on the
        cohort streams of ``seed``."""
        spec = population_spec(population, free, n, seed)
        return cls(sample_patients(spec, 0, n), {p: dict(v) for p, v in free.items()}, spec.model, spec.options)

    def __post_init__(self) -> None:
        # log values and the proposal's log density, once: every evaluation only adds the target's
        self._logx = {p: np.log(self.patients[p].to_numpy(float)) for p in self.free}
        self._log_q = sum(_log_density(self._logx[p], q["median"], q["sigma"]) for p, q in self.free.items())

    def log_weights(self, target: Mapping[str, Mapping[str, float]]) -> np.ndarray:
        """Normalised log importance weights of the patients under the target hyperparameters."""
        lw = -self._log_q
        for p, hv in target.items():
            lw = lw + _log_density(self._logx[p], hv["median"], hv["sigma"])
        return lw - logsumexp(lw)


def _exact_chunk(args: tuple) -> tuple[np.ndarray | None, np.ndarray | None]:
    patients, model, options, km_days, kin_days = args
    import hybrid

    pf = None if km_days is None else hybrid.progression_free_exact(patients, km_days, options, model)
    kin = None if kin_days is None else hybrid.effector_per_ul(patients, kin_days, options, model)
    return pf, kin


def simulate_exact(proposal: Proposal, km_days: np.ndarray | None, kin_days: np.ndarray | None, backend
                   ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per virtual patient, on the exact path (one ODE solve each), split over the backend's workers:
    P(progression-free) at ``km_days`` and the mean-field CAR T count (cells/µL) at ``kin_days``."""
    import hybrid

    names = list(hybrid.get_model(proposal.model).param_names)
    table = proposal.patients[names]
    parts = backend.map(_exact_chunk, [(table.iloc[a:b].reset_index(drop=True), proposal.model, proposal.options,
                                        km_days, kin_days) for a, b in chunk_bounds(len(table), backend.workers)])
    pf = None if km_days is None else np.vstack([p[0] for p in parts])
    kin = None if kin_days is None else np.vstack([p[1] for p in parts])
    if pf is None and km_days is not None:
        raise hybrid.CartsimError(f"model {proposal.model} is not linear in the tumour: no exact PFS path")
    return pf, kin


def ess(log_w: np.ndarray) -> float:
    """Kish's effective sample size of normalised log weights."""
    return float(np.exp(-logsumexp(2 * log_w)))

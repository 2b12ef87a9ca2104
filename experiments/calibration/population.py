"""Virtual populations whose parameter distributions are being fitted, by importance reweighting.

The population's free parameters are lognormal with hyperparameters (median, sigma) per parameter. One
proposal population is sampled and simulated once (the exact path: one ODE solve per virtual patient); any
other hyperparameters are then evaluated by reweighting the same patients with the density ratio
target/proposal. The patients are common random numbers for every evaluation, so the objective is smooth in
the hyperparameters and costs no ODE solve inside the optimiser. When the optimum drifts away from the
proposal (effective sample size too small), a new proposal is centred on it.

Mechanistic non-response classes (:mod:`experiments.cohort.nonresponse`) are a mixture: each proposal patient
draws its class at the proposal's shares, and a target share reweights the class's patients by
target / proposal share. The patients' drawn (latent) values carry the lognormal weights, the class's changed
value is what is simulated. In the hyperparameter dicts the shares sit under the key :data:`NONRESPONSE`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from experiments.cohort.distributions import Distribution
from experiments.cohort.nonresponse import CLASSES, NonResponse
from experiments.cohort.sampling import sample_patients
from experiments.cohort.spec import Spec, revise
from experiments.execution import chunk_bounds

NONRESPONSE = "nonresponse"
"""Key of the non-response shares ({class: share}) in a hyperparameter dict."""


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

    @property
    def is_share(self) -> bool:
        return self.param == NONRESPONSE

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
        out.setdefault(h.param, {})[h.which] = h.from_x(xi)
    return out


def parameters_of(free: Mapping[str, Mapping[str, float]]) -> dict[str, Mapping[str, float]]:
    """The lognormal parameters of a hyperparameter dict (the non-response shares left out)."""
    return {p: v for p, v in free.items() if p != NONRESPONSE}


def plausible(model: str, param: str) -> tuple[float, float] | None:
    """The parameter's plausible range (:attr:`hybrid.paramspec.ParamSpec.plausible`), None if undeclared."""
    from hybrid import get_model

    return get_model(model).param_specs[param].plausible


def lognormals(free: Mapping[str, Mapping[str, float]], model: str) -> dict[str, Distribution]:
    """The population's free parameters ({param: {"median", "sigma"}}) as lognormal distributions truncated to
    each parameter's plausible range: no virtual patient of a fit, or of the cohort it calibrates, lies outside
    it. (Truncation leaves the importance weights unchanged: within the range the truncated density is the
    untruncated one over a constant, which normalising the weights removes.)"""
    return {p: Distribution.lognormal(hv["median"], hv["sigma"], plausible(model, p))
            for p, hv in parameters_of(free).items()}


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
    latent: pd.DataFrame | None = None
    """The drawn values before the non-response classes changed them (None: no classes)."""
    classes: np.ndarray | None = None
    """Each patient's non-response class (0: none; k: the k-th of :data:`~experiments.cohort.nonresponse.CLASSES`)."""

    @classmethod
    def sample(cls, population: Spec, free: Mapping[str, Mapping[str, float]], n: int, seed: int,
               nonresponse: NonResponse | None = None) -> Proposal:
        """``n`` virtual patients of ``population`` with its free parameters lognormal at ``free``, drawn on the
        cohort streams of ``seed``; with ``nonresponse``, each in a class drawn at ``free[NONRESPONSE]``'s
        shares."""
        spec = population_spec(population, free, n, seed)
        latent = sample_patients(spec, 0, n)
        hyper = {p: dict(v) for p, v in free.items()}
        if nonresponse is None or NONRESPONSE not in free:
            return cls(latent, hyper, spec.model, spec.options)
        nr = nonresponse.with_shares(free[NONRESPONSE])
        k = nr.classes(spec.seed, latent["id"].to_numpy())
        return cls(nr.apply(latent, k, spec.model), hyper, spec.model, spec.options, latent, k)

    def __post_init__(self) -> None:
        # log values and the proposal's log density, once: every evaluation only adds the target's
        drawn = self.patients if self.latent is None else self.latent
        params = parameters_of(self.free)
        self._logx = {p: np.log(drawn[p].to_numpy(float)) for p in params}
        self._log_q = sum(_log_density(self._logx[p], q["median"], q["sigma"]) for p, q in params.items())
        if self.classes is not None:
            self._log_q = self._log_q + _log_share(self.classes, self.free[NONRESPONSE])

    def log_weights(self, target: Mapping[str, Mapping[str, float]]) -> np.ndarray:
        """Normalised log importance weights of the patients under the target hyperparameters."""
        lw = -self._log_q
        for p, hv in parameters_of(target).items():
            lw = lw + _log_density(self._logx[p], hv["median"], hv["sigma"])
        if self.classes is not None:
            lw = lw + _log_share(self.classes, {**self.free[NONRESPONSE], **target.get(NONRESPONSE, {})})
        return lw - _logsumexp(lw)


def _log_share(classes: np.ndarray, shares: Mapping[str, float]) -> np.ndarray:
    """log P(class) of each patient under the class ``shares`` (a share of 0 gives -inf: weight 0)."""
    s = np.array([float(shares.get(c, 0.0)) for c in CLASSES])
    p = np.concatenate([[max(1.0 - s.sum(), 0.0)], s])
    with np.errstate(divide="ignore"):
        return np.log(p)[classes]


Reader = Callable[[pd.DataFrame, Any, str], np.ndarray]
"""A per-patient readout on the exact path: (patient parameter table, SimOptions, model) -> array, one row per
patient. A module-level function or a functools.partial of one, so that worker processes can run it."""


def progression_free_at(days: np.ndarray) -> Reader:
    """Reader: P(progression-free) at ``days`` (Kendall's law; one ODE solve per patient)."""
    return partial(_progression_free, days)


def effector_at(days: np.ndarray) -> Reader:
    """Reader: the mean-field CAR T count (cells/µL) at ``days``."""
    return partial(_effector, days)


def _progression_free(days, patients, options, model):
    import hybrid

    pf = hybrid.progression_free_exact(patients, days, options, model)
    if pf is None:
        raise hybrid.CartsimError(f"model {model} is not linear in the tumour: no exact PFS path")
    return pf


def _effector(days, patients, options, model):
    import hybrid

    return hybrid.effector_per_ul(patients, days, options, model)


def _exact_chunk(args: tuple) -> dict[str, np.ndarray]:
    patients, model, options, readers = args
    return {k: r(patients, options, model) for k, r in readers.items()}


def simulate_exact(proposal: Proposal, readers: Mapping[str, Reader], backend) -> dict[str, np.ndarray]:
    """Each reader's readout of every virtual patient on the exact path, the patients split over the backend's
    workers: {name: array (patients, ...)}."""
    import hybrid

    names = list(hybrid.get_model(proposal.model).param_names)
    table = proposal.patients[names]
    parts = backend.map(_exact_chunk, [(table.iloc[a:b].reset_index(drop=True), proposal.model, proposal.options,
                                        dict(readers)) for a, b in chunk_bounds(len(table), backend.workers)])
    return {k: np.concatenate([p[k] for p in parts]) for k in readers}


def ess(log_w: np.ndarray) -> float:
    """Kish's effective sample size of normalised log weights."""
    return float(np.exp(-_logsumexp(2 * log_w)))


def _logsumexp(x: np.ndarray) -> float:
    """log(sum(exp(x))) without overflow (scipy's, without its per-call overhead: the optimiser calls this
    thousands of times)."""
    m = float(np.max(x))
    return m if not np.isfinite(m) else m + float(np.log(np.sum(np.exp(x - m))))

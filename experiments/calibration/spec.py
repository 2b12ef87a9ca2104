"""Fit and prediction configs (``kind = "fit"`` / ``kind = "predict"``), validated up front like every config:
errors name the file, the key path and what is accepted, before any simulation starts.

The virtual population is described with the cohort config's own tables (``[cohort]``, ``[parameters]``,
``[variability]``), validated into a cohort :class:`~experiments.cohort.spec.Spec` by
:func:`experiments.cohort.spec.validate`; data files are relative to the config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from experiments.calibration.population import NONRESPONSE, Hyper, population_spec
from experiments.calibration.response import DETECTION_CELLS, MEASURES, ExposureFact, ResponseRates
from experiments.cohort.nonresponse import NonResponse, parse_nonresponse
from experiments.cohort.spec import Spec, load_toml, validate
from experiments.paths import data_path
from experiments.schema import Table, check_number, check_param, config_header
from experiments.trial_data import KaplanMeier, PatientKinetics, SummaryKinetics, load_kinetics, load_km
from hybrid.catalog import get_model
from hybrid.constraints import Interval
from hybrid.errors import CartsimError
from hybrid.paramspec import ParamSpec

_COHORT_TABLES = ("cohort", "parameters", "variability", "doses")


@dataclass
class FitSpec:
    """A validated fit: the population base config, data, free parameters and optimiser settings."""

    source: str
    title: str
    population: Spec
    """The virtual population as a cohort (its fixed values in ``population.base``), free parameters aside."""
    kinetics: PatientKinetics | SummaryKinetics | None
    km: KaplanMeier | None
    n_patients: int | None
    hypers: list[Hyper] = field(default_factory=list)  # population hyperparameters (summary kinetics, PFS)
    free: dict[str, dict[str, float]] = field(default_factory=dict)  # start / fixed median and sigma
    individual: dict[str, tuple[float, float]] = field(default_factory=dict)  # per-patient kinetics bounds
    error_sigma: tuple[float, float] | float = (0.05, 3.0)
    """Per-patient kinetics: bounds of the fitted sd of log counts, or its known value."""
    starts: int = 4
    seed: int = 0
    virtual_patients: int = 20_000
    min_ess: float = 10_000
    kinetics_patients: int = 2_000
    confirm: bool = True
    response: ResponseRates | None = None
    """The trial's response rates at a landmark, a likelihood term beside kinetics and PFS."""
    exposure: ExposureFact | None = None
    """Responders' / non-responders' exposure ratio with its interval, a likelihood term."""
    nonresponse: NonResponse | None = None
    """Mechanistic non-response classes: fixed shares, fitted shares' starts, factors."""
    share_bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Bounds of the fitted non-response shares; each fitted class is a candidate structure."""
    compare: bool = True
    """Fit each candidate structure (none, and each fitted class) and compare them (AIC, BIC)."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """The config as given (after overrides), for the provenance record."""

    @property
    def model(self) -> str:
        return self.population.model

    @property
    def n_observed(self) -> int | None:
        """The trial's number of patients (BIC's n): data.n_patients, the response rates' n, or the curve's
        first n at risk."""
        if self.n_patients is not None:
            return self.n_patients
        if self.response is not None:
            return self.response.n
        if self.km is not None and self.km.n_at_risk is not None:
            return int(self.km.n_at_risk[0])
        return None


@dataclass
class PredictSpec:
    """A validated per-patient prediction: population prior, one patient's counts, sampler settings."""

    source: str
    title: str
    population: Spec
    prior: dict[str, dict[str, float]]
    kinetics: PatientKinetics
    error_sigma: float
    walkers: int = 24
    steps: int = 1500
    burn: int = 500
    seed: int = 0
    draws: int = 400
    config: Mapping[str, Any] = field(default_factory=dict)
    """The config as given (after overrides), for the provenance record."""

    @property
    def model(self) -> str:
        return self.population.model


def _population(source: str, cfg: Mapping[str, Any]) -> Spec:
    """The population's own tables validated as a cohort."""
    return validate({"kind": "cohort", **{k: cfg[k] for k in _COHORT_TABLES if k in cfg}}, source)


def _path(source: str, t: Table, key: str) -> Path | None:
    raw = t.string(key)
    return None if raw is None else data_path(source, t.key(key), raw)


def _bounds(source: str, t: Table, key: str, lo_ok: float, log: bool,
            param: ParamSpec | None = None) -> tuple[float, float] | float | None:
    """``key = [lo, hi]`` (free) or ``key = value`` (fixed); values of a model parameter (``param``) must also
    be values it accepts, its physical range included."""

    def one(keypath: str, x: Any) -> float:
        x = check_number(source, keypath, x, lo=lo_ok, lo_open=log)
        return x if param is None else check_param(source, keypath, param, x)

    if not t.has(key):
        t.seen.add(key)
        return None
    v = t.raw(key)
    if isinstance(v, list):
        if len(v) != 2:
            t.fail(t.key(key), "must be [low, high] bounds or a fixed number")
        lo, hi = one(f"{t.key(key)}[0]", v[0]), one(f"{t.key(key)}[1]", v[1])
        if not lo < hi:
            t.fail(t.key(key), f"bounds must satisfy low < high, got [{lo:g}, {hi:g}]")
        return (lo, hi)
    return one(t.key(key), v)


def _start(source: str, t: Table, bounds: tuple[float, float], log: bool, key: str) -> float:
    default = float(np.sqrt(bounds[0] * bounds[1])) if log else 0.5 * (bounds[0] + bounds[1])
    v = t.value(key, Interval(lo=bounds[0], hi=bounds[1]), default)
    return float(v)


def _header(cfg: Mapping[str, Any], source: str, kind: str) -> tuple[Table, str, Spec, Any, float]:
    """The top table, title, population, model spec and follow-up (days) shared by fit and predict."""
    top, title = config_header(cfg, source, kind, _COHORT_TABLES)
    population = _population(source, cfg)
    return top, title, population, get_model(population.model), population.options.t_end


def validate_fit(cfg: Mapping[str, Any], source: str) -> FitSpec:
    top, title, population, mspec, follow_up = _header(cfg, source, "fit")
    model = population.model

    d = top.table("data") or top.fail("data", "missing [data] table (kinetics_csv and/or pfs_csv)")
    kin_path, km_path = _path(source, d, "kinetics_csv"), _path(source, d, "pfs_csv")
    n_patients = d.integer("n_patients", None, lo=1)
    response = _response(d.table("response"), n_patients, follow_up)
    exposure = _exposure(d.table("exposure_response"))
    d.done(["kinetics_csv", "pfs_csv", "n_patients", "response", "exposure_response"])
    if kin_path is None and km_path is None:
        d.fail(d.path, "needs kinetics_csv and/or pfs_csv")
    if exposure is not None and response is None:
        d.fail(d.key("exposure_response"), "needs [data.response]: responders are read at its landmark day")
    kinetics = load_kinetics(kin_path, follow_up) if kin_path else None
    km = load_km(km_path, follow_up) if km_path else None
    if km is not None and km.n_at_risk is None and n_patients is None:
        d.fail(d.key("n_patients"), "the PFS curve has no n_at_risk column: give the trial's number of patients")
    if isinstance(kinetics, PatientKinetics) and km is not None:
        d.fail(d.path, "per-patient kinetics fit individual patients; fit a PFS curve in a separate config")

    spec = FitSpec(source=source, title=title, population=population, kinetics=kinetics, km=km,
                   n_patients=n_patients, response=response, exposure=exposure, config=dict(cfg))
    ft = top.table("free") or top.fail("free", "missing [free.NAME] tables: the parameters to fit")
    if not ft.data:
        ft.fail(ft.path, "needs at least one [free.NAME] table")
    fixed = dict(population.config.get("parameters", {}))
    for name, raw in ft.data.items():
        ft.seen.add(name)
        kp = ft.key(name)
        if name not in mspec.param_specs:
            raise CartsimError(f"{source}: {kp}: unknown parameter {name!r} of model {model}; accepted: "
                               f"{', '.join(mspec.param_names)}")
        if name in fixed:
            raise CartsimError(f"{source}: {kp}: {name} is also set in [parameters]; a parameter is either fixed "
                               "or fitted")
        t = Table(source, kp, raw)
        ps = mspec.param_specs[name]
        if isinstance(kinetics, PatientKinetics):
            b = _bounds(source, t, "bounds", 0.0, True, ps)
            if not isinstance(b, tuple):
                t.fail(t.key("bounds"), "per-patient fits need bounds = [low, high] (units of the parameter)")
            t.done(["bounds"])
            spec.individual[name] = b
            continue
        med = _bounds(source, t, "median", 0.0, True, ps)
        sig = _bounds(source, t, "sigma", 0.0, False)
        if med is None:
            t.fail(t.key("median"), "missing: [low, high] bounds or a fixed value (units of the parameter)")
        if sig is None:
            t.fail(t.key("sigma"), "missing: [low, high] bounds or a fixed value (sd of log values)")
        if (isinstance(sig, tuple) and sig[0] <= 0) or (not isinstance(sig, tuple) and sig <= 0):
            t.fail(t.key("sigma"), "must stay > 0: the population is reweighted, which needs a spread")
        hv = {}
        for which, b in (("median", med), ("sigma", sig)):
            if isinstance(b, tuple):
                spec.hypers.append(Hyper(name, which, *b))
                hv[which] = _start(source, t, b, which == "median", f"start_{which}")
            else:
                t.seen.add(f"start_{which}")
                hv[which] = float(b)
        t.done(["median", "sigma", "start_median", "start_sigma"])
        spec.free[name] = hv
    if not isinstance(kinetics, PatientKinetics) and not spec.hypers:
        ft.fail(ft.path, "every median and sigma is fixed: give [low, high] bounds to at least one")

    f = top.table("fit") or Table(source, "fit", {})
    spec.starts = f.integer("starts", 4, lo=1, hi=100)
    spec.seed = f.integer("seed", 0, lo=0)
    spec.virtual_patients = f.integer("virtual_patients", 20_000, lo=100, hi=10**6)
    spec.min_ess = f.number("min_ess", min(10_000, spec.virtual_patients / 2), lo=10.0)
    spec.kinetics_patients = f.integer("kinetics_patients", 2_000, lo=50, hi=10**6)
    spec.confirm = f.boolean("confirm", True)
    spec.compare = f.boolean("compare", True)
    es = _bounds(source, f, "error_sigma", 0.0, True)
    if es is not None:
        spec.error_sigma = es
    f.done(["starts", "seed", "virtual_patients", "min_ess", "kinetics_patients", "confirm", "compare",
            "error_sigma"])
    nr = top.table("nonresponse")
    if nr is not None:
        if isinstance(kinetics, PatientKinetics):
            nr.fail(nr.path, "classes of patients are a population's: per-patient kinetics fit each patient")
        spec.nonresponse, spec.share_bounds = parse_nonresponse(nr, model, fitted=True)
        spec.hypers += [Hyper(NONRESPONSE, name, *b) for name, b in spec.share_bounds.items()]
        spec.free[NONRESPONSE] = dict(spec.nonresponse.shares)
    if spec.min_ess > spec.virtual_patients:
        f.fail(f.key("min_ess"), f"cannot exceed virtual_patients ({spec.virtual_patients})")
    if isinstance(kinetics, SummaryKinetics) and kinetics.n is None and n_patients is None:
        d.fail(d.key("n_patients"), "summary kinetics without an n column need the number of patients behind "
                                    "each quantile")
    top.done(["kind", "title", "description", *_COHORT_TABLES, "data", "free", "fit", "nonresponse"])
    if spec.free:  # the population with start values must itself be a valid cohort
        population_spec(population, spec.free, 10)
    return spec


def _response(t: Table | None, n_patients: int | None, follow_up: float) -> ResponseRates | None:
    """``[data.response]``: day (the landmark, days), overall and complete response rates (0-1), n."""
    if t is None:
        return None
    day = t.number("day", required=True, lo=0.0, lo_open=True, hi=follow_up)
    overall = t.number("overall", required=True, lo=0.0, hi=1.0)
    complete = t.number("complete", None, lo=0.0, hi=1.0)
    n = t.integer("n", n_patients, lo=1)
    det = t.number("detection_cells", DETECTION_CELLS, lo=0.0, lo_open=True)
    t.done(["day", "overall", "complete", "n", "detection_cells"])
    if n is None:
        t.fail(t.key("n"), "missing: the number of patients behind the rates (or data.n_patients)")
    if complete is not None and complete > overall:
        t.fail(t.key("complete"), f"cannot exceed the overall response rate ({overall:g}): a CR is a response")
    return ResponseRates(day=day, overall=overall, complete=complete, n=int(n), detection_cells=det)


def _exposure(t: Table | None) -> ExposureFact | None:
    """``[data.exposure_response]``: measure (cmax or auc), ratio responders / non-responders, its 95% ci."""
    if t is None:
        return None
    measure = t.choice("measure", MEASURES, "cmax")
    ratio = t.number("ratio", required=True, lo=0.0, lo_open=True)
    ci = t.raw("ci")
    if (not isinstance(ci, list) or len(ci) != 2
            or not all(isinstance(x, int | float) and not isinstance(x, bool) and x > 0 for x in ci)):
        t.fail(t.key("ci"), "missing or malformed: the ratio's 95% interval as [low, high], both > 0")
    if not ci[0] < ratio < ci[1]:
        t.fail(t.key("ci"), f"must satisfy low < ratio < high, got [{ci[0]:g}, {ci[1]:g}] around {ratio:g}")
    t.done(["measure", "ratio", "ci"])
    return ExposureFact(measure=measure, ratio=ratio, low=float(ci[0]), high=float(ci[1]))


def validate_predict(cfg: Mapping[str, Any], source: str) -> PredictSpec:
    top, title, population, mspec, follow_up = _header(cfg, source, "predict")
    model = population.model
    d = top.table("data") or top.fail("data", "missing [data] table (kinetics_csv, error_sigma)")
    path = _path(source, d, "kinetics_csv")
    if path is None:
        d.fail(d.key("kinetics_csv"), "missing: one patient's counts (patient,day,car_t_per_ul[,lloq])")
    es = d.value("error_sigma", Interval(lo=0.0, lo_open=True), 0.5)
    d.done(["kinetics_csv", "error_sigma"])
    kin = load_kinetics(path, follow_up)
    if not isinstance(kin, PatientKinetics) or len(kin.patients) != 1:
        d.fail(d.key("kinetics_csv"), "needs per-patient rows of exactly one patient")
    pt = top.table("prior") or top.fail("prior", "missing [prior.NAME] tables (median, sigma)")
    prior: dict[str, dict[str, float]] = {}
    if pt.has("from"):  # the lognormal parameters of a calibrated cohort config (cartsim fit's calibrated.toml)
        src = _path(source, pt, "from")
        cal = load_toml(src)
        for name, d in cal.get("parameters", {}).items():
            if isinstance(d, Mapping) and d.get("dist") == "lognormal" and "median" in d and "sigma" in d:
                prior[name] = {"median": float(d["median"]), "sigma": float(d["sigma"])}
        if not prior:
            pt.fail(pt.key("from"), f"{src} has no lognormal [parameters.NAME] tables (median, sigma) to use")
    for name, raw in pt.data.items():
        if name == "from":
            continue
        pt.seen.add(name)
        if name not in mspec.param_specs:
            raise CartsimError(f"{source}: {pt.key(name)}: unknown parameter {name!r} of model {model}; accepted: "
                               f"{', '.join(mspec.param_names)}")
        t = Table(source, pt.key(name), raw)
        prior[name] = {"median": t.number("median", required=True, lo=0.0, lo_open=True),
                       "sigma": t.number("sigma", required=True, lo=0.0, lo_open=True)}
        t.done(["median", "sigma"])
    if not prior:
        pt.fail(pt.path, "needs at least one [prior.NAME] table")
    s = top.table("sampler") or Table(source, "sampler", {})
    out = PredictSpec(source=source, title=title, population=population, prior=prior, kinetics=kin,
                      error_sigma=float(es),
                      walkers=s.integer("walkers", max(24, 4 * len(prior)), lo=2 * len(prior) + 2, hi=1000),
                      steps=s.integer("steps", 1500, lo=100, hi=10**6), burn=s.integer("burn", 500, lo=0),
                      seed=s.integer("seed", 0, lo=0), draws=s.integer("draws", 400, lo=10, hi=100_000),
                      config=dict(cfg))
    s.done(["walkers", "steps", "burn", "seed", "draws"])
    if out.burn >= out.steps:
        s.fail(s.key("burn"), f"must be below steps ({out.steps})")
    top.done(["kind", "title", "description", *_COHORT_TABLES, "data", "prior", "sampler"])
    return out

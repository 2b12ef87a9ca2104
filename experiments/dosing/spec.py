"""Dosing configs, validated before anything runs: ``kind = "dosing"`` (the grid over dose, tumour burden and
schedule, run by ``cartsim run``) and ``kind = "dose"`` (one patient's dose, ``cartsim dose``).

The population is the cohort config's own tables (``[cohort]``, ``[parameters]``, ``[variability]``,
``[nonresponse]``, ``[toxicity]``, ``[output] figures``; ``[cohort] n`` virtual patients in every cell), or a
calibrated cohort (``population = "calibrated.toml"`` in the dosing table). Units: doses in CAR T cells, or
cells/kg with ``body_weight_kg``; tumour burden in cells, or ml of tumour (1 ml = 1e9 cells, Kimmel et al.
2021).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from experiments.cohort.spec import Spec, load_spec, validate
from experiments.cohort.toxicity import Toxicity, carries_layer
from experiments.dosing.evaluate import tumour_start
from experiments.dosing.products import PRODUCTS, Product
from experiments.dosing.schedules import Schedule
from experiments.paths import data_path
from experiments.schema import Table, check_number, config_header
from hybrid.catalog import get_model
from hybrid.constraints import Interval
from hybrid.errors import CartsimError
from hybrid.units import volume_to_cells

_COHORT_TABLES = ("cohort", "parameters", "variability", "nonresponse", "toxicity", "output")
DOSE_UNITS = ("cells", "cells/kg")
BURDEN_UNITS = ("cells", "ml")
SCHEDULE_PRESETS = ("single", "split", "repeated")


@dataclass(frozen=True)
class DoseRule:
    """What is asked of a dose: P(cure) at least ``efficacy_target``, P(severe CRS proxy: grade >=
    ``severe_grade``) at most ``toxicity_limit``."""

    efficacy_target: float = 0.5
    toxicity_limit: float = 0.2
    severe_grade: int = 3


@dataclass
class DosingSpec:
    """A validated dosing grid: doses (cells) x burdens (cells) x schedules over one population."""

    source: str
    title: str
    population: Spec
    doses: np.ndarray
    burdens: np.ndarray
    schedules: tuple[Schedule, ...]
    rule: DoseRule
    dose_unit: str = "cells"
    body_weight_kg: float | None = None
    burden_unit: str = "cells"
    product: Product | None = None
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.population.model

    @property
    def toxicity(self) -> Toxicity:
        return self.population.toxicity

    def dose_in_unit(self, cells: np.ndarray) -> np.ndarray:
        """Doses in the config's unit (cells, or cells/kg)."""
        return cells / self.body_weight_kg if self.dose_unit == "cells/kg" else cells

    def burden_in_unit(self, cells: np.ndarray) -> np.ndarray:
        return cells / volume_to_cells(1.0) if self.burden_unit == "ml" else cells


@dataclass
class DoseSpec:
    """A validated personalised dose: one patient (a burden, and a population or posterior draws), the dose
    range and schedules to search."""

    source: str
    title: str
    population: Spec
    burden_cells: float
    dose_range: tuple[float, float]
    schedules: tuple[Schedule, ...]
    rule: DoseRule
    grid_points: int = 25
    posterior: str | None = None
    draws: int = 200
    dose_unit: str = "cells"
    body_weight_kg: float | None = None
    product: Product | None = None
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.population.model


def _values(t: Table, key: str, lo_open: float = 0.0) -> np.ndarray | None:
    """``key = [v, ...]`` (each > 0) or ``key = {from, to, num}`` (log-spaced), sorted; None if absent."""
    if not t.has(key):
        t.seen.add(key)
        return None
    raw = t.raw(key)
    if isinstance(raw, list):
        if not raw:
            t.fail(t.key(key), "needs at least one value")
        vals = [check_number(t.source, f"{t.key(key)}[{i}]", v, lo=lo_open, lo_open=True) for i, v in enumerate(raw)]
        return np.array(sorted(set(vals)), float)
    r = Table(t.source, t.key(key), raw)
    a = r.number("from", required=True, lo=0.0, lo_open=True)
    b = r.number("to", required=True, lo=0.0, lo_open=True)
    num = r.integer("num", 10, lo=1, hi=200)
    r.done(["from", "to", "num"])
    if not a < b and num > 1:
        r.fail(r.key("to"), f"must be above from ({a:g})")
    return np.geomspace(a, b, num)


def _population(source: str, cfg: Mapping[str, Any], t: Table) -> Spec:
    """The population: a calibrated cohort config named by ``population``, or the config's own tables."""
    if t.has("population"):
        path = data_path(source, t.key("population"), t.string("population"))
        spec = load_spec(path)
        if "cohort" in cfg and "n" in cfg["cohort"]:
            from experiments.cohort.spec import revise

            spec = revise(spec, n=int(cfg["cohort"]["n"]))
        return spec
    t.seen.add("population")
    return validate({"kind": "cohort", **{k: cfg[k] for k in _COHORT_TABLES if k in cfg}}, source)


def _product(t: Table) -> Product | None:
    name = t.string("product")
    if name is None:
        return None
    if name not in PRODUCTS:
        t.fail(t.key("product"), f"unknown product {name!r}; accepted: {', '.join(PRODUCTS)}")
    return PRODUCTS[name]


def _weight(t: Table, unit: str, product: Product | None) -> float | None:
    w = t.number("body_weight_kg", None, lo=1.0, hi=300.0)
    if w is None and (unit == "cells/kg" or (product is not None and product.unit == "cells/kg")):
        t.fail(t.key("body_weight_kg"), "doses per kg need the body weight (kg)")
    return w


_PROBABILITY = Interval(lo=0.0, hi=1.0, lo_open=True, hi_open=True)


def _rule(t: Table) -> DoseRule:
    """A target of 0 or 1 (or a limit of 0 or 1) is no constraint or cannot be met: both strictly in (0, 1)."""
    return DoseRule(efficacy_target=float(t.value("efficacy_target", _PROBABILITY, 0.5)),
                    toxicity_limit=float(t.value("toxicity_limit", _PROBABILITY, 0.2)),
                    severe_grade=t.integer("severe_grade", 3, lo=1, hi=10))


def _schedules(source: str, t: Table, population: Spec) -> tuple[Schedule, ...]:
    """The schedules, each checked against the population's follow-up and model (the parameters a dose and a
    burden set), before any work."""
    model = get_model(population.model)
    try:
        tumour_start(model)
        out = _schedule_list(source, t, population.options.t_end)
        for s in out:
            s.starts(model)
    except CartsimError as exc:
        raise CartsimError(exc.args[0] if str(exc).startswith(source) else f"{source}: {exc}") from None
    return out


def _schedule_list(source: str, t: Table, t_end: float) -> tuple[Schedule, ...]:
    raw = t.raw("schedules")
    if raw is None:
        return (Schedule.single(),)
    if not isinstance(raw, list) or not raw:
        t.fail(t.key("schedules"), "must be an array of tables [[dosing.schedules]] (preset, or days, fractions, "
                                   "lymphodepletion)")
    out = []
    for i, item in enumerate(raw):
        s = Table(source, f"{t.key('schedules')}[{i}]", item)
        preset = s.choice("preset", SCHEDULE_PRESETS, None)
        name = s.string("name")
        try:
            if preset == "single":
                sch = Schedule.single(s.boolean("lymphodepletion", True))
            elif preset == "split":
                fr = s.raw("fractions", [0.1, 0.3, 0.6])
                sch = Schedule.split(tuple(_numbers(s, "fractions", fr)), name or "split " + "/".join(
                    f"{100 * f:g}" for f in fr))
            elif preset == "repeated":
                sch = Schedule.repeated(s.integer("k", 3, lo=2, hi=20),
                                        s.number("every_days", 14.0, lo=0.0, lo_open=True),
                                        s.boolean("lymphodepletion_each", False))
            else:
                days = _numbers(s, "days", s.raw("days"))
                fr = _numbers(s, "fractions", s.raw("fractions", [1.0 / len(days)] * len(days)))
                ld = s.raw("lymphodepletion", [True] + [False] * (len(days) - 1))
                if not isinstance(ld, list) or not all(isinstance(x, bool) for x in ld):
                    s.fail(s.key("lymphodepletion"), "must be an array of true / false, one per infusion")
                sch = Schedule(name or f"schedule {i + 1}", tuple(days), tuple(fr), tuple(ld))
        except CartsimError as exc:
            raise CartsimError(f"{source}: {s.path}: {exc}") from None
        if name and sch.name != name:
            from dataclasses import replace

            sch = replace(sch, name=name)
        s.done(["preset", "name", "days", "fractions", "lymphodepletion", "k", "every_days",
                "lymphodepletion_each"])
        if sch.days[-1] >= t_end:
            s.fail(s.key("days"), f"infusion on day {sch.days[-1]:g} is after follow-up ({t_end:g} days)")
        out.append(sch)
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        t.fail(t.key("schedules"), f"schedule names must differ, got {names}")
    return tuple(out)


def _numbers(t: Table, key: str, raw: Any) -> list[float]:
    if not isinstance(raw, list) or not raw:
        t.fail(t.key(key), "must be a non-empty array of numbers")
    return [check_number(t.source, f"{t.key(key)}[{i}]", v) for i, v in enumerate(raw)]


def validate_dosing(cfg: Mapping[str, Any], source: str) -> DosingSpec:
    top, title = config_header(cfg, source, "dosing", _COHORT_TABLES)
    t = top.table("dosing") or top.fail("dosing", "missing [dosing] table (doses, burdens, schedules)")
    population = _population(source, cfg, t)
    product = _product(t)
    unit = t.choice("dose_unit", DOSE_UNITS, product.unit if product else "cells")
    weight = _weight(t, unit, product)
    doses = _values(t, "doses")
    if doses is None:
        if product is None:
            t.fail(t.key("doses"), "missing: doses (cells or cells/kg) as [..] or {from, to, num}, or a product")
        lo, hi = product.cells(weight)
        doses = np.geomspace(lo, hi, 10) if hi > lo else np.array([lo])
    elif unit == "cells/kg":
        doses = doses * weight
    burden_unit = t.choice("burden_unit", BURDEN_UNITS, "ml")
    burdens = _values(t, "burdens")
    if burdens is None:
        t.fail(t.key("burdens"), f"missing: tumour burdens ({burden_unit}) as [..] or {{from, to, num}}")
    if burden_unit == "ml":
        burdens = volume_to_cells(burdens)
    rule = _rule(t)
    schedules = _schedules(source, t, population)
    t.done(["population", "product", "dose_unit", "body_weight_kg", "doses", "burden_unit", "burdens",
            "efficacy_target", "toxicity_limit", "severe_grade", "schedules"])
    top.done(["kind", "title", "description", *_COHORT_TABLES, "dosing"])
    return DosingSpec(source=source, title=title, population=population, doses=doses, burdens=burdens,
                      schedules=schedules, rule=rule, dose_unit=unit, body_weight_kg=weight,
                      burden_unit=burden_unit, product=product, config=dict(cfg))


def validate_dose(cfg: Mapping[str, Any], source: str) -> DoseSpec:
    top, title = config_header(cfg, source, "dose", _COHORT_TABLES)
    pt = top.table("patient") or top.fail("patient", "missing [patient] table (burden, burden_unit)")
    burden = pt.number("burden", required=True, lo=0.0, lo_open=True)
    burden_unit = pt.choice("burden_unit", BURDEN_UNITS, "ml")
    posterior = None
    if pt.has("posterior"):
        posterior = str(data_path(source, pt.key("posterior"), pt.string("posterior")))
    else:
        pt.seen.add("posterior")
    draws = pt.integer("draws", 200, lo=10, hi=100_000)
    dt = top.table("dose") or top.fail("dose", "missing [dose] table (product or range, toxicity_limit)")
    population = _population(source, cfg, dt)
    product = _product(dt)
    unit = dt.choice("dose_unit", DOSE_UNITS, product.unit if product else "cells")
    weight = _weight(pt if pt.has("body_weight_kg") else dt, unit, product)
    pt.seen.add("body_weight_kg")
    rng = dt.raw("range")
    if rng is None:
        if product is None:
            dt.fail(dt.key("range"), "missing: the dose range [low, high] (cells or cells/kg), or a product")
        lo, hi = product.cells(weight)
    else:
        if not isinstance(rng, list) or len(rng) != 2:
            dt.fail(dt.key("range"), "must be [low, high]")
        lo, hi = (check_number(source, f"{dt.key('range')}[{i}]", v, lo=0.0, lo_open=True) for i, v in enumerate(rng))
        if unit == "cells/kg":
            lo, hi = lo * weight, hi * weight
    if not lo < hi:
        dt.fail(dt.key("range"), f"needs low < high, got [{lo:g}, {hi:g}] cells")
    rule = _rule(dt)
    schedules = _schedules(source, dt, population)
    if not carries_layer(get_model(population.model)):
        dt.fail(dt.key("toxicity_limit"), f"model {population.model} carries no cytokine layer: no CRS readout to "
                                          "keep under the limit (use kimmel2021_crs, or a model with the layer)")
    grid = dt.integer("grid_points", 25, lo=3, hi=400)
    dt.done(["population", "product", "dose_unit", "range", "efficacy_target", "toxicity_limit", "severe_grade",
             "schedules", "grid_points"])
    pt.done(["burden", "burden_unit", "posterior", "draws", "body_weight_kg"])
    top.done(["kind", "title", "description", *_COHORT_TABLES, "patient", "dose"])
    burden_cells = float(volume_to_cells(burden)) if burden_unit == "ml" else float(burden)
    return DoseSpec(source=source, title=title, population=population, burden_cells=burden_cells,
                    dose_range=(float(lo), float(hi)), schedules=schedules, rule=rule, grid_points=grid,
                    posterior=posterior, draws=draws, dose_unit=unit, body_weight_kg=weight, product=product,
                    config=dict(cfg))

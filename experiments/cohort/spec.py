"""Experiment configs: TOML loading, ``--set`` overrides and validation into an immutable spec.

Everything a run needs is checked here, before any simulation starts. Errors are :class:`CartsimError` whose
message names the file, the key path (``cohort.n``, ``parameters.K_C.sd``) and what is accepted.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from experiments.cohort.distributions import DIST_KINDS, VARIABILITY_READINGS, Distribution, parse_distribution
from experiments.cohort.nonresponse import NonResponse, parse_nonresponse
from experiments.cohort.toxicity import Toxicity, carries_layer
from experiments.paths import data_path
from experiments.schema import Table, check_number, check_param, parse_setting
from hybrid.catalog import get_model, sbml_reference
from hybrid.constraints import Interval
from hybrid.errors import CartsimError
from hybrid.inputs import read_text_input
from hybrid.model import ModelSpec
from hybrid.models import DEFAULT_MODEL, MODELS
from hybrid.options import DOSE_CONSTRAINTS, OPTION_CONSTRAINTS, Dose, SimOptions

KINDS = ("cohort", "local_sensitivity", "sobol", "abm")


def default_variable(model: ModelSpec, base: Mapping[str, float]) -> tuple[str, ...]:
    """Parameters the variability hyperparameter perturbs by default: every non-zero parameter that is not an
    initial value. The initial conditions (N0, C0, B0 in Kimmel) stay fixed, as in the paper ("the same initial
    conditions, all other parameters drawn from a normal distribution"); a parameter at 0 (a switched-off
    mechanism) stays off."""
    return tuple(n for n in model.param_names if n not in model.initial and base[n] != 0)
SWEEP_VARIABILITY = "variability"
MAX_SEED = 2**63 - 1
MAX_PATIENTS = 10**9
"""The most patients one run (``cartsim run``, ``cartsim cure``) accepts."""


_DEFAULTS = SimOptions()
"""Each option's default, written once (in :class:`hybrid.options.SimOptions`)."""


# --------------------------------------------------------------------------------------------------------------
# Loading and overrides


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file into a dict; a missing file, one that is not a regular file or too large
    (:func:`hybrid.inputs.read_input`) or a syntax error is a CartsimError naming the file."""
    text = read_text_input(path, "config file")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CartsimError(f"{path}: not valid TOML: {exc}") from None


def apply_overrides(cfg: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``cfg`` with each ``section.key=VALUE`` applied (missing tables are created; the
    validator then rejects keys that do not exist)."""
    import copy

    out = copy.deepcopy(cfg)
    for text in overrides:
        path, value = parse_setting(text)
        node = out
        for i, part in enumerate(path[:-1]):
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise CartsimError(f"--set {text!r}: {'.'.join(path[: i + 1])} is not a table")
            node = nxt
        node[path[-1]] = value
    return out


# --------------------------------------------------------------------------------------------------------------
# The validated spec


@dataclass(frozen=True)
class Group:
    """One named arm of a cohort: fixed parameter overrides, an optional variability level and optional
    extra doses. ``x`` is the swept value when the group comes from a ``[sweep]``."""

    name: str
    values: Mapping[str, float] = field(default_factory=dict)
    variability: float | None = None
    doses: tuple[Dose, ...] | None = None
    x: float | None = None


@dataclass(frozen=True)
class Sweep:
    parameter: str
    values: tuple[float, ...]
    scale: str = "linear"


@dataclass(frozen=True)
class Sensitivity:
    """Local (finite-difference) or global (Sobol, SALib) sensitivity of P(cure) and kinetics."""

    method: str  # "local" | "sobol"
    parameters: tuple[str, ...]
    step: float = 0.01  # local: relative step of the central difference
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # sobol
    n_base: int = 256  # sobol: SALib base sample size N (power of 2)
    conf_level: float = 0.95
    num_resamples: int = 200


@dataclass(frozen=True)
class Spec:
    """A validated experiment. Cells and days throughout; ``config`` is the raw dict after overrides."""

    source: str
    config: Mapping[str, Any]
    kind: str
    title: str
    n: int
    seed: int
    model: str
    base: Mapping[str, float]
    dists: Mapping[str, Distribution]
    variability: float
    variability_reading: str
    variable_params: tuple[str, ...]
    groups: tuple[Group, ...]
    options: SimOptions
    sweep: Sweep | None = None
    assessment_days: tuple[float, ...] | None = None
    chunk_size: int | None = None
    exact_only: bool = False
    toxicity: Toxicity = field(default_factory=Toxicity)
    """How the cytokine layer's readouts are taken (models that carry it)."""
    observed_pfs_csv: str | None = None
    kinetics_patients: int = 200
    early_progression_day: float = 90.0
    """Exposure–response landmark (days): progression before it is early (:mod:`experiments.cohort.exposure`)."""
    figures: bool = True
    sensitivity: Sensitivity | None = None
    nonresponse: NonResponse | None = None
    """Shares of mechanistic non-response classes (:mod:`experiments.cohort.nonresponse`), if any."""

    def group_options(self, g: Group) -> SimOptions:
        """SimOptions for group ``g`` (its doses replace the cohort's when given)."""
        return self.group_options_of(self.options, g)

    @staticmethod
    def group_options_of(options: SimOptions, g: Group) -> SimOptions:
        if g.doses is None:
            return options
        from dataclasses import replace

        return replace(options, doses=g.doses)

    def group_sizes(self) -> list[int]:
        """Patients per group: n split evenly in config order, the first groups taking the remainder."""
        g = len(self.groups)
        return [self.n // g + (1 if k < self.n % g else 0) for k in range(g)]


def _doses(source: str, path: str, raw: Any) -> tuple[Dose, ...]:
    if not isinstance(raw, list):
        raise CartsimError(f"{source}: {path}: must be an array of tables [[...]] with day, car_t_cells, "
                           "lymphodepletion")
    out = []
    for i, d in enumerate(raw):
        t = Table(source, f"{path}[{i}]", d)
        vals = {k: t.value(k, c, required=(k == "day"), unit=unit) for k, (c, unit) in DOSE_CONSTRAINTS.items()
                if k == "day" or t.has(k)}
        t.done(list(DOSE_CONSTRAINTS))
        out.append(Dose(**vals))
    return tuple(out)


def _sweep_values(source: str, t: Table, parameter: str, model: ModelSpec) -> tuple[tuple[float, ...], str]:
    def check(keypath: str, v: Any) -> float:
        if parameter == SWEEP_VARIABILITY:
            return check_number(source, keypath, v, lo=0.0)
        return check_param(source, keypath, model.param_specs[parameter], v)

    if t.has("values"):
        # an explicit list wins over a range, so that --set sweep.values=[...] works on a range config
        for k in ("start", "stop", "num"):
            t.seen.add(k)
        vals = t.raw("values")
        if not isinstance(vals, list) or not vals:
            t.fail(t.key("values"), "must be a non-empty array of numbers")
        values = tuple(check(f"{t.key('values')}[{i}]", v) for i, v in enumerate(vals))
        scale = t.choice("scale", ("linear", "log"), "linear")
    else:
        start = t.number("start", required=True)
        stop = t.number("stop", required=True)
        num = t.integer("num", required=True, lo=1, hi=10_000)
        scale = t.choice("scale", ("linear", "log"), "linear")
        check(t.key("start"), start)
        check(t.key("stop"), stop)
        if scale == "log":
            if start <= 0 or stop <= 0:
                t.fail(t.key("scale"), "log scale needs start > 0 and stop > 0")
            values = tuple(float(v) for v in np.geomspace(start, stop, num))
        else:
            values = tuple(float(v) for v in np.linspace(start, stop, num))
    if len(set(values)) != len(values):
        t.fail(t.key("values"), "values must be distinct")
    return values, scale


def validate(cfg: Mapping[str, Any], source: str = "<config>") -> Spec:
    """Validate a config dict (already overridden) into a :class:`Spec`; ``source`` names the file in errors.
    Spatial configs (``kind = "abm"``) are validated by :func:`experiments.spatial.experiment.validate_abm`."""
    top = Table(source, "", cfg)
    kind = top.choice("kind", KINDS, "cohort")
    if kind == "abm":
        raise CartsimError(f"{source}: kind: 'abm' configs are spatial: see experiments.spatial.experiment")
    title = top.string("title", "") or ""
    top.string("description")

    # [cohort] ---------------------------------------------------------------------------------------------
    c = top.table("cohort") or Table(source, "cohort", {})
    n = c.integer("n", 1000, lo=1, hi=MAX_PATIENTS)
    seed = c.integer("seed", 0, lo=0, hi=MAX_SEED)
    sbml = c.string("sbml")
    if sbml is not None:
        sbml_file = data_path(source, "cohort.sbml", sbml)  # first: a path the user may not read is the news
        if c.raw("model") is not None:
            c.fail("cohort.sbml", "give either model or sbml, not both")
        tumour = c.string("tumour")
        if tumour is None:
            c.fail("cohort.tumour", "an SBML model needs its tumour species (tumour = \"SPECIES\")")
        model = sbml_reference(sbml_file, tumour, c.string("effector"), c.string("lymphocytes"))
    else:
        model = c.choice("model", tuple(MODELS), DEFAULT_MODEL)
    mspec = get_model(model)
    if not mspec.presets and c.has("preset"):
        c.fail("cohort.preset", f"model {mspec.name} has no presets (an imported SBML model takes its values from "
                                "the file and [parameters]); remove cohort.preset")
    preset = c.choice("preset", tuple(mspec.presets), next(iter(mspec.presets), None))
    t_end = c.value("follow_up_days", OPTION_CONSTRAINTS["t_end"], _DEFAULTS.t_end, unit="days")
    threshold = c.value("threshold", OPTION_CONSTRAINTS["threshold"], _DEFAULTS.threshold, unit="cells")
    method = c.value("method", OPTION_CONSTRAINTS["method"], _DEFAULTS.method)
    hysteresis = c.value("hysteresis", OPTION_CONSTRAINTS["hysteresis"], _DEFAULTS.hysteresis)
    prog = c.value("progression_factor", OPTION_CONSTRAINTS["progression_factor"], _DEFAULTS.progression_factor)
    chunk = c.integer("chunk_size", None, lo=1, hi=10**7)
    exact_only = c.boolean("exact_only", False)
    c.done()

    # [parameters] -----------------------------------------------------------------------------------------
    base = mspec.preset(preset)
    pspecs = mspec.param_specs

    def param_name(keypath: str, name: Any) -> str:
        if name not in pspecs:
            raise CartsimError(f"{source}: {keypath}: unknown parameter {name!r} of model {model}; accepted: "
                               f"{', '.join(mspec.param_names)}")
        return name

    dists: dict[str, Distribution] = {}
    p = top.table("parameters")
    if p is not None:
        for name, val in p.data.items():
            keypath = p.key(name)
            param_name(keypath, name)
            p.seen.add(name)
            if isinstance(val, Mapping):
                d = parse_distribution(source, keypath, pspecs[name], val)
                if d.kind == "fixed":
                    base[name] = d.args[0]
                else:
                    dists[name] = d
            else:
                base[name] = check_param(source, keypath, pspecs[name], val)

    # [variability] ----------------------------------------------------------------------------------------
    v = top.table("variability") or Table(source, "variability", {})
    vlevel = v.number("v", 0.0, lo=0.0)
    reading = v.choice("reading", VARIABILITY_READINGS, "sd")
    vparams_raw = v.raw("parameters", list(default_variable(mspec, base)))
    if not isinstance(vparams_raw, list):
        v.fail(v.key("parameters"), f"must be an array of parameter names; accepted: "
                                    f"{', '.join(mspec.param_names)}")
    vparams = tuple(param_name(f"{v.key('parameters')}[{i}]", x) for i, x in enumerate(vparams_raw))
    v.done()

    # [[doses]] --------------------------------------------------------------------------------------------
    doses = _doses(source, "doses", top.raw("doses")) if top.has("doses") else ()
    try:
        options = SimOptions(t_end=t_end, threshold=threshold, method=method, hysteresis=hysteresis,
                             progression_factor=prog, doses=doses)
    except CartsimError as exc:
        raise CartsimError(f"{source}: {exc}" if str(exc).startswith("doses:") else f"{source}: cohort: {exc}") \
            from None

    # [groups] / [sweep] -----------------------------------------------------------------------------------
    groups: list[Group] = []
    gt = top.table("groups")
    sweep = None
    st = top.table("sweep")
    if gt is not None and st is not None:
        top.fail("sweep", "cannot be combined with [groups]; use one or the other")
    if gt is not None:
        if not gt.data:
            gt.fail(gt.path, "needs at least one [groups.NAME] table")
        for gname, graw in gt.data.items():
            gt.seen.add(gname)
            g = Table(source, gt.key(gname), graw)
            values: dict[str, float] = {}
            gvar = g.number("variability", None, lo=0.0)
            gdoses = _doses(source, g.key("doses"), g.raw("doses")) if g.has("doses") else None
            for k, val in g.data.items():
                if k in ("variability", "doses"):
                    continue
                if k not in pspecs:
                    g.fail(g.key(k), f"unknown key; accepted: variability, doses, {', '.join(mspec.param_names)}")
                if k in dists:
                    g.fail(g.key(k), f"{k} already has a distribution in [parameters]; groups set fixed values")
                g.seen.add(k)
                values[k] = check_param(source, g.key(k), pspecs[k], val)
            g.done()
            group = Group(name=str(gname), values=values, variability=gvar, doses=gdoses)
            try:
                Spec.group_options_of(options, group)  # its doses within follow-up, checked now
            except CartsimError as exc:
                g.fail(g.key("doses"), str(exc).removeprefix("doses: "))
            groups.append(group)
    elif st is not None:
        par = st.raw("parameter")
        accepted = (*mspec.param_names, SWEEP_VARIABILITY)
        if par not in accepted:
            st.fail(st.key("parameter"), f"{par!r} is not accepted; accepted: {', '.join(accepted)}")
        if par in dists:
            st.fail(st.key("parameter"), f"{par} has a distribution in [parameters]; a swept parameter is fixed "
                                         "per point (use [variability] to perturb it)")
        values_, scale = _sweep_values(source, st, par, mspec)
        st.done(["parameter", "values", "start", "stop", "num", "scale"])
        sweep = Sweep(parameter=par, values=values_, scale=scale)
        for x in values_:
            label = f"{par}={x:.4g}"
            if par == SWEEP_VARIABILITY:
                groups.append(Group(name=label, variability=x, x=x))
            else:
                groups.append(Group(name=label, values={par: x}, x=x))
    else:
        groups.append(Group(name="all"))
    if kind == "cohort" and n < len(groups):
        c.fail("cohort.n", f"must be at least the number of groups ({len(groups)}), got {n}")

    # [assessment] -----------------------------------------------------------------------------------------
    assessment = None
    at = top.table("assessment")
    if at is not None:
        days_raw = at.raw("days", [])
        if not isinstance(days_raw, list):
            at.fail(at.key("days"), "must be an array of days (numbers > 0)")
        days = [check_number(source, f"{at.key('days')}[{i}]", d, lo=0.0, lo_open=True)
                for i, d in enumerate(days_raw)]
        every = at.number("every_days", None, lo=0.0, lo_open=True)
        at.done(["days", "every_days"])
        if days != sorted(set(days)):
            at.fail(at.key("days"), "must be strictly increasing")
        if not days and every is None:
            at.fail(at.path, "needs days = [...] and/or every_days")
        assessment = visit_days(days, every, t_end)
        if not assessment:
            at.fail(at.key("days"), f"no visit falls within follow-up ({t_end:g} days)")

    # [output] ---------------------------------------------------------------------------------------------
    o = top.table("output") or Table(source, "output", {})
    observed = o.string("observed_pfs_csv")
    if observed is not None:
        from experiments.trial_data import load_km  # the one reader of a Kaplan–Meier CSV

        observed = str(data_path(source, o.key("observed_pfs_csv"), observed))
        load_km(observed, t_end)  # fail here, before the run, not in its figure
    kin = o.integer("kinetics_patients", 200, lo=0, hi=100_000)
    figures = o.boolean("figures", True)
    early = o.number("early_progression_day", None, lo=0.0, lo_open=True)
    o.done()
    if early is None:  # 90 days, or half a shorter follow-up
        early = min(90.0, t_end / 2)
    elif early >= t_end:
        o.fail(o.key("early_progression_day"), f"must be within follow-up ({t_end:g} days), got {early:g}")

    # [toxicity] -------------------------------------------------------------------------------------------
    tox = Toxicity()
    tt = top.table("toxicity")
    if tt is not None:
        if not carries_layer(mspec):
            tt.fail(tt.path, f"model {model} carries no cytokine layer; accepted: "
                             f"{', '.join(n for n, m in MODELS.items() if carries_layer(m))}")
        level = tt.number("il6_level", tox.il6_level, lo=0.0, lo_open=True)
        raw = tt.raw("grade_thresholds", list(tox.grade_thresholds))
        if not isinstance(raw, list) or not raw:
            tt.fail(tt.key("grade_thresholds"), "must be a non-empty array of IL-6 levels (pg/mL)")
        th = [check_number(source, f"{tt.key('grade_thresholds')}[{i}]", v, lo=0.0, lo_open=True)
              for i, v in enumerate(raw)]
        if any(b <= a for a, b in zip(th, th[1:], strict=False)):
            tt.fail(tt.key("grade_thresholds"), f"must be strictly increasing (grades 1, 2, ...), got {th}")
        tt.done(["il6_level", "grade_thresholds"])
        tox = Toxicity(il6_level=level, grade_thresholds=tuple(th))

    # [sensitivity] ----------------------------------------------------------------------------------------
    sens = None
    sv = top.table("sensitivity")
    if kind in ("local_sensitivity", "sobol"):
        if sv is None:
            top.fail("sensitivity", f"kind = {kind!r} needs a [sensitivity] table")
        sens = _sensitivity(source, sv, kind, base, mspec)
    elif sv is not None:
        top.fail("sensitivity", "only for kind = 'local_sensitivity' or 'sobol'")

    # [nonresponse] ----------------------------------------------------------------------------------------
    nr_t = top.table("nonresponse")
    nonresp = parse_nonresponse(nr_t, model)[0] if nr_t is not None else None

    top.done(["kind", "title", "description", "cohort", "parameters", "variability", "doses", "groups", "sweep",
              "assessment", "output", "sensitivity", "toxicity", "nonresponse"])

    if exact_only and not mspec.linear_tumour:
        c.fail("cohort.exact_only", f"the exact oracle needs a model linear in B; model {model!r} is not")
    return Spec(source=source, config=dict(cfg), kind=kind, title=title, n=n, seed=seed, model=model, base=base,
                dists=dists, variability=vlevel, variability_reading=reading, variable_params=vparams,
                groups=tuple(groups), options=options, sweep=sweep, assessment_days=assessment,
                chunk_size=chunk, exact_only=exact_only, observed_pfs_csv=observed, kinetics_patients=kin,
                early_progression_day=early, toxicity=tox,
                figures=figures, sensitivity=sens, nonresponse=nonresp)


def _sensitivity(source: str, t: Table, kind: str, base: Mapping[str, float], model: ModelSpec) -> Sensitivity:
    params_raw = t.raw("parameters", list(default_variable(model, base)))
    if not isinstance(params_raw, list) or not params_raw:
        t.fail(t.key("parameters"), f"must be a non-empty array; accepted: {', '.join(model.param_names)}")
    for i, x in enumerate(params_raw):
        if x not in model.param_specs:
            t.fail(f"{t.key('parameters')}[{i}]", f"unknown parameter {x!r} of model {model.name}; accepted: "
                                                  f"{', '.join(model.param_names)}")
    params = tuple(params_raw)
    if kind == "local_sensitivity":
        step = t.number("step", 0.01, lo=0.0, lo_open=True, hi=0.5)
        t.done(["parameters", "step"])
        for p in params:
            if base[p] == 0:
                t.fail(t.key("parameters"), f"{p} is 0 at the base point: relative sensitivity is undefined")
        return Sensitivity(method="local", parameters=params, step=step)
    n_base = t.integer("n_base", 256, lo=4, hi=2**20)
    if n_base & (n_base - 1):
        t.fail(t.key("n_base"), f"must be a power of 2 (SALib's Sobol' sequence), got {n_base}")
    conf = t.number("conf_level", 0.95, lo=0.5, hi=0.999)
    res = t.integer("num_resamples", 200, lo=10, hi=10_000)
    bounds: dict[str, tuple[float, float]] = {}
    bt = t.table("bounds")
    spread = t.number("spread", 0.2, lo=0.0, lo_open=True, hi=0.99)
    if bt is not None:
        for name, b in bt.data.items():
            kp = bt.key(name)
            bt.seen.add(name)
            if name not in params:
                bt.fail(kp, f"{name} is not in sensitivity.parameters")
            if not isinstance(b, list) or len(b) != 2:
                bt.fail(kp, "must be [low, high]")
            lo = check_param(source, f"{kp}[0]", model.param_specs[name], b[0])
            hi = check_param(source, f"{kp}[1]", model.param_specs[name], b[1])
            if not lo < hi:
                bt.fail(kp, f"needs low < high, got [{lo:g}, {hi:g}]")
            bounds[name] = (lo, hi)
    for p in params:
        if p not in bounds:
            if base[p] == 0:
                t.fail(t.key("bounds"), f"{p} is 0 at the base point: give explicit bounds")
            bounds[p] = (base[p] * (1 - spread), base[p] * (1 + spread))
    t.done(["parameters", "n_base", "conf_level", "num_resamples", "bounds", "spread"])
    return Sensitivity(method="sobol", parameters=params, bounds=bounds, n_base=n_base, conf_level=conf,
                       num_resamples=res)


def visit_days(days: Sequence[float], every: float | None, t_end: float) -> tuple[float, ...]:
    """Scan visits (days): the listed days, then every ``every`` days after the last one, up to ``t_end``."""
    out = [float(d) for d in days if d <= t_end]
    if every is not None:
        t = out[-1] if out else 0.0
        while t + every <= t_end + 1e-9:
            t += every
            out.append(t)
    return tuple(out)


def revise(spec: Spec, *, n: int | None = None, seed: int | None = None, variability: float | None = None,
           dists: Mapping[str, Distribution] | None = None, figures: bool | None = None,
           nonresponse: NonResponse | None = None) -> Spec:
    """``spec`` with typed changes (patients, seed, variability level, parameter distributions that replace
    those of ``[parameters]``, figures on or off, the non-response classes), each checked as the config's own
    value would be; the recorded config (:attr:`Spec.config`) is changed to match, so provenance says what
    ran."""
    from dataclasses import replace

    cfg = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in spec.config.items()}
    changes: dict[str, Any] = {}
    if n is not None:
        Interval(lo=max(1, len(spec.groups) if spec.kind == "cohort" else 1), hi=MAX_PATIENTS, integer=True).check(
            "cohort.n", n, "patients", CartsimError)
        changes["n"] = int(n)
        cfg.setdefault("cohort", {})["n"] = int(n)
    if seed is not None:
        Interval(lo=0, hi=MAX_SEED, integer=True).check("cohort.seed", seed, error=CartsimError)
        changes["seed"] = int(seed)
        cfg.setdefault("cohort", {})["seed"] = int(seed)
    if variability is not None:
        Interval(lo=0.0).check("variability.v", variability, error=CartsimError)
        if spec.groups and all(g.variability is not None for g in spec.groups):
            raise CartsimError(f"{spec.source}: variability.v has no effect: every group sets its own variability")
        changes["variability"] = float(variability)
        cfg.setdefault("variability", {})["v"] = float(variability)
    if dists is not None:
        mspec = get_model(spec.model)
        for name in dists:
            if name not in mspec.param_specs:
                raise CartsimError(f"unknown parameter {name!r} of model {spec.model}; accepted: "
                                   f"{', '.join(mspec.param_names)}")
            fixed = [f"[groups.{g.name}]" for g in spec.groups if name in g.values]
            if spec.sweep is not None and spec.sweep.parameter == name:
                fixed = ["[sweep]"]
            if fixed:  # the validator's rule: a parameter is either fixed per arm or drawn, not both
                raise CartsimError(f"{spec.source}: parameters.{name}: fixed in {', '.join(fixed)}; a distribution "
                                   "cannot apply")
        changes["dists"] = {**spec.dists, **dists}
        cfg["parameters"] = {**cfg.get("parameters", {}), **{k: d.table() for k, d in dists.items()}}
    if figures is not None:
        changes["figures"] = bool(figures)
        cfg.setdefault("output", {})["figures"] = bool(figures)
    if nonresponse is not None:
        table = nonresponse.table()
        changes["nonresponse"] = parse_nonresponse(Table(spec.source, "nonresponse", table), spec.model)[0]
        cfg["nonresponse"] = table
    return replace(spec, config=cfg, **changes)


def check_overrides(cfg: Mapping[str, Any], overrides: Sequence[str], source: str) -> None:
    """Refuse a ``--set`` that cannot take effect because the config fixes the value elsewhere: a parameter
    set by every group or by the sweep, or a variability level every group sets for itself."""
    groups = cfg.get("groups") if isinstance(cfg.get("groups"), Mapping) else {}
    sweep = cfg.get("sweep") if isinstance(cfg.get("sweep"), Mapping) else {}
    for text in overrides:
        path, value = parse_setting(text)
        if path[0] == "parameters" and len(path) >= 2:
            name = path[1]
            fixed = [f"[groups.{g}]" for g, t in groups.items() if isinstance(t, Mapping) and name in t]
            if sweep.get("parameter") == name:
                fixed = ["[sweep] (it sweeps the parameter)"]
            if fixed and (len(fixed) == len(groups) or sweep.get("parameter") == name):
                hint = f" (e.g. --set groups.{next(iter(groups))}.{name}={value})" if groups and not sweep else ""
                raise CartsimError(f"{source}: --set {text}: has no effect: {name} is fixed in "
                                   f"{', '.join(fixed)}; set it there{hint}")
        if path[:2] == ["variability", "v"] and groups and all(
                isinstance(t, Mapping) and "variability" in t for t in groups.values()):
            raise CartsimError(f"{source}: --set {text}: has no effect: every group sets its own variability "
                               f"({', '.join(f'[groups.{g}]' for g in groups)})")


def load(path: str | Path, overrides: Sequence[str] = ()) -> tuple[dict[str, Any], str]:
    """The raw config dict of ``path`` with overrides applied, and its source name for messages."""
    cfg = apply_overrides(load_toml(path), overrides)
    return cfg, str(path)


def load_spec(path: str | Path, overrides: Sequence[str] = (), roots: Sequence[str | Path] | None = None) -> Spec:
    """A cohort or sensitivity config file validated into a :class:`Spec`, with the ``KEY=VALUE`` settings a
    user typed applied (:func:`experiments.schema.parse_setting`); with ``roots``, every data path the config
    names must lie under one of them (:func:`experiments.paths.confined`)."""
    from contextlib import nullcontext

    from experiments.paths import confined

    with confined(*roots) if roots is not None else nullcontext():
        cfg, source = load(path, overrides)
        spec = validate(cfg, source)
        check_overrides(cfg, overrides, source)
    return spec


__all__ = ["DIST_KINDS", "Group", "Sensitivity", "Spec", "Sweep", "apply_overrides", "load", "load_toml",
           "validate", "visit_days"]

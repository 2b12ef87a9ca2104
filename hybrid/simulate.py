"""Python entry points to the jitted kernels: a batch of patients, one patient, the exact oracle and the
deterministic trajectory. Units: cells and days.

Everything goes through batch kernels (one jitted call per batch), so the per-patient cost is the simulation
itself, not Python.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import dosing, engine, integrator, tabulated
from .catalog import get_model
from .errors import CartsimError
from .model import ModelSpec
from .options import SimOptions
from .oracle import log_extinction_batch, log_extinction_branching_batch
from .params import Parameters, parameter_matrix
from .rng import SpawnedSeeds, seed_states
from .tumour_law import below_level, progression_free

AUC_UNTIL_DAYS = 28.0
"""CAR T exposure is reported as the area under C(t) over days 0–28."""
_ATOL = 1e-30  # pure relative error control: the mean-field tumour can fall to 1e-13 cells

SeedLike = int | np.random.SeedSequence

RESULT_COLUMNS = (
    "outcome",
    "t_event_days",
    "nadir_cells",
    "nadir_day",
    "cart_peak_cells",
    "cart_peak_day",
    "cart_auc_0_28",
    "n_events",
    "n_leaps",
    "p_cure_exact",
)
_READOUT_COLUMNS = {
    "t_event_days": engine.R_T_EVENT,
    "nadir_cells": engine.R_NADIR,
    "nadir_day": engine.R_NADIR_DAY,
    "cart_peak_cells": engine.R_PEAK,
    "cart_peak_day": engine.R_PEAK_DAY,
    "cart_auc_0_28": engine.R_AUC,
    "n_events": engine.R_N_EVENTS,
    "n_leaps": engine.R_N_LEAPS,
}


def _relapse_type(spec: ModelSpec, readouts: np.ndarray) -> np.ndarray | None:
    """For a tumour of several clones: the label of the clone that carried each progression (None for other
    outcomes); None for a one-species tumour."""
    if len(spec.tumour_species) < 2:
        return None
    labels = np.array([spec.tumour_label(s) for s in spec.species], dtype=object)
    lead = readouts[:, engine.R_LEADING].astype(np.int64)
    prog = readouts[:, engine.R_OUTCOME] == engine.OUTCOME_PROGRESSION
    return np.where(prog, labels[lead], None)


def _model_of(model: str | ModelSpec | None, params: object) -> ModelSpec:
    """The model named by ``model``; when None, the model of the given Parameters (else the default model)."""
    if model is None:
        first = params if isinstance(params, Parameters) else None
        if first is None and isinstance(params, Sequence) and params and isinstance(params[0], Parameters):
            first = params[0]
        if first is not None:
            return first.model
    return get_model(model)


@dataclass(frozen=True)
class _Batch:
    """Kernel inputs for n patients."""

    P: np.ndarray  # (n, n_params)
    X0: np.ndarray  # (n, n_species)
    doses: np.ndarray  # (n, n_doses, D_SIZE): one dose table per patient, see hybrid.dosing


def _prepare(spec: ModelSpec, params: pd.DataFrame | Sequence[Parameters] | Parameters,
             options: SimOptions) -> _Batch:
    if isinstance(params, Parameters):
        params = [params]
    if isinstance(params, pd.DataFrame):
        cols = {c: params[c].to_numpy() for c in params.columns if c in spec.param_specs}
        P = parameter_matrix(spec, cols, len(params))
    else:
        for q in params:
            if q.model.name != spec.name:
                raise CartsimError(f"parameters of model {q.model.name} given to model {spec.name}; build them "
                                   f"with Parameters.from_preset(model={spec.name!r})")
        P = np.array([q.as_array() for q in params], dtype=np.float64).reshape(-1, len(spec.param_names))
    X0 = spec.initial_values(P)
    # Doses: lymphodepletion resets the lymphocytes to their initial value, then CAR T cells are added.
    eff = spec.index(spec.effector)
    rows = []
    for d in options.doses:
        if d.lymphodepletion:
            if spec.lymphocytes is None:
                raise CartsimError(f"dose on day {d.day:g}: model {spec.name} has no lymphocytes for "
                                   "lymphodepletion to reset; give the dose with lymphodepletion = false")
            lymph = spec.index(spec.lymphocytes)
            rows.append((d.day, lymph, dosing.DOSE_SET, X0[:, lymph]))
        if d.car_t_cells > 0:
            rows.append((d.day, eff, dosing.DOSE_ADD, np.full(len(P), d.car_t_cells)))
    # a model's phase switches: an empty dose makes every integrator stop on the day
    for name in spec.breakpoints:
        rows.append((P[:, spec.param_names.index(name)], eff, dosing.DOSE_ADD, np.zeros(len(P))))
    doses = np.zeros((len(P), len(rows), dosing.D_SIZE))
    for r, (day, species, op, values) in enumerate(rows):
        doses[:, r, dosing.D_DAY] = day
        doses[:, r, dosing.D_SPECIES] = species
        doses[:, r, dosing.D_OP] = op
        doses[:, r, dosing.D_VALUE] = values
    if spec.breakpoints:  # per-patient days: put each patient's rows back in day order (stable for ties)
        order = np.argsort(doses[:, :, dosing.D_DAY], axis=1, kind="stable")
        doses = np.take_along_axis(doses, order[:, :, None], axis=1)
    return _Batch(np.ascontiguousarray(P), X0, np.ascontiguousarray(doses))


def _check_solved(spec: ModelSpec, b: _Batch, failed: np.ndarray) -> None:
    """A CartsimError naming the first patient whose ODE gave up (``failed``: a mask over the batch)."""
    if not failed.any():
        return
    k = int(np.argmax(failed))
    base = spec.preset(None)
    unusual = [f"{n}={v:.4g}" for n, v in zip(spec.param_names, b.P[k], strict=True) if v != base[n]][:6]
    given = f" ({', '.join(unusual)})" if unusual else ""
    raise CartsimError(f"model {spec.name}: the ODE solver gave up on patient {k}{given} after "
                       f"{integrator.MAX_REJECTED:,} rejected steps or on an overflowing solution: the parameters "
                       "make the model too stiff or explosive for its follow-up; check them against `cartsim "
                       f"models {spec.name}`")


def _option_vector(options: SimOptions, prog_level: float = np.inf) -> np.ndarray:
    """The engine's option vector (slots engine.O_*)."""
    opt = np.zeros(engine.O_SIZE)
    opt[engine.O_T_END] = options.t_end
    opt[engine.O_THRESHOLD] = options.threshold
    opt[engine.O_UP_THRESHOLD] = options.threshold * options.hysteresis
    opt[engine.O_PROG_LEVEL] = prog_level
    opt[engine.O_METHOD_TAU] = 1.0 if options.method == "tau" else 0.0
    opt[engine.O_TAU_EPS] = options.tau_epsilon
    opt[engine.O_TAU_CRITICAL] = options.tau_critical
    opt[engine.O_RTOL] = options.rtol
    opt[engine.O_ATOL] = _ATOL
    opt[engine.O_AUC_UNTIL] = AUC_UNTIL_DAYS
    return opt


def _log_cure(spec: ModelSpec, b: _Batch, options: SimOptions, t_days: np.ndarray,
              moments: np.ndarray | None = None) -> np.ndarray | None:
    """(n, len(t_days)) log P(cure by t), or None when the model is not linear in the tumour. ``moments``
    (n, len(t_days), 2), if given, receives rho(t) and log I(t) of Kendall's formula (one tumour species)
    instead, and None is returned."""
    if not spec.linear_tumour:
        return None
    n = b.P.shape[0]
    out = np.empty((n, t_days.shape[0]))
    t_days = np.ascontiguousarray(t_days, dtype=np.float64)
    kendall = spec.kendall_reactions
    if kendall is None:
        if moments is not None:
            raise CartsimError(f"model {spec.name}: the tumour-size law is only available for one tumour species")
        types = np.array([spec.index(sp) for sp in spec.tumour_species], dtype=np.float64)
        log_extinction_branching_batch(spec.rates, b.P, spec.stoichiometry, spec.tumour_mask, types,
                                       np.ascontiguousarray(spec.offspring.ravel()), b.X0, float(options.rtol),
                                       _ATOL, b.doses, t_days, out)
        _check_solved(spec, b, np.isnan(out).any(axis=1))
        return out
    log_extinction_batch(
        spec.rates, b.P, spec.stoichiometry, spec.index(spec.tumour), kendall[0], kendall[1],
        spec.index(spec.effector), b.X0,
        float(options.rtol), _ATOL, b.doses, t_days, out, np.zeros((n, 0, 2)) if moments is None else moments,
    )
    # with the moments asked for, the kernel fills them instead of log P (and marks a failed solve there)
    _check_solved(spec, b, np.isnan(out).any(axis=1) if moments is None else np.isnan(moments).any(axis=(1, 2)))
    return None if moments is not None else out


def _log_cure_distinct(spec: ModelSpec, b: _Batch, options: SimOptions, t_days: np.ndarray) -> np.ndarray | None:
    """:func:`_log_cure` solved once per distinct patient (parameters and doses): a cohort of identical patients
    costs one oracle solve, not n. Where the model allows it (:attr:`ModelSpec.shared_tumour_start`), patients
    that differ only in their tumour at infusion count as one: log P(cure) = B0 log q, q one cell's P(cure) from
    the same solve (the solve never sees B0, so this equals each patient's own solve to the last bit)."""
    col = spec.shared_tumour_start
    P = b.P
    if col is not None:
        P = P.copy()
        P[:, col] = 0.0
    key = np.concatenate([P, b.doses.reshape(b.P.shape[0], -1)], axis=1)
    uniq, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if uniq.shape[0] == key.shape[0]:
        return _log_cure(spec, b, options, t_days)
    sub = _Batch(np.ascontiguousarray(b.P[first]), b.X0[first].copy(), np.ascontiguousarray(b.doses[first]))
    if col is None:
        out = _log_cure(spec, sub, options, t_days)
        return None if out is None else out[inverse]
    tumour = spec.index(spec.tumour)
    sub.X0[:, tumour] = 1.0
    log_q = _log_cure(spec, sub, options, t_days)
    n0 = b.X0[:, tumour][:, None]
    with np.errstate(invalid="ignore"):  # no tumour: cured, whatever q (0 * -inf on day 0)
        return np.where(n0 > 0, log_q[inverse] * n0, 0.0)


def tabulated_applies(spec: ModelSpec, options: SimOptions) -> bool:
    """Whether :mod:`hybrid.tabulated` runs the batch: exact SSA of a tumour that is one linear birth–death
    species (Kendall's formula applies) and the only species going stochastic."""
    return (options.tabulated and options.method == "ssa" and spec.kendall_reactions is not None
            and tuple(spec.stochastic) == spec.tumour_species)


def _run_batch(spec: ModelSpec, b: _Batch, options: SimOptions,
               seeds: Sequence[SeedLike]) -> tuple[np.ndarray, np.ndarray | None]:
    """The engine's readouts (patients, R_SIZE) of the batch ``b``, one seed per patient, and, on the tabulated
    path, each patient's log P(cure by t_end) from the same solve (else None)."""
    n = b.P.shape[0]
    readouts = np.zeros((n, engine.R_SIZE))
    if n and tabulated_applies(spec, options):
        birth, death = spec.kendall_reactions
        log_cure = np.zeros(n)
        tabulated.run_batch_tabulated(spec.rates, b.P, spec.stoichiometry, spec.eligible, spec.index(spec.tumour),
                                      spec.index(spec.effector), birth, death, b.X0, _option_vector(options),
                                      float(options.progression_factor), b.doses, seed_states(seeds), readouts,
                                      log_cure)
        _check_solved(spec, b, readouts[:, engine.R_OUTCOME] == engine.OUTCOME_FAILED)
        return readouts, log_cure
    if n:
        engine.run_batch(spec.rates, b.P, spec.stoichiometry, spec.eligible, spec.tumour_mask,
                         spec.index(spec.effector), b.X0, _option_vector(options),
                         float(options.progression_factor), b.doses, seed_states(seeds), readouts)
        _check_solved(spec, b, readouts[:, engine.R_OUTCOME] == engine.OUTCOME_FAILED)
    return readouts, None


def simulate_batch(params: pd.DataFrame | Sequence[Parameters], seeds: Sequence[SeedLike],
                   options: SimOptions | None = None, model: str | ModelSpec | None = None,
                   exact: bool = True) -> pd.DataFrame:
    """Simulate one hybrid patient per row of ``params`` (a DataFrame with parameter-name columns, or a list
    of :class:`Parameters`) with the matching seed (an int or a ``SeedSequence``; one per patient).

    Returns one row per patient, in order, with the columns of :data:`RESULT_COLUMNS`: outcome
    (cure / progression / censored), t_event_days (t_end when censored), tumour nadir (cells) and its day,
    CAR T peak (cells) and its day, cart_auc_0_28 (cells * day), stochastic events and tau leaps taken, and
    p_cure_exact, the exact P(cure by t_end) (NaN when the tumour is not linear or ``exact`` is False). A
    model whose tumour is several clones adds ``relapse_type``: the clone that carried each progression."""
    options = options or SimOptions()
    spec = _model_of(model, params)
    b = _prepare(spec, params, options)
    n = b.P.shape[0]
    if len(seeds) != n:
        raise CartsimError(f"simulate_batch: {n} parameter rows but {len(seeds)} seeds")
    readouts, log_cure = _run_batch(spec, b, options, seeds)
    df = pd.DataFrame({col: readouts[:, k] for col, k in _READOUT_COLUMNS.items()})
    df.insert(0, "outcome", pd.Categorical.from_codes(readouts[:, engine.R_OUTCOME].astype(np.int64),
                                                      categories=list(engine.OUTCOME_NAMES)))
    df["n_events"] = df["n_events"].astype(np.int64)
    df["n_leaps"] = df["n_leaps"].astype(np.int64)
    if exact and n and log_cure is None:
        logp = _log_cure_distinct(spec, b, options, np.array([options.t_end]))
        log_cure = None if logp is None else logp[:, 0]
    df["p_cure_exact"] = np.exp(log_cure) if (exact and log_cure is not None) else np.nan
    relapse = _relapse_type(spec, readouts)
    if relapse is not None:
        df["relapse_type"] = relapse
    return df


def identical_outcomes(params: Parameters, seed: int, start: int, stop: int, options: SimOptions | None = None,
                       model: str | ModelSpec | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Patients ``start..stop-1`` of a cohort of identical ``params`` whose patient i draws from
    ``SeedSequence(seed).spawn(n)[i]`` (made here, so that a caller streaming a huge cohort never holds n of
    them): outcome codes (0 cure, 1 progression, 2 censored) and event days. A light worker function: it
    needs only this package."""
    options = options or SimOptions()
    spec = _model_of(model, params)
    b = _prepare(spec, [params] * (stop - start), options)
    seeds = SpawnedSeeds(seed, np.arange(start, stop))
    readouts, _ = _run_batch(spec, b, options, seeds)
    return readouts[:, engine.R_OUTCOME].astype(np.int8), readouts[:, engine.R_T_EVENT].copy()


def _run_single(spec: ModelSpec, b: _Batch, options: SimOptions, rec_t: np.ndarray,
                seed: SeedLike) -> tuple[np.ndarray, np.ndarray]:
    """Run the first patient of ``b`` recording the species at ``rec_t`` (NaN after the outcome)."""
    rec = np.full((rec_t.shape[0], len(spec.species)), np.nan)
    readouts = np.zeros(engine.R_SIZE)
    tumour = spec.tumour_mask
    prog_level = options.progression_factor * b.X0[0, tumour].sum()
    engine.run_patient(
        spec.rates, b.P[0], spec.stoichiometry, spec.eligible, tumour, spec.index(spec.effector), b.X0[0],
        _option_vector(options, float(prog_level)), b.doses[0], np.ascontiguousarray(rec_t, dtype=np.float64),
        rec, seed_states([seed])[0], readouts,
    )
    _check_solved(spec, b, np.array([readouts[engine.R_OUTCOME] == engine.OUTCOME_FAILED]))
    return readouts, rec


@dataclass(frozen=True)
class PatientResult:
    """Outcome and readouts of one hybrid patient (cells, days)."""

    outcome: str
    t_event_days: float
    nadir_cells: float
    nadir_day: float
    cart_peak_cells: float
    cart_peak_day: float
    cart_auc_0_28: float
    """CAR T area under the curve over days 0–28 (cells * day)."""
    n_events: int
    n_leaps: int
    p_cure_exact: float | None
    """Kendall's exact P(cure by t_end) for these parameters; None when the model is not linear in B."""
    trajectory: pd.DataFrame | None = None
    """Columns t_days and one per species (cells), sampled every options.record_dt days up to the outcome."""
    relapse_type: str | None = None
    """For a tumour of several clones: the clone that carried the progression."""

    def as_dict(self) -> dict:
        """The scalar readouts (no trajectory), JSON-ready."""
        out = {k: getattr(self, k) for k in RESULT_COLUMNS}
        if self.relapse_type is not None:
            out["relapse_type"] = self.relapse_type
        return out


def simulate_patient(params: Parameters, seed: SeedLike = 0, options: SimOptions | None = None,
                     model: str | ModelSpec | None = None, exact: bool = True) -> PatientResult:
    """Simulate one hybrid patient to cure, progression or the end of follow-up (options.t_end days).

    With ``options.record_dt`` the trajectory is kept, on the general path (the tabulated fast path records
    nothing): the same draws, so the same patient to the ODE tolerance."""
    options = options or SimOptions()
    spec = _model_of(model, params)
    if options.record_dt is None:
        row = simulate_batch([params], [seed], options, spec, exact).iloc[0]
        traj = None
    else:
        b = _prepare(spec, params, options)
        n_rec = int(np.floor(options.t_end / options.record_dt + 1e-9)) + 1
        rec_t = np.arange(n_rec, dtype=np.float64) * options.record_dt
        readouts, rec = _run_single(spec, b, options, rec_t, seed)
        row = {col: readouts[k] for col, k in _READOUT_COLUMNS.items()}
        row["outcome"] = engine.OUTCOME_NAMES[int(readouts[engine.R_OUTCOME])]
        relapse = _relapse_type(spec, readouts[None, :])
        if relapse is not None:
            row["relapse_type"] = relapse[0]
        logp = _log_cure(spec, b, options, np.array([options.t_end])) if exact else None
        row["p_cure_exact"] = float(np.exp(logp[0, 0])) if logp is not None else np.nan
        traj = pd.DataFrame(rec, columns=list(spec.species))
        traj.insert(0, "t_days", rec_t)
        traj = traj.dropna().reset_index(drop=True)
    p_exact = float(row["p_cure_exact"])
    return PatientResult(
        outcome=str(row["outcome"]),
        t_event_days=float(row["t_event_days"]),
        nadir_cells=float(row["nadir_cells"]),
        nadir_day=float(row["nadir_day"]),
        cart_peak_cells=float(row["cart_peak_cells"]),
        cart_peak_day=float(row["cart_peak_day"]),
        cart_auc_0_28=float(row["cart_auc_0_28"]),
        n_events=int(row["n_events"]),
        n_leaps=int(row["n_leaps"]),
        p_cure_exact=None if np.isnan(p_exact) else p_exact,
        trajectory=traj,
        relapse_type=row.get("relapse_type") or None,
    )


def cure_probability_exact(params: Parameters | pd.DataFrame | Sequence[Parameters],
                           t_days: float | np.ndarray = 730.0, options: SimOptions | None = None,
                           model: str | ModelSpec | None = None, log: bool = False):
    """Kendall's exact P(cure by t) for t in ``t_days`` (a float or an increasing array of days); with ``log``,
    its natural log, as the oracle computes it (no underflow for large tumours, full precision near 1).

    For one :class:`Parameters`: a float, or an array like ``t_days``. For several patients: an array with
    one row per patient (a vector when ``t_days`` is a float). None when the model is not linear in B."""
    options = options or SimOptions()
    spec = _model_of(model, params)
    t = np.atleast_1d(np.asarray(t_days, dtype=np.float64))
    if t.ndim != 1 or np.any(np.diff(t) < 0) or np.any(t < 0):
        raise CartsimError("t_days must be a day >= 0 or an increasing array of them")
    if spec.layer_of is not None:  # the layer acts on nothing the tumour sees: the parent's oracle, faster
        parent = _model_of(spec.layer_of, None)
        params, spec = _parent_params(params, parent), parent
    logp = _log_cure_distinct(spec, _prepare(spec, params, options), options, t)
    if logp is None:
        return None
    prob = logp if log else np.exp(logp)
    if np.ndim(t_days) == 0:
        prob = prob[:, 0]
    return prob[0] if isinstance(params, Parameters) else prob


def _parent_params(params, parent: ModelSpec):
    """The parent model's parameters of patients given for a model carrying a layer on it."""
    if isinstance(params, Parameters):
        return Parameters(parent, **{n: params[n] for n in parent.param_names})
    if isinstance(params, pd.DataFrame):
        return params[list(parent.param_names)]
    return [Parameters(parent, **{n: p[n] for n in parent.param_names}) for p in params]


def progression_free_exact(params: Parameters | pd.DataFrame | Sequence[Parameters], t_days: np.ndarray,
                           options: SimOptions | None = None, model: str | ModelSpec | None = None,
                           grid_days: float = 1.0) -> np.ndarray | None:
    """Exact-path probability that each patient is progression-free (neither cured counts as progression)
    at each day of ``t_days`` (increasing): (patients, len(t_days)); None when the model is not linear in B.

    From the oracle's one ODE solve per patient: Kendall's law of the tumour size gives P(B(t) < progression
    level) on a grid every ``grid_days`` days, and its running minimum is P(no progression by t). The running
    minimum is exact while the tumour, once above the level, stays there (regrowth) and catches an early
    deterministic overshoot; cure (B = 0) counts as progression-free, as in PFS."""
    options = options or SimOptions()
    spec = _model_of(model, params)
    t = np.asarray(t_days, dtype=np.float64)
    if t.ndim != 1 or np.any(np.diff(t) < 0) or np.any(t < 0):
        raise CartsimError("t_days must be an increasing array of days >= 0")
    if spec.kendall_reactions is None:
        return None
    grid = np.union1d(t, np.arange(0.0, float(t.max()) + grid_days, grid_days))
    rho, log_i, n0 = _tumour_law(spec, params, options, grid)
    pf = np.empty(rho.shape)
    progression_free(rho, log_i, n0, np.ascontiguousarray(options.progression_factor * n0), pf)
    return pf[:, np.searchsorted(grid, t)]


def _tumour_law(spec: ModelSpec, params, options: SimOptions, t_days: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kendall's moments rho(t), log I(t) at ``t_days`` (patients, days) and each patient's tumour at infusion
    (cells), from the oracle's one ODE solve per patient."""
    b = _prepare(spec, params, options)
    moments = np.empty((b.P.shape[0], t_days.shape[0], 2))
    _log_cure(spec, b, options, np.ascontiguousarray(t_days, dtype=np.float64), moments)
    return (np.ascontiguousarray(moments[:, :, 0]), np.ascontiguousarray(moments[:, :, 1]),
            np.ascontiguousarray(b.X0[:, spec.index(spec.tumour)]))


def tumour_below_exact(params: Parameters | pd.DataFrame | Sequence[Parameters], t_days: np.ndarray,
                       level: float | Sequence[float], options: SimOptions | None = None,
                       model: str | ModelSpec | None = None, relative: bool | Sequence[bool] = False
                       ) -> np.ndarray | None:
    """Exact-path probability that each patient's tumour holds fewer than ``level`` cells at each day of
    ``t_days`` (increasing): (patients, len(t_days)), or (patients, len(t_days), levels) for a sequence of
    levels, all from one ODE solve per patient; None when the model has no tumour-size law (not linear in B, or
    several tumour clones). A level is in cells or, where ``relative`` is true (one flag, or one per level), a
    multiple of the patient's tumour at infusion (0.354: a 50% fall of the product of two diameters).
    Kendall's law of the tumour size, as :func:`progression_free_exact` reads it; no running minimum."""
    options = options or SimOptions()
    spec = _model_of(model, params)
    t = np.asarray(t_days, dtype=np.float64)
    if t.ndim != 1 or np.any(np.diff(t) < 0) or np.any(t < 0):
        raise CartsimError("t_days must be an increasing array of days >= 0")
    levels = np.atleast_1d(np.asarray(level, dtype=np.float64))
    rel = np.broadcast_to(np.asarray(relative, dtype=bool), levels.shape)
    if levels.ndim != 1 or np.any(~np.isfinite(levels)) or np.any(levels <= 0):
        raise CartsimError(f"level must be one number > 0 or a sequence of them (cells, or times B0), "
                           f"got {level!r}")
    if spec.kendall_reactions is None:
        return None
    rho, log_i, n0 = _tumour_law(spec, params, options, t)
    out = np.empty((*rho.shape, levels.shape[0]))
    part = np.empty(rho.shape)
    for k, (lv, r) in enumerate(zip(levels, rel, strict=True)):
        below_level(rho, log_i, n0, np.ascontiguousarray(lv * n0 if r else np.full_like(n0, lv)), part)
        out[:, :, k] = part
    return out if np.ndim(level) else out[:, :, 0]


def mean_field(params: pd.DataFrame | Sequence[Parameters], t_days: np.ndarray, options: SimOptions | None = None,
               model: str | ModelSpec | None = None) -> np.ndarray:
    """The deterministic mean field of many patients at the days ``t_days`` (increasing, >= 0), in one kernel
    call: an array (patients, len(t_days), species) in cells, species in the model's order. Doses in
    ``options`` are applied."""
    options = options or SimOptions()
    spec = _model_of(model, params)
    t = np.ascontiguousarray(np.asarray(t_days, dtype=np.float64))
    if t.ndim != 1 or t.size == 0 or np.any(np.diff(t) <= 0) or t[0] < 0:
        raise CartsimError("t_days must be a non-empty increasing array of days >= 0")
    # the record ends at t[-1]: doses after it cannot change it
    t_end = max(float(t[-1]), 1e-9)
    options = dataclasses.replace(options, t_end=t_end, doses=tuple(d for d in options.doses if d.day < t_end))
    b = _prepare(spec, params, options)
    rec = np.full((b.P.shape[0], t.shape[0], len(spec.species)), np.nan)
    if b.P.shape[0]:
        engine.mean_field_batch(spec.rates, b.P, spec.stoichiometry, spec.tumour_mask,
                                spec.index(spec.effector), b.X0, _option_vector(options), b.doses, t, rec)
        _check_solved(spec, b, np.isnan(rec).any(axis=(1, 2)))
    # populations: the ODE may undershoot zero by its tolerance (-3.5e-31 cells); no count is negative
    return np.maximum(rec, 0.0)


def cytokine_readouts_over_burdens(params: pd.DataFrame, burdens: np.ndarray, t_days: np.ndarray,
                                   options: SimOptions | None = None, model: str | ModelSpec | None = None,
                                   il6_level: float = 1000.0) -> np.ndarray:
    """IL-6 readouts of a model that carries the cytokine layer (:mod:`hybrid.models.cytokines`) at each tumour
    burden (cells at infusion, replacing the patients' own): (patients, burdens, 3) of peak IL-6 (pg/mL), its day,
    and days above ``il6_level`` pg/mL, on the grid ``t_days`` (evenly spaced from 0).

    One mean-field solve per patient serves every burden: the tumour is linear and the layer acts on nothing, so
    the killing flux scales with the burden and only the layer's three species are integrated again (RK4 on the
    grid). Doses in ``options`` are applied."""
    from .models import cytokines

    args, burdens = _layer_over_burdens(params, burdens, t_days, options, model)
    out = np.empty((len(params), burdens.shape[0], 3))
    cytokines.readouts_over_burdens(*args, float(il6_level), out)
    return out


def cytokine_first_burden_reaching(params: pd.DataFrame, burdens: np.ndarray, t_days: np.ndarray,
                                   peak_level: float, options: SimOptions | None = None,
                                   model: str | ModelSpec | None = None, course: np.ndarray | None = None
                                   ) -> np.ndarray:
    """For each patient, the index of the first of the increasing tumour ``burdens`` (cells at infusion) at which
    its peak IL-6 on the grid ``t_days`` reaches ``peak_level`` (pg/mL); len(burdens) where none does. The same
    courses as :func:`cytokine_readouts_over_burdens` (peak IL-6 grows with the burden), found by bisection:
    about log2(len(burdens)) courses per patient instead of one per burden. ``course``: the mean field under the
    layer at the largest burden on ``t_days`` (:func:`layer_course`), where the caller has it; else solved."""
    from .models import cytokines

    if np.any(np.diff(np.asarray(burdens, dtype=np.float64)) <= 0):
        raise CartsimError(f"burdens must increase, got {burdens!r}")
    args, _ = _layer_over_burdens(params, burdens, t_days, options, model, course)
    out = np.empty(len(params), dtype=np.int64)
    cytokines.first_burden_reaching(*args, float(peak_level), out)
    return out


def layer_course(params: pd.DataFrame, burden: float, t_days: np.ndarray, options: SimOptions | None = None,
                 model: str | ModelSpec | None = None) -> np.ndarray:
    """The mean field under the cytokine layer of a model that carries it, at tumour ``burden`` (cells at
    infusion) on ``t_days``: (patients, days, the species before the layer's), in cells — the parent's mean field
    where the model declares one (the layer is not solved). For a linear tumour its effector does not depend on
    the burden, and the shared-burden readouts scale its killing flux from it."""
    from .models import cytokines

    options = options or SimOptions()
    spec = _layer_model(model, params)
    table = params[list(spec.param_names)].assign(**{spec.tumour_start: float(burden)})
    under = _model_of(spec.layer_of, None) if spec.layer_of is not None else spec
    rec = mean_field(table[list(under.param_names)], t_days, options, under)
    return np.ascontiguousarray(rec[:, :, :spec.index(cytokines.SPECIES[0])])


def _layer_model(model: str | ModelSpec | None, params) -> ModelSpec:
    """The model of the shared-burden readouts: a linear tumour, one start parameter, the layer carried."""
    from .models import cytokines

    spec = _model_of(model, params)
    if not spec.linear_tumour or any(sp not in spec.species for sp in cytokines.SPECIES):
        raise CartsimError(f"model {spec.name}: the shared-burden readouts need a linear tumour carrying the "
                           "cytokine layer (no feedback)")
    if spec.tumour_start is None:
        raise CartsimError(f"model {spec.name}: its tumour's start is not one parameter")
    return spec


def _layer_over_burdens(params: pd.DataFrame, burdens, t_days, options: SimOptions | None,
                        model: str | ModelSpec | None, course: np.ndarray | None = None
                        ) -> tuple[tuple, np.ndarray]:
    """The kernel arguments shared by the shared-burden cytokine readouts (rates, P, the parent's mean field at
    the largest burden, the layer's start, the grid, burden factors, sizes and indices) and the burdens."""
    from .models import cytokines

    options = options or SimOptions()
    spec = _layer_model(model, params)
    burdens = np.ascontiguousarray(np.asarray(burdens, dtype=np.float64))
    if burdens.ndim != 1 or burdens.size == 0 or np.any(~(burdens > 0)):
        raise CartsimError(f"burdens must be tumour cells > 0, got {burdens!r}")
    t = np.ascontiguousarray(np.asarray(t_days, dtype=np.float64))
    ref = float(burdens.max())
    table = params[list(spec.param_names)].assign(**{spec.tumour_start: ref})
    if course is None:
        course = layer_course(table, ref, t, options, spec)
    rec = np.ascontiguousarray(course)
    if rec.shape != (len(table), t.shape[0], spec.index(cytokines.SPECIES[0])):
        raise CartsimError(f"course has shape {rec.shape}; expected {(len(table), t.shape[0])} and the "
                           f"{spec.index(cytokines.SPECIES[0])} species under the layer (layer_course)")
    b = _prepare(spec, table, options)
    k0 = spec.index(cytokines.SPECIES[0])
    args = (spec.rates, b.P, rec, np.ascontiguousarray(b.X0[:, k0:k0 + 3]), t, burdens / ref, len(spec.species),
            list(spec.param_names).index(cytokines.PARAMS[0].name), list(spec.reactions).index(cytokines.REACTIONS[0]),
            len(spec.reactions))
    return args, burdens


def solve_trajectory(params: Parameters, t_days: np.ndarray, options: SimOptions | None = None,
                     model: str | ModelSpec | None = None) -> pd.DataFrame:
    """The deterministic mean field at the days ``t_days`` (increasing, >= 0): columns t_days and one per
    species, in cells. Doses in ``options`` are applied; ``options.rtol`` sets the accuracy."""
    spec = _model_of(model, params)
    t = np.asarray(t_days, dtype=np.float64)
    df = pd.DataFrame(mean_field([params], t, options, spec)[0], columns=list(spec.species))
    df.insert(0, "t_days", t)
    return df


def effector_per_ul(params: Parameters | pd.DataFrame | Sequence[Parameters], days: np.ndarray,
                    options: SimOptions | None = None, model: str | ModelSpec | None = None) -> np.ndarray:
    """Mean-field effector (CAR T) counts in cells/µL of blood (:func:`hybrid.units.cells_to_blood`) at
    ``days``: shape (patients, days), for one parameter set or many (as :func:`mean_field` takes them)."""
    from .units import cells_to_blood

    if isinstance(params, Parameters):
        params = [params]
    spec = _model_of(model, params)
    rec = mean_field(params, np.asarray(days, float), options, spec)
    return cells_to_blood(rec[:, :, spec.index(spec.effector)])

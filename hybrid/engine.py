"""The hybrid ODE–SSA kernel: one patient, any reaction model, in Numba.

Species that may go stochastic (``eligible``) are simulated as integer counts once they fall below
``threshold`` cells and return to the ODE when they regrow to ``up_threshold`` (hysteresis, so the switch does
not chatter). Reactions that touch a stochastic species fire as discrete events; all other reactions move
their species continuously.

Exactness: the propensities of stochastic reactions vary in time through the continuous species (C(t) in the
Kimmel model). The exact method integrates each propensity along the ODE solution (extra integrator
components) and fires the next event when the summed hazard reaches an Exp(1) draw, located on the dense
output; the reaction is chosen in proportion to the propensities at that instant. Nothing is frozen, so this is
exact up to the ODE tolerance. Tau-leaping (``method_tau``) draws Poisson numbers of firings with means equal to
the propensities integrated over the leap; the approximation is that the discrete state is held at its
expected mid-leap value during the leap (midpoint tau-leaping). It hands over to the exact method when any
stochastic species is below ``tau_critical`` cells or when a leap would hold fewer than ~10 events.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from .dosing import apply_doses, next_stop, reached
from .integrator import (
    CTX_AUC_ON,
    CTX_AUC_SPECIES,
    CTX_FAILED,
    NO_MASK,
    NO_REFCOUNT,
    RatesFn,
    adaptive_step,
    crossing,
    dense_all,
    dense_row,
    eval_rhs,
    extremum,
    next_step_size,
    sum_reach,
    workspace,
)
from .rng import exponential, poisson, uniform

OUTCOME_CURE = 0
OUTCOME_PROGRESSION = 1
OUTCOME_CENSORED = 2
OUTCOME_FAILED = 3  # the ODE gave up (integrator.MAX_REJECTED, or an overflowing solution): reported as an error
OUTCOME_NAMES = ("cure", "progression", "censored")

# Slots of the readout vector returned by ``run_patient``.
R_OUTCOME = 0
R_T_EVENT = 1  # day of cure or progression; t_end when censored
R_NADIR = 2  # smallest tumour size (cells)
R_NADIR_DAY = 3
R_PEAK = 4  # largest effector (CAR T) count (cells)
R_PEAK_DAY = 5
R_AUC = 6  # effector area under the curve up to auc_until (cells * day)
R_N_EVENTS = 7  # exact stochastic events fired
R_N_LEAPS = 8  # tau leaps taken
R_LEADING = 9  # the tumour species holding most cells at the outcome (a tumour of several clones)
R_SIZE = 10

# Slots of the option vector ``opt`` taken by ``run_patient``: the per-run settings (days, cells).
O_T_END = 0
O_THRESHOLD = 1  # a stochastic-eligible species goes stochastic below this many cells
O_UP_THRESHOLD = 2  # ... and back to the ODE at this many (hysteresis)
O_PROG_LEVEL = 3  # progression when the tumour reaches this many cells
O_METHOD_TAU = 4  # 1: tau-leaping while the stochastic species are large, 0: exact SSA throughout
O_TAU_EPS = 5
O_TAU_CRITICAL = 6
O_RTOL = 7
O_ATOL = 8
O_AUC_UNTIL = 9  # the effector's AUC is accumulated over [0, auc_until] days
O_SIZE = 10

_MIN_EVENTS_PER_LEAP = 10.0

_Rng = types.uint64[::1]  # xoshiro256** state, see rng.py
_f8 = types.float64
_i8 = types.int64
_b1 = types.boolean
_SIG = types.void(
    RatesFn,  # rates
    _f8[::1],  # p: parameters
    _f8[:, ::1],  # S: stoichiometry
    _b1[::1],  # eligible: species that may go stochastic
    _b1[::1],  # tumour: the species whose sum is the tumour
    _i8,  # effector
    _f8[::1],  # x0: initial state
    _f8[::1],  # opt: options, slots O_*
    _f8[:, ::1],  # doses: dose table, see dosing.py
    _f8[::1],  # rec_t: record times
    _f8[:, ::1],  # rec (out)
    _Rng,  # rng
    _f8[::1],  # readouts (out), slots R_*
)


@njit(cache=True)
def _reaction_modes(S, mode, rstoch):
    """Flag the reactions that touch a species in stochastic mode; return whether any does."""
    nr, ns = S.shape
    anyst = False
    for j in range(nr):
        st = False
        for i in range(ns):
            if mode[i] and S[j, i] != 0.0:
                st = True
        rstoch[j] = st
        anyst = anyst or st
    return anyst


@njit(cache=True)
def _refresh_modes(y, mode, eligible, threshold, up_threshold):
    """Move eligible species between the ODE and integer counts after a discrete change."""
    for i in range(mode.shape[0]):
        if not eligible[i]:
            continue
        if mode[i] and y[i] >= up_threshold:
            mode[i] = False
        elif (not mode[i]) and y[i] < threshold:
            mode[i] = True
            y[i] = np.floor(y[i] + 0.5)


@njit(cache=True)
def _reset_hazards(y, ns):
    for k in range(ns + 1, y.shape[0]):
        y[k] = 0.0


@njit(**NO_REFCOUNT)
def _stochastic_propensities(rates, p, rstoch, t, y, xs, a):
    """Fill ``a`` with every propensity at (t, y); return the sum over the stochastic reactions."""
    for i in range(xs.shape[0]):
        xs[i] = y[i]
    rates(t, xs, p, a)
    a0 = 0.0
    for j in range(a.shape[0]):
        if rstoch[j]:
            a0 += a[j]
    return a0


@njit(cache=True)
def tumour_size(y, tumour):
    """Cells in the tumour: the sum over the species flagged in ``tumour``."""
    size = 0.0
    for i in range(tumour.shape[0]):
        if tumour[i]:
            size += y[i]
    return size


@njit(cache=True)
def _selector(tumour):
    """(first tumour species, mask): the mask is empty when the tumour is one species, so that the integrator's
    (first, mask) functions take their one-component path (the common case costs no loop over species)."""
    first = -1
    count = 0
    for i in range(tumour.shape[0]):
        if tumour[i]:
            count += 1
            if first < 0:
                first = i
    return first, (np.zeros(0, dtype=np.bool_) if count == 1 else tumour)


@njit(cache=True, inline="always")
def _size(y, first, sel):
    return y[first] if sel.shape[0] == 0 else tumour_size(y, sel)


@njit(cache=True, inline="always")
def _all_stochastic(mode, first, sel):
    if sel.shape[0] == 0:
        return mode[first]
    for i in range(sel.shape[0]):
        if sel[i] and not mode[i]:
            return False
    return True


@njit(cache=True)
def _leading(y, tumour):
    """The tumour species holding most cells (the first on ties)."""
    best = -1
    for i in range(tumour.shape[0]):
        if tumour[i] and (best < 0 or y[i] > y[best]):
            best = i
    return best


@njit(cache=True)
def _decided(y, mode, first, sel, prog_level, t, readouts):
    """After a discrete change of the tumour: update the nadir and record cure or progression.
    Returns True when the patient's outcome is decided."""
    size = _size(y, first, sel)
    if size < readouts[R_NADIR]:
        readouts[R_NADIR] = size
        readouts[R_NADIR_DAY] = t
    if size <= 0.0 and _all_stochastic(mode, first, sel):
        readouts[R_OUTCOME] = OUTCOME_CURE
        readouts[R_T_EVENT] = t
        return True
    if size >= prog_level:
        readouts[R_OUTCOME] = OUTCOME_PROGRESSION
        readouts[R_T_EVENT] = t
        return True
    return False


@njit(cache=True)
def _record(rec_t, rec, irec, t_hi, y0, K, h, t0, ns):
    """Fill trajectory rows for record times in (t0, t_hi] from the dense output of the current step."""
    while irec < rec_t.shape[0] and rec_t[irec] < t_hi:
        th = (rec_t[irec] - t0) / h if h > 0 else 0.0
        dense_row(y0, K, h, min(max(th, 0.0), 1.0), rec[irec], ns)
        irec += 1
    return irec


@njit(cache=True)
def _record_point(rec_t, rec, irec, t, y, ns):
    while irec < rec_t.shape[0] and rec_t[irec] <= t:
        for i in range(ns):
            rec[irec, i] = y[i]
        irec += 1
    return irec


@njit(cache=True)
def _any_below(y, mode, level):
    """Whether a species in stochastic mode holds fewer than ``level`` cells."""
    for i in range(mode.shape[0]):
        if mode[i] and y[i] < level:
            return True
    return False


@njit(cache=True)
def _tau(S, mode, rstoch, a, y, eps):
    """Cao, Gillespie & Petzold (2006) leap size for first-order stochastic reactions."""
    nr, ns = S.shape
    tau = np.inf
    for i in range(ns):
        if not mode[i]:
            continue
        mu = 0.0
        sig = 0.0
        for j in range(nr):
            if rstoch[j] and S[j, i] != 0.0:
                mu += S[j, i] * a[j]
                sig += S[j, i] * S[j, i] * a[j]
        bound = max(eps * y[i], 1.0)
        if mu != 0.0:
            tau = min(tau, bound / abs(mu))
        if sig > 0.0:
            tau = min(tau, bound * bound / sig)
    return tau


@njit(**NO_REFCOUNT)
def _integrate_to(rates, p, S, rstoch, ctx, t, t_target, h, y, ynew, ytmp, K, xs, a, rtol, atol,
                  effector, rec_t, rec, irec, readouts):
    """Advance the ODE (and the hazard integrals) from t to t_target with no event checks; K[0] = f(t, y)
    on entry and on exit. Returns (t, next step size, record index)."""
    ns = S.shape[1]
    ny = y.shape[0]
    while t < t_target:
        hh = min(h, t_target - t)
        hh, err = adaptive_step(rates, p, S, rstoch, ctx, t, y, hh, K, ytmp, ynew, xs, a, rtol, atol)
        irec = _record(rec_t, rec, irec, t + hh, y, K, hh, t, ns)
        for k in range(ny):
            y[k] = ynew[k]
            K[0, k] = K[6, k]
        if ynew[effector] > readouts[R_PEAK]:
            readouts[R_PEAK] = ynew[effector]
            readouts[R_PEAK_DAY] = t + hh
        h = next_step_size(hh, err)
        t = t + hh if t_target - (t + hh) > 1e-12 * max(1.0, t_target) else t_target
    return t, h, irec


@njit(**NO_REFCOUNT)
def _tau_leap(rates, p, S, mode, rstoch, ctx, t, t_stop, h, y, ynew, ytmp, ysave, K, xs, a, opt, effector,
              rec_t, rec, irec, rng, readouts):
    """Try one midpoint tau leap from t (at most to t_stop). Returns (leapt, t, h, irec); when nothing was
    leapt the state is as on entry, with K[0] = f(t, y)."""
    nr, ns = S.shape
    ny = y.shape[0]
    IL = ns + 1
    a0 = _stochastic_propensities(rates, p, rstoch, t, y, xs, a)
    tau = _tau(S, mode, rstoch, a, y, opt[O_TAU_EPS])
    while a0 > 0.0 and tau * a0 >= _MIN_EVENTS_PER_LEAP:
        t_leap = min(t + tau, t_stop)
        for k in range(ny):
            ysave[k] = y[k]
        t_save, h_save, irec_save = t, h, irec
        # Midpoint tau-leaping (Gillespie 2001): the leap's hazards are integrated with the stochastic species
        # at their expected mid-leap values, which removes the first-order bias of freezing them at the start
        # (a shrinking tumour would be over-killed).
        _stochastic_propensities(rates, p, rstoch, t, y, xs, a)
        for i in range(ns):
            if mode[i]:
                drift = 0.0
                for j in range(nr):
                    if rstoch[j]:
                        drift += S[j, i] * a[j]
                y[i] = max(y[i] + 0.5 * (t_leap - t) * drift, 0.0)
        _reset_hazards(y, ns)
        eval_rhs(rates, p, S, rstoch, ctx, t, y, xs, a, K[0])
        t, h, irec = _integrate_to(rates, p, S, rstoch, ctx, t, t_leap, h, y, ynew, ytmp, K, xs, a,
                                   opt[O_RTOL], opt[O_ATOL], effector, rec_t, rec, irec, readouts)
        for i in range(ns):
            if mode[i]:
                y[i] = ysave[i]
        negative = False
        for j in range(nr):
            if rstoch[j]:
                nfire = poisson(rng, y[IL + j])
                if nfire > 0:
                    for i in range(ns):
                        y[i] += S[j, i] * nfire
        for i in range(ns):
            if mode[i] and y[i] < 0.0:
                negative = True
        if negative:
            for k in range(ny):
                y[k] = ysave[k]
            t, h, irec = t_save, h_save, irec_save
            tau *= 0.5
            continue
        return True, t, h, irec
    eval_rhs(rates, p, S, rstoch, ctx, t, y, xs, a, K[0])
    return False, t, h, irec


# What ends an ODE step early (the step's own code stays inside run_patient's loop: moved into a function it
# cost 5-15% of the Monte Carlo speed, measured with benchmarks.compare_trees).
_STEP_PLAIN = 0
_STEP_GOES_STOCHASTIC = 1
_STEP_PROGRESSION = 2
_STEP_EVENT = 3


@njit(_SIG, cache=True)
def run_patient(rates, p, S, eligible, tumour, effector, x0, opt, doses, rec_t, rec, rng, readouts):
    """Simulate one patient from day 0 to the first of cure, progression or ``opt[O_T_END]`` (days).

    Fills ``readouts`` (slots R_*) and the rows of ``rec`` for the record times ``rec_t`` reached before the
    outcome (other rows are left as the caller initialised them)."""
    nr, ns = S.shape
    IL = ns + 1  # first hazard integral in the state vector
    y, ynew, ytmp, K, xs, a, ctx = workspace(S, 0.0)
    ny = y.shape[0]
    ysave = np.zeros(ny)
    t_end, auc_until = opt[O_T_END], opt[O_AUC_UNTIL]
    threshold, up_threshold, prog_level = opt[O_THRESHOLD], opt[O_UP_THRESHOLD], opt[O_PROG_LEVEL]
    rtol, atol = opt[O_RTOL], opt[O_ATOL]
    ctx[CTX_AUC_SPECIES] = effector
    ctx[CTX_AUC_ON] = 1.0 if auc_until > 0.0 else 0.0
    mode = np.zeros(ns, dtype=np.bool_)
    rstoch = np.zeros(nr, dtype=np.bool_)
    first, sel = _selector(tumour)

    for i in range(ns):
        y[i] = x0[i]
    _refresh_modes(y, mode, eligible, threshold, up_threshold)
    any_st = _reaction_modes(S, mode, rstoch)

    t = 0.0
    readouts[R_OUTCOME] = OUTCOME_CENSORED
    readouts[R_T_EVENT] = t_end
    readouts[R_NADIR] = _size(y, first, sel)
    readouts[R_NADIR_DAY] = 0.0
    readouts[R_PEAK] = y[effector]
    readouts[R_PEAK_DAY] = 0.0
    readouts[R_N_EVENTS] = 0.0
    readouts[R_N_LEAPS] = 0.0
    irec = _record_point(rec_t, rec, 0, t, y, ns)
    idose = 0
    target = exponential(rng)
    eval_rhs(rates, p, S, rstoch, ctx, t, y, xs, a, K[0])
    h = 1e-3

    while True:
        # the next instant the integrator must land on exactly: a dose, the AUC cut-off or the end
        t_stop = next_stop(t_end, idose, doses)
        if ctx[CTX_AUC_ON] != 0.0 and auc_until < t_stop:
            t_stop = auc_until
        if reached(t, t_stop):
            t = t_stop
            if ctx[CTX_AUC_ON] != 0.0 and t >= auc_until:
                ctx[CTX_AUC_ON] = 0.0
            idose = apply_doses(y, t, idose, doses)
            for i in range(ns):
                if mode[i]:  # a dose into a stochastic species keeps it a whole number of cells
                    y[i] = np.floor(y[i] + 0.5)
            _refresh_modes(y, mode, eligible, threshold, up_threshold)
            any_st = _reaction_modes(S, mode, rstoch)
            irec = _record_point(rec_t, rec, irec, t, y, ns)
            if t >= t_end:
                break
            eval_rhs(rates, p, S, rstoch, ctx, t, y, xs, a, K[0])
            continue

        if opt[O_METHOD_TAU] != 0.0 and any_st and not _any_below(y, mode, opt[O_TAU_CRITICAL]):
            leapt, t, h, irec = _tau_leap(rates, p, S, mode, rstoch, ctx, t, t_stop, h, y, ynew, ytmp, ysave, K,
                                          xs, a, opt, effector, rec_t, rec, irec, rng, readouts)
            if leapt:
                readouts[R_N_LEAPS] += 1.0
                _reset_hazards(y, ns)
                if _decided(y, mode, first, sel, prog_level, t, readouts):
                    break
                _refresh_modes(y, mode, eligible, threshold, up_threshold)
                any_st = _reaction_modes(S, mode, rstoch)
                target = exponential(rng)
                eval_rhs(rates, p, S, rstoch, ctx, t, y, xs, a, K[0])
                continue

        # one adaptive ODE step, cut at the first event inside it
        hh = min(h, t_stop - t)
        hh, err = adaptive_step(rates, p, S, rstoch, ctx, t, y, hh, K, ytmp, ynew, xs, a, rtol, atol)
        h = next_step_size(hh, err)  # accuracy-limited: after a cut, the next step overshoots the next event
        # where in the step (theta in (0, 1]) the first of these happens: an eligible species crosses the
        # threshold, the tumour reaches the progression level, the summed hazard reaches the next event's target
        theta = 2.0
        kind = _STEP_PLAIN
        which = -1
        for i in range(ns):
            if eligible[i] and (not mode[i]) and ynew[i] < threshold:
                th = crossing(y, K, hh, i, threshold)
                if th < theta:
                    theta, kind, which = th, _STEP_GOES_STOCHASTIC, i
        if (not _all_stochastic(mode, first, sel)) and _size(ynew, first, sel) >= prog_level:
            th = sum_reach(y, K, hh, first if sel.shape[0] == 0 else 0, sel, prog_level)
            if th < theta:
                theta, kind = th, _STEP_PROGRESSION
        if any_st:
            total = 0.0
            for j in range(nr):
                if rstoch[j]:
                    total += ynew[IL + j]
            if total >= target:
                th = sum_reach(y, K, hh, IL, rstoch, target)
                if th < theta:
                    theta, kind = th, _STEP_EVENT
        th_end = min(theta, 1.0)
        t_new = t + th_end * hh
        irec = _record(rec_t, rec, irec, t_new, y, K, hh, t, ns)
        # readouts over the part of the step kept: effector peak, deterministic tumour nadir
        th_pk, v_pk = extremum(y, K, hh, effector, NO_MASK, th_end, 1.0)
        if v_pk > readouts[R_PEAK]:
            readouts[R_PEAK] = v_pk
            readouts[R_PEAK_DAY] = t + th_pk * hh
        if not _all_stochastic(mode, first, sel):
            th_nd, v_nd = extremum(y, K, hh, first, sel, th_end, -1.0)
            if v_nd < readouts[R_NADIR]:
                readouts[R_NADIR] = v_nd
                readouts[R_NADIR_DAY] = t + th_nd * hh
        if kind == _STEP_PLAIN:
            t = t_stop if reached(t_new, t_stop) else t_new
            for k in range(ny):
                y[k] = ynew[k]
                K[0, k] = K[6, k]
            continue
        dense_all(y, K, hh, theta, ytmp)
        for k in range(ny):
            y[k] = ytmp[k]
        t = t_new
        if kind == _STEP_PROGRESSION:
            readouts[R_OUTCOME] = OUTCOME_PROGRESSION
            readouts[R_T_EVENT] = t
            break
        if kind == _STEP_GOES_STOCHASTIC:
            y[which] = np.floor(threshold + 0.5) if threshold >= 0.5 else 1.0
            mode[which] = True
        else:
            # fire one stochastic reaction, chosen in proportion to the propensities at this instant
            a0 = _stochastic_propensities(rates, p, rstoch, t, y, xs, a)
            u = uniform(rng) * a0
            fired = -1
            acc = 0.0
            for j in range(nr):
                if rstoch[j]:
                    acc += a[j]
                    fired = j
                    if u < acc:
                        break
            for i in range(ns):
                y[i] += S[fired, i]
            readouts[R_N_EVENTS] += 1.0
            if _decided(y, mode, first, sel, prog_level, t, readouts):
                break
            _refresh_modes(y, mode, eligible, threshold, up_threshold)
        any_st = _reaction_modes(S, mode, rstoch)
        _reset_hazards(y, ns)
        target = exponential(rng)
        eval_rhs(rates, p, S, rstoch, ctx, t, y, xs, a, K[0])

    readouts[R_AUC] = y[ns]
    readouts[R_LEADING] = _leading(y, tumour)
    if ctx[CTX_FAILED] != 0.0:
        readouts[R_OUTCOME] = OUTCOME_FAILED


_BATCH_SIG = types.void(
    RatesFn, _f8[:, ::1], _f8[:, ::1], _b1[::1], _b1[::1], _i8, _f8[:, ::1], _f8[::1], _f8, _f8[:, :, ::1],
    types.uint64[:, ::1], _f8[:, ::1],
)


@njit(_BATCH_SIG, cache=True, nogil=True)  # nogil: threads of one process can run batches side by side
def run_batch(rates, P, S, eligible, tumour, effector, X0, opt, prog_factor, doses, states, readouts):
    """:func:`run_patient` for each row of P (parameters), X0 (initial state), doses (one dose table per
    patient), states (one generator state per patient) and readouts; progression at ``prog_factor`` times the
    patient's initial tumour (``opt[O_PROG_LEVEL]`` is ignored)."""
    rec_t = np.zeros(0)
    rec = np.zeros((0, S.shape[1]))
    o = opt.copy()
    for k in range(P.shape[0]):
        o[O_PROG_LEVEL] = prog_factor * tumour_size(X0[k], tumour)
        run_patient(rates, P[k], S, eligible, tumour, effector, X0[k], o, doses[k], rec_t, rec, states[k],
                    readouts[k])


_MEAN_FIELD_SIG = types.void(
    RatesFn, _f8[:, ::1], _f8[:, ::1], _b1[::1], _i8, _f8[:, ::1], _f8[::1], _f8[:, :, ::1], _f8[::1], _f8[:, :, ::1],
)


@njit(_MEAN_FIELD_SIG, cache=True, nogil=True)
def mean_field_batch(rates, P, S, tumour, effector, X0, opt, doses, rec_t, rec):
    """The deterministic mean field of each row of P at the days ``rec_t``, into ``rec`` (n, len(rec_t),
    n_species): every species on the ODE, no progression stop (``opt``'s threshold and progression slots are
    ignored)."""
    ns = S.shape[1]
    eligible = np.zeros(ns, dtype=np.bool_)
    o = opt.copy()
    o[O_PROG_LEVEL] = np.inf
    rng = np.ones(4, dtype=np.uint64)  # never drawn from: nothing is stochastic
    readouts = np.zeros(R_SIZE)
    for k in range(P.shape[0]):
        run_patient(rates, P[k], S, eligible, tumour, effector, X0[k], o, doses[k], rec_t, rec[k], rng, readouts)

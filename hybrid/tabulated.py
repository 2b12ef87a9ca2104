"""The fast path of the exact hybrid method: the tumour's hazards read off one tabulated mean-field solve.

When the tumour is one linear birth–death species (per-cell rates that do not depend on the tumour, a tumour
that acts on nothing: Kendall's formula applies), every other species follows the same deterministic path
whatever the tumour does. The per-cell cumulative hazards of birth and death, H_j(t) = int_0^t a_j(s) ds, are
then fixed functions of time, and so is the per-cell net growth R(t) = H_birth - H_death. The exact oracle's
forward solve (:func:`hybrid.oracle.kendall_solve`) already integrates them (rho = -R and S = H_birth + H_death)
with the effector and its area: kept step by step with the dense output, it is the table, and the same solve
gives the patient's exact P(cure). A patient is then a walk along that table:

- stochastic, n cells: the next event is where n (H(t) - H(t_a)) reaches an Exp(1) draw (H the summed hazard,
  monotone), a root of the step's dense polynomial; the reaction is chosen in proportion to the per-cell rates
  (slopes of the H_j) at that instant;
- deterministic, from B_a cells at t_a: B(t) = B_a exp(R(t) - R(t_a)), which crosses the threshold or the
  progression level where R does, also a root of a dense polynomial.

This is the general engine's algorithm (:func:`hybrid.engine.run_patient`) with the same random draws in the
same order and the same outcome logic (``_decided``, ``_refresh_modes``), so both agree to the ODE tolerance;
only the integrator work moves out of the per-patient loop. Identical patients share one table.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from .engine import (
    O_ATOL,
    O_AUC_UNTIL,
    O_PROG_LEVEL,
    O_RTOL,
    O_T_END,
    O_THRESHOLD,
    O_UP_THRESHOLD,
    OUTCOME_CENSORED,
    OUTCOME_FAILED,
    OUTCOME_PROGRESSION,
    R_AUC,
    R_LEADING,
    R_N_EVENTS,
    R_N_LEAPS,
    R_NADIR,
    R_NADIR_DAY,
    R_OUTCOME,
    R_PEAK,
    R_PEAK_DAY,
    R_T_EVENT,
    _decided,
    _refresh_modes,
)
from .integrator import (
    NO_MASK,
    RatesFn,
    _level_root,
    _quartic,
    crossing,
    dense,
    dense_slope,
    extremum,
    segment_stride,
)
from .oracle import kendall_solve
from .rng import exponential, uniform

# The tabulated components of each record (the record is t0, h, then these at t0 and their 7 stage slopes).
H_TOTAL = 0  # summed per-cell hazard of the tumour reactions (events per cell)
H_NET = 1  # per-cell net growth R(t): log of the mean-field growth factor of one tumour cell
H_EFFECTOR = 2  # the effector (cells)
H_AUC = 3  # the effector's area since day 0 (cells * day)
H_REACTION0 = 4  # per-cell hazard of each tumour reaction, in reaction order


@njit(cache=True)
def hazard_table(raw, ns, tr, birth, effector):
    """The table of a patient from the steps of its Kendall solve (:func:`hybrid.oracle.kendall_solve` with
    ``keep``; state layout in :mod:`hybrid.integrator`): (n, segment_stride(m)) records, each t0, h, the m
    tabulated components (H_*) at t0 and their 7 stage slopes, so that :func:`hybrid.integrator.dense` reads
    any of them anywhere in the step. Kendall's rho = int (mu - lambda) and S = int (lambda + mu) give the
    per-cell hazards of birth (S - rho) / 2 and death (S + rho) / 2, in the order of ``tr`` (the two
    reactions)."""
    n = raw.shape[0]
    ny = (raw.shape[1] - 2) // 8
    m = H_REACTION0 + 2
    recs = np.empty((n, segment_stride(m)))
    ir, isum = ns + 1, ns + 3
    for k in range(n):
        recs[k, 0] = raw[k, 0]
        recs[k, 1] = raw[k, 1]
        for r in range(8):  # the state at t0, then the 7 stage rows
            src = 2 + r * ny
            dst = 2 + r * m
            rho, tot = raw[k, src + ir], raw[k, src + isum]
            recs[k, dst + H_TOTAL] = tot
            recs[k, dst + H_NET] = -rho
            recs[k, dst + H_EFFECTOR] = raw[k, src + effector]
            recs[k, dst + H_AUC] = raw[k, src + ns]
            for q in range(tr.shape[0]):
                recs[k, dst + H_REACTION0 + q] = 0.5 * (tot - rho) if tr[q] == birth else 0.5 * (tot + rho)
    return recs


@njit(cache=True, inline="always")
def _step(recs, k, m):
    """Record k as (t0, h, components at t0, stage slopes (7, m)) views."""
    return recs[k, 0], recs[k, 1], recs[k, 2:2 + m], recs[k, 2 + m:].reshape((7, m))


@njit(cache=True)
def table_summaries(recs, m, effector0, auc_until):
    """What every patient of a table reads: the summed hazard's polynomial in each step (n, 5) and its value at
    the step's end (n), the effector's peak (value, day) before each step (n, 2), and the area at auc_until."""
    n = recs.shape[0]
    tot_c = np.empty((n, 5))
    s_end = np.empty(n)
    peaks = np.empty((n, 2))
    pv, pd = effector0, 0.0
    auc_cut = 0.0
    for k in range(n):
        t0, h, y0, Kk = _step(recs, k, m)
        tot_c[k] = _quartic(y0, Kk, h, H_TOTAL, NO_MASK)
        s_end[k] = dense(y0, Kk, h, 1.0, H_TOTAL)
        peaks[k, 0] = pv
        peaks[k, 1] = pd
        th, v = extremum(y0, Kk, h, H_EFFECTOR, NO_MASK, 1.0, 1.0)
        if v > pv:
            pv, pd = v, t0 + th * h
        if t0 <= auc_until:
            auc_cut = dense(y0, Kk, h, min(max((auc_until - t0) / h, 0.0), 1.0), H_AUC)
    return tot_c, s_end, peaks, auc_cut


@njit(cache=True)
def run_tabulated(recs, tot_c, s_end, peaks, auc_cut, S, tr, tumour, eligible, x0, opt, rng, readouts):
    """One patient along a hazard table (see the module docstring): the readouts of
    :func:`hybrid.engine.run_patient` (slots R_*), drawing from ``rng`` in the same order."""
    ns = S.shape[1]
    nt = tr.shape[0]
    m = H_REACTION0 + nt
    n = recs.shape[0]
    t_end, threshold, up_threshold = opt[O_T_END], opt[O_THRESHOLD], opt[O_UP_THRESHOLD]
    prog_level = opt[O_PROG_LEVEL]
    ys = np.zeros(ns)
    mode = np.zeros(ns, dtype=np.bool_)
    ys[tumour] = x0[tumour]
    _refresh_modes(ys, mode, eligible, threshold, up_threshold)
    readouts[R_OUTCOME] = OUTCOME_CENSORED
    readouts[R_T_EVENT] = t_end
    readouts[R_NADIR] = ys[tumour]
    readouts[R_NADIR_DAY] = 0.0
    readouts[R_N_EVENTS] = 0.0
    readouts[R_N_LEAPS] = 0.0
    target = exponential(rng)
    k = 0  # position: step k of the table, at theta
    th = 0.0
    s_here = 0.0  # summed per-cell hazard at the position (stochastic phases)
    if mode[tumour] and n > 0:
        s_here = dense(recs[0, 2:2 + m], recs[0, 2 + m:].reshape((7, m)), recs[0, 1], 0.0, H_TOTAL)
    decided = False
    while k < n and not decided:
        if mode[tumour]:
            level = s_here + target / ys[tumour]
            while k < n and s_end[k] < level:
                k += 1
                th = 0.0
            if k == n:
                break
            t0, h, y0, Kk = _step(recs, k, m)
            th = _level_root(tot_c[k], level, th)
            t = t0 + th * h
            s_here = level
            # fire one reaction, chosen in proportion to the per-cell rates at this instant
            a0 = 0.0
            for q in range(nt):
                a0 += dense_slope(Kk, th, H_REACTION0 + q)
            u = uniform(rng) * a0
            fired = -1
            acc = 0.0
            for q in range(nt):
                acc += dense_slope(Kk, th, H_REACTION0 + q)
                fired = q
                if u < acc:
                    break
            ys[tumour] += S[tr[fired], tumour]
            readouts[R_N_EVENTS] += 1.0
            if _decided(ys, mode, tumour, NO_MASK, prog_level, t, readouts):
                decided = True
                break
            _refresh_modes(ys, mode, eligible, threshold, up_threshold)
            target = exponential(rng)
            continue
        # deterministic: B(t) = B_a exp(R(t) - R_a) until it crosses the threshold or the progression level
        b_a = ys[tumour]
        t0, h, y0, Kk = _step(recs, k, m)
        r_a = dense(y0, Kk, h, th, H_NET)
        level_down = r_a + np.log(threshold / b_a)
        level_up = r_a + np.log(prog_level / b_a)
        while k < n:
            t0, h, y0, Kk = _step(recs, k, m)
            r_end = dense(y0, Kk, h, 1.0, H_NET)
            theta = 2.0
            goes_stochastic = False
            if eligible[tumour] and r_end < level_down:
                theta = crossing(y0, Kk, h, H_NET, level_down, th)
                goes_stochastic = True
            if r_end >= level_up:
                thp = crossing(y0, Kk, h, H_NET, level_up, th)
                if thp < theta:
                    theta = thp
                    goes_stochastic = False
            th_end = min(theta, 1.0)
            # the deterministic nadir over the part of the step kept (a phase that starts inside a step starts at
            # its own value, which the nadir already holds)
            if th == 0.0:
                th_nd, v_nd = extremum(y0, Kk, h, H_NET, NO_MASK, th_end, -1.0)
            else:
                th_nd, v_nd = th_end, dense(y0, Kk, h, th_end, H_NET)
            b_nd = b_a * np.exp(v_nd - r_a)
            if b_nd < readouts[R_NADIR]:
                readouts[R_NADIR] = b_nd
                readouts[R_NADIR_DAY] = t0 + th_nd * h
            if theta > 1.0:
                k += 1
                th = 0.0
                continue
            th = theta
            t = t0 + th * h
            if not goes_stochastic:
                readouts[R_OUTCOME] = OUTCOME_PROGRESSION
                readouts[R_T_EVENT] = t
                decided = True
                break
            ys[tumour] = np.floor(threshold + 0.5) if threshold >= 0.5 else 1.0
            mode[tumour] = True
            target = exponential(rng)
            s_here = dense(y0, Kk, h, th, H_TOTAL)
            break
    # readouts up to the outcome: the effector's peak and area from the table
    if not decided:
        k, th = n - 1, 1.0
    if n > 0:
        t0, h, y0, Kk = _step(recs, k, m)
        pv, pd = peaks[k, 0], peaks[k, 1]
        th_pk, v_pk = extremum(y0, Kk, h, H_EFFECTOR, NO_MASK, th, 1.0)
        if v_pk > pv:
            pv, pd = v_pk, t0 + th_pk * h
        readouts[R_PEAK] = pv
        readouts[R_PEAK_DAY] = pd
        t_out = readouts[R_T_EVENT]
        readouts[R_AUC] = auc_cut if t_out >= opt[O_AUC_UNTIL] else dense(y0, Kk, h, th, H_AUC)
    readouts[R_LEADING] = tumour


@njit(cache=True)
def _same_patient(P, X0, doses, k, j):
    """Whether patients k and j have the same parameters, initial state and doses (then one table serves)."""
    for i in range(P.shape[1]):
        if P[k, i] != P[j, i]:
            return False
    for i in range(X0.shape[1]):
        if X0[k, i] != X0[j, i]:
            return False
    if doses[k].shape != doses[j].shape:
        return False
    for r in range(doses.shape[1]):
        for c in range(doses.shape[2]):
            if doses[k, r, c] != doses[j, r, c]:
                return False
    return True


_f8 = types.float64
_i8 = types.int64
_BATCH_SIG = types.void(
    RatesFn, _f8[:, ::1], _f8[:, ::1], types.boolean[::1], _i8, _i8, _i8, _i8, _f8[:, ::1], _f8[::1], _f8,
    _f8[:, :, ::1], types.uint64[:, ::1], _f8[:, ::1], _f8[::1],
)


@njit(_BATCH_SIG, cache=True, nogil=True)
def run_batch_tabulated(rates, P, S, eligible, tumour, effector, birth, death, X0, opt, prog_factor, doses, states,
                        readouts, log_cure):
    """:func:`run_tabulated` for each row of P, X0, doses, states and readouts (as
    :func:`hybrid.engine.run_batch`), and log P(cure by t_end) (Kendall's formula) of each patient into
    ``log_cure``: one Kendall solve serves each run of identical patients."""
    ns = S.shape[1]
    m = H_REACTION0 + 2
    tr = np.array([min(birth, death), max(birth, death)], dtype=np.int64)
    o = opt.copy()
    t_eval = np.array([opt[O_T_END]])
    out = np.zeros(1)
    no_moments = np.zeros((0, 2))
    recs = np.zeros((0, segment_stride(m)))
    tot_c = np.zeros((0, 5))
    s_end = np.zeros(0)
    peaks = np.zeros((0, 2))
    auc_cut = 0.0
    for k in range(P.shape[0]):
        if k == 0 or not _same_patient(P, X0, doses, k, k - 1):
            raw = kendall_solve(rates, P[k], S, tumour, birth, death, effector, X0[k], opt[O_RTOL], opt[O_ATOL],
                                doses[k], t_eval, out, no_moments, True)
            recs = hazard_table(raw, ns, tr, birth, effector)
            tot_c, s_end, peaks, auc_cut = table_summaries(recs, m, X0[k, effector], opt[O_AUC_UNTIL])
        log_cure[k] = out[0]
        if np.isnan(out[0]):  # the solve gave up (integrator.MAX_REJECTED): no table to walk
            readouts[k, R_OUTCOME] = OUTCOME_FAILED
            continue
        o[O_PROG_LEVEL] = prog_factor * X0[k, tumour]
        run_tabulated(recs, tot_c, s_end, peaks, auc_cut, S, tr, tumour, eligible, X0[k], o, states[k],
                      readouts[k])

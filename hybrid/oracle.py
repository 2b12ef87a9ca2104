"""Exact P(cure): Kendall's (1948) formula for a tumour of one species, and the backward equations of a
multi-type linear branching process for a tumour of several clones.

One species, a time-varying linear birth–death process.

With per-cell birth rate lambda(t) and death rate mu(t) along the ODE solution of the other species::

    rho(t) = int_0^t (mu - lambda) ds
    P(all n0 lineages extinct by t) = [1 - 1 / (exp(rho(t)) + int_0^t lambda(s) exp(rho(s)) ds)]^n0

The integral is carried as I(t) * exp(-s) with a running log-scale s, and the result as a log-probability, so
that a tumour of ~1e11 cells and rho ~ +-100 are harmless. Valid only for models with ``linear_tumour``.

Several species (clones; e.g. antigen-positive cells that give rise to antigen-negative ones). Given the other
species' mean field, the clones form a multi-type branching process: a cell of type i fires reaction j at
per-cell rate a_ij(t), leaving offspring m_j (the parent plus the reaction's change). Let u_i(t; T) be the
probability that one type-i cell at time t has descendants alive at T. Conditioning on the first thing that
happens to it in [t, t + dt] gives the backward Kolmogorov equations

    -du_i/dt = sum_j a_ij(t) [1 - prod_k (1 - u_k)^m_jk - u_i],   u_i(T; T) = 1,

and, lineages being independent, P(all extinct by T) = prod_i (1 - u_i(0; T))^n_i (n_i cells of type i at
day 0). With one type, birth rate lambda and death rate mu this is Kendall's Riccati equation
du/dt = (mu - lambda) u + lambda u^2 and gives the formula above. The equations are solved backwards from T
along the mean field, which a forward solve stores step by step (its dense output), stopping at the doses.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from .dosing import apply_doses, next_stop, reached
from .integrator import (
    BR_CURSOR,
    BR_NROWS,
    BR_NTYPES,
    BR_SEG0,
    BR_SEG_HI,
    BR_SEG_LO,
    BR_T,
    BR_TYPES,
    CTX_AUC_ON,
    CTX_AUC_SPECIES,
    CTX_BIRTH,
    CTX_DEATH,
    CTX_FAILED,
    CTX_KIND,
    CTX_LOG_SCALE,
    CTX_TUMOUR,
    KIND_BRANCHING,
    KIND_HYBRID,
    KIND_KENDALL,
    NO_REFCOUNT,
    RatesFn,
    adaptive_branching_step,
    adaptive_step,
    branching_rhs,
    dense_at,
    dense_weights,
    eval_rhs,
    next_step_size,
    segment_stride,
    workspace,
)

_f8 = types.float64
_i8 = types.int64


@njit(**NO_REFCOUNT)
def forward_move(rates, p, S, rstoch, ctx, t, t_end, idose, doses, h, y, ynew, ytmp, K, xs, a, rtol, atol, reset):
    """One move of a forward solve through the doses: on a dose day, apply what is due, set the species flagged
    in ``reset`` to 0 and refresh K[0] (returns stepped False, t on the day); otherwise one adaptive step from
    t, its candidate in ynew and K (stepped True). Returns (stepped, t, idose, step size, error, end of the step)."""
    t_stop = next_stop(t_end, idose, doses)
    if reached(t, t_stop):
        idose = apply_doses(y, t_stop, idose, doses)
        for i in range(reset.shape[0]):
            if reset[i]:
                y[i] = 0.0
        eval_rhs(rates, p, S, rstoch, ctx, t_stop, y, xs, a, K[0])
        return False, t_stop, idose, 0.0, 0.0, t_stop
    hh = min(h, t_stop - t)
    hh, err = adaptive_step(rates, p, S, rstoch, ctx, t, y, hh, K, ytmp, ynew, xs, a, rtol, atol)
    return True, t, idose, hh, err, (t_stop if reached(t + hh, t_stop) else t + hh)


@njit(cache=True)
def keep_step(recs, n, t, h, y, K, nc):
    """Store step n as record n of ``recs`` (t0, h, the first nc components of y and of the 7 stage rows of K:
    segment_stride(nc) numbers), doubling ``recs`` when it is full; returns ``recs``."""
    if n == recs.shape[0]:
        grown = np.empty((max(2 * n, 16), recs.shape[1]))
        grown[:n] = recs
        recs = grown
    recs[n, 0] = t
    recs[n, 1] = h
    for i in range(nc):
        recs[n, 2 + i] = y[i]
        for j in range(7):
            recs[n, 2 + nc + j * nc + i] = K[j, i]
    return recs


ORACLE_FLOOR = 1e-2
"""A species' relative accuracy is kept in the oracle's solve while it holds more than this share of its peak
so far (times rtol: 1e-8 of the peak at the default rtol 1e-6)."""


@njit(cache=True)
def oracle_floors(floors, y, ns, rtol, atol):
    """Update the per-component absolute tolerances of the oracle's solve at the state y (see
    :func:`kendall_solve`): species ORACLE_FLOOR * rtol * their peak so far, rho ``rtol`` (its error is the
    relative error of e^rho), I relative (``atol``), the table's hazard sum (ns + 3) left uncontrolled."""
    for i in range(ns):
        floors[i] = max(floors[i], ORACLE_FLOOR * rtol * abs(y[i]))
    floors[ns + 1] = rtol
    floors[ns + 2] = atol
    floors[ns + 3] = 1e300


@njit(cache=True)
def _log_extinction(rho, log_i_scaled, scale, n0):
    """n0 * log(1 - 1/(e^rho + I)) with I = exp(log_i_scaled + scale), in a stable form."""
    li = log_i_scaled + scale
    m = max(rho, li)
    log_denom = m + np.log(np.exp(rho - m) + np.exp(li - m))
    return n0 * np.log1p(-np.exp(-log_denom))


EXTINCT_LOG = 100.0
"""The oracle's solve stops once log(e^rho + I) reaches this: one cell's lineage is then extinct with probability
at least 1 - e^-100 (~4e-44), and extinction is for good, so P(extinct by any later day) lies between the
probability at that day and 1, and so does the tumour's law below any level (every reading the exact path takes
from rho and I). Holding the readings from then on errs by at most n0 e^-100 in probability: below 1e-30 for
any tumour of fewer than 1e13 cells, and for a log-probability per cell scaled by the burden afterwards (the
dosing grid). A cured patient's solve then skips the late, stability-limited steps."""


@njit(cache=True, inline="always")
def surely_extinct(rho, i_scaled, log_scale):
    """Whether log(e^rho + I) >= EXTINCT_LOG, with I = i_scaled e^log_scale (either term alone suffices)."""
    return rho >= EXTINCT_LOG or (i_scaled > 0.0 and np.log(i_scaled) + log_scale >= EXTINCT_LOG)


@njit(cache=True)
def kendall_solve(rates, p, S, tumour, birth, death, effector, x0, rtol, atol, doses, t_eval, out, moments, keep):
    """The forward solve of Kendall's formula: log P(tumour extinct by t) for each t in the sorted array
    ``t_eval`` (days), written to ``out``; doses as in :mod:`hybrid.dosing`. If ``moments`` has rows, row k
    receives rho(t_k) and log I(t_k), which fix the whole distribution of the tumour size at t_k (see
    :func:`hybrid.tumour_law`), instead (``out`` is then left as given: the callers that want the law read it
    on a grid of hundreds of days, where log P's transcendentals were a third of the solve). With ``keep``,
    returns every step as a record (t0, h, y at t0, the 7 stage rows of K), which the tabulated fast path reads
    (:mod:`hybrid.tabulated`); else an empty array. The effector's area since day 0 and the summed hazard
    are integrated for that table only.

    Without ``keep`` the solve ends once the tumour is surely extinct (:data:`EXTINCT_LOG`); the table runs on to
    the end, the Monte Carlo reads N and C from it.

    Error control: with ``keep``, every component relative to ``rtol`` (above ``atol``), as the table's hazards
    need. Without, the control follows what the result depends on (:func:`oracle_floors`): rho absolutely
    near zero, a species relative to ``rtol`` only above ORACLE_FLOOR times its peak so far (a C of a few cells
    after a peak of 1e10 moves rho by ~1e-9 a day, but held to relative accuracy it cost a third of the steps),
    the table's extra components not at all; measured against a rtol-1e-12 solve by
    ``benchmarks.compare_trees --workload exact``."""
    nr, ns = S.shape
    IR = ns + 1
    II = ns + 2
    y, ynew, ytmp, K, xs, a, ctx = workspace(S, KIND_KENDALL)
    ny = y.shape[0]
    ctx[CTX_TUMOUR] = tumour
    ctx[CTX_BIRTH] = birth
    ctx[CTX_DEATH] = death
    ctx[CTX_AUC_SPECIES] = effector
    ctx[CTX_AUC_ON] = 1.0 if keep else 0.0
    rstoch = np.zeros(nr, dtype=np.bool_)
    for i in range(ns):
        y[i] = x0[i]
    n0 = x0[tumour]
    floors = np.full(ny, atol)
    if not keep:
        oracle_floors(floors, y, ns, rtol, atol)
    recs = np.empty((128 if keep else 0, segment_stride(ny)))
    nrec = 0
    t = 0.0
    ie = 0
    idose = 0
    keep_moments = moments.shape[0] > 0
    wts = np.empty(7)
    while ie < t_eval.shape[0] and t_eval[ie] <= 0.0:
        out[ie] = -np.inf if n0 > 0 else 0.0
        if keep_moments:
            moments[ie, 0] = 0.0
            moments[ie, 1] = -np.inf
        ie += 1
    t_end = t_eval[t_eval.shape[0] - 1] if t_eval.shape[0] > 0 else 0.0
    eval_rhs(rates, p, S, rstoch, ctx, t, y, xs, a, K[0])
    h = 1e-3
    no_reset = np.zeros(0, dtype=np.bool_)
    while t < t_end:
        stepped, t, idose, hh, err, t_new = forward_move(rates, p, S, rstoch, ctx, t, t_end, idose, doses, h, y,
                                                         ynew, ytmp, K, xs, a, rtol, floors, no_reset)
        if not stepped:
            continue
        if not keep:
            oracle_floors(floors, ynew, ns, rtol, atol)
        if keep:
            recs = keep_step(recs, nrec, t, hh, y, K, ny)
            nrec += 1
        while ie < t_eval.shape[0] and t_eval[ie] <= t_new:
            dense_weights(min(max((t_eval[ie] - t) / hh, 0.0), 1.0), wts)
            rho = dense_at(y, K, hh, wts, IR)
            log_i = np.log(max(dense_at(y, K, hh, wts, II), 1e-300))
            if keep_moments:
                moments[ie, 0] = rho
                moments[ie, 1] = log_i + ctx[CTX_LOG_SCALE]
            else:
                out[ie] = _log_extinction(rho, log_i, ctx[CTX_LOG_SCALE], n0)
            ie += 1
        for k in range(ny):
            y[k] = ynew[k]
            K[0, k] = K[6, k]
        t = t_new
        if not keep and surely_extinct(y[IR], y[II], ctx[CTX_LOG_SCALE]):
            break  # the readings after t are the ones at t (below), to n0 e^-EXTINCT_LOG
        h = next_step_size(hh, err)
        # keep exp(rho - s) of order one; I and its derivative scale together, so K[0] stays valid
        if y[IR] - ctx[CTX_LOG_SCALE] > 30.0:
            shift = y[IR] - ctx[CTX_LOG_SCALE]
            ctx[CTX_LOG_SCALE] = y[IR]
            f = np.exp(-shift)
            y[II] *= f
            K[0, II] *= f
    while ie < t_eval.shape[0]:
        if keep_moments:
            moments[ie, 0] = y[IR]
            moments[ie, 1] = np.log(max(y[II], 1e-300)) + ctx[CTX_LOG_SCALE]
        else:
            out[ie] = _log_extinction(y[IR], np.log(max(y[II], 1e-300)), ctx[CTX_LOG_SCALE], n0)
        ie += 1
    if ctx[CTX_FAILED] != 0.0:  # the solve gave up: NaN, which the Python entry points report as an error
        out[:] = np.nan
        if keep_moments:
            moments[:] = np.nan
    return recs[:nrec]


_BATCH_SIG = types.void(
    RatesFn, _f8[:, ::1], _f8[:, ::1], _i8, _i8, _i8, _i8, _f8[:, ::1], _f8, _f8, _f8[:, :, ::1], _f8[::1],
    _f8[:, ::1], _f8[:, :, ::1],
)


@njit(_BATCH_SIG, cache=True, nogil=True)  # nogil: threads of one process solve batches side by side
def log_extinction_batch(rates, P, S, tumour, birth, death, effector, X0, rtol, atol, doses, t_eval, out, moments):
    """log P(tumour extinct by t) (Kendall's formula, :func:`kendall_solve`) for each row of P, X0, doses (one
    dose table per patient), out and moments (shape (n, 0, 2) when not wanted)."""
    for k in range(P.shape[0]):
        kendall_solve(rates, P[k], S, tumour, birth, death, effector, X0[k], rtol, atol, doses[k], t_eval, out[k],
                      moments[k], False)


@njit(cache=True)
def _mean_field_records(rates, p, S, tumour, x0, rtol, atol, doses, t_end):
    """Forward solve of the non-tumour species to t_end (the tumour, acting on nothing, is left at 0), keeping
    every step's dense output: (records (n, segment_stride), first record of each stretch between doses,
    first day of each stretch)."""
    nr, ns = S.shape
    stride = segment_stride(ns)
    y, ynew, ytmp, K, xs, a, ctx = workspace(S, KIND_HYBRID)
    ny = y.shape[0]
    rstoch = np.zeros(nr, dtype=np.bool_)
    for i in range(ns):
        y[i] = 0.0 if tumour[i] else x0[i]
    recs = np.empty((256, stride))
    n = 0
    starts = np.zeros(doses.shape[0] + 1, dtype=np.int64)
    days = np.zeros(doses.shape[0] + 1)
    nst = 1
    t = 0.0
    idose = 0
    eval_rhs(rates, p, S, rstoch, ctx, t, y, xs, a, K[0])
    h = 1e-3
    while t < t_end:
        stepped, t, idose, hh, err, t_new = forward_move(rates, p, S, rstoch, ctx, t, t_end, idose, doses, h, y,
                                                          ynew, ytmp, K, xs, a, rtol, atol, tumour)
        if not stepped:
            starts[nst] = n
            days[nst] = t
            nst += 1
            continue
        recs = keep_step(recs, n, t, hh, y, K, ns)
        n += 1
        t = t_new
        for k in range(ny):
            y[k] = ynew[k]
            K[0, k] = K[6, k]
        h = next_step_size(hh, err)
    return recs[:n], starts[:nst], days[:nst]


@njit(cache=True)
def _log_all_extinct(rates, p, S, types, table, x0, rtol, atol, records, starts, days, T):
    """log P(every tumour lineage extinct by day T): the backward equations solved from T to 0 over the
    stored mean field (which must reach T)."""
    nr, ns = S.shape
    m = types.shape[0]
    width = 2 + m
    nrows = table.shape[0] // width
    stride = segment_stride(ns)
    n = records.shape[0]
    seg0 = BR_TYPES + m + table.shape[0]
    y, ynew, ytmp, K, xs, a, ctx0 = workspace(S, KIND_HYBRID)
    ny = y.shape[0]
    ctx = np.zeros(seg0 + n * stride)
    ctx[:ctx0.shape[0]] = ctx0
    ctx[CTX_KIND] = KIND_BRANCHING
    ctx[BR_T] = T
    ctx[BR_NTYPES] = m
    ctx[BR_NROWS] = nrows
    ctx[BR_SEG0] = seg0
    for k in range(m):
        ctx[BR_TYPES + k] = types[k]
    ctx[BR_TYPES + m:seg0] = table
    ctx[seg0:] = records.ravel()
    for k in range(m):
        y[int(types[k])] = 1.0
    tau = 0.0
    h = 1e-3
    for st in range(starts.shape[0] - 1, -1, -1):
        if days[st] >= T:
            continue
        hi = starts[st + 1] if st + 1 < starts.shape[0] else n
        if hi <= starts[st]:
            continue
        ctx[BR_SEG_LO] = starts[st]
        ctx[BR_SEG_HI] = hi
        ctx[BR_CURSOR] = hi - 1
        tau_stop = T - days[st]
        branching_rhs(rates, p, S, ctx, tau, y, xs, a, K, 0)
        while not reached(tau, tau_stop):
            hh = min(h, tau_stop - tau)
            hh, err = adaptive_branching_step(rates, p, S, ctx, tau, y, hh, K, ytmp, ynew, xs, a, rtol, atol)
            tau = tau_stop if reached(tau + hh, tau_stop) else tau + hh
            for k in range(ny):
                y[k] = ynew[k]
                K[0, k] = K[6, k]
            h = next_step_size(hh, err)
    if ctx[CTX_FAILED] != 0.0:
        return np.nan
    logp = 0.0
    for k in range(m):
        si = int(types[k])
        if x0[si] > 0.0:
            logp += x0[si] * np.log1p(-min(y[si], 1.0))
    return logp


_BRANCHING_SIG = types.void(
    RatesFn, _f8[:, ::1], _f8[:, ::1], types.boolean[::1], _f8[::1], _f8[::1], _f8[:, ::1], _f8, _f8,
    _f8[:, :, ::1], _f8[::1], _f8[:, ::1],
)


@njit(_BRANCHING_SIG, cache=True, nogil=True)
def log_extinction_branching_batch(rates, P, S, tumour, types, table, X0, rtol, atol, doses, t_eval, out):
    """log P(all tumour clones extinct by t) for each row of P, X0, doses and each day of the sorted
    ``t_eval``, into ``out`` (n, len(t_eval)). ``types``: species index of each tumour type; ``table``: the
    branching table (:attr:`hybrid.model.ModelSpec.offspring`, flattened)."""
    if t_eval.shape[0] == 0:
        return
    t_end = max(t_eval[t_eval.shape[0] - 1], 0.0)
    for k in range(P.shape[0]):
        records, starts, days = _mean_field_records(rates, P[k], S, tumour, X0[k], rtol, atol, doses[k], t_end)
        for e in range(t_eval.shape[0]):
            out[k, e] = _log_all_extinct(rates, P[k], S, types, table, X0[k], rtol, atol, records, starts, days,
                                         t_eval[e])

"""Kendall's (1948) exact extinction probability for the tumour as a time-varying linear birth–death process.

With per-cell birth rate lambda(t) and death rate mu(t) along the ODE solution of the other species::

    rho(t) = int_0^t (mu - lambda) ds
    P(all n0 lineages extinct by t) = [1 - 1 / (exp(rho(t)) + int_0^t lambda(s) exp(rho(s)) ds)]^n0

The integral is carried as I(t) * exp(-s) with a running log-scale s, and the result as a log-probability, so
that a tumour of ~1e11 cells and rho ~ +-100 are harmless. Valid only for models with ``linear_tumour``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from .integrator import (
    CTX_BIRTH,
    CTX_DEATH,
    CTX_LOG_SCALE,
    CTX_TUMOUR,
    RatesFn,
    adaptive_step,
    dense,
    eval_rhs,
    next_step_size,
    workspace,
)
from .schedule import apply_doses, next_stop, reached

_f8 = types.float64
_i8 = types.int64
_SIG = types.void(
    RatesFn, _f8[::1], _f8[:, ::1], _i8, _i8, _i8, _f8[::1], _f8, _f8, _f8[:, ::1], _f8[::1], _f8[::1], _f8[:, ::1],
)


@njit(cache=True)
def _log_extinction(rho, log_i_scaled, scale, n0):
    """n0 * log(1 - 1/(e^rho + I)) with I = exp(log_i_scaled + scale), in a stable form."""
    li = log_i_scaled + scale
    m = max(rho, li)
    log_denom = m + np.log(np.exp(rho - m) + np.exp(li - m))
    return n0 * np.log1p(-np.exp(-log_denom))


@njit(_SIG, cache=True)
def log_extinction_probability(rates, p, S, tumour, birth, death, x0, rtol, atol, doses, t_eval, out, moments):
    """log P(tumour extinct by t) for each t in the sorted array ``t_eval`` (days), written to ``out``; doses
    as in :mod:`hybrid.schedule`. If ``moments`` has rows, row k receives rho(t_k) and log I(t_k), which fix
    the whole distribution of the tumour size at t_k (see :func:`hybrid.tumour_law`)."""
    nr, ns = S.shape
    IR = ns + 1
    II = ns + 2
    y, ynew, ytmp, K, xs, a, ctx = workspace(S, 1.0)
    ny = y.shape[0]
    ctx[CTX_TUMOUR] = tumour
    ctx[CTX_BIRTH] = birth
    ctx[CTX_DEATH] = death
    rstoch = np.zeros(nr, dtype=np.bool_)
    for i in range(ns):
        y[i] = x0[i]
    n0 = x0[tumour]
    t = 0.0
    ie = 0
    idose = 0
    keep = moments.shape[0] > 0
    while ie < t_eval.shape[0] and t_eval[ie] <= 0.0:
        out[ie] = -np.inf if n0 > 0 else 0.0
        if keep:
            moments[ie, 0] = 0.0
            moments[ie, 1] = -np.inf
        ie += 1
    t_end = t_eval[t_eval.shape[0] - 1] if t_eval.shape[0] > 0 else 0.0
    eval_rhs(rates, p, S, rstoch, ctx, t, y, xs, a, K[0])
    h = 1e-3
    while t < t_end:
        t_stop = next_stop(t_end, idose, doses)
        if reached(t, t_stop):
            t = t_stop
            idose = apply_doses(y, t, idose, doses)
            eval_rhs(rates, p, S, rstoch, ctx, t, y, xs, a, K[0])
            continue
        hh = min(h, t_stop - t)
        hh, err = adaptive_step(rates, p, S, rstoch, ctx, t, y, hh, K, ytmp, ynew, xs, a, rtol, atol)
        t_new = t_stop if reached(t + hh, t_stop) else t + hh
        while ie < t_eval.shape[0] and t_eval[ie] <= t_new:
            th = min(max((t_eval[ie] - t) / hh, 0.0), 1.0)
            rho = dense(y, K, hh, th, IR)
            log_i = np.log(max(dense(y, K, hh, th, II), 1e-300))
            out[ie] = _log_extinction(rho, log_i, ctx[CTX_LOG_SCALE], n0)
            if keep:
                moments[ie, 0] = rho
                moments[ie, 1] = log_i + ctx[CTX_LOG_SCALE]
            ie += 1
        for k in range(ny):
            y[k] = ynew[k]
            K[0, k] = K[6, k]
        t = t_new
        h = next_step_size(hh, err)
        # keep exp(rho - s) of order one; I and its derivative scale together, so K[0] stays valid
        if y[IR] - ctx[CTX_LOG_SCALE] > 30.0:
            shift = y[IR] - ctx[CTX_LOG_SCALE]
            ctx[CTX_LOG_SCALE] = y[IR]
            f = np.exp(-shift)
            y[II] *= f
            K[0, II] *= f
    while ie < t_eval.shape[0]:
        out[ie] = _log_extinction(y[IR], np.log(max(y[II], 1e-300)), ctx[CTX_LOG_SCALE], n0)
        if keep:
            moments[ie, 0] = y[IR]
            moments[ie, 1] = np.log(max(y[II], 1e-300)) + ctx[CTX_LOG_SCALE]
        ie += 1


_BATCH_SIG = types.void(
    RatesFn, _f8[:, ::1], _f8[:, ::1], _i8, _i8, _i8, _f8[:, ::1], _f8, _f8, _f8[:, :, ::1], _f8[::1], _f8[:, ::1],
    _f8[:, :, ::1],
)


@njit(_BATCH_SIG, cache=True)
def log_extinction_batch(rates, P, S, tumour, birth, death, X0, rtol, atol, doses, t_eval, out, moments):
    """:func:`log_extinction_probability` for each row of P, X0, doses (one dose table per patient), out and
    moments (shape (n, 0, 2) when not wanted)."""
    for k in range(P.shape[0]):
        log_extinction_probability(rates, P[k], S, tumour, birth, death, X0[k], rtol, atol, doses[k], t_eval,
                                   out[k], moments[k])

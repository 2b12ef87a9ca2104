"""Dormand–Prince 5(4) with dense output, in Numba, for use inside jitted kernels.

The right-hand side is assembled from a model's reaction propensities (see :mod:`hybrid.model`): the model
supplies a jitted ``rates(t, x, p, out)``, passed around as a first-class function so that every kernel is
compiled once, cached on disk, and works for any model (no Python call per evaluation).

State layout ``y`` (length ``n_species + 1 + max(n_reactions, 3)``):

- ``y[:ns]``: species (cells);
- ``y[ns]``: area under the effector species, accumulated while ``ctx[CTX_AUC_ON]`` is 1 (cells * day);
- hybrid kind: ``y[ns+1+j]``: integral of reaction j's propensity since the last stochastic event, for the
  reactions that are currently stochastic (the hazard that decides the next event exactly);
- oracle kind: ``y[ns+1] = rho(t)`` and ``y[ns+2] = I(t) * exp(-s)`` of Kendall's formula (see oracle.py), and
  ``y[ns+3]``, the summed per-cell hazard int (lambda + mu) dt (read by the tabulated fast path);
- branching kind (integrated by :func:`adaptive_branching_step`): the backward equations of a multi-type
  tumour in reversed time tau = T - t: ``y[i]`` for a
  tumour species i is u_i, the probability that one cell of type i at time t has descendants alive at T; the
  other species are read from the stored mean field in ``ctx`` (see :func:`branching_rhs`, oracle.py).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

NO_REFCOUNT = dict(cache=True, _nrt=False)
"""``@njit(**NO_REFCOUNT)``: compiled without reference counting, for functions on the hot path that allocate
nothing. Numba increments and decrements the count of every array argument around a call it cannot see
through, and a model's ``rates`` is called through a function pointer: those atomic operations cost more than
the arithmetic (a right-hand side took 54 ns with them, 14 ns without). The caller holds the arrays, so the
counts are not needed; such a function must not create arrays (views are fine)."""

RATES_SIG = types.void(types.float64, types.float64[::1], types.float64[::1], types.float64[::1])
"""Signature every model's ``rates(t, x, p, out)`` must be compiled with."""
RatesFn = types.FunctionType(RATES_SIG)

# Context slots: small per-run switches for the right-hand side, kept in one float array.
CTX_KIND = 0  # 0: hybrid (reaction hazards), 1: Kendall oracle
CTX_AUC_SPECIES = 1
CTX_AUC_ON = 2
CTX_TUMOUR = 3
CTX_BIRTH = 4
CTX_DEATH = 5
CTX_LOG_SCALE = 6
CTX_STEPS = 7  # rejected step attempts of this integration (the budget MAX_REJECTED)
CTX_FAILED = 8  # 1 once the integration gave up: the state is then NaN to the end (see adaptive_step)
CTX_SIZE = 9
KIND_HYBRID = 0.0
KIND_KENDALL = 1.0
KIND_BRANCHING = 2.0

MAX_REJECTED = 1_000_000
"""Rejected step attempts one integration may make before it gives up. A patient's solve rejects a handful; a
solve that rejects a million is stiff beyond what the parameters can mean and would otherwise never return
(an explicit method on a stiff problem keeps failing its error test at the stability limit). Accepted steps are
not counted: that count, on the hot path, cost the oracle 5%, and every accepted step grows h or holds it."""

# Branching kind: after the CTX_SIZE slots, ctx holds a header, the tumour types and branching table, and the
# stored mean field (one record per step of the forward solve: t0, h, the species at t0, the 7 stage rows).
BR_T = CTX_SIZE  # the horizon T (days)
BR_NTYPES = CTX_SIZE + 1
BR_NROWS = CTX_SIZE + 2  # rows of the branching table
BR_SEG_LO = CTX_SIZE + 3  # the records of the current stretch between doses: [lo, hi)
BR_SEG_HI = CTX_SIZE + 4
BR_CURSOR = CTX_SIZE + 5
BR_SEG0 = CTX_SIZE + 6  # where the records start
BR_TYPES = CTX_SIZE + 7  # species index of each tumour type, then the table rows (see ModelSpec.offspring)

# Dormand & Prince (1980) coefficients, with Shampine's dense output (as in Hairer's DOPRI5).
_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
_A = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [1 / 5, 0.0, 0.0, 0.0, 0.0, 0.0],
        [3 / 40, 9 / 40, 0.0, 0.0, 0.0, 0.0],
        [44 / 45, -56 / 15, 32 / 9, 0.0, 0.0, 0.0],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0.0, 0.0],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0.0],
        [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
    ]
)
_E = np.array([-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])
_P = np.array(
    [
        [1.0, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799],
        [0.0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
        [0.0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632],
        [0.0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
        [0.0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
    ]
)


@njit(cache=True)
def state_size(n_species, n_reactions):
    """Length of the integrator state for a model (see module docstring)."""
    return n_species + 1 + max(n_reactions, 3)


@njit(cache=True)
def workspace(S, kind):
    """Zeroed arrays for one integration of the model with stoichiometry S: the state y, its candidate ynew,
    a stage scratch ytmp, the stage derivatives K (7 rows), species and propensity scratch xs and a, and the
    right-hand-side context ctx of the given kind (0 hybrid, 1 oracle)."""
    nr, ns = S.shape
    ny = state_size(ns, nr)
    ctx = np.zeros(CTX_SIZE)
    ctx[CTX_KIND] = kind
    return np.zeros(ny), np.zeros(ny), np.zeros(ny), np.zeros((7, ny)), np.zeros(ns), np.zeros(nr), ctx


@njit(**NO_REFCOUNT)
def eval_rhs(rates, p, S, rstoch, ctx, t, y, xs, a, out):
    """dy/dt at (t, y) into the vector ``out``. Reactions flagged in ``rstoch`` fire as discrete events, so
    they move no species continuously; their propensities are integrated instead (hybrid kind)."""
    _rhs_row(rates, p, S, rstoch, ctx, t, y, xs, a, out.reshape((1, out.shape[0])), 0)


@njit(**NO_REFCOUNT)
def _rhs_row(rates, p, S, rstoch, ctx, t, y, xs, a, K, r):
    """dy/dt at (t, y) into row r of K (no array views on the hot path)."""
    nr, ns = S.shape
    ny = K.shape[1]
    hybrid_kind = ctx[CTX_KIND] == 0.0
    for i in range(ns):
        xs[i] = y[i]
    if not hybrid_kind:
        # Kendall: nothing depends on the tumour (linear model), so evaluating the propensities at one tumour
        # cell gives the other species' derivatives and the per-capita birth and death rates at once; the
        # tumour itself is then not integrated.
        xs[int(ctx[CTX_TUMOUR])] = 1.0
    rates(t, xs, p, a)
    for i in range(ny):
        K[r, i] = 0.0
    for j in range(nr):
        if rstoch[j]:
            if hybrid_kind:
                K[r, ns + 1 + j] = a[j]
        else:
            for i in range(ns):
                if S[j, i] != 0.0:
                    K[r, i] += S[j, i] * a[j]
    if ctx[CTX_AUC_ON] != 0.0:
        K[r, ns] = xs[int(ctx[CTX_AUC_SPECIES])]
    if not hybrid_kind:
        lam = a[int(ctx[CTX_BIRTH])]
        mu = a[int(ctx[CTX_DEATH])]
        K[r, int(ctx[CTX_TUMOUR])] = 0.0
        K[r, ns + 1] = mu - lam
        K[r, ns + 2] = lam * np.exp(y[ns + 1] - ctx[CTX_LOG_SCALE])
        K[r, ns + 3] = lam + mu


@njit(cache=True, inline="always")
def _stage_state(y, K, h, s, ytmp):
    """The state at which stage s is evaluated: y + h * sum_j A[s, j] K[j]."""
    for i in range(y.shape[0]):
        acc = 0.0
        for j in range(s):
            acc += _A[s, j] * K[j, i]
        ytmp[i] = y[i] + h * acc


def floor_of(atol, i):
    """The absolute tolerance of component i: ``atol`` itself, or its entry i when it is an array (a floor per
    component). Compiled per type (below), so a scalar ``atol`` costs nothing on the hot path."""
    return atol[i] if isinstance(atol, np.ndarray) else atol


@overload(floor_of, inline="always")
def _floor_of_impl(atol, i):
    if isinstance(atol, types.Array):
        return lambda atol, i: atol[i]
    return lambda atol, i: atol


@njit(cache=True, inline="always")
def _error_norm(y, ynew, K, h, rtol, atol):
    """RMS of the embedded error estimate over the mixed tolerance (accept the step when <= 1); ``atol`` one
    number or one per component (:func:`floor_of`)."""
    ny = y.shape[0]
    err = 0.0
    for i in range(ny):
        e = 0.0
        for j in range(7):
            e += _E[j] * K[j, i]
        sc = floor_of(atol, i) + rtol * max(abs(y[i]), abs(ynew[i]))
        r = h * e / sc
        err += r * r
    return np.sqrt(err / ny)


@njit(**NO_REFCOUNT)
def attempt_step(rates, p, S, rstoch, ctx, t, y, h, K, ytmp, ynew, xs, a, rtol, atol):
    """One Dormand–Prince step of size h from (t, y) with K[0] = f(t, y) given.

    Fills K[1:7] (K[6] = f(t+h, ynew), reusable as the next K[0]) and ynew; returns the RMS error norm
    (accept the step when <= 1)."""
    for s in range(1, 7):
        _stage_state(y, K, h, s, ytmp)
        _rhs_row(rates, p, S, rstoch, ctx, t + _C[s] * h, ytmp, xs, a, K, s)
    # stage 6 was evaluated at y + h * sum(B K), which is ynew (FSAL)
    for i in range(y.shape[0]):
        ynew[i] = ytmp[i]
    return _error_norm(y, ynew, K, h, rtol, atol)


@njit(**NO_REFCOUNT)
def _give_up(ctx, ynew, K):
    """Mark the integration failed and poison the step's result with NaN: every later step then fails at once
    (its error is NaN) and grows, so each loop of the caller runs out quickly, and the caller reads
    ``ctx[CTX_FAILED]`` to report the failure instead of a number."""
    ctx[CTX_FAILED] = 1.0
    for i in range(ynew.shape[0]):
        ynew[i] = np.nan
        K[6, i] = np.nan


@njit(**NO_REFCOUNT)
def _over_budget(ctx, h0, h, err, ynew, K):
    """The (step size, error) of a step that failed its error test 60 times: as tried when the error is finite
    and the budget of rejections is not spent, else the integration gives up (an overflowing or undefined
    solution, or a solve that would never end)."""
    if ctx[CTX_STEPS] > MAX_REJECTED or not np.isfinite(err):
        _give_up(ctx, ynew, K)
        return h0, 0.0
    return h, err


@njit(**NO_REFCOUNT)
def adaptive_step(rates, p, S, rstoch, ctx, t, y, h, K, ytmp, ynew, xs, a, rtol, atol):
    """Attempt steps from (t, y), shrinking h until the error test passes (at most 60 tries).
    Returns (accepted step size, its error norm); K and ynew hold that step."""
    h0 = h
    err = 0.0
    for _ in range(60):
        err = attempt_step(rates, p, S, rstoch, ctx, t, y, h, K, ytmp, ynew, xs, a, rtol, atol)
        if err <= 1.0:
            break
        ctx[CTX_STEPS] += 1.0
        h = next_step_size(h, err)
    if err <= 1.0:  # the hot path: nothing counted (a count on every step cost the oracle 5%)
        return h, err
    return _over_budget(ctx, h0, h, err, ynew, K)


@njit(**NO_REFCOUNT)
def adaptive_branching_step(rates, p, S, ctx, t, y, h, K, ytmp, ynew, xs, a, rtol, atol):
    """:func:`adaptive_step` for the branching kind (right-hand side :func:`branching_rhs`, K[0] given). A
    function of its own: a branch to the backward equations inside the hybrid right-hand side cost 8% of the
    Monte Carlo's speed (benchmarks.compare_trees)."""
    h0 = h
    err = 0.0
    for _ in range(60):
        for s in range(1, 7):
            _stage_state(y, K, h, s, ytmp)
            branching_rhs(rates, p, S, ctx, t + _C[s] * h, ytmp, xs, a, K, s)
        for i in range(y.shape[0]):
            ynew[i] = ytmp[i]
        err = _error_norm(y, ynew, K, h, rtol, atol)
        if err <= 1.0:
            break
        ctx[CTX_STEPS] += 1.0
        h = next_step_size(h, err)
    if err <= 1.0:  # the hot path: nothing counted (a count on every step cost the oracle 5%)
        return h, err
    return _over_budget(ctx, h0, h, err, ynew, K)


@njit(**NO_REFCOUNT)
def next_step_size(h, err):
    """Standard step-size update for a 5th-order method with safety factor 0.9, change bounded to [0.2, 5]."""
    if err == 0.0:
        return h * 5.0
    return h * min(5.0, max(0.2, 0.9 * err ** -0.2))


@njit(**NO_REFCOUNT)
def dense(y, K, h, theta, i):
    """Component i of the dense-output polynomial at t + theta*h (0 <= theta <= 1)."""
    acc = 0.0
    for j in range(7):
        kj = K[j, i]
        if kj != 0.0:
            acc += kj * theta * (_P[j, 0] + theta * (_P[j, 1] + theta * (_P[j, 2] + theta * _P[j, 3])))
    return y[i] + h * acc


@njit(cache=True, inline="always")
def dense_weights(theta, w):
    """The weights of the 7 stage rows in the dense output at t + theta*h, into ``w``: then component i there is
    :func:`dense_at` (several components at one theta share the polynomial)."""
    for j in range(7):
        w[j] = _weight(theta, j)


@njit(cache=True, inline="always")
def dense_at(y, K, h, w, i):
    """Component i of the dense output at the theta whose weights :func:`dense_weights` gave."""
    acc = 0.0
    for j in range(7):
        acc += K[j, i] * w[j]
    return y[i] + h * acc


@njit(cache=True, inline="always")
def _weight(theta, j):
    return theta * (_P[j, 0] + theta * (_P[j, 1] + theta * (_P[j, 2] + theta * _P[j, 3])))


@njit(cache=True, inline="always")
def dense_row(y, K, h, theta, out, n):
    """Components 0..n-1 of the dense output at t + theta*h into ``out``, the 7 weights computed once (as
    :func:`dense_weights` and :func:`dense_at` do): a fine record has thousands of times a course."""
    w0, w1, w2, w3, w4, w5, w6 = (_weight(theta, 0), _weight(theta, 1), _weight(theta, 2), _weight(theta, 3),
                                  _weight(theta, 4), _weight(theta, 5), _weight(theta, 6))
    for i in range(n):
        out[i] = y[i] + h * (K[0, i] * w0 + K[1, i] * w1 + K[2, i] * w2 + K[3, i] * w3 + K[4, i] * w4
                             + K[5, i] * w5 + K[6, i] * w6)


@njit(**NO_REFCOUNT)
def dense_all(y, K, h, theta, out):
    for i in range(y.shape[0]):
        out[i] = dense(y, K, h, theta, i)


@njit(**NO_REFCOUNT)
def dense_slope(K, theta, i):
    """d/dt of component i of the dense output at t + theta*h."""
    acc = 0.0
    for j in range(7):
        kj = K[j, i]
        if kj != 0.0:
            acc += kj * (_P[j, 0] + theta * (2.0 * _P[j, 1] + theta * (3.0 * _P[j, 2] + theta * 4.0 * _P[j, 3])))
    return acc


@njit(cache=True)
def _quartic(y, K, h, first, mask):
    """Coefficients c0..c4 of the dense output of component ``first`` (mask empty), or of the sum of
    components first + j over mask[j], as a polynomial in theta."""
    c = np.zeros(5)
    for j in range(7):
        kj = 0.0
        if mask.shape[0] == 0:
            kj = K[j, first]
        else:
            for m in range(mask.shape[0]):
                if mask[m]:
                    kj += K[j, first + m]
        if kj != 0.0:
            for q in range(4):
                c[q + 1] += h * kj * _P[j, q]
    if mask.shape[0] == 0:
        c[0] = y[first]
    else:
        for m in range(mask.shape[0]):
            if mask[m]:
                c[0] += y[first + m]
    return c


@njit(**NO_REFCOUNT)
def _level_root(c, level, lo):
    """Smallest theta in (lo, 1] where the quartic c reaches ``level``, given that c(lo) and c(1) lie on
    opposite sides of it. Newton's method kept inside a shrinking bracket (bisection when Newton leaves it),
    so it cannot fail; for the nearly linear functions met here it takes a few iterations."""
    g0 = c[0] + lo * (c[1] + lo * (c[2] + lo * (c[3] + lo * c[4]))) - level
    start, hi = lo, 1.0
    up = g0 < 0.0  # the function rises through the level
    th = 0.5 * (lo + hi)
    # start from the linear interpolation between the ends
    g1 = c[0] + c[1] + c[2] + c[3] + c[4] - level
    if g1 != g0:
        th = min(max(start + (hi - start) * g0 / (g0 - g1), start), hi)
    for _ in range(100):
        g = c[0] + th * (c[1] + th * (c[2] + th * (c[3] + th * c[4]))) - level
        if (g >= 0.0) == up:
            hi = th
        else:
            lo = th
        if abs(g) <= 1e-13 * max(1.0, abs(level)):
            return th
        if hi - lo <= 1e-13:
            return hi
        d = c[1] + th * (2.0 * c[2] + th * (3.0 * c[3] + th * 4.0 * c[4]))
        nxt = th - g / d if d != 0.0 else 0.5 * (lo + hi)
        if not (lo < nxt < hi):
            nxt = 0.5 * (lo + hi)
        th = nxt
    return hi


NO_MASK = np.zeros(0, dtype=np.bool_)
"""An empty mask: the functions taking (first, mask) then act on component ``first`` alone."""


@njit(cache=True)
def crossing(y, K, h, i, level, lo=0.0):
    """First theta in (lo, 1] at which component i reaches ``level`` (it does so within the step, and is on
    the other side of it at lo)."""
    return _level_root(_quartic(y, K, h, i, NO_MASK), level, lo)


@njit(cache=True)
def sum_reach(y, K, h, first, mask, level):
    """Smallest theta in (0, 1] at which component ``first`` (mask empty) or the sum of components first + j
    over mask[j] reaches ``level`` (it does so within the step): the next stochastic event (summed hazard
    integrals), or progression of the tumour."""
    return _level_root(_quartic(y, K, h, first, mask), level, 0.0)


@njit(**NO_REFCOUNT)
def dense_sum(y, K, h, theta, first, mask):
    """The dense output of component ``first`` (mask empty) or of the sum of the components flagged in
    ``mask`` (one flag per leading component)."""
    if mask.shape[0] == 0:
        return dense(y, K, h, theta, first)
    acc = 0.0
    for i in range(mask.shape[0]):
        if mask[i]:
            acc += dense(y, K, h, theta, i)
    return acc


@njit(**NO_REFCOUNT)
def _slope_sum(K, theta, first, mask):
    if mask.shape[0] == 0:
        return dense_slope(K, theta, first)
    acc = 0.0
    for i in range(mask.shape[0]):
        if mask[i]:
            acc += dense_slope(K, theta, i)
    return acc


@njit(**NO_REFCOUNT)
def _extremum_one(y, K, h, i, theta_hi, sign):
    """:func:`extremum` of one component. A second body on purpose: it runs twice per ODE step of every patient,
    and going through the masked sums instead cost 2-3% of the Monte Carlo's speed (measured, same machine)."""
    v0 = sign * dense(y, K, h, 0.0, i)
    v1 = sign * dense(y, K, h, theta_hi, i)
    if sign * K[0, i] > 0.0 and sign * dense_slope(K, theta_hi, i) < 0.0:
        lo, hi = 0.0, theta_hi
        g = 0.6180339887498949
        for _ in range(50):
            m1 = hi - g * (hi - lo)
            m2 = lo + g * (hi - lo)
            if sign * dense(y, K, h, m1, i) >= sign * dense(y, K, h, m2, i):
                hi = m2
            else:
                lo = m1
        th = 0.5 * (lo + hi)
        return th, dense(y, K, h, th, i)
    if v1 >= v0:
        return theta_hi, sign * v1
    return 0.0, sign * v0


@njit(**NO_REFCOUNT)
def extremum(y, K, h, first, mask, theta_hi, sign):
    """The extreme value over [0, theta_hi] of component ``first`` (mask empty) or of the sum of the components
    flagged in ``mask`` (sign +1: maximum, -1: minimum), as (theta, value).

    The end points decide unless the slope turns inside the step, when a golden-section search on the dense
    output finds the turning point."""
    if mask.shape[0] == 0:
        return _extremum_one(y, K, h, first, theta_hi, sign)
    v0 = sign * dense_sum(y, K, h, 0.0, first, mask)
    v1 = sign * dense_sum(y, K, h, theta_hi, first, mask)
    if sign * _slope_sum(K, 0.0, first, mask) > 0.0 and sign * _slope_sum(K, theta_hi, first, mask) < 0.0:
        lo, hi = 0.0, theta_hi
        g = 0.6180339887498949
        for _ in range(50):
            m1 = hi - g * (hi - lo)
            m2 = lo + g * (hi - lo)
            if sign * dense_sum(y, K, h, m1, first, mask) >= sign * dense_sum(y, K, h, m2, first, mask):
                hi = m2
            else:
                lo = m1
        th = 0.5 * (lo + hi)
        return th, dense_sum(y, K, h, th, first, mask)
    if v1 >= v0:
        return theta_hi, sign * v1
    return 0.0, sign * v0


@njit(cache=True)
def segment_stride(ns):
    """Length of one stored mean-field record of a model with ns species."""
    return 2 + 8 * ns


@njit(**NO_REFCOUNT)
def _stored_mean_field(ctx, ns, t, xs):
    """The stored mean field at day t into xs (the record of the current stretch holding t)."""
    stride = segment_stride(ns)
    seg0 = int(ctx[BR_SEG0])
    lo, hi = int(ctx[BR_SEG_LO]), int(ctx[BR_SEG_HI])
    k = min(max(int(ctx[BR_CURSOR]), lo), hi - 1)
    while k > lo and ctx[seg0 + k * stride] > t:
        k -= 1
    while k < hi - 1 and ctx[seg0 + (k + 1) * stride] <= t:
        k += 1
    ctx[BR_CURSOR] = k
    off = seg0 + k * stride
    t0, h = ctx[off], ctx[off + 1]
    y0 = ctx[off + 2:off + 2 + ns]
    Ks = ctx[off + 2 + ns:off + stride].reshape((7, ns))
    th = min(max((t - t0) / h, 0.0), 1.0) if h > 0.0 else 0.0
    for i in range(ns):
        xs[i] = dense(y0, Ks, h, th, i)


@njit(**NO_REFCOUNT)
def branching_rhs(rates, p, S, ctx, tau, y, xs, a, K, r):
    """Backward Kolmogorov equations of a multi-type linear branching tumour, in reversed time tau = T - t,
    into row r of K: du_i/dtau = sum over reactions j of parent type i of a_ij(t) [1 - prod_k (1 - u_k)^m_jk
    - u_i], with a_ij the per-cell rate and m_j the offspring; 1 - prod is formed as -expm1(sum m log1p(-u))
    so that u ~ 1e-15 keeps its digits."""
    ns = S.shape[1]
    t = ctx[BR_T] - tau
    m = int(ctx[BR_NTYPES])
    nrows = int(ctx[BR_NROWS])
    table = BR_TYPES + m
    width = 2 + m
    for i in range(K.shape[1]):
        K[r, i] = 0.0
    _stored_mean_field(ctx, ns, t, xs)
    for i in range(m):
        for k in range(m):
            xs[int(ctx[BR_TYPES + k])] = 0.0
        si = int(ctx[BR_TYPES + i])
        xs[si] = 1.0  # linear tumour: the propensities at one cell of type i are its per-cell rates
        rates(t, xs, p, a)
        u_i = y[si]
        acc = 0.0
        for q in range(nrows):
            row = table + q * width
            if int(ctx[row + 1]) != i:
                continue
            log_all_dead = 0.0
            for k in range(m):
                mk = ctx[row + 2 + k]
                if mk != 0.0:
                    log_all_dead += mk * np.log1p(-min(y[int(ctx[BR_TYPES + k])], 1.0))
            acc += a[int(ctx[row])] * (-np.expm1(log_all_dead) - u_i)
        K[r, si] = acc

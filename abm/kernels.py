"""Numba lattice kernels: the per-cell rules of one step, applied to the model's PropertyLayer arrays in place.

Arrays are ``[x, y]``. Tumour class codes: 0 empty, 1 high, 2 low, 3 negative. CAR T state: 0 none, 1 active,
2 exhausted. Scalar rule parameters travel in one float64 vector ``prm`` indexed by the ``P_*`` constants, built
by :func:`rule_vector`. The random stream is a xoshiro256** state (:mod:`hybrid.rng`) the model seeds from its
``numpy.random.Generator``: drawn inline, a uniform costs ~1.5 ns against ~5 ns through the Generator's function
pointer, and a 400x400 step draws ~2e5 of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from hybrid.rng import uniform

from .params import CARS_REFERENCE

__all__ = ["rule_vector", "car_t_phase", "tumour_phase", "distance_field", "place_entrants", "census",
           "classify"]

(P_DEATH, P_DEATH_EX, P_RECOVER, P_RECOVERY_HITS, P_HALF, P_HILL, P_KILL, P_DIV, P_DIV_LIMIT, P_EXH_HITS,
 P_MOVES, P_BIAS, P_RANGE, P_ENTRY, P_TUM_DIV, P_PERM_LOSS, P_TRANS_LOSS, P_LOSS_STEPS, P_NEG_BELOW,
 P_HIGH_AT, P_BYSTANDER, N_PRM) = range(22)

ACTED = np.int8(4)  # flag in the CAR T layer: the cell has acted (or was born or entered) this step

_DX = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int64)
_DY = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int64)


def _per_step(rate_per_hour: float, step_hours: float) -> float:
    return float(-np.expm1(-rate_per_hour * step_hours))


def rule_vector(p: dict[str, Any]) -> np.ndarray:
    """Per-step probabilities and thresholds from the parameter dict (see :mod:`abm.params`)."""
    dt = p["step_hours"]
    prm = np.zeros(N_PRM)
    death = 1.0 / p["car_t_lifespan_hours"]
    prm[P_DEATH] = _per_step(death, dt)
    prm[P_DEATH_EX] = _per_step(death * p["exhausted_death_factor"], dt)
    prm[P_RECOVER] = _per_step(1.0 / p["hit_recovery_hours"], dt)
    prm[P_RECOVERY_HITS] = p["recovery_hits"]
    prm[P_HALF] = p["antigen_half_max"] * CARS_REFERENCE / p["cars_per_t_cell"]
    prm[P_HILL] = p["hill_n"]
    prm[P_KILL] = p["kill_prob_max"]
    prm[P_DIV] = p["division_prob"]
    prm[P_DIV_LIMIT] = p["division_limit"]
    prm[P_EXH_HITS] = p["exhaustion_hits"]
    prm[P_MOVES] = p["moves_per_step"]
    prm[P_BIAS] = p["chemotaxis_bias"]
    prm[P_RANGE] = p["chemotaxis_range_sites"]
    prm[P_ENTRY] = p["tumour_entry_prob"]
    prm[P_TUM_DIV] = 1.0 - 2.0 ** (-dt / p["tumour_doubling_hours"])
    prm[P_PERM_LOSS] = p["antigen_loss_prob"]
    prm[P_TRANS_LOSS] = _per_step(p["transient_loss_per_day"] / 24.0, dt)
    prm[P_LOSS_STEPS] = max(1, int(round(p["transient_loss_hours"] / dt)))
    prm[P_NEG_BELOW] = p["negative_below"]
    prm[P_HIGH_AT] = p["high_at_least"]
    prm[P_BYSTANDER] = p["bystander_kill_prob"]
    return prm


@njit(cache=True)
def _free_neighbour(x, y, first, second, rng, free):
    """A uniformly random one of the 8 neighbours of (x, y) where both ``first`` and ``second`` are 0/False
    (one draw among those found, in neighbour order), or (-1, -1) when none is free. ``free``: scratch of >= 8
    int64 (a fresh array per call was a heap allocation per division, a third of the call)."""
    w, h = first.shape
    m = 0
    for k in range(8):
        u = x + _DX[k]
        v = y + _DY[k]
        if 0 <= u < w and 0 <= v < h and not first[u, v] and not second[u, v]:
            free[m] = k
            m += 1
    if m == 0:
        return -1, -1
    k = free[int(uniform(rng) * m)]
    return x + _DX[k], y + _DY[k]


@njit(cache=True)
def classify(a: float, neg_below: float, high_at: float) -> int:
    """Antigen class code of a tumour cell expressing ``a`` antigens."""
    if a < neg_below:
        return 3
    if a >= high_at:
        return 1
    return 2


@njit(cache=True)
def engage_prob(a: float, half: float, hill: float) -> float:
    """Hill probability that a CAR T cell engages a cell with ``a`` antigens."""
    if a <= 0.0:
        return 0.0
    r = (a / half) ** hill
    return r / (1.0 + r)


@njit(cache=True)
def _shuffled_sites(mask_layer, rng, scratch) -> np.ndarray:
    """Flat indices of the nonzero sites, in random order (Fisher-Yates on the model's stream), as a view of
    ``scratch`` (one int64 per site, reused step after step)."""
    flat = mask_layer.ravel()
    n = 0
    for s in range(flat.shape[0]):  # branch-free compaction
        scratch[n] = s
        n += flat[s] != 0
    idx = scratch[:n]
    for i in range(n - 1, 0, -1):
        j = int(uniform(rng) * (i + 1))
        idx[i], idx[j] = idx[j], idx[i]
    return idx


@njit(cache=True)
def _bystander(x, y, tclass, antigen, base, timer, rng, prob) -> int:
    """Antigen-independent killing of the other tumour cells in contact with a killing CAR T cell."""
    w, h = tclass.shape
    n = 0
    for dx in range(-1, 2):
        for dy in range(-1, 2):
            u = x + dx
            v = y + dy
            if 0 <= u < w and 0 <= v < h and tclass[u, v] != 0 and uniform(rng) < prob:
                tclass[u, v] = 0
                antigen[u, v] = 0.0
                base[u, v] = 0.0
                timer[u, v] = 0
                n += 1
    return n


@njit(cache=True)
def car_t_phase(car, hits, div, tclass, antigen, base, timer, dist, rng, prm, scratch) -> int:
    """Every CAR T cell, in random order: death, hit recovery, engage/kill/divide, else biased moves. A cell
    acts once per step: it carries the ACTED flag in ``car`` from when it acts (or is born, or enters) to the end
    of the phase.

    Returns the number of tumour cells killed.
    """
    w, h = car.shape
    order = _shuffled_sites(car, rng, scratch)
    kills = 0
    moves = int(prm[P_MOVES])
    rng_sites = prm[P_RANGE]
    # the last antigen level's engagement probability: levels are few (high, low), a power costs ~20 ns
    last_a = -1.0
    last_p = 0.0
    ties = np.empty(9, dtype=np.int64)  # candidate sites of one choice: the own site and 8 neighbours
    for s in order:
        x = s // h
        y = s % h
        # A cell that moved or was born this step may sit on a listed site: act once per step.
        state = car[x, y]
        if state == 0 or state & ACTED:
            continue
        car[x, y] = state | ACTED
        pd = prm[P_DEATH] if state == 1 else prm[P_DEATH_EX]
        if uniform(rng) < pd:
            car[x, y] = 0
            hits[x, y] = 0
            div[x, y] = 0
            continue
        if hits[x, y] > 0 and uniform(rng) < prm[P_RECOVER]:
            hits[x, y] -= 1
        if state == 2 and hits[x, y] <= prm[P_RECOVERY_HITS]:
            state = 1
            car[x, y] = 1 | ACTED
        engaged = False
        if state == 1:
            # The cell probes every tumour cell in contact (own site and the 8 neighbours); each binds with the
            # Hill probability and one of those that bind, chosen uniformly, is engaged.
            m = 0
            for dx in range(-1, 2):
                for dy in range(-1, 2):
                    u = x + dx
                    v = y + dy
                    if 0 <= u < w and 0 <= v < h and tclass[u, v] != 0 and antigen[u, v] > 0.0:
                        if antigen[u, v] != last_a:
                            last_a = antigen[u, v]
                            last_p = engage_prob(last_a, prm[P_HALF], prm[P_HILL])
                        if uniform(rng) < last_p:
                            ties[m] = u * h + v
                            m += 1
            if m > 0:
                pick = ties[int(uniform(rng) * m)]
                tx = pick // h
                ty = pick % h
                engaged = True
                hits[x, y] += 1
                if uniform(rng) < prm[P_KILL]:
                    kills += 1
                    tclass[tx, ty] = 0
                    antigen[tx, ty] = 0.0
                    base[tx, ty] = 0.0
                    timer[tx, ty] = 0
                    if prm[P_BYSTANDER] > 0.0:
                        kills += _bystander(x, y, tclass, antigen, base, timer, rng, prm[P_BYSTANDER])
                    if div[x, y] < prm[P_DIV_LIMIT] and uniform(rng) < prm[P_DIV]:
                        fx, fy = _free_neighbour(x, y, car, tclass, rng, ties)
                        if fx >= 0:
                            div[x, y] += 1
                            car[fx, fy] = 1 | ACTED
                            hits[fx, fy] = hits[x, y]
                            div[fx, fy] = div[x, y]
                if hits[x, y] > prm[P_EXH_HITS]:
                    car[x, y] = 2 | ACTED
        if engaged:
            continue
        for _ in range(moves):
            d0 = dist[x, y]
            tx = -1
            ty = -1
            if d0 <= rng_sites and uniform(rng) < prm[P_BIAS]:
                # uphill the chemokine: a uniformly random one of the neighbours nearest the tumour (one draw)
                m = 0
                if 0 < x < w - 1 and 0 < y < h - 1:
                    # inside: the nearest distance first, then the ties in the same order, without the
                    # unpredictable branches of a running minimum (the choice is the same)
                    best = dist[x + _DX[0], y + _DY[0]]
                    for k in range(1, 8):
                        best = min(best, dist[x + _DX[k], y + _DY[k]])
                    for k in range(8):
                        ties[m] = k
                        m += dist[x + _DX[k], y + _DY[k]] == best
                else:
                    best = 1 << 30
                    for k in range(8):
                        u = x + _DX[k]
                        v = y + _DY[k]
                        if 0 <= u < w and 0 <= v < h:
                            d = dist[u, v]
                            if d < best:
                                best = d
                                m = 0
                            if d == best:
                                ties[m] = k
                                m += 1
                k = ties[int(uniform(rng) * m)]
                tx = x + _DX[k]
                ty = y + _DY[k]
            else:
                k = int(uniform(rng) * 8)
                tx = x + _DX[k]
                ty = y + _DY[k]
                if not (0 <= tx < w and 0 <= ty < h):
                    continue
            if car[tx, ty] != 0:
                continue
            if tclass[tx, ty] != 0 and uniform(rng) >= prm[P_ENTRY]:
                continue
            car[tx, ty] = car[x, y]
            hits[tx, ty] = hits[x, y]
            div[tx, ty] = div[x, y]
            car[x, y] = 0
            hits[x, y] = 0
            div[x, y] = 0
            x = tx
            y = ty
    flat = car.ravel()
    for s in range(flat.shape[0]):
        flat[s] &= ~ACTED
    return kills


@njit(cache=True)
def tumour_phase(tclass, antigen, base, timer, vessel, rng, prm, scratch) -> int:
    """Every tumour cell, in random order: transient antigen loss/return, then division into a free neighbour.

    Returns the number of divisions.
    """
    w, h = tclass.shape
    order = _shuffled_sites(tclass, rng, scratch)
    births = 0
    neg_below = prm[P_NEG_BELOW]
    high_at = prm[P_HIGH_AT]
    free = np.empty(8, dtype=np.int64)
    for s in order:
        x = s // h
        y = s % h
        if timer[x, y] > 0:
            timer[x, y] -= 1
            if timer[x, y] == 0:
                antigen[x, y] = base[x, y]
                tclass[x, y] = classify(base[x, y], neg_below, high_at)
        elif prm[P_TRANS_LOSS] > 0.0 and base[x, y] > 0.0 and uniform(rng) < prm[P_TRANS_LOSS]:
            timer[x, y] = int(prm[P_LOSS_STEPS])
            antigen[x, y] = 0.0
            tclass[x, y] = 3
        if uniform(rng) < prm[P_TUM_DIV]:
            fx, fy = _free_neighbour(x, y, tclass, vessel, rng, free)
            if fx >= 0:
                a = base[x, y]
                if prm[P_PERM_LOSS] > 0.0 and uniform(rng) < prm[P_PERM_LOSS]:
                    a = 0.0
                base[fx, fy] = a
                antigen[fx, fy] = a
                timer[fx, fy] = 0
                tclass[fx, fy] = classify(a, neg_below, high_at)
                births += 1
    return births


@njit(cache=True)
def _from_row(row, other, tclass_row, cap):
    """row[y] = 0 on tumour sites, else min(cap, 1 + the nearest of other[y-1 .. y+1]) (``other``: the row
    before, already final; None-like empty for the first row)."""
    h = row.shape[0]
    if other.shape[0] == 0:
        for y in range(h):
            row[y] = 0 if tclass_row[y] != 0 else cap
        return
    for y in range(h):  # no loop-carried dependence: vectorisable
        lo = max(y - 1, 0)
        hi = min(y + 1, h - 1)
        d = min(other[lo], other[y], other[hi]) + 1
        row[y] = 0 if tclass_row[y] != 0 else min(d, cap)


@njit(cache=True)
def distance_field(tclass, dist, cap: int) -> None:
    """Chessboard distance (sites) from each site to the nearest tumour cell, capped at ``cap``: a forward and a
    backward pass, each row first from the row before it (vectorisable), then along the row (sequential)."""
    w, h = tclass.shape
    none = dist[0, :0]
    for x in range(w):
        _from_row(dist[x], none if x == 0 else dist[x - 1], tclass[x], cap)
        row = dist[x]
        for y in range(1, h):
            row[y] = min(row[y], row[y - 1] + 1)
    for x in range(w - 1, -1, -1):
        row = dist[x]
        if x < w - 1:
            nxt = dist[x + 1]
            for y in range(h):
                lo = max(y - 1, 0)
                hi = min(y + 1, h - 1)
                row[y] = min(row[y], min(nxt[lo], nxt[y], nxt[hi]) + 1)
        for y in range(h - 2, -1, -1):
            row[y] = min(row[y], row[y + 1] + 1)


@njit(cache=True)
def place_entrants(car, hits, div, tclass, sites, n, rng) -> int:
    """Put up to ``n`` new active CAR T cells on random free entry ``sites`` (flat indices); returns placed.
    They enter flagged ACTED: they act from the next step (:func:`car_t_phase` clears the flag)."""
    h = car.shape[1]
    m = sites.size
    placed = 0
    if m == 0:
        return 0
    for _ in range(n):
        for _try in range(20):
            s = sites[int(uniform(rng) * m)]
            x = s // h
            y = s % h
            if car[x, y] == 0 and tclass[x, y] == 0:
                car[x, y] = 1 | ACTED
                hits[x, y] = 0
                div[x, y] = 0
                placed += 1
                break
    return placed


@njit(cache=True)
def census(tclass, base, car, depth) -> np.ndarray:
    """Counts in one pass: high, low, negative, killable (antigen > 0 underlying), CAR T active, exhausted,
    CAR T inside the initial tumour footprint, summed footprint depth (sites) of those."""
    by_class = np.zeros(4, dtype=np.int64)
    by_state = np.zeros(3, dtype=np.int64)
    killable = 0
    inside = 0
    depth_sum = 0
    tc = tclass.ravel()
    bs = base.ravel()
    ct = car.ravel()
    dp = depth.ravel()
    for s in range(tc.shape[0]):  # branch-free counts: measured faster than skipping the empty sites
        c = tc[s]
        by_class[c] += 1
        killable += (c != 0) & (bs[s] > 0.0)
        k = ct[s]
        by_state[k] += 1
        here = (k != 0) & (dp[s] > 0)
        inside += here
        depth_sum += dp[s] if here else 0
    out = np.zeros(8, dtype=np.int64)
    out[0], out[1], out[2] = by_class[1], by_class[2], by_class[3]
    out[3] = killable
    out[4], out[5] = by_state[1], by_state[2]
    out[6] = inside
    out[7] = depth_sum
    return out

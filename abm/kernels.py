"""Numba lattice kernels: the per-cell rules of one step, applied to the model's PropertyLayer arrays in place.

Arrays are ``[x, y]``. Tumour class codes: 0 empty, 1 high, 2 low, 3 negative. CAR T state: 0 none, 1 active,
2 exhausted. Scalar rule parameters travel in one float64 vector ``prm`` indexed by the ``P_*`` constants, built
by :func:`rule_vector`; the random stream is the model's ``numpy.random.Generator``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from .params import CARS_REFERENCE

__all__ = ["rule_vector", "car_t_phase", "tumour_phase", "distance_field", "place_entrants", "census",
           "classify"]

(P_DEATH, P_DEATH_EX, P_RECOVER, P_RECOVERY_HITS, P_HALF, P_HILL, P_KILL, P_DIV, P_DIV_LIMIT, P_EXH_HITS,
 P_MOVES, P_BIAS, P_RANGE, P_ENTRY, P_TUM_DIV, P_PERM_LOSS, P_TRANS_LOSS, P_LOSS_STEPS, P_NEG_BELOW,
 P_HIGH_AT, P_BYSTANDER, N_PRM) = range(22)

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
def _free_neighbour(x, y, first, second, rng):
    """A uniformly random one of the 8 neighbours of (x, y) where both ``first`` and ``second`` are 0/False
    (reservoir sampling: one uniform per free site), or (-1, -1) when none is free."""
    w, h = first.shape
    fx = -1
    fy = -1
    seen = 0
    for k in range(8):
        u = x + _DX[k]
        v = y + _DY[k]
        if 0 <= u < w and 0 <= v < h and not first[u, v] and not second[u, v]:
            seen += 1
            if rng.random() * seen < 1.0:
                fx = u
                fy = v
    return fx, fy


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
def _shuffled_sites(mask_layer, rng) -> np.ndarray:
    """Flat indices of the nonzero sites, in random order (Fisher-Yates on the model's stream)."""
    w, h = mask_layer.shape
    n = 0
    for x in range(w):
        for y in range(h):
            if mask_layer[x, y] != 0:
                n += 1
    idx = np.empty(n, dtype=np.int64)
    k = 0
    for x in range(w):
        for y in range(h):
            if mask_layer[x, y] != 0:
                idx[k] = x * h + y
                k += 1
    for i in range(n - 1, 0, -1):
        j = int(rng.random() * (i + 1))
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
            if 0 <= u < w and 0 <= v < h and tclass[u, v] != 0 and rng.random() < prob:
                tclass[u, v] = 0
                antigen[u, v] = 0.0
                base[u, v] = 0.0
                timer[u, v] = 0
                n += 1
    return n


@njit(cache=True)
def car_t_phase(car, hits, div, stamp, tclass, antigen, base, timer, dist, step, rng, prm) -> int:
    """Every CAR T cell, in random order: death, hit recovery, engage/kill/divide, else biased moves.

    Returns the number of tumour cells killed.
    """
    w, h = car.shape
    order = _shuffled_sites(car, rng)
    kills = 0
    moves = int(prm[P_MOVES])
    rng_sites = prm[P_RANGE]
    for s in order:
        x = s // h
        y = s % h
        # A cell that moved or was born this step may sit on a listed site: act once per step.
        if car[x, y] == 0 or stamp[x, y] == step:
            continue
        stamp[x, y] = step
        pd = prm[P_DEATH] if car[x, y] == 1 else prm[P_DEATH_EX]
        if rng.random() < pd:
            car[x, y] = 0
            hits[x, y] = 0
            div[x, y] = 0
            continue
        if hits[x, y] > 0 and rng.random() < prm[P_RECOVER]:
            hits[x, y] -= 1
        if car[x, y] == 2 and hits[x, y] <= prm[P_RECOVERY_HITS]:
            car[x, y] = 1
        engaged = False
        if car[x, y] == 1:
            # The cell probes every tumour cell in contact (own site and the 8 neighbours); each binds with the
            # Hill probability and one of those that bind, chosen uniformly, is engaged.
            tx = -1
            ty = -1
            seen = 0
            for dx in range(-1, 2):
                for dy in range(-1, 2):
                    u = x + dx
                    v = y + dy
                    if 0 <= u < w and 0 <= v < h and tclass[u, v] != 0 and antigen[u, v] > 0.0:
                        if rng.random() < engage_prob(antigen[u, v], prm[P_HALF], prm[P_HILL]):
                            seen += 1
                            if rng.random() * seen < 1.0:
                                tx = u
                                ty = v
            if seen > 0:
                engaged = True
                hits[x, y] += 1
                if rng.random() < prm[P_KILL]:
                    kills += 1
                    tclass[tx, ty] = 0
                    antigen[tx, ty] = 0.0
                    base[tx, ty] = 0.0
                    timer[tx, ty] = 0
                    if prm[P_BYSTANDER] > 0.0:
                        kills += _bystander(x, y, tclass, antigen, base, timer, rng, prm[P_BYSTANDER])
                    if div[x, y] < prm[P_DIV_LIMIT] and rng.random() < prm[P_DIV]:
                        fx, fy = _free_neighbour(x, y, car, tclass, rng)
                        if fx >= 0:
                            div[x, y] += 1
                            car[fx, fy] = 1
                            hits[fx, fy] = hits[x, y]
                            div[fx, fy] = div[x, y]
                            stamp[fx, fy] = step
                if hits[x, y] > prm[P_EXH_HITS]:
                    car[x, y] = 2
        if engaged:
            continue
        for _ in range(moves):
            d0 = dist[x, y]
            tx = -1
            ty = -1
            if d0 <= rng_sites and rng.random() < prm[P_BIAS]:
                best = 1 << 30
                seen = 0
                for k in range(8):
                    u = x + _DX[k]
                    v = y + _DY[k]
                    if 0 <= u < w and 0 <= v < h:
                        if dist[u, v] < best:
                            best = dist[u, v]
                            seen = 1
                            tx = u
                            ty = v
                        elif dist[u, v] == best:
                            seen += 1
                            if rng.random() * seen < 1.0:
                                tx = u
                                ty = v
            else:
                k = int(rng.random() * 8)
                tx = x + _DX[k]
                ty = y + _DY[k]
                if not (0 <= tx < w and 0 <= ty < h):
                    continue
            if car[tx, ty] != 0:
                continue
            if tclass[tx, ty] != 0 and rng.random() >= prm[P_ENTRY]:
                continue
            car[tx, ty] = car[x, y]
            hits[tx, ty] = hits[x, y]
            div[tx, ty] = div[x, y]
            stamp[tx, ty] = step
            car[x, y] = 0
            hits[x, y] = 0
            div[x, y] = 0
            x = tx
            y = ty
    return kills


@njit(cache=True)
def tumour_phase(tclass, antigen, base, timer, vessel, rng, prm) -> int:
    """Every tumour cell, in random order: transient antigen loss/return, then division into a free neighbour.

    Returns the number of divisions.
    """
    w, h = tclass.shape
    order = _shuffled_sites(tclass, rng)
    births = 0
    neg_below = prm[P_NEG_BELOW]
    high_at = prm[P_HIGH_AT]
    for s in order:
        x = s // h
        y = s % h
        if timer[x, y] > 0:
            timer[x, y] -= 1
            if timer[x, y] == 0:
                antigen[x, y] = base[x, y]
                tclass[x, y] = classify(base[x, y], neg_below, high_at)
        elif prm[P_TRANS_LOSS] > 0.0 and base[x, y] > 0.0 and rng.random() < prm[P_TRANS_LOSS]:
            timer[x, y] = int(prm[P_LOSS_STEPS])
            antigen[x, y] = 0.0
            tclass[x, y] = 3
        if rng.random() < prm[P_TUM_DIV]:
            fx, fy = _free_neighbour(x, y, tclass, vessel, rng)
            if fx >= 0:
                a = base[x, y]
                if prm[P_PERM_LOSS] > 0.0 and rng.random() < prm[P_PERM_LOSS]:
                    a = 0.0
                base[fx, fy] = a
                antigen[fx, fy] = a
                timer[fx, fy] = 0
                tclass[fx, fy] = classify(a, neg_below, high_at)
                births += 1
    return births


@njit(cache=True)
def distance_field(tclass, dist, cap: int) -> None:
    """Chessboard distance (sites) from each site to the nearest tumour cell, capped at ``cap``; two passes."""
    w, h = tclass.shape
    for x in range(w):
        for y in range(h):
            d = 0 if tclass[x, y] != 0 else cap
            if d > 0:
                if x > 0:
                    d = min(d, dist[x - 1, y] + 1)
                    if y > 0:
                        d = min(d, dist[x - 1, y - 1] + 1)
                    if y < h - 1:
                        d = min(d, dist[x - 1, y + 1] + 1)
                if y > 0:
                    d = min(d, dist[x, y - 1] + 1)
            dist[x, y] = d
    for x in range(w - 1, -1, -1):
        for y in range(h - 1, -1, -1):
            d = dist[x, y]
            if d > 0:
                if x < w - 1:
                    d = min(d, dist[x + 1, y] + 1)
                    if y > 0:
                        d = min(d, dist[x + 1, y - 1] + 1)
                    if y < h - 1:
                        d = min(d, dist[x + 1, y + 1] + 1)
                if y < h - 1:
                    d = min(d, dist[x, y + 1] + 1)
                dist[x, y] = d


@njit(cache=True)
def place_entrants(car, hits, div, stamp, tclass, sites, n, step, rng) -> int:
    """Put up to ``n`` new active CAR T cells on random free entry ``sites`` (flat indices); returns placed."""
    h = car.shape[1]
    m = sites.size
    placed = 0
    if m == 0:
        return 0
    for _ in range(n):
        for _try in range(20):
            s = sites[int(rng.random() * m)]
            x = s // h
            y = s % h
            if car[x, y] == 0 and tclass[x, y] == 0:
                car[x, y] = 1
                hits[x, y] = 0
                div[x, y] = 0
                stamp[x, y] = step
                placed += 1
                break
    return placed


@njit(cache=True)
def census(tclass, base, car, depth) -> np.ndarray:
    """Counts in one pass: high, low, negative, killable (antigen > 0 underlying), CAR T active, exhausted,
    CAR T inside the initial tumour footprint, summed footprint depth (sites) of those."""
    w, h = tclass.shape
    out = np.zeros(8, dtype=np.int64)
    for x in range(w):
        for y in range(h):
            c = tclass[x, y]
            if c != 0:
                out[c - 1] += 1
                if base[x, y] > 0.0:
                    out[3] += 1
            k = car[x, y]
            if k != 0:
                out[3 + k] += 1
                if depth[x, y] > 0:
                    out[6] += 1
                    out[7] += depth[x, y]
    return out

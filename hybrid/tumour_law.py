"""The distribution of a linear birth–death tumour's size, from Kendall's (1948) solution: the exact
progression-free probability that the oracle's one ODE solve gives besides P(cure).

One cell's lineage at time t is extinct with probability 1 - s, s = 1 / (e^rho + I), and otherwise holds a
geometric number of cells with mean m = 1 + I e^-rho (rho, I as in :mod:`hybrid.oracle`). Started from n0
cells, the surviving lineages are Binomial(n0, s) ~ Poisson(lam = n0 s), so the tumour size is a compound sum:

- lam large (> 1e4 surviving lineages): the size is normal with mean n0 e^-rho and the compound variance;
- otherwise: sum over k survivors of Poisson(k; lam) P(k geometric sizes sum below the level), each geometric
  taken as exponential with mean m (exact to O(1/m); m is ~1e9 whenever the size is near a progression level).
"""

from __future__ import annotations

import math

from numba import njit

_NORMAL_ABOVE = 1e4


@njit(cache=True)
def _below(rho, log_i, n0, level):
    """(P(tumour size < level), P(size = 0)) at one time, for a tumour started from n0 cells."""
    m_ = max(rho, log_i)
    log_s = -(m_ + math.log(math.exp(rho - m_) + math.exp(log_i - m_)))  # s = 1 / (e^rho + I)
    lam = n0 * math.exp(log_s)
    p_zero = math.exp(-lam)
    if n0 * math.exp(-rho) < 1e-13 * level:
        return 1.0, p_zero  # Markov: P(size >= level) <= E[size] / level
    mean_size = 1.0 + math.exp(log_i - rho)  # of a surviving lineage
    if lam > _NORMAL_ABOVE:
        s = math.exp(log_s)
        mu = n0 * math.exp(-rho)
        var = n0 * (s * (2.0 * mean_size * mean_size - mean_size) - s * s * mean_size * mean_size)
        if var <= 0.0:
            return (1.0 if mu < level else 0.0), p_zero
        return 0.5 * math.erfc(-(level - 0.5 - mu) / math.sqrt(2.0 * var)), p_zero
    x = level / mean_size
    kmax = int(lam + 12.0 * math.sqrt(lam) + 60.0)
    if x > kmax + 12.0 * math.sqrt(kmax) + 60.0:
        return 1.0, p_zero  # even kmax lineages stay far below the level
    # k survivors sum below the level with probability 1 - T_k, T_k = sum_{j<k} e^-x x^j / j! (Poisson tail)
    log_x = math.log(x)
    log_lam = math.log(lam)
    log_term = -x  # log(e^-x x^(k-1) / (k-1)!) at k = 1
    log_w = -lam  # log Poisson(k; lam) at k = 0
    total = p_zero
    t_k = 0.0
    for k in range(1, kmax + 1):
        if k > 1:
            log_term += log_x - math.log(k - 1.0)
        t_k += math.exp(log_term)
        log_w += log_lam - math.log(float(k))
        if t_k >= 1.0:
            break  # every larger k is above the level too
        total += math.exp(log_w) * (1.0 - t_k)
    return min(total, 1.0), p_zero


@njit(cache=True, nogil=True)
def progression_free(rho, log_i, n0, level, out):
    """P(size < level at every grid time up to t) for each patient k (rows) and increasing grid time (columns)
    of ``rho`` and ``log_i``, into ``out``: the running minimum of P(size < level), which is exact while a
    tumour above the level stays above it. n0 (cells) and level (cells) per patient. Once the chance of being
    alive but below the level is negligible, the value stays put: later the patient is cured or progressed."""
    for k in range(rho.shape[0]):
        run = 1.0
        j = 0
        while j < rho.shape[1]:
            below, zero = _below(rho[k, j], log_i[k, j], n0[k], level[k])
            run = min(run, below)
            out[k, j] = run
            j += 1
            if j > 1 and below - zero < 1e-14 and run < 1.0:
                break
        while j < rho.shape[1]:
            out[k, j] = run
            j += 1


@njit(cache=True, nogil=True)
def below_level(rho, log_i, n0, level, out):
    """P(size < level) for each patient k (rows) at each time (columns) of ``rho`` and ``log_i``, into ``out``;
    n0 (cells) and level (cells) per patient."""
    for k in range(rho.shape[0]):
        for j in range(rho.shape[1]):
            out[k, j] = _below(rho[k, j], log_i[k, j], n0[k], level[k])[0]

"""A small counter-free random generator for the jitted kernels: xoshiro256** (Blackman & Vigna 2018).

Why not numpy's Generator: a batch kernel simulates thousands of patients in one call, each with its own
stream, and a Generator cannot be built inside jitted code. Each patient's 256-bit state comes from its own
``numpy.random.SeedSequence`` child, so streams are independent and reproducible whatever the chunking.
Samplers: uniform on [0, 1), Exp(1) and Poisson (inversion for small means, Hörmann's PTRS otherwise, as in
numpy).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_U64 = np.uint64


def seed_states(seeds) -> np.ndarray:
    """(n, 4) uint64 generator states, one row per seed (an int, a SeedSequence or a Generator's
    SeedSequence). Ints are used as SeedSequence entropy."""
    out = np.empty((len(seeds), 4), dtype=np.uint64)
    for k, s in enumerate(seeds):
        ss = s if isinstance(s, np.random.SeedSequence) else np.random.SeedSequence(int(s))
        out[k] = ss.generate_state(4, np.uint64)
    return out


@njit(cache=True)
def _rotl(x, k):
    return (x << _U64(k)) | (x >> _U64(64 - k))


@njit(cache=True)
def next_u64(s):
    result = _rotl(s[1] * _U64(5), 7) * _U64(9)
    t = s[1] << _U64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit(cache=True)
def uniform(s):
    """Uniform on [0, 1) with 53 random bits."""
    return float(next_u64(s) >> _U64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def exponential(s):
    """Exp(1)."""
    return -math.log1p(-uniform(s))


@njit(cache=True)
def poisson(s, lam):
    """Poisson(lam), lam >= 0."""
    if lam <= 0.0:
        return 0
    if lam < 10.0:
        # inversion by sequential search
        k = 0
        prob = math.exp(-lam)
        cum = prob
        u = uniform(s)
        while u > cum and k < 1000:
            k += 1
            prob *= lam / k
            cum += prob
        return k
    slam = math.sqrt(lam)
    loglam = math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        u = uniform(s) - 0.5
        v = uniform(s)
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return int(k)
        if k < 0 or (us < 0.013 and v > us):
            continue
        if (math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b)) <= (
            -lam + k * loglam - math.lgamma(k + 1.0)
        ):
            return int(k)

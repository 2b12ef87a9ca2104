"""A small counter-free random generator for the jitted kernels: xoshiro256** (Blackman & Vigna 2018).

Why not numpy's Generator: a batch kernel simulates thousands of patients in one call, each with its own
stream, and a Generator cannot be built inside jitted code. Each patient's 256-bit state comes from its own
``numpy.random.SeedSequence`` child, so streams are independent and reproducible whatever the chunking.
Samplers: uniform on [0, 1), Exp(1) and Poisson (inversion for small means, Hörmann's PTRS otherwise, as in
numpy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numba import njit

_U64 = np.uint64


class SpawnedSeeds(Sequence):
    """The seeds ``SeedSequence(entropy, spawn_key=(i,))`` for each i in ``ids`` (patient i of a cohort), whose
    generator states :meth:`states` makes in bulk, bit for bit those of NumPy's SeedSequence (an object per
    patient costs ~4 us of Python, more than a simulated patient on the fast path)."""

    def __init__(self, entropy: int | Sequence[int], ids: np.ndarray):
        self.entropy = entropy
        self.ids = np.ascontiguousarray(ids, dtype=np.int64)
        if self.ids.size and self.ids.min() < 0:
            raise ValueError("spawn keys must be >= 0")
        self._words = _entropy_words(entropy)

    def __len__(self) -> int:
        return self.ids.shape[0]

    def __getitem__(self, k):
        if isinstance(k, slice):
            return SpawnedSeeds(self.entropy, self.ids[k])
        return np.random.SeedSequence(self.entropy, spawn_key=(int(self.ids[k]),))

    def states(self, n_words: int = 4) -> np.ndarray:
        """(len, n_words) uint64: ``generate_state(n_words, np.uint64)`` of each seed."""
        out = np.empty((len(self), n_words), dtype=np.uint64)
        _spawned_states(self._words, self.ids, out)
        return out


def derived_seed(entropy: int | Sequence[int], key: int = 0) -> int:
    """The one way to hand a library that takes an integer seed (SALib, emcee, SciPy's optimiser starts, an ABM
    replicate) a stream of its own: the first 32-bit word of ``SeedSequence(entropy, spawn_key=(key,))``, as
    :class:`SpawnedSeeds` makes it. Distinct ``entropy`` tuples (a seed with a purpose tag) are independent."""
    return int(derived_seeds(entropy, np.array([key]))[0])


def derived_seeds(entropy: int | Sequence[int], ids: np.ndarray) -> np.ndarray:
    """:func:`derived_seed` of each key in ``ids`` (int64 array), in bulk."""
    return (SpawnedSeeds(entropy, ids).states(1)[:, 0] & _MASK32).astype(np.int64)


def generator(entropy: int | Sequence[int], key: int = 0) -> np.random.Generator:
    """A NumPy Generator on the stream ``SeedSequence(entropy, spawn_key=(key,))``."""
    return np.random.default_rng(SpawnedSeeds(entropy, np.array([key]))[0])


def _entropy_words(entropy: int | Sequence[int]) -> np.ndarray:
    """NumPy's coercion of SeedSequence entropy to 32-bit words: each int little-endian (0 is one word)."""
    values = [entropy] if isinstance(entropy, int | np.integer) else list(entropy)
    words = []
    for v in values:
        v = int(v)
        if v < 0:
            raise ValueError("seed entropy must be >= 0")
        words.append(v & 0xFFFFFFFF)
        v >>= 32
        while v:
            words.append(v & 0xFFFFFFFF)
            v >>= 32
    return np.array(words, dtype=np.uint64)


# NumPy's SeedSequence constants (numpy/random/bit_generator.pyx, after Melissa O'Neill's seed_seq_fe)
_MASK32 = np.uint64(0xFFFFFFFF)
_INIT_A = np.uint64(0x43B0D7E5)
_MULT_A = np.uint64(0x931E8875)
_INIT_B = np.uint64(0x8B51F9DD)
_MULT_B = np.uint64(0x58F38DED)
_MIX_MULT_L = np.uint64(0xCA01F9DD)
_MIX_MULT_R = np.uint64(0x4973F715)
_XSHIFT = np.uint64(16)
_POOL = 4


@njit(cache=True, inline="always")
def _hashmix(value, hc):
    value = (value ^ hc[0]) & _MASK32
    hc[0] = (hc[0] * _MULT_A) & _MASK32
    value = (value * hc[0]) & _MASK32
    return value ^ (value >> _XSHIFT)


@njit(cache=True, inline="always")
def _mix(x, y):
    r = (_MIX_MULT_L * x - _MIX_MULT_R * y) & _MASK32
    return r ^ (r >> _XSHIFT)


@njit(cache=True)
def _spawned_states(words, ids, out):
    """SeedSequence(entropy words, spawn_key=(ids[r],)).generate_state(out.shape[1], uint64) into out[r]."""
    n_run = max(words.shape[0], _POOL)  # a spawned sequence pads its entropy with zeros to the pool size
    ent = np.zeros(n_run + 2, dtype=np.uint64)
    ent[:words.shape[0]] = words
    pool = np.zeros(_POOL, dtype=np.uint64)
    hc = np.zeros(1, dtype=np.uint64)
    for r in range(ids.shape[0]):
        key = np.uint64(ids[r])
        n_ent = n_run + 1
        ent[n_run] = key & _MASK32
        if key > _MASK32:
            ent[n_run + 1] = key >> np.uint64(32)
            n_ent += 1
        hc[0] = _INIT_A
        for i in range(_POOL):
            pool[i] = _hashmix(ent[i] if i < n_ent else np.uint64(0), hc)
        for i_src in range(_POOL):
            for i_dst in range(_POOL):
                if i_src != i_dst:
                    pool[i_dst] = _mix(pool[i_dst], _hashmix(pool[i_src], hc))
        for i_src in range(_POOL, n_ent):
            for i_dst in range(_POOL):
                pool[i_dst] = _mix(pool[i_dst], _hashmix(ent[i_src], hc))
        h = _INIT_B
        for w in range(out.shape[1]):
            pair = np.uint64(0)
            for half in range(2):  # two 32-bit words, little-endian, make one 64-bit word
                v = pool[(2 * w + half) % _POOL] ^ h
                h = (h * _MULT_B) & _MASK32
                v = (v * h) & _MASK32
                v ^= v >> _XSHIFT
                pair |= v << np.uint64(32 * half)
            out[r, w] = pair


def seed_states(seeds) -> np.ndarray:
    """(n, 4) uint64 generator states, one row per seed (an int, a SeedSequence or a Generator's
    SeedSequence; or :class:`SpawnedSeeds`, made in bulk). Ints are used as SeedSequence entropy."""
    if isinstance(seeds, SpawnedSeeds):
        return seeds.states()
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

"""Bulk seeding (hybrid.rng.SpawnedSeeds) against NumPy's SeedSequence, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import hybrid
from hybrid.rng import SpawnedSeeds, seed_states

ENTROPIES = (0, 1, 2026, 2**32 - 1, 2**32, 2**40 + 5, 12345678901234567890, (3, 0x43415254), (2**33, 1, 2, 3, 4))
IDS = np.array([0, 1, 2, 5, 999_999, 2**31, 2**32 - 1, 2**32, 2**35 + 7])


@pytest.mark.parametrize("entropy", ENTROPIES, ids=str)
def test_spawned_states_are_numpys_bit_for_bit(entropy):
    seeds = SpawnedSeeds(entropy, IDS)
    for n_words in (1, 4, 13):
        ref = np.array([np.random.SeedSequence(entropy, spawn_key=(int(i),)).generate_state(n_words, np.uint64)
                        for i in IDS])
        np.testing.assert_array_equal(seeds.states(n_words), ref)


def test_spawned_seeds_stand_for_the_seed_sequences_they_name():
    seeds = SpawnedSeeds(7, np.arange(50))
    np.testing.assert_array_equal(seed_states(seeds), seed_states(np.random.SeedSequence(7).spawn(50)))
    assert seeds[3].spawn_key == (3,) and len(seeds[10:20]) == 10
    params = [hybrid.Parameters.from_preset("kimmel2021")] * 50
    a = hybrid.simulate_batch(params, seeds)
    b = hybrid.simulate_batch(params, np.random.SeedSequence(7).spawn(50))
    assert a.equals(b)
    with pytest.raises(ValueError, match=">= 0"):
        SpawnedSeeds(-1, np.arange(3))

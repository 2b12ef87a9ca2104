"""The plain-Python reference of the hybrid algorithm (hybrid/reference.py) against Kendall's exact cure
probability, with a fixed seed and a tolerance of 4 standard errors.

The setting is small so the test is fast: a 1e8-cell tumour growing at 0.2/day and a switching threshold of 10
cells, so the stochastic phase holds a few dozen events per patient and P(cure) is well inside (0, 1)."""

import math

import numpy as np
import pytest

from hybrid import CartsimError, Dose, Parameters, SimOptions, cure_probability_exact
from hybrid.reference import simulate_patient_reference, simulate_reference

Z = 4.0
N_PATIENTS = 300
PARAMS = Parameters.from_preset("kimmel2021", B0=1e8, r_B=0.2)
OPTIONS = SimOptions(t_end=730.0, threshold=10.0)


def test_reference_cure_probability_matches_kendall():
    results = simulate_reference(PARAMS, N_PATIENTS, 2026, OPTIONS)
    p = np.mean([r["outcome"] == "cure" for r in results])
    exact = cure_probability_exact(PARAMS, OPTIONS.t_end, OPTIONS)
    # the standard error from the exact value: it cannot be 0 when the sample happens to be all one outcome
    se = math.sqrt(exact * (1 - exact) / N_PATIENTS)
    assert 0.05 < exact < 0.95, "the setting must leave both outcomes likely"
    assert abs(p - exact) <= Z * se, f"{p} vs exact {exact}: {(p - exact) / se:+.2f} SE"
    for r in results:
        assert r["outcome"] in ("cure", "progression", "censored")
        assert 0.0 < r["t_event_days"] <= OPTIONS.t_end


def test_reference_is_reproducible():
    a = simulate_patient_reference(PARAMS, np.random.default_rng(5), OPTIONS)
    b = simulate_patient_reference(PARAMS, np.random.default_rng(5), OPTIONS)
    assert a == b


def test_reference_rejects_what_it_does_not_cover():
    with pytest.raises(CartsimError):
        simulate_patient_reference(PARAMS, np.random.default_rng(0), SimOptions(method="tau"))
    with pytest.raises(CartsimError):
        simulate_patient_reference(PARAMS, np.random.default_rng(0), SimOptions(doses=(Dose(day=30.0),)))

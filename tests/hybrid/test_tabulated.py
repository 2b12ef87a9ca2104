"""The tabulated fast path (hybrid.tabulated) against the general engine and Kendall's exact P(cure).

Both paths run the same algorithm with the same random draws in the same order; they differ only in where the
ODE is integrated (once per distinct patient, or inside every patient's loop), so they agree to the ODE
tolerance: patient by patient where the outcome is deterministic, and in law (4 standard errors) otherwise.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import hybrid
from hybrid import Dose, Parameters, SimOptions
from hybrid.catalog import get_model
from hybrid.simulate import tabulated_applies

N = 3000
FAST = SimOptions()
GENERAL = SimOptions(tabulated=False)


def _both(params, n, options=FAST, seed=7):
    seeds = np.random.SeedSequence(seed).spawn(n)
    fast = hybrid.simulate_batch([params] * n, seeds, options)
    general = hybrid.simulate_batch([params] * n, seeds, dataclasses.replace(options, tabulated=False), exact=False)
    return fast, general


CASES = {
    "kimmel2021 r_B 0.1": (Parameters.from_preset("kimmel2021", r_B=0.1), FAST),  # exact P(cure) 0.76
    "r_B 0.42, second dose day 30 with lymphodepletion": (
        Parameters.from_preset("kimmel2021", r_B=0.42),
        SimOptions(doses=(Dose(30.0, 1e9, lymphodepletion=True),), progression_factor=1e3)),  # exact 0.55
    "60 tumour cells at infusion: stochastic from day 0": (
        Parameters.from_preset("kimmel2021", B0=60.0, r_B=0.3, gamma_B=0.6),
        SimOptions(progression_factor=1e9)),  # exact 0.39
    "multiphasic_ck, gamma_B 1.84, B0 1e9": (
        Parameters.from_preset(model="multiphasic_ck").replace(gamma_B=1.84, B0=1e9), FAST),  # exact 0.51
}


@pytest.mark.parametrize("case", list(CASES))
def test_fast_and_general_paths_give_the_same_cure_probability(case):
    params, options = CASES[case]
    fast, general = _both(params, N, options)
    exact = float(fast["p_cure_exact"].iloc[0])
    assert 0.3 < exact < 0.8  # a case where chance decides
    p_fast = (fast["outcome"] == "cure").mean()
    p_general = (general["outcome"] == "cure").mean()
    se = math.sqrt(exact * (1 - exact) / N)
    assert abs(p_fast - exact) <= 4 * se, (p_fast, exact, se)
    assert abs(p_fast - p_general) <= 4 * math.sqrt(2) * se, (p_fast, p_general)
    # the same draws in the same order: a patient's fate changes only where an ODE-tolerance shift of an event
    # time moves it across another event or the end of follow-up
    same = (fast["outcome"] == general["outcome"]).mean()
    assert same >= 0.98, same
    mean_events = fast["n_events"].mean()
    assert mean_events == pytest.approx(general["n_events"].mean(), rel=0.02)


def test_deterministic_outcomes_are_identical():
    """A tumour that outgrows the CAR T cells never goes stochastic: every patient progresses on the same day
    by both paths (to the ODE tolerance), with the same nadir, CAR T peak and exposure."""
    params = Parameters.from_preset("kimmel2021", r_B=0.5)
    fast, general = _both(params, 20)
    assert (fast["outcome"] == "progression").all() and (general["outcome"] == "progression").all()
    assert (fast["n_events"] == 0).all()
    for col in ("t_event_days", "nadir_cells", "nadir_day", "cart_peak_cells", "cart_peak_day", "cart_auc_0_28"):
        np.testing.assert_allclose(fast[col], general[col], rtol=1e-4, err_msg=col)
    # censored before anything happens: the same readouts
    short = SimOptions(t_end=5.0)
    fast, general = _both(Parameters.from_preset("kimmel2021"), 5, short)
    assert (fast["outcome"] == "censored").all() and (general["outcome"] == "censored").all()
    np.testing.assert_allclose(fast["nadir_cells"], general["nadir_cells"], rtol=1e-5)


def test_differences_shrink_with_the_ode_tolerance():
    """Patient by patient, the event days of the two paths differ by the ODE error: 100x tighter rtol, much
    closer days."""
    params = Parameters.from_preset("kimmel2021")
    gaps = []
    for rtol in (1e-6, 1e-9):
        fast, general = _both(params, 200, SimOptions(rtol=rtol), seed=3)
        same = fast["n_events"] == general["n_events"]
        rel = (fast["t_event_days"] / general["t_event_days"] - 1.0).abs()[same]
        gaps.append(float(rel.median()))
    assert gaps[1] < gaps[0] / 20, gaps


def test_identical_patients_share_a_table_without_sharing_state():
    """A cohort of identical patients builds one table; each patient's readouts equal those of the same patient
    run alone (bit for bit), and interleaving different patients changes nothing."""
    p = Parameters.from_preset("kimmel2021")
    q = p.replace(r_B=0.15)
    seeds = list(range(12))
    mixed = [p, p, p, q, q, p, p, q, p, p, p, p]
    together = hybrid.simulate_batch(mixed, seeds)
    alone = [hybrid.simulate_batch([mixed[i]], [seeds[i]]).iloc[0] for i in range(12)]
    for i, row in enumerate(alone):
        assert row.to_dict() == together.iloc[i].to_dict()


def test_the_fast_path_applies_only_where_it_is_exact():
    assert tabulated_applies(get_model("kimmel2021"), FAST)
    assert tabulated_applies(get_model("multiphasic_ck"), FAST)
    assert not tabulated_applies(get_model("kimmel2021"), GENERAL)
    assert not tabulated_applies(get_model("kimmel2021"), SimOptions(method="tau"))
    assert not tabulated_applies(get_model("kimmel2021_bfeedback"), FAST)  # B acts on C
    assert not tabulated_applies(get_model("antigen_escape"), FAST)  # two tumour clones
    assert not tabulated_applies(get_model("cartmath"), FAST)

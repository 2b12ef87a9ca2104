"""The fast model and the plain per-agent Mesa reference implement the same rules: same initial state, and
statistically indistinguishable trajectories (their random streams differ, so only distributions can match)."""

import numpy as np
import pytest

from abm import ReferenceTumourModel, TumourModel, scenario_params

TINY = {"width": 30, "height": 30}
CASES = {
    "mixed_negative_iv": ("mixed_negative", {}),
    "many_rules_it": ("uniform_high", {"route": "intratumoural", "bystander_kill_prob": 0.2,
                                       "transient_loss_per_day": 0.5, "antigen_loss_prob": 0.05,
                                       "exhaustion_hits": 3, "recovery_hits": 1, "frac_high": 0.6,
                                       "frac_low": 0.4, "antigen_mode": "continuous"}),
}


def _outcome(cls, params, seed, steps):
    m = cls(seed=seed, **params)
    for _ in range(steps):
        m.step()
    return m.tumour_cells, m.car_t_cells, np.nan_to_num(m.antigen_negative_fraction)


@pytest.mark.parametrize("cls", [TumourModel, ReferenceTumourModel])
def test_initial_antigen_mix_follows_the_parameters(cls):
    """Each initial tumour cell is antigen-negative with probability frac_negative: the observed fraction lies
    within 4 binomial standard errors of it (a mixed 60x60 grid holds ~1800 cells)."""
    p = scenario_params("mixed_negative", {"width": 60, "height": 60})
    m = cls(seed=9, **p)
    n, f = m.tumour_cells, p["frac_negative"]
    assert n > 500
    assert abs(m.antigen_negative_fraction - f) <= 4 * np.sqrt(f * (1 - f) / n)


@pytest.mark.parametrize("case", list(CASES))
def test_fast_and_reference_agree_in_distribution(case):
    scenario, over = CASES[case]
    p = scenario_params(scenario, {**TINY, **over})
    n, steps = 30, 36
    fast = np.array([_outcome(TumourModel, p, s, steps) for s in range(n)])
    ref = np.array([_outcome(ReferenceTumourModel, p, 1000 + s, steps) for s in range(n)])
    for k, name in enumerate(("tumour cells", "CAR T cells", "negative fraction")):
        diff = fast[:, k].mean() - ref[:, k].mean()
        se = np.sqrt(fast[:, k].var(ddof=1) / n + ref[:, k].var(ddof=1) / n)
        # 4.5 standard errors: a false alarm about once in 10^5 runs per comparison.
        assert abs(diff) <= 4.5 * se + 1e-9, f"{case}: {name} differs by {diff:.2f} (SE {se:.2f})"
    # Both actually did something, so the comparison is not between two empty grids.
    start = TumourModel(seed=0, **p)
    assert fast[:, 1].mean() > 0 and ref[:, 1].mean() > 0
    assert abs(fast[:, 0].mean() - start.tumour_cells) > 10

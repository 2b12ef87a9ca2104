"""Facts from Kimmel et al. (2021) that the model must reproduce (DESIGN §2)."""

import numpy as np
import pytest

from hybrid import MODELS, Parameters, SimOptions, cure_probability_exact, simulate_batch, solve_trajectory
from hybrid.units import cells_to_blood

TABLE_1 = {"K_N": 2.50e11, "K_C": 6.96e10, "r_N": 0.170, "rho_C": 0.0251, "a": 0.423, "b": 0.525, "gamma_B": 1.15,
           "k_B": 2.024e9, "N0": 3.00e9, "C0": 1.80e8, "B0": 9.486e10}
"""Kimmel et al. 2021, Table 1 (cells, days); r_B is given there as a range, 0.01-0.5 per day."""
# Moffitt ZUMA-1 CAR T counts, cells/µL: median (IQR)
MOFFITT = {7: (16.5, 57.5), 14: (3.8, 31.1), 28: (0.6, 6.1), 90: (0.01, 0.4)}


def mean_field(params: Parameters, days: np.ndarray):
    return solve_trajectory(params, days, SimOptions(rtol=1e-9))


def test_the_defaults_are_table_1():
    spec = MODELS["kimmel2021"]
    assert {n: spec.param_specs[n].default for n in TABLE_1} == TABLE_1
    assert spec.param_specs["r_B"].plausible == (0.01, 0.5)
    assert all("Table 1" in spec.param_specs[n].source for n in TABLE_1)


def test_car_t_peak_near_day_7_and_back_to_the_infused_level_by_day_90():
    p = Parameters.from_preset("kimmel2021")
    t = np.linspace(0, 90, 9001)
    c = mean_field(p, t)["C"].to_numpy()
    assert 6.0 <= t[c.argmax()] <= 8.0
    assert 0.5 * p.C0 <= c[-1] <= 2.0 * p.C0


def test_car_t_counts_fall_within_the_moffitt_interquartile_ranges():
    p = Parameters.from_preset("kimmel2021")
    days = np.array(sorted(MOFFITT), dtype=float)
    per_ul = cells_to_blood(mean_field(p, days)["C"].to_numpy())
    for d, v in zip(days, per_ul, strict=True):
        lo, hi = MOFFITT[int(d)]
        assert lo <= v <= hi, f"day {d}: {v:.3g} cells/µL outside ({lo}, {hi})"


def test_tumour_eradication_is_deterministically_unstable():
    """The mean field never reaches zero: it dips, then regrows past progression."""
    p = Parameters.from_preset("kimmel2021")
    b = mean_field(p, np.linspace(0, 730, 7301))["B"].to_numpy()
    assert b.min() > 0
    assert b[-1] > 1.2 * p.B0


@pytest.mark.parametrize("r_b", [0.10, 0.12, 0.15, 0.18])
def test_deterministic_progression_between_days_200_and_500(r_b):
    p = Parameters.from_preset("kimmel2021", r_B=r_b)
    t = np.linspace(0, 730, 7301)
    b = mean_field(p, t)["B"].to_numpy()
    day = t[np.argmax(b >= 1.2 * p.B0)]
    assert 200 <= day <= 500


def test_cure_times_mostly_between_days_20_and_80():
    p = Parameters.from_preset("kimmel2021")
    n = 2000
    df = simulate_batch([p] * n, np.random.SeedSequence(4).spawn(n), exact=False)
    cure_days = df.loc[df["outcome"] == "cure", "t_event_days"].to_numpy()
    assert cure_days.size > 0.5 * n
    assert np.mean((cure_days >= 20) & (cure_days <= 80)) > 0.5
    assert np.mean(cure_days <= 140) > 0.99
    prog_days = df.loc[df["outcome"] == "progression", "t_event_days"].to_numpy()
    assert np.mean((prog_days >= 200) & (prog_days <= 500)) > 0.9


def test_cure_probability_rises_with_k_c_and_falls_with_n0():
    base = Parameters.from_preset("kimmel2021")
    kc = [cure_probability_exact(base.replace(K_C=k)) for k in (6.15e10, 6.96e10, 9.65e10)]
    n0 = [cure_probability_exact(base.replace(N0=x)) for x in (1e9, 3e9, 1e10)]
    assert kc[0] < kc[1] < kc[2]
    assert n0[0] > n0[1] > n0[2]

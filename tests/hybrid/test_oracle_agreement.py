"""The hybrid Monte Carlo against Kendall's exact oracle beyond P(cure) at one setting: with a second infusion
(with and without lymphodepletion), and the whole distribution of cure times.

Fixed seeds; P(cure) within 4 standard errors (computed from the exact value, so an all-one-outcome sample
cannot pass by having SE 0); cure times by a one-sample Kolmogorov–Smirnov test against Kendall's P(cure by t)
curve conditioned on cure by the end of follow-up."""

import math

import numpy as np
import pytest
from scipy import stats

from hybrid import Dose, Parameters, SimOptions, cure_probability_exact, simulate_batch
from hybrid import progression_free_exact as hybrid_pfs

Z = 4.0

SECOND_DOSE = {
    # r_B = 0.13/day: one infusion cures 6%, a second of C0 cells on day 28 (no lymphodepletion) about half
    "no_lymphodepletion": (0.13, Dose(day=28.0, car_t_cells=1.8e8, lymphodepletion=False)),
    # r_B = 0.22/day: hopeless after one infusion (the mean field progresses on day 168); lymphodepletion and a
    # second infusion on day 140, while the tumour regrows but before it progresses, cure a third. (A dose after
    # progression cannot be compared: the Monte Carlo stops a patient at progression, Kendall's formula does not.)
    "lymphodepletion": (0.22, Dose(day=140.0, car_t_cells=1.8e8, lymphodepletion=True)),
}


@pytest.mark.parametrize("case", list(SECOND_DOSE))
def test_monte_carlo_matches_the_oracle_with_a_second_dose(case):
    r_b, dose = SECOND_DOSE[case]
    p = Parameters.from_preset("kimmel2021", r_B=r_b)
    opts = SimOptions(doses=(dose,))
    n = 2000
    df = simulate_batch([p] * n, np.random.SeedSequence(77).spawn(n), opts, exact=False)
    exact = cure_probability_exact(p, opts.t_end, opts)
    without = cure_probability_exact(p, opts.t_end, SimOptions())
    assert 0.2 < exact < 0.9 and exact > without + 0.25, "the setting must make the second dose decide"
    p_mc = float((df["outcome"] == "cure").mean())
    se = math.sqrt(exact * (1 - exact) / n)
    assert abs(p_mc - exact) <= Z * se, f"{case}: MC {p_mc:.4f} vs exact {exact:.4f} ({(p_mc - exact) / se:+.2f} SE)"


def cure_time_cdf(p: Parameters, opts: SimOptions):
    """Kendall's distribution of the cure day given cure by t_end: P(cure by t) / P(cure by t_end)."""
    total = cure_probability_exact(p, opts.t_end, opts)

    def cdf(t):
        t = np.asarray(t, dtype=float)
        order = np.argsort(t)
        out = np.empty_like(t)
        out[order] = cure_probability_exact(p, t[order], opts) / total
        return out

    return cdf


def test_cure_times_follow_kendalls_curve():
    p = Parameters.from_preset("kimmel2021")  # P(cure by day 730) = 0.76
    opts = SimOptions()
    n = 1500
    df = simulate_batch([p] * n, np.random.SeedSequence(2024).spawn(n), opts, exact=False)
    days = df.loc[df["outcome"] == "cure", "t_event_days"].to_numpy()
    assert len(days) > 900
    res = stats.kstest(days, cure_time_cdf(p, opts))
    assert res.pvalue > 1e-3, f"KS D = {res.statistic:.4f}, p = {res.pvalue:.2e} over {len(days)} cure times"


def test_the_ks_check_can_fail():
    """The same check rejects cure times of a different patient (r_B 0.115 instead of 0.1): it has power."""
    p = Parameters.from_preset("kimmel2021")
    other = p.replace(r_B=0.115)
    opts = SimOptions()
    n = 1500
    df = simulate_batch([other] * n, np.random.SeedSequence(2024).spawn(n), opts, exact=False)
    days = df.loc[df["outcome"] == "cure", "t_event_days"].to_numpy()
    assert stats.kstest(days, cure_time_cdf(p, opts)).pvalue < 1e-3


@pytest.mark.parametrize("r_b", [0.1, 0.12])
def test_exact_progression_free_curve_matches_the_monte_carlo(r_b):
    """hybrid.progression_free_exact (Kendall's law of the tumour size, one ODE solve) against the hybrid
    Monte Carlo's fraction progression-free at several days, within 4 SE."""
    p = Parameters.from_preset("kimmel2021", r_B=r_b)
    days = np.array([150.0, 250.0, 300.0, 365.0, 450.0, 600.0])
    exact = hybrid_pfs([p], days)[0]
    n = 3000
    df = simulate_batch([p] * n, np.random.SeedSequence(8).spawn(n), SimOptions(), exact=False)
    prog = (df["outcome"] == "progression").to_numpy()
    mc = np.array([1 - np.mean(prog & (df["t_event_days"].to_numpy() <= d)) for d in days])
    se = np.sqrt(np.maximum(exact * (1 - exact), 1e-4) / n)
    assert np.any((exact > 0.05) & (exact < 0.95)), "the days must see progressions happen"
    assert np.all(np.abs(mc - exact) <= Z * se), f"MC {mc.round(4)} vs exact {exact.round(4)}"


def test_identical_patients_share_one_oracle_solve_with_the_same_result():
    """simulate_batch solves the oracle once per distinct patient (parameters and doses): the values equal the
    per-patient solve exactly, in the patients' order."""
    a = Parameters.from_preset("kimmel2021", r_B=0.11)
    b = Parameters.from_preset("kimmel2021", r_B=0.12)
    rows = [a, b, a, a, b]
    # the general path (the tabulated one reads P(cure) off its own table's solve)
    opts = SimOptions(doses=(Dose(day=28.0, car_t_cells=1e8),), tabulated=False)
    got = simulate_batch(rows, list(range(5)), opts)["p_cure_exact"].to_numpy()
    want = [cure_probability_exact(r, opts.t_end, opts) for r in rows]
    assert got[0] != got[1]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("model", ["kimmel2021", "kimmel2021_crs", "multiphasic_ck"])
def test_patients_differing_only_in_tumour_share_one_solve(model):
    """Patients that differ only in their tumour at infusion share one oracle solve (P(cure) = q^B0, the model's
    tumour start found from its description): equal to each patient's own solve to 1e-9 relative (in log P, so
    also where P underflows), over days and burdens from 1 to 1e12 cells, with a second dose."""
    from hybrid import get_model

    spec = get_model(model)
    b0 = spec.tumour_start
    assert spec.shared_tumour_start == spec.param_names.index(b0)
    base = Parameters.from_preset(spec.presets and next(iter(spec.presets)) or None, model=model)
    other = base.replace(**{spec.param_names[0]: base[spec.param_names[0]] * 1.1})
    rows = [p.replace(**{b0: v}) for p in (base, other) for v in (1.0, 3.0, 1e4, 1e9, 1e12)]
    opts = SimOptions(doses=(Dose(day=21.0, car_t_cells=5e7),))
    days = np.array([0.0, 10.0, 60.0, 365.0, 730.0])
    shared = cure_probability_exact(rows, days, opts, log=True)
    alone = np.array([cure_probability_exact(r, days, opts, log=True) for r in rows])
    finite = np.isfinite(alone)
    assert (np.isfinite(shared) == finite).all() and (alone[:, 1:] < 0).any()
    np.testing.assert_allclose(shared[finite], alone[finite], rtol=1e-9, atol=0.0)


def test_a_tumour_start_that_enters_the_dynamics_is_not_shared():
    """Sharing is refused where the model's description lets B0 act beyond the tumour's initial value: named in
    a rate law, a phase switch, or another species' start; or where Kendall's formula does not apply."""
    from dataclasses import replace

    from hybrid import get_model

    spec = get_model("kimmel2021")
    assert spec.shared_tumour_start is not None
    laws = list(spec.rate_laws)
    laws[1] = f"({laws[1]}) * B0 / B0"
    assert replace(spec, rate_laws=tuple(laws)).shared_tumour_start is None
    assert replace(spec, initial=tuple("B0" if n == "C0" else n for n in spec.initial)).shared_tumour_start is None
    assert get_model("kimmel2021_bfeedback").shared_tumour_start is None  # B acts on C: no Kendall formula
    assert get_model("antigen_escape").shared_tumour_start is None  # the start is split between clones

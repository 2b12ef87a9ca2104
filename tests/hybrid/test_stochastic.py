"""The stochastic kernels against exact results: linear birth–death theory and Kendall's formula.

Every statistical check uses a fixed seed and a tolerance of 4 standard errors around an exact value."""

import math

import numpy as np
import pytest
from helpers.birth_death import run as run_birth_death
from helpers.kimmel import kimmel_rhs

from hybrid import Parameters, SimOptions, cure_probability_exact, engine, simulate_batch

Z = 4.0
N_PATIENTS = 4000


def cure_fraction(params: Parameters, options: SimOptions, seed: int, n: int = N_PATIENTS):
    df = simulate_batch([params] * n, np.random.SeedSequence(seed).spawn(n), options, exact=False)
    p = float((df["outcome"] == "cure").mean())
    return p, math.sqrt(p * (1 - p) / n), df


def assert_within(observed: float, expected: float, se: float) -> None:
    assert abs(observed - expected) <= Z * se, f"{observed} vs exact {expected}: {(observed - expected) / se:+.2f} SE"


# ---- constant-rate linear birth–death through the exact SSA kernel ----

def test_birth_death_mean_and_extinction_by_t():
    lam, mu, n0, t, n = 1.0, 0.8, 10, 5.0, N_PATIENTS
    outcome, x = run_birth_death(lam, mu, n0, t, n, seed=1)
    growth = math.exp((lam - mu) * t)
    # mean and variance of a linear birth–death process (Bailey 1964)
    mean = n0 * growth
    var = n0 * (lam + mu) / (lam - mu) * growth * (growth - 1)
    assert_within(x.mean(), mean, math.sqrt(var / n))
    # Kendall: P(extinct by t) = [mu (e^{(mu-lam)t} - 1) / (mu e^{(mu-lam)t} - lam)]^n0
    r = math.exp((mu - lam) * t)
    p0 = (mu * (r - 1) / (mu * r - lam)) ** n0
    pe = float(np.mean(outcome == engine.OUTCOME_CURE))
    assert_within(pe, p0, math.sqrt(p0 * (1 - p0) / n))


def test_birth_death_ultimate_extinction():
    """Supercritical: P(extinction) = (mu/lam)^n0. A lineage that reaches 200 cells is stopped; its own
    extinction probability, (mu/lam)^200, is negligible."""
    lam, mu, n0, n = 1.0, 0.5, 2, N_PATIENTS
    outcome, _ = run_birth_death(lam, mu, n0, 200.0, n, seed=2, stop_at=200.0)
    assert np.all(outcome != engine.OUTCOME_CENSORED)
    p = (mu / lam) ** n0
    assert_within(float(np.mean(outcome == engine.OUTCOME_CURE)), p, math.sqrt(p * (1 - p) / n))


def test_birth_death_tau_leaping_converges_to_the_exact_moments():
    """Midpoint tau-leaping is second order in the mean, so at the default leap control (eps = 0.03) the
    mean holds within 4 SE; the variance carries a leap-size error (about 8% low there), so both moments are
    held to 4 SE at eps = 0.003."""
    lam, mu, n0, t, n = 1.0, 0.8, 2000, 2.0, 2000
    growth = math.exp((lam - mu) * t)
    var = n0 * (lam + mu) / (lam - mu) * growth * (growth - 1)
    _, x = run_birth_death(lam, mu, n0, t, n, seed=4, method_tau=True)
    assert_within(x.mean(), n0 * growth, math.sqrt(var / n))
    _, x = run_birth_death(lam, mu, n0, t, n, seed=3, method_tau=True, tau_eps=0.003)
    assert_within(x.mean(), n0 * growth, math.sqrt(var / n))
    assert_within(x.var(ddof=1), var, var * math.sqrt(2.0 / (n - 1)))


# ---- the Kimmel patient: Monte Carlo against Kendall's exact P(cure) ----

@pytest.mark.parametrize("r_b", [0.10, 0.12])
def test_kimmel_cure_probability_matches_kendall(r_b):
    params = Parameters.from_preset("kimmel2021", r_B=r_b)
    options = SimOptions()
    p, se, _ = cure_fraction(params, options, seed=2021)
    exact = cure_probability_exact(params, options.t_end, options)
    assert 0.05 < exact < 0.95  # a discriminating case, not a trivial one
    assert_within(p, exact, se)


@pytest.mark.parametrize("threshold", [10.0, 100.0, 1000.0])
def test_cure_probability_does_not_depend_on_the_threshold(threshold):
    """The paper's claim: the switching threshold barely matters. Each threshold agrees with the exact
    value, hence with each other, within Monte Carlo error."""
    params = Parameters.from_preset("kimmel2021")
    options = SimOptions(threshold=threshold)
    p, se, df = cure_fraction(params, options, seed=7 + int(threshold))
    assert_within(p, cure_probability_exact(params, options.t_end, options), se)
    assert df["n_events"].mean() > 0.5 * threshold  # the stochastic phase really ran


def test_tau_leaping_at_a_high_threshold_agrees_with_exact_ssa():
    params = Parameters.from_preset("kimmel2021")
    tau = SimOptions(threshold=1e4, method="tau")
    p_tau, se_tau, df = cure_fraction(params, tau, seed=11)
    assert df["n_leaps"].mean() > 10  # leaps were taken, then exact steps near extinction
    p_ssa, se_ssa, _ = cure_fraction(params, SimOptions(threshold=100.0), seed=12)
    assert abs(p_tau - p_ssa) <= Z * math.hypot(se_tau, se_ssa)
    assert_within(p_tau, cure_probability_exact(params, tau.t_end, tau), se_tau)


def test_kendall_oracle_reduces_to_the_constant_rate_formula():
    """With no CAR T cells the tumour is a constant-rate process: birth r_B + d_B, death d_B."""
    params = Parameters.from_preset("kimmel2021", C0=0.0, B0=3.0, r_B=0.2, d_B=0.5)
    t = np.array([1.0, 5.0, 20.0])
    lam, mu = 0.7, 0.5
    r = np.exp((mu - lam) * t)
    expected = (mu * (r - 1) / (mu * r - lam)) ** 3
    got = cure_probability_exact(params, t, SimOptions(rtol=1e-10))
    np.testing.assert_allclose(got, expected, rtol=1e-8)


@pytest.mark.slow
@pytest.mark.parametrize(("method", "threshold"), [("ssa", 100.0), ("tau", 1e4), ("ssa", 10.0)])
def test_large_cohort_agrees_with_kendall(method, threshold):
    """20 000 patients (SE ~ 0.003): small enough to expose a biased method, as it did for tau-leaping
    that froze the state over a leap (+0.013)."""
    params = Parameters.from_preset("kimmel2021")
    options = SimOptions(threshold=threshold, method=method)
    p, se, _ = cure_fraction(params, options, seed=20_000 + int(threshold), n=20_000)
    assert_within(p, cure_probability_exact(params, options.t_end, options), se)


def test_a_surely_cured_patient_s_oracle_holds_its_readings_within_the_stated_bound():
    """The oracle's solve ends once log(e^rho + I) reaches EXTINCT_LOG (100) and holds its readings. Against
    Kendall's formula integrated by SciPy (LSODA, rtol 1e-10) along Kimmel's equations written out (helpers): log q
    per cell agrees to 1e-5 relative before the stop, and within e^-100 absolutely after it, as the oracle's
    docstring states (extinction is for good, so the true value lies between the held one and 0)."""
    from scipy.integrate import solve_ivp

    from hybrid.oracle import EXTINCT_LOG

    # a large CAR T capacity: C persists and rho grows for good (past 100 by day ~95)
    p = Parameters.from_preset("kimmel2021", B0=1.0, r_B=0.05, K_C=4e11)
    days = np.array([10.0, 30.0, 60.0, 100.0, 200.0, 400.0, 730.0])

    kimmel = kimmel_rhs(p)

    def f(t, y):
        n, c, rho, j = y
        dn, dc, _ = kimmel(t, [n, c, 0.0])
        lam, mu = p.r_B + p.d_B, p.d_B + p.gamma_B * c / (p.k_B + c)
        # J = I e^-rho stays of order one: dJ/dt = lam - (mu - lam) J
        return [dn, dc, mu - lam, lam - (mu - lam) * j]

    ref = solve_ivp(f, (0.0, days[-1]), [p.N0, p.C0, 0.0, 0.0], method="LSODA", rtol=1e-10, atol=1e-14,
                    t_eval=days)
    assert ref.success
    log_denom = ref.y[2] + np.log1p(ref.y[3])
    expected = np.log1p(-np.exp(-log_denom))
    got = cure_probability_exact(p, days, SimOptions(), log=True)
    after = log_denom > EXTINCT_LOG + 1.0
    assert after.any() and (~after).any(), log_denom  # both sides of the stop are checked
    np.testing.assert_allclose(got[~after], expected[~after], rtol=1e-5)
    assert np.all(np.abs(got[after] - expected[after]) <= np.exp(-EXTINCT_LOG)), (got, expected)

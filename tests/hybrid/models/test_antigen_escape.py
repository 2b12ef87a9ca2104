"""The antigen_escape model (two tumour clones) and the multi-type exact oracle.

Exact values come from closed forms (constant rates) or from Kimmel's model through Kendall's formula; the Monte
Carlo is compared with the exact P(cure) within 4 standard errors computed from the exact value, fixed seeds."""

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from hybrid import Dose, Parameters, SimOptions, cure_probability_exact, simulate_batch

Z = 4.0
TIGHT = SimOptions(rtol=1e-12)


def escape(**kw) -> Parameters:
    return Parameters.from_preset("antigen_escape", "antigen_escape", **kw)


def _mc_within(p: Parameters, n: int, seed: int, opts: SimOptions | None = None, exact: float | None = None):
    df = simulate_batch([p] * n, np.random.SeedSequence(seed).spawn(n), opts, exact=False)
    exact = cure_probability_exact(p, (opts or SimOptions()).t_end, opts) if exact is None else exact
    p_mc = float((df["outcome"] == "cure").mean())
    se = math.sqrt(exact * (1 - exact) / n)
    assert abs(p_mc - exact) <= Z * se, f"Monte Carlo {p_mc:.4f} vs exact {exact:.4f} (SE {se:.4f})"
    return df, exact


@pytest.mark.parametrize("r_b", [0.10, 0.12])
@pytest.mark.parametrize("dose", [None, Dose(day=28.0, car_t_cells=1.8e8)])
def test_without_escape_the_exact_oracle_is_kimmels(r_b, dose):
    """Loss 0 and no antigen-negative cells: the two-type backward equations give Kendall's value."""
    opts = SimOptions(rtol=1e-12, doses=() if dose is None else (dose,))
    kimmel = cure_probability_exact(Parameters.from_preset("kimmel2021", r_B=r_b), 730.0, opts)
    two_type = cure_probability_exact(escape(r_B=r_b, mu_loss=0.0, f_neg=0.0), 730.0, opts)
    assert 0.05 < kimmel < 0.95
    assert abs(two_type - kimmel) <= 1e-9


def test_without_escape_the_monte_carlo_is_kimmels():
    p = escape(r_B=0.12, mu_loss=0.0, f_neg=0.0)
    exact = cure_probability_exact(Parameters.from_preset("kimmel2021", r_B=0.12), 730.0, TIGHT)
    df, _ = _mc_within(p, 4000, 41, exact=exact)
    assert set(df["relapse_type"].dropna()) == {"antigen_positive"}


def _kendall_extinct(lam: float, mu: float, t: float) -> float:
    """Constant-rate birth–death: P(one cell's lineage extinct by t)."""
    e = math.exp((lam - mu) * t)
    return mu * (e - 1.0) / (lam * e - mu)


def _constant(mu_loss: float, r_bn: float) -> Parameters:
    # no CAR T cells (C0 = 0): every rate is constant; 3 antigen-positive and 2 antigen-negative cells
    return escape(C0=0.0, B0=5.0, f_neg=0.4, r_B=0.05, d_B=0.2, r_Bn=r_bn, mu_loss=mu_loss)


def test_symmetric_two_type_process_is_one_birth_death_process():
    """Equal rates in both clones: the total is a birth–death process (birth 0.25, death 0.2/day), so
    P(all extinct by t) = q(t)^5 with Kendall's constant-rate q, whatever the loss probability."""
    for mu_loss in (0.0, 0.3, 1.0):
        for t in (5.0, 30.0, 120.0):
            got = cure_probability_exact(_constant(mu_loss, 0.05), t, TIGHT)
            assert got == pytest.approx(_kendall_extinct(0.25, 0.2, t) ** 5, rel=1e-9, abs=1e-12)


def test_two_type_process_with_full_loss_matches_its_ode():
    """mu_loss = 1: an antigen-positive cell never divides faithfully; it sheds antigen-negative cells at rate
    lambda+ = 0.25 and dies at 0.2/day. With q-(s) Kendall's closed form for the negative clone (birth 0.3,
    death 0.2), q+ solves dq+/dtau = lambda+ (q+ q- - q+) + delta+ (1 - q+), a scalar linear ODE (SciPy)."""
    lam_p, d_p, lam_n, d_n, t_end = 0.25, 0.2, 0.3, 0.2, 40.0
    sol = solve_ivp(lambda s, q: [lam_p * (q[0] * _kendall_extinct(lam_n, d_n, s) - q[0]) + d_p * (1 - q[0])],
                    (0.0, t_end), [0.0], rtol=1e-12, atol=1e-14)
    q_pos = sol.y[0, -1]
    want = q_pos ** 3 * _kendall_extinct(lam_n, d_n, t_end) ** 2
    got = cure_probability_exact(_constant(1.0, 0.1), t_end, TIGHT)
    assert got == pytest.approx(want, rel=1e-8)


def test_monte_carlo_of_small_constant_rate_clones_matches_the_closed_form():
    """The engine with both clones stochastic from the start (5 cells), against the closed form."""
    opts = SimOptions(t_end=30.0, threshold=1e6, progression_factor=1e9)
    exact = _kendall_extinct(0.25, 0.2, 30.0) ** 5
    _mc_within(_constant(0.3, 0.05), 4000, 7, opts, exact=exact)


ESCAPE_SETS = {
    # bystander killing reaches antigen-negative cells: escape is one route to relapse among others
    "bystander": dict(r_B=0.10, d_B=0.05, mu_loss=1e-6, eps_bystander=0.5),
    # no bystander killing: an antigen-negative lineage that survives chance relapses; escape dominates
    "escape_dominates": dict(r_B=0.10, d_B=0.05, mu_loss=1e-10),
}


@pytest.mark.parametrize("case", list(ESCAPE_SETS))
def test_monte_carlo_with_antigen_loss_matches_the_multitype_oracle(case):
    p = escape(**ESCAPE_SETS[case])
    kimmel = cure_probability_exact(Parameters.from_preset("kimmel2021", r_B=0.10, d_B=0.05), 730.0)
    df, exact = _mc_within(p, 4000, 2024)
    assert 0.03 < exact < 0.97
    assert exact < kimmel - 0.1, "antigen loss must matter in this setting"
    prog = df[df["outcome"] == "progression"]
    neg_share = float((prog["relapse_type"] == "antigen_negative").mean())
    assert prog["relapse_type"].notna().all()
    if case == "escape_dominates":
        assert neg_share > 0.5
    else:
        assert 0.0 < neg_share < 1.0


def test_relapse_type_follows_the_clone_that_outgrows():
    """Many antigen-negative cells and strong killing: every progression is antigen-negative; none and no loss:
    every progression is antigen-positive."""
    neg = simulate_batch([escape(r_B=0.1, f_neg=0.01, mu_loss=0.0)] * 20, list(range(20)))
    assert (neg["outcome"] == "progression").all() and (neg["relapse_type"] == "antigen_negative").all()
    pos = simulate_batch([escape(r_B=0.3, f_neg=0.0, mu_loss=0.0)] * 20, list(range(20)))
    assert (pos["outcome"] == "progression").all() and (pos["relapse_type"] == "antigen_positive").all()

"""The multiphasic cellular-kinetics model: closed-form Cmax, Tmax, AUC0-28 and half-lives against its own
simulated trajectory (computed independently, by quadrature and search on a fine grid), and a fit of its
parameters with the calibration module's likelihood and optimiser."""

import math

import numpy as np
import pytest
from scipy.integrate import simpson

from experiments.calibration.kinetics import patient_nll
from experiments.calibration.optimiser import multistart, profile
from experiments.trial_data import PatientKinetics
from hybrid import Parameters, SimOptions, cure_probability_exact, mean_field, simulate_batch, solve_trajectory
from hybrid.models.multiphasic_ck import kinetics
from hybrid.units import cells_to_blood

FINE = SimOptions(t_end=200.0, rtol=1e-10)


def ck(**kw) -> Parameters:
    return Parameters.from_preset("multiphasic_ck_kinetics_only", "multiphasic_ck", **kw)


@pytest.mark.parametrize("kw", [{}, {"rho_exp": 0.8, "T_max": 7.5, "alpha_E": 0.5, "beta_EM": 0.2,
                                     "kappa_M": 0.02}])
def test_closed_form_kinetics_match_the_trajectory(kw):
    p = ck(**kw)
    days = np.linspace(0.0, 28.0, 28 * 400 + 1)
    traj = solve_trajectory(p, days, FINE)
    total = (traj["E"] + traj["M"]).to_numpy()
    k = kinetics(p)
    assert total.max() == pytest.approx(k["Cmax"], rel=1e-6)
    assert days[total.argmax()] == pytest.approx(k["Tmax"], abs=days[1])
    # Simpson on each side of the kink at T_max (the grid holds T_max)
    i = int(round(p.T_max / days[1]))
    auc = simpson(total[:i + 1], x=days[:i + 1]) + simpson(total[i:], x=days[i:])
    assert auc == pytest.approx(k["AUC0_28"], rel=1e-6)
    # decline: the fast half-life from E over a day after T_max, the slow one from M long after
    late = solve_trajectory(p, np.array([p.T_max + 1.0, p.T_max + 2.0, 150.0, 180.0]), FINE)
    e1, e2 = late["E"].iloc[0], late["E"].iloc[1]
    assert math.log(2) / math.log(e1 / e2) == pytest.approx(k["t_half_fast"], rel=1e-6)
    m1, m2 = late["M"].iloc[2], late["M"].iloc[3]
    assert 30.0 * math.log(2) / math.log(m1 / m2) == pytest.approx(k["t_half_slow"], rel=1e-3)


def test_engine_readouts_agree_with_the_closed_form():
    """The hybrid run's CAR T peak is the effector's, which is the whole Cmax at T_max (M = 0 until then)."""
    p = Parameters.from_preset("multiphasic_ck", "multiphasic_ck")
    df = simulate_batch([p] * 3, [1, 2, 3], SimOptions(rtol=1e-10))
    k = kinetics(p)
    np.testing.assert_allclose(df["cart_peak_cells"], k["Cmax"], rtol=1e-6)
    np.testing.assert_allclose(df["cart_peak_day"], k["Tmax"], atol=1e-6)


def test_tumour_driven_by_the_kinetics_has_an_exact_oracle_the_monte_carlo_matches():
    p = Parameters.from_preset("multiphasic_ck", "multiphasic_ck", rho_exp=0.52, alpha_E=0.1, B0=1e10)
    exact = cure_probability_exact(p, 730.0)
    assert 0.1 < exact < 0.9
    n = 2000
    df = simulate_batch([p] * n, np.random.SeedSequence(11).spawn(n), exact=False)
    p_mc = float((df["outcome"] == "cure").mean())
    assert abs(p_mc - exact) <= 4.0 * math.sqrt(exact * (1 - exact) / n)


def test_kinetic_parameters_are_recovered_by_the_calibration_likelihood():
    """Synthetic blood counts (cells/µL, lognormal error sd 0.2, a LLOQ) from known parameters; the calibration
    module's censored likelihood and multistart optimiser recover rho_exp, alpha_E and kappa_M: each estimate
    within 4 standard errors of the truth, the SE read off the 95% profile interval (half-width / 1.96)."""
    truth = {"rho_exp": 0.6, "alpha_E": 0.25, "kappa_M": 0.01}
    days = np.array([1, 2, 4, 7, 9, 11, 14, 21, 28, 42, 60, 90, 120, 180], dtype=float)
    sigma = 0.2
    rng = np.random.default_rng(5)

    def blood(x):
        rec = mean_field([ck(**dict(zip(truth, x, strict=True)))], days, SimOptions(t_end=days[-1]))[0]
        return cells_to_blood(rec[:, 0] + rec[:, 1])

    obs = blood(list(truth.values())) * np.exp(sigma * rng.standard_normal(days.size))
    lloq = 0.5
    data = PatientKinetics(np.array(["p"] * days.size), days, np.maximum(obs, lloq), obs < lloq)
    assert data.censored.any() or obs.min() < 5.0

    def nll(z):
        return patient_nll(np.log(np.maximum(blood(np.exp(z)), 1e-300)), data, sigma)

    bounds = [(math.log(0.2), math.log(1.5)), (math.log(0.05), math.log(1.0)), (math.log(1e-3), math.log(0.1))]
    fit = multistart(nll, bounds, n_starts=3, seed=1)
    for i, (name, value) in enumerate(truth.items()):
        lo, hi, lo_edge, hi_edge, _ = profile(nll, fit, bounds, i, n_grid=8)
        assert not (lo_edge or hi_edge), f"{name}: not identified within its bounds"
        se = (hi - lo) / (2 * 1.96)
        assert abs(fit.x[i] - math.log(value)) <= 4 * se, f"{name}: {math.exp(fit.x[i]):.4g} vs truth {value}"
        assert se < 0.2, f"{name}: the data must pin it down (log-scale SE {se:.3f})"

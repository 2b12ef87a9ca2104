"""The cytokine-release layer (hybrid.models.cytokines) carried by Kimmel's model: its mean field against SciPy,
the tumour untouched (exact P(cure) and Monte Carlo outcomes those of kimmel2021), the clinical facts it must
show, and bad settings refused."""

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from experiments.cohort.spec import validate
from experiments.cohort.toxicity import Toxicity, grade, readouts
from hybrid import MODELS, CartsimError, Parameters, SimOptions, cure_probability_exact, mean_field, simulate_batch

CRS = MODELS["kimmel2021_crs"]
DAYS = np.arange(1.0, 61.0)


def _rhs(p):
    """The docstring's equations, written again in plain Python."""
    def f(t, y):
        n, c, b, ifng, m, il6 = y
        total = n + c
        rc = p["rho_C"] + p["b"] * (total - p["K_N"]) ** 2 / (p["a"] * total**2 + (total - p["K_N"]) ** 2)
        kill = p["gamma_B"] * c / (p["k_B"] + c) * b
        e = kill / (p["h_E"] + kill)
        return [-p["r_N"] * n * math.log(total / p["K_N"]), -rc * c * math.log(total / p["K_C"]),
                p["r_B"] * b - kill, p["s_I"] * e - p["k_I"] * ifng,
                p["a_M"] * ifng**2 / (p["h_I"] ** 2 + ifng**2) * (1 - m) - p["d_M"] * m,
                p["k_L"] * p["L_base"] + p["s_L"] * m - p["k_L"] * il6]
    return f


@pytest.mark.parametrize("changes", [{}, {"B0": 1e10}, {"C0": 5e8, "r_B": 0.2}])
def test_the_mean_field_is_the_equations_solved_by_lsoda(changes):
    p = Parameters.from_preset("kimmel2021", CRS, **changes)
    y0 = [p.N0, p.C0, p.B0, p.IFNg0, p.M0, p.L_base]
    ref = solve_ivp(_rhs(p), (0, DAYS[-1]), y0, method="LSODA", t_eval=DAYS, rtol=1e-11, atol=1e-30).y.T
    ours = mean_field([p], DAYS, SimOptions(rtol=1e-10))[0]
    for j, sp in enumerate(CRS.species):
        scale = np.maximum(np.abs(ref[:, j]), 1e-9 * np.abs(ref[:, j]).max())
        np.testing.assert_allclose(ours[:, j], ref[:, j], rtol=1e-6, atol=0, err_msg=sp) if sp != "B" else \
            np.testing.assert_array_less(np.abs(ours[:, j] - ref[:, j]) / scale, 1e-6)


def test_the_tumour_is_kimmels_exact_and_monte_carlo():
    assert CRS.exact_oracle == MODELS["kimmel2021"].exact_oracle
    base = [Parameters.from_preset("kimmel2021", "kimmel2021", K_C=k, r_B=r) for k, r in
            [(6.96e10, 0.1), (7.2e10, 0.19), (6.5e10, 0.105)]]
    crs = [Parameters.from_preset("kimmel2021", CRS, **q.as_dict()) for q in base]
    # the same law; the numbers agree to the ODE's tolerance (the layer's species take part in step-size
    # control, so the two solves take different steps)
    tight = SimOptions(rtol=1e-10)
    np.testing.assert_allclose(cure_probability_exact(crs, 730.0, tight), cure_probability_exact(base, 730.0, tight),
                               rtol=1e-7)
    np.testing.assert_allclose(cure_probability_exact(crs, 730.0), cure_probability_exact(base, 730.0),
                               rtol=1e-3, atol=1e-6)
    opts = SimOptions(tabulated=False)
    a = simulate_batch([base[0]] * 300, list(range(300)), opts)
    b = simulate_batch([crs[0]] * 300, list(range(300)), opts)
    assert (a["outcome"] == b["outcome"]).all()
    np.testing.assert_allclose(b["t_event_days"], a["t_event_days"], rtol=1e-4)


def test_il6_peaks_near_the_car_t_peak_not_after_contraction():
    p = Parameters.from_preset("kimmel2021", CRS)
    t = np.arange(0.0, 90.0, 0.05)
    rec = mean_field([p], t)[0]
    c, il6 = rec[:, CRS.index("C")], rec[:, CRS.index("IL6")]
    t_c, t_l = t[np.argmax(c)], t[np.argmax(il6)]
    contracted = t[np.argmax((t > t_c) & (c < c.max() / 2))]  # CAR T back below half their peak
    # during expansion (the killing flux is largest while C grows into a still large tumour), within 4 days of
    # the CAR T peak, and well before contraction
    assert 1.0 < t_l <= t_c + 1.0 and t_c - t_l <= 4.0 and t_l < contracted, (t_c, t_l, contracted)
    assert il6.max() > 20 * p.L_base  # a storm, not noise


def test_for_the_same_dose_a_larger_tumour_gives_a_higher_il6_peak():
    t = np.arange(0.0, 90.0, 0.05)
    peaks = [mean_field([Parameters.from_preset("kimmel2021", CRS, B0=b0)], t)[0][:, CRS.index("IL6")].max()
             for b0 in (1e9, 1e10, 9.486e10, 3e11)]
    assert np.all(np.diff(peaks) > 0), peaks


def test_the_severe_crs_share_rises_with_tumour_burden():
    rng = np.random.default_rng(5)
    tox = Toxicity()
    shares = []
    for b0 in (3e9, 1e10, 3e10, 9.486e10):
        rows = [Parameters.from_preset("kimmel2021", CRS, B0=b0, K_C=6.96e10 * f, C0=1.8e8 * g).as_dict()
                for f, g in rng.lognormal(0.0, [0.25, 0.6], (300, 2))]
        import pandas as pd

        r = readouts(pd.DataFrame(rows), SimOptions(), CRS, tox)
        shares.append(float(np.mean(r["crs_grade_proxy"] >= len(tox.grade_thresholds))))
    assert np.all(np.diff(shares) >= 0) and shares[-1] > shares[0] + 0.3, shares


def test_the_grade_proxy_counts_thresholds_reached():
    assert grade(np.array([5.0, 100.0, 999.0, 1000.0, 1e5]), (100.0, 1000.0, 5000.0)).tolist() == [0, 1, 1, 2, 3]


@pytest.mark.parametrize(("cfg", "culprit"), [
    ({"toxicity": {"il6_level": 500.0}}, "carries no cytokine layer"),
    ({"cohort": {"model": "kimmel2021_crs"}, "toxicity": {"grade_thresholds": [1000, 100]}}, "strictly increasing"),
    ({"cohort": {"model": "kimmel2021_crs"}, "toxicity": {"il6_peek": 3}}, "il6_peek"),
    ({"cohort": {"model": "kimmel2021_crs"}, "parameters": {"k_I": -1.0}}, "parameters.k_I"),
])
def test_bad_toxicity_settings_are_refused_by_name(cfg, culprit):
    with pytest.raises(CartsimError, match=culprit):
        validate(cfg, "tox.toml")


def test_the_layer_survives_an_sbml_round_trip(tmp_path):
    """Exported with its rate laws and units (pg/mL), imported back: the same mean field. (The importer's
    linearity check sees the cytokines driven by B and offers the Monte Carlo only: it does not yet tell that
    the tumour's hazards read nothing the tumour drives.)"""
    from experiments.cohort.toxicity import carries_layer
    from hybrid.sbml import export_sbml, load_sbml

    spec = load_sbml(export_sbml(CRS, tmp_path / "crs.xml"), "B", "C", "N")
    assert carries_layer(spec)
    a = mean_field([Parameters.from_preset(None, spec)], DAYS, SimOptions(rtol=1e-10), spec)[0]
    b = mean_field([Parameters.from_preset("kimmel2021", CRS)], DAYS, SimOptions(rtol=1e-10))[0]
    np.testing.assert_allclose(a, b, rtol=1e-9)


def test_the_feedback_off_is_the_layer_alone_and_on_it_drives_the_attackers():
    """kimmel2021_crs_feedback with kappa_L = 0 runs the same patients as kimmel2021_crs, bit for bit; switched
    on, IL-6 boosts CAR T expansion (a higher peak, more cures) and the exact oracle is given up, said so."""
    fb = MODELS["kimmel2021_crs_feedback"]
    assert fb.exact_oracle.startswith("none") and CRS.exact_oracle == MODELS["kimmel2021"].exact_oracle
    seeds = list(range(400))
    general = SimOptions(tabulated=False)  # the layer-only model would else share one tabulated solve
    off = simulate_batch([Parameters.from_preset("kimmel2021", fb)] * 400, seeds, general)
    crs = simulate_batch([Parameters.from_preset("kimmel2021", CRS)] * 400, seeds, general)
    assert off["outcome"].tolist() == crs["outcome"].tolist()
    np.testing.assert_array_equal(off["t_event_days"], crs["t_event_days"])
    on = simulate_batch([Parameters.from_preset("kimmel2021", fb, kappa_L=0.3)] * 400, seeds, general)
    assert on["cart_peak_cells"].median() > 1.05 * off["cart_peak_cells"].median()
    k_on, k_off = (on["outcome"] == "cure").sum(), (off["outcome"] == "cure").sum()
    se = math.sqrt(400 * 0.25)  # binomial SE at most
    assert k_on > k_off + 2 * se, (k_on, k_off)

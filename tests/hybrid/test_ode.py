"""The jitted mean field against scipy's LSODA, and the engine's bookkeeping (doses, readouts, models)."""

import numpy as np
import pytest
from helpers.kimmel import kimmel_rhs
from scipy.integrate import solve_ivp

import hybrid
from hybrid import Dose, Parameters, SimOptions, solve_trajectory

DAYS = np.array([0.0, 7.0, 14.0, 28.0, 90.0, 365.0])


@pytest.mark.parametrize("overrides", [{}, {"r_B": 0.2, "K_C": 9.65e10}, {"N0": 3e10, "gamma_B": 0.8}])
def test_mean_field_matches_lsoda(overrides):
    p = Parameters.from_preset("kimmel2021", **overrides)
    ours = solve_trajectory(p, DAYS, SimOptions(rtol=1e-10))
    ref = solve_ivp(kimmel_rhs(p), (0, DAYS[-1]), [p.N0, p.C0, p.B0], method="LSODA", rtol=1e-10,
                    atol=1e-30, t_eval=DAYS)
    assert ref.success
    rel = np.abs(ours[["N", "C", "B"]].to_numpy() / ref.y.T - 1.0)
    assert rel.max() < 1e-6, rel


def test_dose_adds_cells_and_lymphodepletion_resets_n():
    p = Parameters.from_preset("kimmel2021")
    t = np.array([0.0, 99.999999, 100.0, 100.000001])
    plain = solve_trajectory(p, t, SimOptions(rtol=1e-10))
    dosed = solve_trajectory(p, t, SimOptions(rtol=1e-10, doses=(Dose(100.0, 1e9, lymphodepletion=True),)))
    assert dosed["C"].iloc[1] == pytest.approx(plain["C"].iloc[1], rel=1e-12)
    assert dosed["C"].iloc[2] == pytest.approx(plain["C"].iloc[2] + 1e9, rel=1e-8)
    assert dosed["N"].iloc[2] == pytest.approx(p.N0, rel=1e-8)


def test_bfeedback_variant_runs_through_the_same_engine():
    """With s_B = 0 the variant's propensities equal Kimmel's, so the same seeds give the same patients (the
    variant, not linear, runs the general path: so does Kimmel here); with s_B > 0 CAR T expand more and the
    exact oracle is unavailable."""
    p = Parameters.from_preset("kimmel2021")
    pf = Parameters.from_preset("kimmel2021", model="kimmel2021_bfeedback")
    seeds = list(range(40))
    a = hybrid.simulate_batch([p] * 40, seeds, SimOptions(tabulated=False), exact=False)
    b = hybrid.simulate_batch([pf] * 40, seeds, exact=False)
    assert (a["outcome"] == b["outcome"]).all()
    np.testing.assert_allclose(a["t_event_days"], b["t_event_days"], rtol=1e-9)
    stim = pf.replace(s_B=0.3)
    c = hybrid.simulate_batch([stim] * 40, seeds)
    assert (c["cart_peak_cells"] > a["cart_peak_cells"]).all()
    assert c["p_cure_exact"].isna().all()
    assert hybrid.cure_probability_exact(stim, 730.0) is None
    with pytest.raises(hybrid.CartsimError, match="kimmel2021_bfeedback"):
        hybrid.simulate_batch([p], [0], model="kimmel2021_bfeedback")
    with pytest.raises(hybrid.ParameterError, match="s_B"):
        p.replace(s_B=0.3)


def test_readouts_are_consistent_with_the_mean_field():
    """Peak, its day and the day-0-28 AUC of C against a fine-grid evaluation of the mean field (C does not
    depend on B in the Kimmel model, so the hybrid patient's C is the mean field's)."""
    p = Parameters.from_preset("kimmel2021")
    res = hybrid.simulate_patient(p, 1)
    t = np.linspace(0.0, 28.0, 28001)
    c = solve_trajectory(p, t, SimOptions(rtol=1e-10))["C"].to_numpy()
    assert res.cart_peak_cells == pytest.approx(c.max(), rel=1e-5)
    assert res.cart_peak_day == pytest.approx(t[c.argmax()], abs=2e-3)
    assert res.cart_auc_0_28 == pytest.approx(np.trapezoid(c, t), rel=1e-5)


def test_trajectory_recording_follows_the_patient():
    p = Parameters.from_preset("kimmel2021")
    res = hybrid.simulate_patient(p, 3, SimOptions(record_dt=1.0))
    traj = res.trajectory
    assert traj["t_days"].iloc[0] == 0.0
    assert traj["t_days"].iloc[-1] <= res.t_event_days
    assert traj["B"].iloc[0] == p.B0
    # below the threshold the tumour is a whole number of cells
    small = traj["B"] < 100
    assert np.allclose(traj.loc[small, "B"], np.round(traj.loc[small, "B"]))
    # the same seed without recording gives the same patient: bit for bit on the general path, which records,
    # and to the ODE tolerance on the tabulated fast path
    plain = hybrid.simulate_patient(p, 3, SimOptions(tabulated=False))
    assert plain.outcome == res.outcome
    assert plain.t_event_days == pytest.approx(res.t_event_days, rel=1e-12)
    fast = hybrid.simulate_patient(p, 3)
    assert fast.outcome == res.outcome
    assert fast.t_event_days == pytest.approx(res.t_event_days, rel=1e-4)

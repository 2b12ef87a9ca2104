"""Calibration: recovery of known parameters from data cartsim made itself, the shipped examples, and bad input.

Fixed seeds. Recovery means every true value lies in its reported 95% profile interval; the KM calibration is
then confirmed by a full hybrid Monte Carlo cohort run from the written calibrated.toml."""

import json
import tomllib

import numpy as np
import pandas as pd
import pytest

import hybrid
from experiments.calibration import run_fit, run_predict, validate_fit, validate_predict
from experiments.calibration.synthetic import synthetic_km, synthetic_patient
from experiments.cli import main as cartsim
from experiments.cohort.sampling import sample_patients
from experiments.cohort.spec import validate
from experiments.paths import CONFIGS, DATA

DAYS = [1, 2, 3, 4, 5, 7, 9, 11, 14, 17, 21, 25, 28, 35, 42, 50, 60, 75, 90, 120]


def test_kinetics_recovery_and_an_inseparable_pair(tmp_path):
    truth = hybrid.Parameters.from_preset("kimmel2021")
    synthetic_patient(truth, DAYS, 0.2, seed=5, lloq=0.5).to_csv(tmp_path / "p.csv", index=False)
    cfg = {"kind": "fit", "cohort": {"model": "kimmel2021"}, "data": {"kinetics_csv": str(tmp_path / "p.csv")},
           "free": {"K_C": {"bounds": [2e10, 3e11]}, "a": {"bounds": [0.05, 3.0]}, "b": {"bounds": [0.05, 3.0]}},
           "fit": {"starts": 3, "error_sigma": 0.2}}
    res = run_fit(validate_fit(cfg, str(tmp_path / "fit.toml")), tmp_path / "out")
    est = res["patients"]["P1"]["estimates"]
    for name in ("K_C", "a", "b"):
        e = est[name]
        assert e["low"] <= truth[name] <= e["high"], f"{name}: {truth[name]:g} outside [{e['low']:g}, {e['high']:g}]"
        assert e["high"] / e["low"] < 10, f"{name}: the interval says nothing"
    pairs = [set(p["pair"]) for p in res["patients"]["P1"]["identifiability"]["inseparable_pairs"]]
    assert {"K_C", "a"} in pairs  # peak level and signalling inefficiency trade off in C(t)
    assert (tmp_path / "out" / "kinetics.png").exists() and (tmp_path / "out" / "calibrated.toml").exists()


def test_km_calibration_recovers_the_hyperparameters_and_the_curve(tmp_path):
    base = {"cohort": {"model": "kimmel2021", "preset": "kimmel2021", "seed": 3, "follow_up_days": 730}}
    truth = {"r_B": {"median": 0.12, "sigma": 0.3}, "K_C": {"median": 6.96e10, "sigma": 0.3}}
    synthetic_km(base, truth, 1500, np.arange(1, 24)).to_csv(tmp_path / "km.csv", index=False)
    cfg = {"kind": "fit", "cohort": {**base["cohort"], "seed": 99, "n": 3000},
           "data": {"pfs_csv": str(tmp_path / "km.csv")},
           "free": {"r_B": {"median": [0.05, 0.3], "sigma": [0.05, 1.0]},
                    "K_C": {"median": 6.96e10, "sigma": [0.05, 1.0]}},
           "fit": {"starts": 2, "virtual_patients": 12000, "min_ess": 6000}}
    res = run_fit(validate_fit(cfg, str(tmp_path / "fit.toml")), tmp_path / "out", workers=2)
    for name, (param, which) in {"r_B.median": ("r_B", "median"), "r_B.sigma": ("r_B", "sigma"),
                                 "K_C.sigma": ("K_C", "sigma")}.items():
        h = res["hyperparameters"][name]
        assert h["low"] <= truth[param][which] <= h["high"], f"{name}: {truth[param][which]} outside {h}"
    assert res["diagnostics"]["effective_sample_size"] >= 6000
    conf = res["confirmation"]
    assert conf["n"] == 3000
    mc, obs = np.array(conf["monte_carlo"]), np.array(conf["observed"])
    assert np.all(np.abs(mc - obs) <= 0.05), f"largest distance {np.abs(mc - obs).max():.3f}"
    # calibrated.toml is a config cartsim run accepts as is
    cal = tomllib.loads((tmp_path / "out" / "calibrated.toml").read_text())
    assert validate(cal, "calibrated.toml").n == 3000


def _predict(tmp_path, days):
    truth = hybrid.Parameters.from_preset("kimmel2021", K_C=7.6e10, rho_C=0.03)
    synthetic_patient(truth, days, 0.2, seed=2).to_csv(tmp_path / f"p{len(days)}.csv", index=False)
    cfg = {"kind": "predict", "cohort": {"model": "kimmel2021"},
           "data": {"kinetics_csv": str(tmp_path / f"p{len(days)}.csv"), "error_sigma": 0.2},
           "prior": {"K_C": {"median": 7.0e10, "sigma": 0.3}, "rho_C": {"median": 0.03, "sigma": 0.5}},
           "sampler": {"walkers": 16, "steps": 900, "burn": 300, "seed": 4, "draws": 300}}
    res = run_predict(validate_predict(cfg, str(tmp_path / "pred.toml")), tmp_path / f"out{len(days)}")
    return float(hybrid.cure_probability_exact(truth)), res


def test_prediction_interval_covers_the_truth_and_narrows_with_more_counts(tmp_path):
    exact, few = _predict(tmp_path, [7])
    _, many = _predict(tmp_path, [7, 14, 21, 28, 42, 60])
    for res in (few, many):
        lo, hi = res["p_cure"]["credible_90"]
        assert lo - 1e-9 <= exact <= hi + 1e-9, f"exact {exact} outside [{lo}, {hi}]"
        assert 0.2 < res["convergence"]["acceptance_fraction"] < 0.9
    width = [r["p_cure"]["credible_90"][1] - r["p_cure"]["credible_90"][0] for r in (few, many)]
    assert width[1] < 0.5 * width[0], f"interval widths {width}"
    assert (tmp_path / "out6" / "samples.parquet").exists() and (tmp_path / "out6" / "corner.png").exists()


def test_shipped_fit_kinetics_covers_the_observed_iqr(tmp_path):
    assert cartsim(["fit", str(CONFIGS / "fit_kinetics.toml"), "--out", str(tmp_path), "--quiet"]) == 0
    cal = tomllib.loads((tmp_path / "calibrated.toml").read_text())
    spec = validate(cal, "calibrated.toml")
    pats = sample_patients(spec, 0, 2000)
    obs = pd.read_csv(DATA / "moffitt_zuma1_cart.csv", comment="#")
    names = list(hybrid.get_model(spec.model).param_names)
    c = hybrid.mean_field(pats[names], obs["day"].to_numpy(float))[:, :, 1] / 5e8  # cells/µL
    q25, q75 = np.quantile(c, [0.25, 0.75], axis=0)
    for k, day in enumerate(obs["day"]):
        assert q25[k] <= obs["q75"][k] and q75[k] >= obs["q25"][k], f"day {day}: IQRs do not overlap"
        assert q25[k] <= obs["median"][k] <= q75[k], f"day {day}: observed median outside the fitted IQR"
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert fit["provenance"]["versions"]["cartsim"]


BAD = {
    "missing_column": ("patient,day\nP1,7\n", {}, "car_t_per_ul"),
    "negative_count": ("patient,day,car_t_per_ul\nP1,7,-3\nP1,14,2\n", {}, "car_t_per_ul"),
    "nan_count": ("patient,day,car_t_per_ul\nP1,7,\nP1,14,2\n", {}, "car_t_per_ul"),
    "days_out_of_order": ("patient,day,car_t_per_ul\nP1,14,3\nP1,7,2\n", {}, "increasing"),
    "empty_file": ("", {}, "empty"),
    "km_increases": ("months,pfs\n1,0.9\n2,0.95\n", {"pfs": True}, "increase"),
    "unknown_parameter": ("patient,day,car_t_per_ul\nP1,7,3\n", {"free": "K_Q"}, "K_Q"),
    "bounds_reversed": ("patient,day,car_t_per_ul\nP1,7,3\n", {"bounds": [3e11, 2e10]}, "low < high"),
    "start_outside_bounds": ("months,pfs\n1,0.9\n", {"pfs": True, "start": 5.0}, "start_median"),
    "missing_file": (None, {}, "not found"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_naming_the_culprit_and_writes_nothing(tmp_path, capsys, case):
    text, opt, fragment = BAD[case]
    data = tmp_path / "data.csv"
    if text is not None:
        data.write_text(text)
    name = opt.get("free", "K_C")
    if opt.get("pfs"):
        free = (f'[free.{name}]\nmedian = [2e10, 3e11]\nsigma = [0.1, 1.0]\n'
                + (f"start_median = {opt['start']}\n" if "start" in opt else ""))
        body = f'[data]\npfs_csv = "{data}"\nn_patients = 100\n{free}'
    else:
        b = opt.get("bounds", [2e10, 3e11])
        body = f'[data]\nkinetics_csv = "{data}"\n[free.{name}]\nbounds = {b}\n'
    cfg = tmp_path / "fit.toml"
    cfg.write_text(f'kind = "fit"\n[cohort]\nmodel = "kimmel2021"\n{body}')
    out = tmp_path / "out"
    assert cartsim(["fit", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_shipped_calibrate_pfs_and_predict_run(tmp_path):
    fast = ["--set", "fit.virtual_patients=4000", "--set", "fit.min_ess=2000", "--set", "fit.starts=1",
            "--set", "cohort.n=400"]
    assert cartsim(["fit", str(CONFIGS / "calibrate_pfs.toml"), "--out", str(tmp_path / "f"), "--quiet",
                    "--workers", "1", *fast]) == 0
    fit = json.loads((tmp_path / "f" / "fit.json").read_text())
    assert fit["pfs"]["max_vertical_distance"] < 0.05 and fit["confirmation"]["n"] == 400
    assert (tmp_path / "f" / "pfs.png").exists()
    assert cartsim(["predict", str(CONFIGS / "predict_patient.toml"), "--out", str(tmp_path / "p"), "--quiet",
                    "--set", "sampler.steps=300", "--set", "sampler.burn=100", "--set", "sampler.draws=50"]) == 0
    pred = json.loads((tmp_path / "p" / "prediction.json").read_text())
    assert 0 <= pred["p_cure"]["credible_90"][0] <= pred["p_cure"]["credible_90"][1] <= 1


def test_run_refuses_a_fit_config(capsys):
    assert cartsim(["run", str(CONFIGS / "fit_kinetics.toml")]) == 2
    assert "cartsim fit" in capsys.readouterr().err

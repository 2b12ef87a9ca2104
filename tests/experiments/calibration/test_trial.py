"""Trial-grade calibration: response rates and an exposure fact in the likelihood, mechanistic non-response
classes compared as structures, and the shipped recipe.

Recovery on synthetic trials made by cartsim from a known truth (fixed seeds): every true value inside its 95%
profile interval and the generating structure preferred by BIC."""

import json

import numpy as np
import pytest

from experiments.calibration import run_fit, validate_fit
from experiments.calibration.synthetic import TRIAL_NONRESPONSE, TRIAL_TRUTH, make_trial, synthetic_trial
from experiments.cohort.nonresponse import NonResponse
from experiments.cohort.spec import load_toml
from experiments.paths import CONFIGS, DATA
from experiments.trial_data import load_km

BASE = {"cohort": {"model": "kimmel2021", "preset": "kimmel2021", "seed": 5, "follow_up_days": 730}}


def _config(tmp_path, trial, nonresponse, virtual=6000):
    trial["km"].to_csv(tmp_path / "pfs.csv", index=False)
    r = trial["response"]
    return {"kind": "fit", "cohort": {**BASE["cohort"], "n": 500, "seed": 11},
            "data": {"pfs_csv": str(tmp_path / "pfs.csv"),
                     "response": {"day": r["day"], "overall": r["overall"], "complete": r["complete"], "n": r["n"]}},
            "free": {"r_B": {"median": [0.05, 0.3], "sigma": [0.05, 1.0]}},
            "nonresponse": nonresponse,
            "fit": {"starts": 1, "virtual_patients": virtual, "min_ess": virtual // 2, "confirm": False}}


def test_a_trial_with_failed_expansion_is_calibrated_back_and_its_structure_preferred(tmp_path):
    truth = {"r_B": {"median": 0.13, "sigma": 0.3}}
    trial = synthetic_trial(BASE, truth, 400, np.arange(1, 24), 28.0, NonResponse({"failed_expansion": 0.25}))
    cfg = _config(tmp_path, trial, {"failed_expansion": [0.0, 0.6]})
    res = run_fit(validate_fit(cfg, str(tmp_path / "fit.toml")), tmp_path / "out", workers=1,
                  notes=lambda _m: None)
    comp = res["model_comparison"]
    assert comp["preferred"] == "failed_expansion", comp
    assert {c["structure"] for c in comp["candidates"]} == {"none", "failed_expansion"}
    h = res["hyperparameters"]
    for name, true in (("r_B.median", 0.13), ("r_B.sigma", 0.3), ("nonresponse.failed_expansion", 0.25)):
        assert h[name]["low"] <= true <= h[name]["high"], (name, h[name]["low"], h[name]["high"])
    assert not res["edge"]["at_edge"], res["edge"]
    assert res["response"]["fitted"]["overall"] == pytest.approx(trial["response"]["overall"], abs=0.05)
    cal = load_toml(tmp_path / "out" / "calibrated.toml")
    assert cal["nonresponse"]["failed_expansion"] == pytest.approx(h["nonresponse.failed_expansion"]["estimate"])
    assert (tmp_path / "out" / "population.png").exists() and (tmp_path / "out" / "pfs.png").exists()


def test_without_non_responders_the_comparison_keeps_the_simpler_structure(tmp_path):
    trial = synthetic_trial(BASE, {"r_B": {"median": 0.13, "sigma": 0.3}}, 400, np.arange(1, 24), 28.0)
    cfg = _config(tmp_path, trial, {"failed_expansion": [0.0, 0.6]}, virtual=4000)
    res = run_fit(validate_fit(cfg, str(tmp_path / "fit.toml")), tmp_path / "out", workers=1,
                  notes=lambda _m: None)
    assert res["model_comparison"]["preferred"] == "none", res["model_comparison"]


def test_the_shipped_trial_is_what_its_generator_makes():
    """calibrate_trial.toml's curve, response rates and exposure ratio are the synthetic trial of
    experiments.calibration.synthetic (remade here: 200 hybrid patients)."""
    trial = make_trial()
    shipped = load_km(DATA / "synthetic_trial_pfs.csv")
    assert np.allclose(shipped.pfs, trial["km"]["pfs"].to_numpy())
    cfg = load_toml(CONFIGS / "calibrate_trial.toml")
    r = cfg["data"]["response"]
    assert r["overall"] == pytest.approx(trial["response"]["overall"])
    assert r["complete"] == pytest.approx(trial["response"]["complete"])
    er = cfg["data"]["exposure_response"]
    assert er["ratio"] == pytest.approx(trial["exposure_response"]["ratio"], abs=0.01)
    assert er["ci"] == pytest.approx(trial["exposure_response"]["ci"], abs=0.01)
    # the truth's non-responders keep the exposure ratio inside the clinical 2-8x (seed 000)
    assert 2 <= er["ratio"] <= 8
    assert set(cfg["nonresponse"]) == set(TRIAL_NONRESPONSE) and "r_B" in TRIAL_TRUTH


def test_the_shipped_recipe_runs_end_to_end_with_its_figures(cli, tmp_path):
    out = tmp_path / "trial"
    status, stdout, err = cli(["fit", CONFIGS / "calibrate_trial.toml", "--out", out, "--workers", "1",
                               "--set", "fit.virtual_patients=3000", "--set", "fit.min_ess=1500",
                               "--set", "fit.starts=1", "--set", "cohort.n=300"])
    assert status == 0, err
    fit = json.loads((out / "fit.json").read_text())
    names = {c["structure"] for c in fit["model_comparison"]["candidates"]}
    assert names == {"none", "failed_expansion", "antigen_low", "failed_expansion + antigen_low"}
    assert fit["response"]["exposure_response"]["fitted"] > 1
    assert "model comparison" in stdout and "response" in stdout
    for f in ("pfs.png", "kinetics.png", "population.png", "calibrated.toml"):
        assert (out / f).exists(), f


BAD = {
    "complete_above_overall": ({"response": {"day": 28, "overall": 0.5, "complete": 0.6, "n": 100}},
                               "data.response.complete"),
    "rate_above_one": ({"response": {"day": 28, "overall": 1.4, "n": 100}}, "data.response.overall"),
    "landmark_after_follow_up": ({"response": {"day": 5000, "overall": 0.5, "n": 100}}, "data.response.day"),
    "exposure_without_response": ({"exposure_response": {"ratio": 2.0, "ci": [1.5, 3.0]}},
                                  "data.exposure_response"),
    "exposure_ci_not_around_ratio": ({"response": {"day": 28, "overall": 0.5, "n": 100},
                                      "exposure_response": {"ratio": 4.0, "ci": [1.5, 3.0]}},
                                     "data.exposure_response.ci"),
    "unknown_measure": ({"response": {"day": 28, "overall": 0.5, "n": 100},
                         "exposure_response": {"measure": "tmax", "ratio": 2.0, "ci": [1.5, 3.0]}},
                        "data.exposure_response.measure"),
}
BAD_NONRESPONSE = {
    "share_bounds_reversed": ({"failed_expansion": [0.5, 0.1]}, "nonresponse.failed_expansion"),
    "shares_above_one": ({"failed_expansion": [0.0, 0.7], "antigen_low": 0.5}, "at most 1"),
    "unknown_class": ({"cd19_loss": 0.1}, "nonresponse.cd19_loss"),
    "factor_zero": ({"failed_expansion": 0.1, "failed_expansion_factor": 0.0}, "failed_expansion_factor"),
}


@pytest.mark.parametrize("case", [*BAD, *BAD_NONRESPONSE])
def test_bad_trial_input_exits_2_naming_the_culprit_and_writes_nothing(cli, tmp_path, case):
    cfg = load_toml(CONFIGS / "calibrate_trial.toml")
    if case in BAD:
        change, fragment = BAD[case]
        cfg["data"] = {k: v for k, v in cfg["data"].items() if k not in ("response", "exposure_response")}
        cfg["data"].update(change)
    else:
        cfg["nonresponse"], fragment = BAD_NONRESPONSE[case]
    for key in ("kinetics_csv", "pfs_csv"):
        cfg["data"][key] = str((CONFIGS / cfg["data"][key]).resolve())
    import tomli_w

    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(cfg))
    status, _, err = cli(["fit", path, "--out", tmp_path / "out"])
    assert status == 2 and fragment in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()

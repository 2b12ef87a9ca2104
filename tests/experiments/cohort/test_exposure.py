"""Exposure–response: the summary's numbers are those of the patient table; the regression recovers a known
slope; bad settings are refused by name."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from experiments.cohort.exposure import (
    EXPOSURE_TAG,
    N_BOOT,
    bootstrap_medians,
    exposure_table,
    logistic,
    ratio_of_medians,
)
from experiments.cohort.runner import run_cohort
from experiments.cohort.spec import load_spec, validate
from experiments.paths import CONFIGS
from hybrid.errors import CartsimError
from hybrid.rng import generator
from hybrid.units import CELLS_PER_UL


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("er")
    spec = load_spec(CONFIGS / "kimmel2021_pfs.toml", ["cohort.n=450", "output.kinetics_patients=0"])
    result = run_cohort(spec, out, workers=2)
    return spec, result, out


def test_the_summary_is_a_direct_computation_on_the_patient_table(cohort):
    spec, result, out = cohort
    er = json.loads((out / "summary.json").read_text())["exposure_response"]
    df = result.patients()
    day = spec.early_progression_day
    early = (df["outcome"] == "progression") & (df["t_event_days"] < day)
    assert er["classes"]["early progression"] == early.sum() > 0
    assert er["classes"]["cure"] == (df["outcome"] == "cure").sum()
    rng = generator((spec.seed, EXPOSURE_TAG))
    for name, col in (("cmax_per_ul", "cart_peak_cells"), ("auc_0_28_per_ul", "cart_auc_0_28")):
        x = df[col].to_numpy() / CELLS_PER_UL
        a, b = x[~early.to_numpy()], x[early.to_numpy()]
        r = er["metrics"][name]["ratio_responders_to_non_responders"]
        assert r["estimate"] == pytest.approx(np.median(a) / np.median(b), rel=1e-12)
        assert r == ratio_of_medians(a, b, rng)  # the summary's stream, in the summary's order
        # and the interval is resampling's: each end sits at its level of a brute-force bootstrap, within the
        # Monte Carlo error of two 2000-draw bootstraps (4 SE of the difference of two proportions)
        brute = np.array([np.median(a[i]) / np.median(b[j]) for i, j in
                          zip(np.random.default_rng(9).integers(0, a.size, (N_BOOT, a.size)),
                              np.random.default_rng(10).integers(0, b.size, (N_BOOT, b.size)), strict=True)])
        for end, level in ((r["low"], 0.025), (r["high"], 0.975)):
            assert abs((brute <= end).mean() - level) <= 4 * np.sqrt(2 * level * (1 - level) / N_BOOT)
        assert r["low"] <= r["estimate"] <= r["high"]
    assert (out / "exposure_response.png").stat().st_size > 10_000


@pytest.mark.parametrize("n", [9, 10, 2])
def test_bootstrap_medians_have_the_distribution_of_resampled_medians(n):
    """Drawn from order statistics, the bootstrap median has resampling's distribution: P(median <= t) at every
    sample value and midpoint agrees with the exact binomial law (odd n: the median is the k-th value, and
    P(median <= x_(j)) = P(Binomial(n, j / n) >= k)) or, for even n, with 200 000 brute-force resamples,
    within 4 SE."""
    from scipy.stats import binom

    x = np.random.default_rng(3).lognormal(0.0, 1.0, n)
    m = 200_000
    fast = bootstrap_medians(x, np.random.default_rng(4), m)
    s = np.sort(x)
    points = np.unique(np.concatenate([s, (s[:, None] + s[None, :]).ravel() / 2]))
    brute = np.median(x[np.random.default_rng(5).integers(0, n, (m, n))], axis=1)
    for t in points:
        p = (fast <= t).mean()
        if n % 2:
            q = binom.sf((n + 1) // 2 - 1, n, np.searchsorted(s, t, side="right") / n)
            se = np.sqrt(q * (1 - q) / m)
        else:
            q = (brute <= t).mean()
            se = np.sqrt(p * (1 - p) / m + q * (1 - q) / m)
        assert abs(p - q) <= 4 * se + 1e-12, (t, p, q)


def test_the_logistic_fit_recovers_a_known_slope_within_its_interval():
    rng = np.random.default_rng(11)
    x = rng.lognormal(np.log(30.0), 0.8, 3000)  # Cmax-like, cells/µL
    slope, intercept = 2.0, -2.5
    y = rng.uniform(size=x.size) < expit(intercept + slope * np.log10(x))
    fit = logistic(y, x)
    assert fit["slope_low"] < slope < fit["slope_high"]
    assert abs(fit["slope"] - slope) < 4 * fit["slope_se"]
    assert fit["odds_ratio_per_2x"] == pytest.approx(np.exp(fit["slope"] * np.log10(2)))


def test_an_outcome_that_exposure_separates_perfectly_is_said_not_estimated():
    x = np.geomspace(1, 100, 40)
    fit = logistic(x > 10, x)
    assert fit["slope"] is None and "separated" in fit["reason"]
    assert logistic(np.ones(40, bool), x)["slope"] is None


def test_classes_follow_the_landmark():
    df = pd.DataFrame({"outcome": ["cure", "progression", "progression", "censored"],
                       "t_event_days": [60.0, 30.0, 200.0, 730.0], "cart_peak_cells": [1e10] * 4,
                       "cart_peak_day": [7.0] * 4, "cart_auc_0_28": [1e11] * 4})
    t = exposure_table(df, early_day=90.0)
    assert t["class"].tolist() == ["cure", "early progression", "late progression", "censored"]
    assert t["responder"].tolist() == [True, False, True, True]
    assert t["cmax_per_ul"].iloc[0] == pytest.approx(1e10 / CELLS_PER_UL)


def test_a_landmark_beyond_follow_up_is_refused_by_name():
    with pytest.raises(CartsimError, match="output.early_progression_day"):
        validate({"output": {"early_progression_day": 800.0}}, "my.toml")


def test_a_cohort_with_the_cytokine_layer_reports_its_toxicity(tmp_path):
    """Per patient the readouts; per group the severe-proxy share, rising with tumour burden as the papers say
    (seed 000: cytokine elevation tracks baseline tumour burden); the severe proxy in the exposure-response."""
    spec = load_spec(CONFIGS / "crs_burden.toml", ["cohort.n=250", "output.figures=false",
                                                    "sweep.values=[3e9, 3e10, 3e11]"])
    result = run_cohort(spec, tmp_path, workers=2)
    df = result.patients()
    assert {"il6_peak_pg_ml", "il6_peak_day", "il6_days_above", "crs_grade_proxy"} <= set(df.columns)
    shares = [g["toxicity"]["severe_crs_proxy"]["share"] for g in result.summary["groups"].values()]
    assert shares == sorted(shares) and shares[-1] > shares[0]
    for g, s in result.summary["groups"].items():
        rows = df[df["group"] == g]
        assert s["toxicity"]["severe_crs_proxy"]["count"] == int((rows["crs_grade_proxy"] >= 3).sum())
    assert "logistic_severe_crs_proxy" in result.summary["exposure_response"]["metrics"]["cmax_per_ul"]

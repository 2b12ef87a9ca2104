"""Plausible populations: every virtual patient a fit proposes, and every patient of the cohort it calibrates,
lies inside each parameter's plausible range; a fit that needs the edge of the population says so."""

import math

import numpy as np
import pytest
from scipy import special

from experiments.calibration import fit as fitting
from experiments.calibration.population import Proposal
from experiments.calibration.spec import validate_fit
from experiments.calibration.synthetic import EXAMPLE_BASE, synthetic_km
from experiments.cohort.distributions import Distribution
from experiments.cohort.sampling import sample_patients
from experiments.cohort.spec import load_spec, load_toml
from experiments.paths import CONFIGS
from hybrid import get_model

SHIPPED_FITS = ("calibrate_pfs", "calibrate_trial", "fit_kinetics")


def _quick(cfg: dict) -> dict:
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in cfg.items()}
    cfg["fit"] = {**cfg.get("fit", {}), "starts": 1, "virtual_patients": 2000, "min_ess": 200, "confirm": False}
    return cfg


def _inside(model: str, df) -> None:
    for name, spec in get_model(model).param_specs.items():
        if spec.plausible is not None and name in df:
            lo, hi = spec.plausible
            x = df[name].to_numpy()
            assert ((x >= lo) & (x <= hi)).all(), f"{name} outside {spec.plausible}: {x.min():g}..{x.max():g}"


def test_a_truncated_lognormal_draws_inside_its_range_with_the_right_quantiles():
    d = Distribution.lognormal(0.13, 1.2, (0.01, 0.5))
    u = np.linspace(1e-9, 1 - 1e-9, 10_001)
    x = d.ppf(u)
    assert x.min() >= 0.01 and x.max() <= 0.5 and np.all(np.diff(x) >= 0)
    a, b = (special.ndtr((math.log(v) - math.log(0.13)) / 1.2) for v in (0.01, 0.5))
    assert d.kept() == pytest.approx(b - a)
    assert d.ppf(np.array([0.5]))[0] == pytest.approx(math.exp(math.log(0.13) + 1.2 * special.ndtri((a + b) / 2)))


@pytest.mark.parametrize("name", SHIPPED_FITS)
def test_no_virtual_patient_of_a_shipped_fit_or_its_cohort_is_implausible(name, tmp_path):
    source = CONFIGS / f"{name}.toml"
    spec = validate_fit(_quick(load_toml(source)), str(source))
    if spec.hypers:  # the first round's proposal: broad over the search box, still inside the ranges
        prop = Proposal.sample(spec.population, fitting._proposal_free(spec, spec.free, True), 4000, 1,
                               spec.nonresponse)
        _inside(spec.model, prop.patients)
    fitting.run_fit(spec, tmp_path, workers=1, notes=lambda _m: None)
    calibrated = load_spec(tmp_path / "calibrated.toml")
    _inside(calibrated.model, sample_patients(calibrated, 0, calibrated.n))


def test_a_curve_that_needs_an_implausible_spread_is_reported_as_matched_at_the_edge(tmp_path):
    """The synthetic trial's r_B spreads with sigma 1.5 (10% of patients above 0.5/day): the fit may not go past
    sigma 1.0 nor outside Table 1's range, and says that the data are matched only at the edge."""
    curve = synthetic_km(EXAMPLE_BASE, {"r_B": {"median": 0.13, "sigma": 1.5}}, 1500, np.arange(1, 24))
    csv = tmp_path / "wide.csv"
    curve.to_csv(csv, index=False)
    cfg = _quick(load_toml(CONFIGS / "calibrate_pfs.toml"))
    cfg["data"] = {"pfs_csv": str(csv)}
    cfg["free"] = {"r_B": {"median": [0.05, 0.3], "sigma": [0.05, 1.0]}}
    res = fitting.run_fit(validate_fit(cfg, "wide.toml"), tmp_path / "out", workers=1, notes=lambda _m: None)
    assert res["edge"]["at_edge"], res["edge"]
    assert "matched only at the edge" in res["edge"]["line"]


def test_the_shipped_synthetic_trial_is_matched_inside_the_population(tmp_path):
    source = CONFIGS / "calibrate_pfs.toml"
    res = fitting.run_fit(validate_fit(_quick(load_toml(source)), str(source)), tmp_path, workers=1,
                          notes=lambda _m: None)
    assert not res["edge"]["at_edge"], res["edge"]
    assert all(t["share_cut"] < 0.01 for t in res["population_truncation"].values())

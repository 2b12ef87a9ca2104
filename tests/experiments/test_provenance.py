"""Every output carries one provenance record, and a typed change to a spec is recorded in the config it runs."""

import dataclasses
import json

import pytest

from experiments.cohort.distributions import Distribution
from experiments.cohort.runner import run_cohort
from experiments.cohort.spec import load_spec, revise, validate
from experiments.paths import CONFIGS
from experiments.provenance import FILE, LIBRARIES
from hybrid.errors import CartsimError

FIELDS = {"cartsim", "entry", "command", "config", "seeds", "versions", "started", "ended"}


def _check(doc: dict, out_dir, entry: str) -> dict:
    rec = doc["provenance"]
    assert set(rec) == FIELDS and rec["entry"] == entry
    assert set(rec["versions"]) >= set(LIBRARIES) and rec["started"] <= rec["ended"]
    assert json.loads((out_dir / FILE).read_text())["entry"] == entry
    return rec


def test_a_cohort_run_records_the_config_as_run_and_its_seed(tmp_path):
    spec = revise(load_spec(CONFIGS / "event_times.toml", ["output.figures=false"]), n=30, seed=5)
    result = run_cohort(spec, tmp_path, workers=1)
    rec = _check(json.loads((tmp_path / "summary.json").read_text()), tmp_path, "experiments.cohort.run_cohort")
    assert rec["seeds"] == {"cohort": 5} and rec["config"]["cohort"]["n"] == 30
    assert result.summary["provenance"]["config"] == rec["config"]
    assert len(result.patients()) == 30


def test_the_spatial_runs_and_cure_record_theirs(tmp_path, cli):
    status, _, _ = cli(["abm", "--steps", "3", "--width", "20", "--height", "20", "--seed", "4",
                        "--out", tmp_path / "abm"])
    assert status == 0
    rec = _check(json.loads((tmp_path / "abm" / "summary.json").read_text()), tmp_path / "abm",
                 "experiments.spatial.run_abm")
    assert rec["seeds"] == {"abm": 4}
    status, _, _ = cli(["run", CONFIGS / "abm_shield.toml", "--set", "abm.replicates=2", "--set", "abm.steps=4",
                        "--set", "abm.width=20", "--set", "abm.height=20", "--workers", "1", "--quiet",
                        "--out", tmp_path / "sweep"])
    assert status == 0
    _check(json.loads((tmp_path / "sweep" / "summary.json").read_text()), tmp_path / "sweep",
           "experiments.spatial.run_spatial")
    status, out, _ = cli(["cure", "--n", "20", "--seed", "3", "--quiet"])
    assert status == 0
    rec = json.loads(out)["provenance"]
    assert rec["entry"] == "experiments.cohort.identical_cure" and rec["seeds"] == {"cure": 3}


def test_a_revised_spec_is_the_spec_its_recorded_config_validates_to():
    spec = load_spec(CONFIGS / "event_times.toml")
    new = revise(spec, n=123, seed=9, variability=0.2, figures=False,
                 dists={"K_C": Distribution.lognormal(7e10, 0.3), "r_B": Distribution("uniform", (0.05, 0.2))})
    again = validate(new.config, spec.source)
    assert dataclasses.replace(again, config=new.config) == new
    assert (again.n, again.seed, again.variability, again.figures) == (123, 9, 0.2, False)


def test_a_revision_the_config_would_refuse_is_refused():
    spec = load_spec(CONFIGS / "kimmel2021_pfs.toml")  # its groups fix r_B
    with pytest.raises(CartsimError, match="parameters.r_B: fixed in"):
        revise(spec, dists={"r_B": Distribution.lognormal(0.1, 0.3)})
    with pytest.raises(CartsimError, match="cohort.n"):
        revise(spec, n=2)  # fewer patients than groups
    with pytest.raises(CartsimError, match="variability.v"):
        revise(spec, variability=-1.0)

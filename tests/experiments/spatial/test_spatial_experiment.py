"""ABM experiments for ``cartsim run``: config validation and a tiny sweep."""

import copy
import json

import pandas as pd
import pytest

from experiments.paths import CONFIGS
from experiments.spatial import experiment as ae
from experiments.statistics import newcombe, wilson
from hybrid.errors import CartsimError

BASE = {
    "kind": "abm",
    "abm": {"scenario": "mixed_negative", "width": 30, "height": 30, "steps": 60, "replicates": 3, "seed": 4,
            "set": {"et_ratio": 0.3}},
    "sweep": {"parameter": "pattern", "values": ["mixed", "clustered"]},
}


def _with(path, value):
    cfg = copy.deepcopy(BASE)
    node = cfg
    *head, last = path.split(".")
    for k in head:
        node = node[k]
    node[last] = value
    return cfg


@pytest.mark.parametrize("path,value,fragment", [
    ("kind", "cohort", "kind"),
    ("abm.scenario", "nope", "abm.scenario"),
    ("abm.replicates", 0, "abm.replicates"),
    ("abm.steps", 2.5, "abm.steps"),
    ("abm.seed", -1, "abm.seed"),
    ("abm.colour", 1, "abm.colour"),
    ("abm.set.kill_prob", 0.5, "abm.set.kill_prob"),
    ("abm.set.kill_prob_max", 3.0, "kill_prob_max"),
    ("sweep.parameter", "nope", "sweep.parameter"),
    ("sweep.values", [], "sweep.values"),
    ("sweep.values", ["mixed", "striped"], "sweep.values[1]"),
    ("sweep.values", ["mixed", "mixed"], "distinct"),
])
def test_validate_errors_name_file_and_key(path, value, fragment):
    with pytest.raises(CartsimError) as exc:
        ae.validate_abm(_with(path, value), "my.toml")
    msg = str(exc.value)
    assert msg.startswith("my.toml: ") and fragment in msg


def test_run_tiny_sweep_writes_outputs(tmp_path):
    spec = ae.validate_abm(BASE, "tiny.toml")
    assert [v for v, _ in spec.arms] == ["mixed", "clustered"]
    summary = ae.run(spec, tmp_path, lambda fn, items: list(map(fn, items)), quiet=True)
    rows = pd.read_parquet(tmp_path / "replicates.parquet")
    assert len(rows) == 6 and set(rows["arm"]) == {"mixed", "clustered"}
    for col in ("sweep_value", "replicate", "seed", "eliminated", "elimination_days", "antigen_high",
                "antigen_negative", "car_t_cells", "infiltration_depth_um"):
        assert col in rows
    # Common random numbers: replicate r has the same seed in every arm; replicates differ.
    assert rows.groupby("replicate")["seed"].nunique().eq(1).all() and rows["seed"].nunique() == 3
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == summary
    arm = summary["per_arm"]["mixed"]
    lo, hi = arm["p_eliminated_ci95"]
    assert 0 <= lo <= arm["p_eliminated"] <= hi <= 1 and arm["n"] == 3
    assert summary["comparisons"][0]["arm"] == "clustered"
    for fig in summary["figures"]:
        assert (tmp_path / fig).stat().st_size > 1000
    # Reproducible: the same spec gives the same rows.
    again = ae.run(spec, tmp_path / "again", lambda fn, items: list(map(fn, items)), quiet=True)
    assert again["per_arm"] == summary["per_arm"]
    pd.testing.assert_frame_equal(rows, pd.read_parquet(tmp_path / "again" / "replicates.parquet"))


def test_wilson_and_newcombe():
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    d, lo, hi = newcombe(2, 10, 8, 10)
    assert d == pytest.approx(0.6) and lo < 0.6 < hi and lo > 0


def test_shipped_configs_validate():
    import tomllib

    root = CONFIGS
    for name in ("abm_shield.toml", "abm_route.toml"):
        with open(root / name, "rb") as fh:
            spec = ae.validate_abm(tomllib.load(fh), name)
        assert len(spec.arms) == 2 and spec.replicates >= 20

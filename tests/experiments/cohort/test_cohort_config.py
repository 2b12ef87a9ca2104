"""Config loading, --set overrides, validation messages, distributions and reproducible sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from experiments.cohort.distributions import truncnorm_ppf, variability_sd
from experiments.cohort.sampling import sample_patients
from experiments.cohort.spec import apply_overrides, load, validate, visit_days
from experiments.paths import CONFIGS
from hybrid.errors import CartsimError

SHIPPED = sorted(p for p in CONFIGS.glob("*.toml") if not p.name.startswith("abm_")
                 and not any(f'kind = "{k}"' in p.read_text() for k in ("fit", "predict", "dosing", "dose")))
"""The cohort and sensitivity configs (fit, predict and dosing configs have their own validators and tests)."""


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_configs_validate(path):
    cfg, src = load(path)
    spec = validate(cfg, src)
    assert spec.n >= 1 and spec.groups


def bad(cfg, *fragments):
    with pytest.raises(CartsimError) as exc:
        validate(cfg, "my.toml")
    msg = str(exc.value)
    assert msg.startswith("my.toml: "), msg
    for f in fragments:
        assert f in msg, msg
    return msg


def test_errors_name_file_key_and_accepted_values():
    bad({"cohrt": {}}, "cohrt", "unknown section", "cohort")
    bad({"cohort": {"nn": 3}}, "cohort.nn", "unknown key", "accepted")
    bad({"cohort": {"n": -3}}, "cohort.n", ">= 1")
    bad({"cohort": {"method": "euler"}}, "cohort.method", "ssa", "tau")
    bad({"parameters": {"K_C": {"dist": "gamma"}}}, "parameters.K_C.dist", "normal", "lognormal", "uniform")
    bad({"parameters": {"K_C": {"dist": "normal", "mean": 7e10, "sd": -1}}}, "parameters.K_C.sd", ">= 0")
    bad({"parameters": {"r_B": -0.1}}, "parameters.r_B", "> 0")
    bad({"parameters": {"X_Y": 1.0}}, "parameters.X_Y", "K_C")
    bad({"parameters": {"K_C": {"dist": "uniform", "low": 5, "high": 2}}}, "parameters.K_C.high")
    bad({"variability": {"reading": "cv"}}, "variability.reading", "sd", "variance")
    bad({"sweep": {"parameter": "K_X", "values": [1.0]}}, "sweep.parameter", "variability")
    bad({"groups": {"a": {"r_B": 0.1, "foo": 1}}}, "groups.a.foo", "doses")
    bad({"groups": {"a": {"doses": [{"day": -1}]}}}, "groups.a.doses[0].day", "> 0")
    bad({"assessment": {"days": [90, 28]}}, "assessment.days", "increasing")
    bad({"cohort": {"follow_up_days": 0}}, "cohort.follow_up_days", "> 0")
    bad({"kind": "trial"}, "kind", "cohort", "sobol")
    bad({"kind": "sobol", "sensitivity": {"n_base": 100}}, "sensitivity.n_base", "power of 2")
    bad({"output": {"observed_pfs_csv": "nope.csv"}}, "output.observed_pfs_csv", "not found")
    bad({"doses": [{"day": 800.0}]}, "doses", "follow-up")
    bad({"cohort": {"threshold": 0}}, "cohort.threshold", ">= 1")


def test_set_overrides_parse_toml_values():
    cfg = apply_overrides({"cohort": {"n": 10}}, ["cohort.n=60", "variability.reading=variance",
                                                  "parameters.K_C.sd=1e9", "sweep.values=[1.0, 2.0]"])
    assert cfg["cohort"]["n"] == 60
    assert cfg["variability"]["reading"] == "variance"
    assert cfg["parameters"]["K_C"]["sd"] == 1e9
    assert cfg["sweep"]["values"] == [1.0, 2.0]
    with pytest.raises(CartsimError, match="KEY=VALUE"):
        apply_overrides({}, ["cohort.n"])


def test_schedule_lists_days_then_every():
    assert visit_days([28, 90, 180], 90, 730) == (28, 90, 180, 270, 360, 450, 540, 630, 720)
    assert visit_days([], 100, 350) == (100, 200, 300)


def test_groups_split_n_evenly_and_patients_do_not_depend_on_chunking():
    cfg = {"cohort": {"n": 10, "seed": 7}, "variability": {"v": 0.1},
           "parameters": {"k_B": {"dist": "lognormal", "median": 2e9, "sigma": 0.3}},
           "groups": {"a": {"r_B": 0.1}, "b": {"r_B": 0.2}, "c": {"r_B": 0.3}}}
    spec = validate(cfg)
    assert spec.group_sizes() == [4, 3, 3]
    whole = sample_patients(spec, 0, 10)
    parts = [sample_patients(spec, a, b) for a, b in ((0, 3), (3, 4), (4, 10))]
    import pandas as pd

    pd.testing.assert_frame_equal(whole, pd.concat(parts, ignore_index=True))
    assert list(whole["group"]) == ["a"] * 4 + ["b"] * 3 + ["c"] * 3
    # group values are held fixed; others vary
    assert set(whole["r_B"]) == {0.1, 0.2, 0.3}
    assert whole["K_C"].nunique() == 10
    # a different seed gives different patients
    other = sample_patients(validate({**cfg, "cohort": {"n": 10, "seed": 8}}), 0, 10)
    assert not np.allclose(other["K_C"], whole["K_C"])


def test_distributions_match_their_laws():
    n = 4000
    cfg = {"cohort": {"n": n, "seed": 1},
           "parameters": {"K_C": {"dist": "normal", "mean": 7e10, "sd": 1e10},
                          "k_B": {"dist": "lognormal", "median": 2e9, "sigma": 0.5},
                          "a": {"dist": "uniform", "low": 0.1, "high": 0.5},
                          "rho_C": {"dist": "normal", "mean": 0.01, "sd": 0.02},
                          "b": {"dist": "fixed", "value": 0.3}}}
    df = sample_patients(validate(cfg), 0, n)
    assert stats.kstest(df["K_C"], stats.norm(7e10, 1e10).cdf).pvalue > 1e-3
    assert stats.kstest(np.log(df["k_B"]), stats.norm(math.log(2e9), 0.5).cdf).pvalue > 1e-3
    assert stats.kstest(df["a"], stats.uniform(0.1, 0.4).cdf).pvalue > 1e-3
    # truncated to valid values (rho_C >= 0), with the truncated law
    assert (df["rho_C"] >= 0).all()
    tn = stats.truncnorm(-0.5, np.inf, loc=0.01, scale=0.02)
    assert stats.kstest(df["rho_C"], tn.cdf).pvalue > 1e-3
    assert (df["b"] == 0.3).all()


def test_variability_readings():
    assert variability_sd(2.0, 0.05, "sd") == pytest.approx(0.1)
    assert variability_sd(2.0, 0.05, "variance") == pytest.approx(math.sqrt(0.1))
    n = 4000
    base = {"cohort": {"n": n, "seed": 3}, "variability": {"v": 0.05, "parameters": ["K_C", "gamma_B"]}}
    sd = sample_patients(validate(base), 0, n)
    assert sd["K_C"].std() / 6.96e10 == pytest.approx(0.05, rel=0.06)
    assert sd["gamma_B"].std() / 1.15 == pytest.approx(0.05, rel=0.06)
    assert (sd["r_B"] == 0.1).all()  # not listed: fixed
    var = sample_patients(validate({**base, "variability": {**base["variability"], "reading": "variance"}}), 0, n)
    assert var["K_C"].std() == pytest.approx(math.sqrt(0.05 * 6.96e10), rel=0.06)


def test_truncnorm_ppf_stays_in_bounds():
    u = np.array([1e-17, 0.5, 1 - 1e-16])
    x = truncnorm_ppf(u, 0.0, 1.0, 0.0, 2.0)
    assert (x >= 0).all() and (x <= 2).all()
    assert truncnorm_ppf(np.array([0.3]), 5.0, 0.0, 0.0)[0] == 5.0


def test_merged_file_is_byte_identical_whatever_the_chunking(tmp_path, monkeypatch):
    import pandas as pd

    from experiments.cohort import store
    from experiments.cohort.chunk import columns

    monkeypatch.setattr(store, "ROW_GROUP", 16)
    n = 50
    df = pd.DataFrame({c: np.arange(n, dtype=float) for c in columns("kimmel2021")})
    df["id"] = df["seed"] = np.arange(n)
    df["group"] = "all"
    df["outcome"] = "cure"
    df["pfs_event"] = False
    files = []
    for size in (50, 7, 16):
        s = store.ChunkStore(tmp_path / str(size), n, size, "fp", resume=False, model="kimmel2021")
        for k in range(s.n_chunks):
            a, b = s.bounds(k)
            s.write(k, df.iloc[a:b])
        s.merge(tmp_path / f"{size}.parquet")
        files.append((tmp_path / f"{size}.parquet").read_bytes())
    assert files[0] == files[1] == files[2]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "7.parquet"), df)

"""`cartsim run` end to end at reduced size: shipped configs, backends, resume and statistical checks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from experiments.cli.run import run_config
from experiments.cohort.runner import run_cohort
from experiments.cohort.spec import load_spec
from experiments.outputs import CHUNK_DIR
from experiments.paths import CONFIGS
from hybrid import MODELS


def cartsim(*argv: str) -> int:
    """The console script, in process."""
    from experiments.cli import main

    return main(list(argv))


def cfg(name: str) -> str:
    return str(CONFIGS / f"{name}.toml")


REDUCED = {
    "kimmel2021_pfs": ["cohort.n=60", "output.kinetics_patients=12"],
    "pfs_scans": ["cohort.n=60", "output.kinetics_patients=0"],
    "cure_vs_KC": ["cohort.n=60", "sweep.num=3", "output.kinetics_patients=6"],
    "cure_vs_N0": ["cohort.n=60", "sweep.num=3", "output.kinetics_patients=0"],
    "variability": ["cohort.n=60", "sweep.values=[0.0, 0.1, 0.3]", "output.kinetics_patients=0"],
    "event_times": ["cohort.n=40", "output.kinetics_patients=0"],
    "reinfusion": ["cohort.n=30", "output.kinetics_patients=6"],
    "sensitivity_local": ["sensitivity.parameters=['K_C', 'gamma_B', 'N0']"],
    "sensitivity_sobol": ["sensitivity.n_base=16", "sensitivity.num_resamples=20"],
    "antigen_escape": ["cohort.n=48", "output.kinetics_patients=0"],
    "crs_burden": ["cohort.n=50", "output.kinetics_patients=0"],
}
FIGURES = {
    "kimmel2021_pfs": ["pfs.png", "event_times.png", "kinetics.png"],
    "pfs_scans": ["pfs.png", "event_times.png"],
    "cure_vs_KC": ["pfs.png", "p_cure.png", "kinetics.png"],
    "cure_vs_N0": ["p_cure.png"],
    "variability": ["p_cure.png"],
    "event_times": ["event_times.png"],
    "reinfusion": ["pfs.png", "kinetics.png"],
    "sensitivity_local": ["sensitivity.png"],
    "sensitivity_sobol": ["sensitivity.png"],
    "antigen_escape": ["pfs.png", "relapse_types.png"],
    "crs_burden": ["pfs.png", "p_cure.png", "exposure_response.png"],
}


def test_every_shipped_config_is_exercised():
    calibration = {p.stem for p in CONFIGS.glob("*.toml") if 'kind = "fit"' in p.read_text()
                   or 'kind = "predict"' in p.read_text()}
    dosing = {p.stem for p in CONFIGS.glob("*.toml") if 'kind = "dos' in p.read_text()}
    shipped = {p.stem for p in CONFIGS.glob("*.toml") if not p.name.startswith("abm_")} - calibration - dosing
    assert shipped == set(REDUCED)
    assert dosing == {"dosing", "dose_patient"}  # run in tests/experiments/dosing
    # run in test_calibration.py and test_trial.py
    assert calibration == {"fit_kinetics", "calibrate_pfs", "calibrate_trial", "predict_patient"}


@pytest.mark.parametrize("name", sorted(REDUCED))
def test_shipped_config_runs_from_the_command_line(name, tmp_path):
    sets = [a for s in REDUCED[name] for a in ("--set", s)]
    assert cartsim("run", cfg(name), *sets, "--out", str(tmp_path), "--workers", "1", "--quiet") == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["provenance"]["versions"]["numpy"] and summary["provenance"]["config"]
    for fig in FIGURES[name]:
        assert (tmp_path / fig).stat().st_size > 1000, fig
    if name.startswith("sensitivity"):
        assert (tmp_path / "sensitivity.parquet").exists()
        return
    df = pd.read_parquet(tmp_path / "patients.parquet")
    n = summary["n"]
    assert len(df) == n and list(df["id"]) == list(range(n))
    for col in ("id", "seed", "group", *MODELS["kimmel2021"].param_names, "outcome", "t_event_days",
                "nadir_cells", "nadir_day", "cart_peak_cells", "cart_peak_day", "cart_auc_0_28", "p_cure_exact"):
        assert col in df.columns, col
    assert set(df["outcome"]) <= {"cure", "progression", "censored"}
    assert not (tmp_path / CHUNK_DIR).exists()
    if name == "antigen_escape":
        prog = df["outcome"] == "progression"
        assert df.loc[prog, "relapse_type"].isin(["antigen_positive", "antigen_negative"]).all()
        assert df.loc[~prog, "relapse_type"].isna().all()
        assert "relapse_types" in summary["groups"]["f1e-9 mu0"]


def test_pfs_config_groups_and_summary(tmp_path):
    run_config(cfg("kimmel2021_pfs"), ["cohort.n=60", "output.figures=false"], tmp_path, workers=1)
    df = pd.read_parquet(tmp_path / "patients.parquet")
    assert list(df["group"].unique()) == ["slow", "medium", "fast"]
    assert (df.groupby("group", sort=False)["r_B"].unique().map(list).tolist()
            == [[0.105], [0.19], [0.265]])
    s = json.loads((tmp_path / "summary.json").read_text())
    for g in ("slow", "medium", "fast"):
        gs = s["groups"][g]
        assert gs["n"] == 20
        assert gs["p_cure"]["low"] <= gs["p_cure"]["estimate"] <= gs["p_cure"]["high"]
        assert set(gs["pfs"]) == {"6_months", "12_months", "24_months"}
        for v in gs["pfs"].values():
            assert v["low"] <= v["pfs"] <= v["high"]


def test_bad_config_exits_2_naming_file_and_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[cohort]\nn = 10\n[parameters.K_C]\ndist = 'normal'\nmean = 7e10\nsd = -1\n")
    assert cartsim("run", str(bad), "--out", str(tmp_path / "o"), "--quiet") == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "parameters.K_C.sd" in err
    assert cartsim("run", cfg("event_times"), "--set", "cohort.method=euler", "--quiet",
                   "--out", str(tmp_path / "o")) == 2
    assert "cohort.method" in capsys.readouterr().err
    assert not (tmp_path / "o" / "patients.parquet").exists()


def test_results_identical_across_backends_workers_and_chunking(tmp_path):
    sets = ["cohort.n=48", "output.figures=false"]
    runs = {
        "w1": dict(workers=1, chunk_size=48),
        "w2": dict(workers=2, chunk_size=7),
        "dask": dict(workers=2, scheduler="local-dask", chunk_size=10),
    }
    tables = {}
    for key, kw in runs.items():
        run_config(cfg("kimmel2021_pfs"), sets, tmp_path / key, **kw)
        tables[key] = pd.read_parquet(tmp_path / key / "patients.parquet")
    for key in ("w2", "dask"):
        pd.testing.assert_frame_equal(tables["w1"], tables[key], check_exact=True)
    assert (tmp_path / "w1" / "patients.parquet").read_bytes() == (tmp_path / "w2" / "patients.parquet").read_bytes()


def test_interrupt_and_resume_gives_the_uninterrupted_table(tmp_path):
    sets = ["cohort.n=50", "output.figures=false"]
    run_config(cfg("kimmel2021_pfs"), sets, tmp_path / "full", workers=1, chunk_size=10)

    calls = []

    def stop_after_two(k):
        calls.append(k)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cohort(load_spec(cfg("kimmel2021_pfs"), sets), tmp_path / "cut", workers=1, chunk_size=10,
                   on_chunk=stop_after_two)
    assert not (tmp_path / "cut" / "patients.parquet").exists()
    assert len(list((tmp_path / "cut" / CHUNK_DIR).glob("chunk-*.parquet"))) == 2

    resumed = []
    # a different --chunk-size on resume is ignored: the interrupted run's chunking is kept
    run_cohort(load_spec(cfg("kimmel2021_pfs"), sets), tmp_path / "cut", workers=2, chunk_size=3, resume=True,
               on_chunk=resumed.append)
    assert sorted(resumed) == [2, 3, 4]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "full" / "patients.parquet"),
                                  pd.read_parquet(tmp_path / "cut" / "patients.parquet"), check_exact=True)


def test_resume_refuses_a_changed_config(tmp_path):
    from hybrid.errors import CartsimError

    def stop(k):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cohort(load_spec(cfg("event_times"), ["cohort.n=20"]), tmp_path, workers=1, chunk_size=5, on_chunk=stop)
    with pytest.raises(CartsimError, match="differs"):
        run_config(cfg("event_times"), ["cohort.n=20", "cohort.seed=5"], tmp_path, workers=1, resume=True)


def test_observed_cure_fraction_matches_exact_oracle(tmp_path):
    """Acceptance 4: given the sampled parameters, the number of cures is Poisson-binomial with the exact
    per-patient probabilities; the observed fraction must lie within 4 SE of their mean."""
    s = run_config(cfg("event_times"), ["cohort.n=400", "variability.v=0.05", "output.figures=false"], tmp_path,
                   workers=2)["overall"]
    observed = s["outcomes"]["cure"] / s["n"]
    assert 0.05 < s["p_cure_exact_mean"] < 0.95  # a non-degenerate check
    assert abs(observed - s["p_cure_exact_mean"]) < 4 * s["p_cure_exact_se"]


def _sweep_points(tmp_path, name, values):
    s = run_config(cfg(name), ["cohort.n=180", f"sweep.values={values}", "output.figures=false"], tmp_path,
                   workers=2)
    return s["sweep"]["points"]


def test_p_cure_rises_with_KC_and_falls_with_N0(tmp_path):
    """Acceptance 5: monotone beyond the Wilson intervals between the ends of the swept ranges."""
    kc = _sweep_points(tmp_path / "kc", "cure_vs_KC", [5.5e10, 7.5e10, 9.5e10])
    assert kc[0]["high"] < kc[-1]["low"]
    assert np.all(np.diff([p["p_cure_exact_mean"] for p in kc]) > 0)
    n0 = _sweep_points(tmp_path / "n0", "cure_vs_N0", [5e8, 3e9, 1e10])
    assert n0[0]["low"] > n0[-1]["high"]
    assert np.all(np.diff([p["p_cure_exact_mean"] for p in n0]) < 0)


def test_scan_schedule_delays_progression_to_visits(tmp_path):
    run_config(cfg("pfs_scans"), ["cohort.n=60", "output.figures=false"], tmp_path, workers=1)
    df = pd.read_parquet(tmp_path / "patients.parquet")
    visits = np.array([28, 90, 180, 270, 360, 450, 540, 630, 720], float)
    prog = df[df["pfs_event"]]
    assert len(prog) > 0
    assert np.isin(prog["pfs_days"], visits).all()
    assert (prog["pfs_days"] >= prog["t_event_days"]).all()
    # the visit is the first at or after the true progression
    k = np.searchsorted(visits, prog["t_event_days"].to_numpy())
    assert np.array_equal(visits[k], prog["pfs_days"].to_numpy())
    assert (df.loc[~df["pfs_event"], "pfs_days"] == 720).all()


def test_observed_pfs_overlay(tmp_path):
    csv = tmp_path / "observed.csv"
    csv.write_text("months,pfs_percent\n0,100\n3,60\n6,49\n12,44\n24,40\n")
    conf = tmp_path / "c.toml"
    conf.write_text((CONFIGS / "event_times.toml").read_text() + "\n[output]\nobserved_pfs_csv = 'observed.csv'\n"
                    "kinetics_patients = 0\n")
    run_config(conf, ["cohort.n=20"], tmp_path / "out", workers=1)
    assert (tmp_path / "out" / "pfs.png").stat().st_size > 1000
    csv.write_text("weeks,pfs\n0,1\n")
    from hybrid.errors import CartsimError

    with pytest.raises(CartsimError, match="months"):
        run_config(conf, ["cohort.n=20"], tmp_path / "out2", workers=1)
    csv.write_text("months,pfs\n0,100\n3,60\n")  # percent in a column of fractions: said, not guessed
    with pytest.raises(CartsimError, match="pfs_percent"):
        run_config(conf, ["cohort.n=20"], tmp_path / "out3", workers=1)


def test_reinfusion_with_lymphodepletion_helps(tmp_path):
    s = run_config(cfg("reinfusion"), ["cohort.n=60", "output.figures=false"], tmp_path, workers=2)["groups"]
    single = s["single_infusion"]["p_cure_exact_mean"]
    assert s["second_infusion_lymphodepletion"]["p_cure_exact_mean"] > single
    # without lymphodepletion the extra cells meet a full normal T compartment: far less gain (paper, §3g)
    gain_plain = s["second_infusion"]["p_cure_exact_mean"] - single
    gain_ld = s["second_infusion_lymphodepletion"]["p_cure_exact_mean"] - single
    assert gain_plain < 0.25 * gain_ld


def test_sobol_indices_within_unit_interval_and_KC_ranks_high(tmp_path):
    s = run_config(cfg("sensitivity_sobol"), ["sensitivity.n_base=256", "output.figures=false"], tmp_path,
                   workers=2)
    for v in s["indices"].values():
        assert -v["S1_conf"] <= v["S1"] <= 1 + v["S1_conf"]
        assert -v["ST_conf"] <= v["ST"] <= 1 + v["ST_conf"]
    assert set(s["ranking"][:3]) & {"K_C", "gamma_B"}


def test_local_sensitivity_ranks_KC_KN_gammaB_first(tmp_path):
    s = run_config(cfg("sensitivity_local"), [], tmp_path, workers=1)
    assert s["ranking"][:3] == ["K_C", "K_N", "gamma_B"]


def test_sigterm_keeps_chunks_and_resume_completes(tmp_path):
    """A real interruption: SIGTERM to a running `cartsim run`, then --resume; same table as a clean run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    # 160 chunks, the signal after the second: the run cannot finish between two looks 20 ms apart
    args = [sys.executable, "-m", "experiments.cli", "run", cfg("event_times"), "--set", "cohort.n=4000",
            "--set", "output.figures=false", "--chunk-size", "25", "--workers", "1", "--quiet"]
    out = tmp_path / "cut"
    proc = subprocess.Popen([*args, "--out", str(out)], env={**os.environ, "MPLBACKEND": "Agg"})
    chunks = out / CHUNK_DIR
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if len(list(chunks.glob("chunk-*.parquet"))) >= 2:
            proc.send_signal(signal.SIGTERM)
            break
        time.sleep(0.02)
    rc = proc.wait(timeout=120)
    assert rc == 143  # SIGTERM's conventional status
    kept = len(list(chunks.glob("chunk-*.parquet")))
    assert 2 <= kept < 160
    assert not (out / "patients.parquet").exists()
    assert subprocess.run([*args, "--out", str(out), "--resume"]).returncode == 0
    assert subprocess.run([*args, "--out", str(tmp_path / "full")]).returncode == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "full" / "patients.parquet"),
                                  pd.read_parquet(out / "patients.parquet"), check_exact=True)


def test_abm_configs_dispatch_with_an_order_preserving_map(tmp_path):
    sets = ["abm.replicates=4", "abm.steps=24", "abm.width=30", "abm.height=30"]
    for w in (1, 2):
        run_config(cfg("abm_shield"), sets, tmp_path / f"w{w}", workers=w)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "w1" / "replicates.parquet"),
                                  pd.read_parquet(tmp_path / "w2" / "replicates.parquet"))


@pytest.mark.parametrize("command", [["run", str(CONFIGS / "event_times.toml")], ["abm", "--steps", "2"],
                                     ["fit", str(CONFIGS / "calibrate_pfs.toml")]])
def test_out_that_is_a_file_exits_2(tmp_path, capsys, command):
    from experiments.cli import main as cartsim

    f = tmp_path / "file"
    f.write_text("x")
    for out in (f, f / "sub"):
        assert cartsim([*command, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "is a file" in err and len(err.strip().splitlines()) == 1
    assert f.read_text() == "x"


def test_exact_only_run_streams_the_same_exact_summary(tmp_path):
    """An exact-only cohort samples the same patients and gives them the same exact P(cure) as the full run;
    its summary (streamed over the table) matches the full run's per group. The full run reads P(cure) off the
    tabulated solve, the exact-only run off the oracle's own (looser floors on negligible components): each is
    within 5e-6 of a rtol-1e-12 reference (benchmarks.compare_trees --workload exact measures 4.7e-6 and
    1.9e-6), so they agree to 1e-5."""
    sets = ["cohort.n=90", "output.figures=false"]
    full = run_config(cfg("kimmel2021_pfs"), sets, tmp_path / "full", workers=2)
    exact = run_config(cfg("kimmel2021_pfs"), [*sets, "cohort.exact_only=true"], tmp_path / "exact", workers=2)
    a = pd.read_parquet(tmp_path / "full" / "patients.parquet")
    b = pd.read_parquet(tmp_path / "exact" / "patients.parquet")
    np.testing.assert_array_equal(a["group"], b["group"])
    np.testing.assert_allclose(a["p_cure_exact"], b["p_cure_exact"], rtol=0, atol=1e-5)
    assert b["outcome"].isna().all()
    for g in ("slow", "medium", "fast"):
        fs, es = full["groups"][g], exact["groups"][g]
        assert es["n"] == fs["n"] == 30
        assert es["p_cure_exact_mean"] == pytest.approx(fs["p_cure_exact_mean"], rel=0, abs=1e-5)
        assert es["p_cure_exact_se"] == pytest.approx(fs["p_cure_exact_se"], rel=0, abs=1e-5)
        assert "p_cure" not in es
    assert exact["overall"]["p_cure_exact_mean"] == pytest.approx(b["p_cure_exact"].mean(), rel=1e-12)

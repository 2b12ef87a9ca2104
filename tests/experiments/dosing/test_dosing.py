"""Dosing: the one dose routine against the hybrid Monte Carlo, the directions Kimmel's Table 1 gives, the
personalised dose against a brute-force grid, the shipped configs, and bad input.

Fixed seeds; the Monte Carlo agrees when within 4 SE of the exact P(cure) (binomial SE of the cure share)."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import tomli_w

import hybrid
from experiments.cohort.spec import load_toml
from experiments.cohort.toxicity import Toxicity
from experiments.dosing import run_dose, validate_dose
from experiments.dosing.evaluate import outcomes
from experiments.dosing.products import PRODUCTS
from experiments.dosing.schedules import Schedule
from experiments.paths import CONFIGS
from hybrid.units import volume_to_cells

N = 4000
KIMMEL = hybrid.get_model("kimmel2021")
TABLE1 = KIMMEL.preset("kimmel2021")


def _table1(n):
    return pd.DataFrame([TABLE1] * n)


@pytest.mark.parametrize("schedule, doses", [
    (Schedule.split(), [5e8, 6e8, 7e8]),
    (Schedule.repeated(3, 14.0, lymphodepletion_each=True), [2e5, 4e5, 7e5]),
    (Schedule.repeated(3, 14.0, lymphodepletion_each=False), [3.5e8, 4e8, 4.5e8]),
])
def test_the_monte_carlo_agrees_with_the_exact_path_through_the_dose_routine(schedule, doses):
    opts = hybrid.SimOptions(t_end=730.0)
    burden = volume_to_cells(np.array([10.0]))
    exact = {d: outcomes(_table1(2), "kimmel2021", opts, schedule, d, burden, Toxicity(), 3).p_cure[0, 0]
             for d in doses}
    dose = min(doses, key=lambda d: abs(exact[d] - 0.5))  # where the Monte Carlo has most to say
    p = exact[dose]
    assert 0.02 < p < 0.98, exact
    mc = outcomes(_table1(N), "kimmel2021", opts, schedule, dose, burden, Toxicity(), 3,
                  hybrid.SpawnedSeeds(2024, np.arange(N)), method="Monte Carlo").p_cure[:, 0].mean()
    assert abs(mc - p) < 4 * math.sqrt(p * (1 - p) / N), (schedule.name, dose, mc, p)


def test_table1_cure_rises_with_dose_and_falls_with_burden():
    """Kimmel's Table 1 patient: over tisa-cel's label range at the median burden (94.86 ml) P(cure) rises
    with the dose, and at Table 1's dose (1.8e8 cells) it falls with the burden (P(cure) = q^B0 exactly)."""
    opts = hybrid.SimOptions(t_end=730.0)
    lo, hi = PRODUCTS["tisa-cel"].cells(None)
    doses = np.geomspace(lo, hi, 8)
    p_dose = [outcomes(_table1(1), "kimmel2021", opts, Schedule.single(), d,
                       np.array([TABLE1["B0"]]), Toxicity(), 3).p_cure[0, 0] for d in doses]
    assert np.all(np.diff(p_dose) >= 0) and p_dose[-1] - p_dose[0] > 0.5, p_dose
    burdens = volume_to_cells(np.geomspace(1.0, 500.0, 8))
    p_burden = outcomes(_table1(1), "kimmel2021", opts, Schedule.single(), 1.8e8, burdens, Toxicity(),
                        3).p_cure[0]
    assert np.all(np.diff(p_burden) < 0), p_burden
    # the shared solve is Kendall's formula at each burden
    direct = [hybrid.cure_probability_exact(_table1(1).assign(B0=b), 730.0, opts)[0] for b in burdens]
    assert np.allclose(p_burden, direct, rtol=1e-6, atol=1e-12)


def test_the_crs_proxy_tracks_burden_and_falls_with_dose():
    """The model's measured directions (README, "Dosing"): severe CRS by the proxy rises with tumour burden
    (seed 000: IL-6 tracks burden more than dose) but falls with the dose at a fixed burden, unlike Kymriah's
    and Abecma's positive dose-CRS trends: a larger dose kills the same tumour faster, so the engagement that
    drives the myeloid pool is shorter."""
    opts = hybrid.SimOptions(t_end=730.0)
    crs = hybrid.get_model("kimmel2021_crs").preset(None)
    pats = pd.DataFrame([crs])
    burdens = volume_to_cells(np.array([5.0, 40.0, 95.0, 300.0]))
    from experiments.cohort import toxicity

    peaks = []
    for d in (6e7, 2e8, 6e8):
        table, o = Schedule.single().apply(pats, d, opts, hybrid.get_model("kimmel2021_crs"))
        peaks.append([toxicity.readouts(table.assign(B0=b), o, hybrid.get_model("kimmel2021_crs"),
                                        Toxicity())["il6_peak_pg_ml"][0] for b in burdens])
    peaks = np.array(peaks)  # (doses, burdens)
    assert np.all(np.diff(peaks, axis=1) > 0), peaks  # rises with burden at every dose
    assert np.all(np.diff(peaks[:, 2]) < 0), peaks[:, 2]  # falls with dose at 95 ml


def _dose_config(tmp_path, **changes):
    cfg = load_toml(CONFIGS / "dose_patient.toml")
    cfg["patient"]["draws"] = 40
    cfg["dose"]["grid_points"] = 7
    for path, v in changes.items():
        t, k = path.split(".")
        cfg[t][k] = v
    return cfg


@pytest.mark.parametrize("posterior", [False, True])
def test_the_personal_dose_agrees_with_a_brute_force_grid_and_keeps_the_limit(tmp_path, posterior):
    """With the population's draws, and with posterior draws in cartsim predict's samples.parquet layout."""
    cfg = _dose_config(tmp_path)
    cfg["dose"]["schedules"] = [{"preset": "single"}]
    if posterior:
        rng = np.random.default_rng(3)
        samples = pd.DataFrame({"step": np.arange(120), "walker": 0,
                                "K_C": 7e10 * np.exp(0.15 * rng.standard_normal(120)),
                                "rho_C": 0.025 * np.exp(0.3 * rng.standard_normal(120))})
        samples.to_parquet(tmp_path / "samples.parquet", index=False)
        cfg["patient"]["posterior"] = str(tmp_path / "samples.parquet")
    spec = validate_dose(cfg, str(CONFIGS / "dose_patient.toml"))
    res = run_dose(spec, tmp_path / "out", workers=1, notes=lambda _m: None)
    rec = res["recommended"]
    assert rec is not None and rec["p_severe"] <= spec.rule.toxicity_limit
    from experiments.dosing.personal import draws_of

    pats = draws_of(spec)
    if posterior:  # the draws are the posterior's
        assert np.isin(pats["K_C"].to_numpy(), pd.read_parquet(tmp_path / "samples.parquet")["K_C"]).all()
    fine = np.geomspace(*spec.dose_range, 41)
    tox = spec.population.toxicity
    best, best_p = None, -1.0
    for d in fine:
        o = outcomes(pats, spec.model, spec.population.options, spec.schedules[0], d,
                     np.array([spec.burden_cells]), tox, spec.rule.severe_grade)
        if o.severe[:, 0].mean() <= spec.rule.toxicity_limit and o.p_cure[:, 0].mean() > best_p:
            best, best_p = d, o.p_cure[:, 0].mean()
    step = math.log(fine[1] / fine[0])
    assert abs(math.log(rec["dose_cells"] / best)) <= step + 1e-9, (rec["dose_cells"], best)
    assert rec["p_cure"] >= best_p - 1e-9
    assert (tmp_path / "out" / "dose.png").exists()


def test_no_dose_in_range_is_an_answer_with_exit_0(cli, tmp_path):
    cfg = _dose_config(tmp_path, **{"patient.burden": 300.0})
    path = tmp_path / "dose.toml"
    cfg["cohort"]["seed"] = 31
    path.write_text(tomli_w.dumps(cfg).replace('"../', f'"{CONFIGS.parent}/'))
    status, out, err = cli(["dose", path, "--out", tmp_path / "out", "--workers", "1"])
    assert status == 0, err
    doc = json.loads((tmp_path / "out" / "dose.json").read_text())
    assert doc["recommended"] is None and doc["answer"].startswith("no dose in range meets the toxicity limit")
    assert "no dose" in out and "P(severe CRS)" in doc["answer"]


def test_the_shipped_dosing_config_runs_with_its_figures(cli, tmp_path):
    status, _, err = cli(["run", CONFIGS / "dosing.toml", "--out", tmp_path, "--workers", "1", "--quiet",
                          "--set", "cohort.n=20", "--set", "dosing.doses={from = 5e7, to = 2e9, num = 4}",
                          "--set", "dosing.burdens={from = 3, to = 300, num = 3}"])
    assert status == 0, err
    table = pd.read_parquet(tmp_path / "dosing.parquet")
    assert len(table) == 3 * 4 * 3 and table["p_cure"].between(0, 1).all()
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["method"] == "exact, shared over burdens" and s["provenance"]["config"]
    assert s["schedules"]["single"]["dose_response"] in ("rises", "flat")
    for f in ("dose_response.png", "dose_toxicity.png", "nomogram.png", "schedules.png"):
        assert (tmp_path / f).stat().st_size > 1000, f


def test_doses_per_kg_and_product_ranges():
    lo, hi = PRODUCTS["axi-cel"].cells(100.0)
    assert (lo, hi) == (1e8, 2e8)  # 1-2e6/kg x 100 kg, capped at the label's 2e8
    s = Schedule.split()
    table, opts = s.apply(_table1(1), 1e8, hybrid.SimOptions(), KIMMEL)
    assert table["C0"][0] == pytest.approx(1e7)
    assert [(d.day, d.car_t_cells, d.lymphodepletion) for d in opts.doses] == [(1.0, 3e7, False),
                                                                              (2.0, 6e7, False)]
    table, _ = Schedule.single(lymphodepletion=False).apply(_table1(1), 1e8, hybrid.SimOptions(), KIMMEL)
    assert table["N0"][0] == TABLE1["K_N"]


BAD_DOSING = {
    "zero_dose": ("dosing.doses", [0.0, 1e8], "dosing.doses[0]"),
    "negative_dose": ("dosing.doses", [-1e8], "dosing.doses[0]"),
    "fractions": ("dosing.schedules", [{"days": [0, 1], "fractions": [0.5, 0.6]}], "sum to 1"),
    "day_after_follow_up": ("dosing.schedules", [{"days": [0, 900], "fractions": [0.5, 0.5]}], "follow-up"),
    "target_one": ("dosing.efficacy_target", 1.0, "dosing.efficacy_target"),
    "limit_zero": ("dosing.toxicity_limit", 0.0, "dosing.toxicity_limit"),
    "limit_above_one": ("dosing.toxicity_limit", 1.5, "dosing.toxicity_limit"),
    "unknown_product": ("dosing.product", "kymriah-xl", "tisa-cel"),
}


@pytest.mark.parametrize("case", list(BAD_DOSING))
def test_bad_dosing_input_exits_2_in_one_line_writing_nothing(cli, tmp_path, case):
    key, value, fragment = BAD_DOSING[case]
    cfg = load_toml(CONFIGS / "dosing.toml")
    t, k = key.split(".")
    cfg[t][k] = value
    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(cfg))
    status, _, err = cli(["run", path, "--out", tmp_path / "out"])
    assert status == 2 and fragment in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("key, value, fragment", [
    ("dose.range", [0.0, 1e8], "dose.range[0]"),
    ("dose.toxicity_limit", 1.0, "dose.toxicity_limit"),
    ("dose.product", "nope", "accepted"),
    ("patient.burden", -5.0, "patient.burden"),
])
def test_bad_dose_input_exits_2_in_one_line_writing_nothing(cli, tmp_path, key, value, fragment):
    cfg = load_toml(CONFIGS / "dose_patient.toml")
    t, k = key.split(".")
    cfg[t][k] = value
    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(cfg))
    status, _, err = cli(["dose", path, "--out", tmp_path / "out"])
    assert status == 2 and fragment in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_layer_readouts_over_burdens_match_the_mean_field_at_each_burden():
    """One mean field per patient (the parent's, the layer integrated again for each burden) against the full
    model's mean field solved at each burden: peaks within 0.1% (the full solve's tolerance), days within one
    grid step, the proxy grade the same."""
    from experiments.cohort import toxicity

    m = hybrid.get_model("kimmel2021_crs")
    rng = np.random.default_rng(5)
    pats = pd.DataFrame([m.preset(None)] * 40)
    for c in ("K_C", "r_B", "gamma_B", "s_L", "h_E"):
        pats[c] *= np.exp(0.2 * rng.standard_normal(len(pats)))
    table, opts = Schedule.repeated(2, 10.0, True).apply(pats, 2e8, hybrid.SimOptions(t_end=730.0), m)
    burdens = volume_to_cells(np.array([3.0, 40.0, 300.0]))
    shared = toxicity.readouts_over_burdens(table, burdens, opts, m, Toxicity())
    for j, b in enumerate(burdens):
        each = toxicity.readouts(table.assign(B0=b), opts, m, Toxicity())
        assert np.allclose(shared["il6_peak_pg_ml"][:, j], each["il6_peak_pg_ml"], rtol=1e-3)
        assert np.abs(shared["il6_peak_day"][:, j] - each["il6_peak_day"]).max() <= toxicity.DT + 1e-9
        assert np.abs(shared["il6_days_above"][:, j] - each["il6_days_above"]).max() <= 2 * toxicity.DT + 1e-9
        assert (shared["crs_grade_proxy"][:, j] == each["crs_grade_proxy"]).all()


@pytest.mark.parametrize("severe_grade", [1, 2, 3])
def test_severe_by_bisection_equals_the_grade_at_every_burden(severe_grade):
    """The bisection over burdens (peak IL-6 grows with the burden) flags exactly the burdens whose proxy grade,
    from every burden's own course, reaches the severe grade — on patients spread over the layer's parameters
    and 25 burdens from 0.3 to 500 ml, so every grade occurs."""
    from experiments.cohort import toxicity

    m = hybrid.get_model("kimmel2021_crs")
    rng = np.random.default_rng(11)
    pats = pd.DataFrame([m.preset(None)] * 60)
    for c in ("K_C", "r_B", "gamma_B", "s_L", "h_E", "s_I"):
        pats[c] *= np.exp(0.4 * rng.standard_normal(len(pats)))
    table, opts = Schedule.single().apply(pats, 3e8, hybrid.SimOptions(t_end=730.0), m)
    burdens = volume_to_cells(np.geomspace(0.3, 500.0, 25))
    grades = toxicity.readouts_over_burdens(table, burdens, opts, m, Toxicity())["crs_grade_proxy"]
    flags = toxicity.severe_over_burdens(table, burdens, opts, m, Toxicity(), severe_grade)
    assert 0 < (grades >= severe_grade).mean() < 1  # the case is not trivial
    np.testing.assert_array_equal(flags, (grades >= severe_grade).astype(float))


def test_the_exposure_from_the_layer_s_course_is_the_mean_field_on_the_exposure_grid():
    """With the layer carried, Cmax and AUC0-28 are read from the layer's course (0-90 days every 0.05, one mean
    field per patient and dose serving exposure and CRS): they equal those of a mean field solved on the exposure
    grid itself within the two solves' tolerance (rtol 1e-6 each), and at every burden alike."""
    from experiments.cohort.exposure import EXPOSURE_GRID, cmax_auc
    from hybrid.units import cells_to_blood

    m = hybrid.get_model("kimmel2021_crs")
    rng = np.random.default_rng(5)
    pats = pd.DataFrame([m.preset(None)] * 20)
    pats["K_C"] *= np.exp(0.3 * rng.standard_normal(len(pats)))
    options, schedule = hybrid.SimOptions(t_end=730.0), Schedule.split()
    burdens = volume_to_cells(np.array([300.0, 2.0, 30.0]))
    got = outcomes(pats, m.name, options, schedule, 3e8, burdens, Toxicity(), 3)
    table, opts = schedule.apply(pats, 3e8, options, m)
    rec = hybrid.mean_field(table[list(KIMMEL.param_names)], EXPOSURE_GRID, opts, KIMMEL)
    cmax, auc = cmax_auc(cells_to_blood(rec[:, :, KIMMEL.index("C")]))
    for j in range(len(burdens)):
        np.testing.assert_allclose(got.cmax[:, j], cmax, rtol=1e-5)
        np.testing.assert_allclose(got.auc[:, j], auc, rtol=1e-5)


def test_a_layer_model_s_oracle_is_its_parent_s():
    """kimmel2021_crs declares layer_of = kimmel2021: its parameters and species start with the parent's, and
    P(cure) is the parent's (solved without the layer) — equal to the full model's own solve within its
    tolerance (each oracle solve is within 5e-6 of a rtol-1e-12 reference: benchmarks.compare_trees --workload
    exact measures 4.7e-6)."""
    crs, parent = hybrid.get_model("kimmel2021_crs"), hybrid.get_model("kimmel2021")
    assert crs.layer_of == "kimmel2021"
    assert crs.param_names[:len(parent.param_names)] == parent.param_names
    assert crs.species[:len(parent.species)] == parent.species
    pats = pd.DataFrame([crs.preset(None)] * 3).assign(K_C=[6e10, 7e10, 8e10])
    got = hybrid.cure_probability_exact(pats, 730.0, hybrid.SimOptions(), crs)
    assert np.array_equal(got, hybrid.cure_probability_exact(pats[list(parent.param_names)], 730.0,
                                                             hybrid.SimOptions(), parent))
    from dataclasses import replace

    full = replace(crs, layer_of=None)  # the same model solved with its layer
    np.testing.assert_allclose(got, hybrid.cure_probability_exact(pats, 730.0, hybrid.SimOptions(), full),
                               rtol=0, atol=1e-5)


def test_an_interrupted_grid_resumes_with_its_finished_cells(cli, tmp_path, monkeypatch):
    """Interrupted after two (schedule, dose) pairs, `cartsim run --resume` keeps them and the table equals an
    uninterrupted run's."""
    from experiments.dosing import grid

    sets = ["--set", "cohort.n=10", "--set", "dosing.doses={from = 1e8, to = 1e9, num = 3}",
            "--set", "dosing.burdens={from = 3, to = 300, num = 2}", "--set", "output.figures=false"]
    whole = tmp_path / "whole"
    assert cli(["run", CONFIGS / "dosing.toml", "--out", whole, "--workers", "1", "--quiet", *sets])[0] == 0
    calls = {"n": 0}
    real = grid._cell_task

    def interrupted(args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(args)

    monkeypatch.setattr(grid, "_cell_task", interrupted)
    part = tmp_path / "part"
    assert cli(["run", CONFIGS / "dosing.toml", "--out", part, "--workers", "1", "--quiet", *sets])[0] == 130
    assert len(list((part / ".chunks").glob("cell-*.npz"))) == 2
    monkeypatch.setattr(grid, "_cell_task", real)
    status, _, err = cli(["run", CONFIGS / "dosing.toml", "--out", part, "--workers", "1", "--resume", *sets])
    assert status == 0 and "2 finished (schedule, dose) pairs kept" in err, err
    assert pd.read_parquet(part / "dosing.parquet").equals(pd.read_parquet(whole / "dosing.parquet"))
    assert not (part / ".chunks").exists()


def test_the_dose_and_the_burden_set_the_model_s_own_start_parameters():
    """cartmath names its CAR T start CT0 and its tumour start T0: the routine sets those, not Kimmel's."""
    cm = hybrid.get_model("cartmath")
    pats = pd.DataFrame([cm.preset(None)] * 2)
    table, _ = Schedule.single().apply(pats, 3e6, hybrid.SimOptions(), cm)
    assert (table["CT0"] == 3e6).all() and "C0" not in table
    from experiments.dosing.evaluate import method_of, tumour_start

    assert tumour_start(cm) == "T0" and tumour_start(KIMMEL) == "B0" and method_of("cartmath") == "Monte Carlo"


@pytest.mark.parametrize("model, schedules, fragment", [
    ("kimmel2021", [{"preset": "single"}], "carries no cytokine layer"),
    ("cartmath", [{"preset": "single", "lymphodepletion": False}], "K_N"),
])
def test_a_dose_the_model_cannot_take_exits_2_before_any_work(cli, tmp_path, model, schedules, fragment):
    cfg = load_toml(CONFIGS / "dose_patient.toml")
    cfg["cohort"] = {"model": model, "seed": 1}
    cfg["variability"] = {"v": 0.0}
    cfg["dose"] = {"range": [1e7, 1e8], "schedules": schedules}
    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(cfg))
    status, _, err = cli(["dose", path, "--out", tmp_path / "out"])
    assert status == 2 and fragment in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()

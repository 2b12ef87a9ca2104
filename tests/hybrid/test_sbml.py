"""SBML in and out, held to libroadrunner (the reference SBML simulator) and to the built-in models."""

import math

import numpy as np
import pandas as pd
import pytest
import roadrunner

from hybrid import Parameters, SimOptions, cure_probability_exact, mean_field, simulate_batch
from hybrid.catalog import get_model, sbml_reference
from hybrid.models import MODELS
from hybrid.sbml import export_sbml, load_sbml

CURATED = "experiments/data/sbml/BIOMD0000001041.xml"
DAYS = [0.0, 7.0, 14.0, 28.0, 90.0, 365.0]
BLOOD, VOLUME = 5e8, 1e9  # cells per cell/µL of blood; cells per ml of tumour


def roadrunner_at(path, species, days, rtol=1e-12, atol=1e-25):
    """libroadrunner's (CVODE) solution at ``days``, integrating stretch by stretch between them."""
    rr = roadrunner.RoadRunner(str(path))
    rr.integrator.relative_tolerance = rtol
    rr.integrator.absolute_tolerance = atol
    rr.integrator.maximum_num_steps = 200000
    out = {0.0: [rr[f"[{s}]"] for s in species]}
    for a, b in zip(days[:-1], days[1:], strict=True):
        rr.simulate(a, b, 2)
        out[b] = [rr[f"[{s}]"] for s in species]
    return np.array([out[d] for d in days])


@pytest.mark.parametrize("name", list(MODELS))
def test_exported_model_simulated_by_libroadrunner_matches_the_mean_field(name, tmp_path):
    spec = MODELS[name]
    p = Parameters.from_preset(None, name)
    path = export_sbml(get_model(name), tmp_path / f"{name}.xml")
    rr = roadrunner_at(path, spec.species, DAYS)
    ours = mean_field([p], np.array(DAYS), SimOptions(rtol=1e-12, t_end=365.0))[0]
    # relative, with one cell as the floor (a tumour of 1e-13 mean-field cells is 0 for every purpose)
    np.testing.assert_array_less(np.abs(ours - rr) / np.maximum(np.abs(rr), 1.0), 1e-6)


def test_round_trip_runs_the_same_patients():
    """Export Kimmel, import it, run the same seeds: the same outcomes, event counts and exact P(cure). The
    generated rate law evaluates the same arithmetic in another order (r_C written out, the Gompertz terms
    inline), so readouts differ in the last digits: values by < 1e-12 relative (asserted 1e-9), and the day of
    the CAR T peak by ~1e-8 days, because the argmax of a flat maximum is fixed only to ~sqrt(machine epsilon)
    (asserted 1e-6 days)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        ref = sbml_reference(export_sbml(get_model("kimmel2021"), f"{d}/k.xml", {"r_B": 0.12}), "B", "C", "N")
        imported = get_model(ref)
        n = 400
        a = simulate_batch([Parameters.from_preset(None, imported)] * n, list(range(n)), model=imported)
    b = simulate_batch([Parameters.from_preset(None, "kimmel2021", r_B=0.12)] * n, list(range(n)))
    assert (a["outcome"] == b["outcome"]).all() and (a["n_events"] == b["n_events"]).all()
    num = [c for c in a.columns if c not in ("outcome", "n_events", "n_leaps", "cart_peak_day")]
    np.testing.assert_allclose(a[num].to_numpy(), b[num].to_numpy(), rtol=1e-9, atol=0)
    np.testing.assert_allclose(a["cart_peak_day"], b["cart_peak_day"], rtol=0, atol=1e-6)


def test_curated_biomodels_kimmel_matches_libroadrunner_and_the_built_in_model():
    """BIOMD0000001041 is in blood counts and tumour volume: N, C in cells/µL (× 5e8 = cells), B in ml
    (× 1e9 = cells), with K_C = 139, k_B = 4.05 and r_B = 0.01 in the file."""
    spec = load_sbml(CURATED, "Antigen_presenting_tumour_cells", "CAR_T_cells", "Normal_T_cells")
    assert spec.linear_tumour and spec.kendall_reactions is not None  # detected, not declared
    ours = mean_field([Parameters.from_preset(None, spec)], np.array(DAYS), SimOptions(rtol=1e-12, t_end=365.0),
                      spec)[0]
    rr = roadrunner_at(CURATED, spec.species, DAYS)
    np.testing.assert_array_less(np.abs(ours - rr) / np.maximum(np.abs(rr), 1e-9), 1e-6)
    built_in = Parameters.from_preset("kimmel2021", K_C=139 * BLOOD, k_B=4.05 * BLOOD, r_B=0.01)
    kim = mean_field([built_in], np.array(DAYS), SimOptions(rtol=1e-12, t_end=365.0))[0]
    converted = ours * np.array([BLOOD, BLOOD, VOLUME])
    np.testing.assert_allclose(converted, kim, rtol=1e-6)


def test_curated_hanson_toxicity_model_matches_libroadrunner():
    """BIOMD0000000837 (Hanson et al. 2016, CAR T toxicity in B-ALL): function definitions and a piecewise
    assignment rule over another rule, imported and solved as libroadrunner solves them."""
    path = "experiments/data/sbml/BIOMD0000000837.xml"
    spec = load_sbml(path, "B")
    assert {"Inflam", "C_e", "C_m", "L"} <= set(spec.species) and not spec.linear_tumour
    days = [0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
    ours = mean_field([Parameters.from_preset(None, spec)], np.array(days), SimOptions(rtol=1e-12, t_end=365.0),
                      spec)[0]
    rr = roadrunner_at(path, spec.species, days)
    np.testing.assert_array_less(np.abs(ours - rr) / np.maximum(np.abs(rr), 1e-9), 1e-6)


def test_imported_linear_model_gets_the_exact_oracle_and_the_monte_carlo_agrees(tmp_path):
    ref = sbml_reference(export_sbml(get_model("kimmel2021"), tmp_path / "k.xml", {"r_B": 0.12}), "B", "C", "N")
    spec = get_model(ref)
    assert spec.linear_tumour
    p = Parameters.from_preset(None, spec)
    exact = cure_probability_exact(p, 730.0, model=spec)
    assert exact == pytest.approx(cure_probability_exact(Parameters.from_preset(None, "kimmel2021", r_B=0.12)),
                                  rel=1e-12)
    n = 3000
    df = simulate_batch([p] * n, np.random.SeedSequence(3).spawn(n), model=spec, exact=False)
    se = math.sqrt(exact * (1 - exact) / n)
    assert abs((df["outcome"] == "cure").mean() - exact) <= 4 * se


@pytest.mark.parametrize("name, tumour, sets", [
    ("kimmel2021_bfeedback", "B", {"s_B": 0.05}),  # B stimulates C: the other species depend on the tumour
    ("cartmath", "T", {}),  # logistic tumour: its death rate per cell grows with T
])
def test_nonlinear_imported_models_get_no_oracle(name, tumour, sets, tmp_path):
    spec = load_sbml(export_sbml(get_model(name), tmp_path / "m.xml", sets), tumour)
    assert not spec.linear_tumour
    assert cure_probability_exact(Parameters.from_preset(None, spec), 100.0, model=spec) is None


_SBML = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
  <model id="m">
    <listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
    <listOfSpecies>
      <species id="B" compartment="c" initialAmount="1000" hasOnlySubstanceUnits="true" boundaryCondition="false"
               constant="false"/>
    </listOfSpecies>
    <listOfParameters><parameter id="r" value="0.1" constant="true"/><parameter id="k" value="0.2"
      constant="true"/></listOfParameters>
    {body}
  </model>
</sbml>"""
_RULE = """<listOfRules><rateRule variable="B"><math xmlns="http://www.w3.org/1998/Math/MathML">{m}</math></rateRule>
</listOfRules>"""
_SPLITTABLE = ("<apply><minus/><apply><times/><ci>r</ci><ci>B</ci></apply>"
               "<apply><times/><ci>k</ci><ci>B</ci></apply></apply>")
_UNSPLITTABLE = "<apply><times/><apply><minus/><ci>r</ci><ci>k</ci></apply><ci>B</ci></apply>"
_EVENT = """<listOfEvents><event id="boost" useValuesFromTriggerTime="true"><trigger initialValue="false"
persistent="true"><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><gt/><csymbol encoding="text"
definitionURL="http://www.sbml.org/sbml/symbols/time">t</csymbol><cn>5</cn></apply></math></trigger>
<listOfEventAssignments><eventAssignment variable="B"><math xmlns="http://www.w3.org/1998/Math/MathML"><cn>1</cn>
</math></eventAssignment></listOfEventAssignments></event></listOfEvents>"""


def test_a_rate_rule_model_is_split_into_birth_and_death(tmp_path):
    f = tmp_path / "ok.xml"
    f.write_text(_SBML.format(body=_RULE.format(m=_SPLITTABLE)))
    spec = load_sbml(f, "B")
    assert spec.reactions == ("B_birth_1", "B_death_2") and spec.linear_tumour
    # constant rates: Kendall's P(extinct by t) = q^1000 with q from birth 0.1, death 0.2
    e = math.exp(-0.1 * 30.0)
    q = 0.2 * (e - 1.0) / (0.1 * e - 0.2)
    got = cure_probability_exact(Parameters.from_preset(None, spec), 30.0, model=spec)
    assert got == pytest.approx(q ** 1000, rel=1e-6)


@pytest.mark.parametrize("case, culprit", [
    ("malformed", "not valid SBML"),
    ("event", "event 'boost'"),
    ("unknown_tumour", "tumour species 'X' is not a species"),
    ("unsplittable", "'B_birth_1'"),
])
def test_bad_sbml_exits_2_naming_the_culprit(case, culprit, tmp_path, cli):
    f = tmp_path / f"{case}.xml"
    tumour = "B"
    if case == "malformed":
        f.write_text(_SBML.format(body="")[:300])
    elif case == "event":
        f.write_text(_SBML.format(body=_RULE.format(m=_SPLITTABLE) + _EVENT))
    elif case == "unknown_tumour":
        f.write_text(_SBML.format(body=_RULE.format(m=_SPLITTABLE)))
        tumour = "X"
    else:  # (r - k) B with r < k: one term that is negative, so not a birth rate
        f.write_text(_SBML.format(body=_RULE.format(m=_UNSPLITTABLE)))
    status, out, err = cli(["cure", "--n", "10", "--sbml", str(f), "--tumour", tumour])
    assert status == 2 and out == ""
    assert culprit in err and len(err.strip().splitlines()) == 1, err


def test_cli_and_config_take_an_sbml_model(tmp_path, cli):
    status, out, _ = cli(["trajectory", "--t-end", "2", "--dt", "1", "--sbml", CURATED,
                              "--tumour", "Antigen_presenting_tumour_cells"])
    assert status == 0 and out.splitlines()[0] == "t_days,Normal_T_cells,CAR_T_cells,Antigen_presenting_tumour_cells"
    status, out, _ = cli(["export-sbml", "--model", "cartmath", str(tmp_path / "cm.xml")])
    assert status == 0 and (tmp_path / "cm.xml").exists()
    cfg = tmp_path / "c.toml"
    cfg.write_text('[cohort]\nn = 20\nsbml = "cm.xml"\ntumour = "T"\neffector = "C_T"\nfollow_up_days = 30\n'
                   '[variability]\nv = 0.0\n')
    status, _, err = cli(["run", str(cfg), "--out", str(tmp_path / "out"), "--workers", "1", "--quiet"])
    assert status == 0, err
    df = pd.read_parquet(tmp_path / "out" / "patients.parquet")
    assert len(df) == 20 and {"T0", "CT0", "outcome"} <= set(df.columns)


@pytest.mark.parametrize("argv, culprit", [
    (["export-sbml", "--model", "kimmel2021", "--set", "nope=1", "OUT"], "unknown parameter 'nope'"),
    (["export-sbml", "--model", "kimmel2021", "--set", "r_B=-1", "OUT"], "parameter r_B: must be"),
    (["export-sbml", "--model", "kimmel2021", "NODIR/k.xml"], "cannot write the SBML file"),
])
def test_bad_export_exits_2_naming_the_culprit(argv, culprit, tmp_path, cli):
    argv = [a.replace("OUT", str(tmp_path / "m.xml")).replace("NODIR", str(tmp_path / "no" / "dir")) for a in argv]
    status, out, err = cli(argv)
    assert status == 2 and out == "" and culprit in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.xml").exists()


@pytest.mark.parametrize("cohort, culprit", [
    ('sbml = "k.xml"', 'cohort.tumour: an SBML model needs its tumour species'),
    ('model = "kimmel2021"\nsbml = "k.xml"\ntumour = "B"', "cohort.sbml: give either model or sbml, not both"),
    ('sbml = "missing.xml"\ntumour = "B"', "data file not found: 'missing.xml'"),
    ('sbml = "k.xml"\ntumour = "X"', "tumour species 'X' is not a species"),
])
def test_bad_sbml_config_exits_2_before_any_output(cohort, culprit, tmp_path, cli):
    export_sbml(get_model("kimmel2021"), tmp_path / "k.xml")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[cohort]\nn = 10\n{cohort}\n")
    status, _, err = cli(["run", str(cfg), "--out", str(tmp_path / "out")])
    assert status == 2 and culprit in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
